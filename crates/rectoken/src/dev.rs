//! `rectoken dev`: every role that exists in one process, with in-process
//! backends unless `RECTOKEN_AMQP_URL` / `RECTOKEN_REDIS_URL` are set, and
//! with `--sim` the Zoom simulator seeded with a demo account whose webhooks
//! go to this ingress.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use rectoken_bus::{Bus, Topology};
use rectoken_ingress::apps::{App, Apps};
use rectoken_ingress::{AppKind, HealthCheck, Ingress, IngressState, router};
use rectoken_store::RedisCheck;
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

/// Client ID, secret and webhook secret used with `--sim` when the `ZOOM_*`
/// variables are unset. They only ever meet the local simulator.
const DEV_CLIENT_ID: &str = "rectoken-dev-client";
const DEV_CLIENT_SECRET: &str = "rectoken-dev-client-secret";
const DEV_WEBHOOK_SECRET: &str = "rectoken-dev-webhook-secret";

/// `rectoken dev` flags.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Also start the Zoom simulator, seeded with a demo account, and send
    /// its webhooks to this ingress. Without it, rectoken talks to real Zoom
    /// with the configured app.
    #[arg(long)]
    pub sim: bool,
    /// RabbitMQ URL; unset = in-process queue.
    #[arg(long = "amqp-url", env = "RECTOKEN_AMQP_URL", hide_env_values = true)]
    pub amqp_url: Option<SecretString>,
    /// Redis URL; unset = in-process store.
    #[arg(long = "redis-url", env = "RECTOKEN_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<SecretString>,
    /// Address the ingress listens on.
    #[arg(
        long = "http-addr",
        env = "RECTOKEN_HTTP_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub http_addr: SocketAddr,
    /// Address the simulator listens on (with `--sim`).
    #[arg(
        long = "sim-addr",
        env = "RECTOKEN_SIM_ADDR",
        default_value = "127.0.0.1:9090"
    )]
    pub sim_addr: SocketAddr,
    /// The OAuth app's client ID (defaults to a dev value with `--sim`).
    #[arg(long = "zoom-client-id", env = "ZOOM_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The OAuth app's client secret (defaults to a dev value with `--sim`).
    #[arg(
        long = "zoom-client-secret",
        env = "ZOOM_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub client_secret: Option<SecretString>,
    /// The app's webhook secret token (defaults to a dev value with `--sim`).
    #[arg(
        long = "zoom-webhook-secret",
        env = "ZOOM_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub webhook_secret: Option<SecretString>,
}

fn or_dev(
    value: Option<SecretString>,
    sim: bool,
    dev: &str,
    name: &str,
) -> anyhow::Result<SecretString> {
    match (value, sim) {
        (Some(v), _) => Ok(v),
        (None, true) => Ok(SecretString::from(dev.to_owned())),
        (None, false) => bail!("{name} is required without --sim (or run `rectoken dev --sim`)"),
    }
}

/// Run until `shutdown` fires.
pub async fn run(args: DevArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let client_id = or_dev(
        args.client_id.map(SecretString::from),
        args.sim,
        DEV_CLIENT_ID,
        "ZOOM_CLIENT_ID",
    )?;
    let client_secret = or_dev(
        args.client_secret,
        args.sim,
        DEV_CLIENT_SECRET,
        "ZOOM_CLIENT_SECRET",
    )?;
    let webhook_secret = or_dev(
        args.webhook_secret,
        args.sim,
        DEV_WEBHOOK_SECRET,
        "ZOOM_WEBHOOK_SECRET",
    )?;

    let amqp_url = args
        .amqp_url
        .as_ref()
        .map_or("memory://", |u| u.expose_secret())
        .to_owned();
    let bus: Arc<dyn Bus> =
        rectoken_bus::connect(&amqp_url, Topology::default()).context("RECTOKEN_AMQP_URL")?;
    let mut checks: Vec<Arc<dyn HealthCheck>> = Vec::new();
    if let Some(url) = &args.redis_url {
        checks.push(Arc::new(RedisCheck::new(url.expose_secret()).map_err(
            |e| anyhow::anyhow!("RECTOKEN_REDIS_URL is invalid: {e}"),
        )?));
    }
    let apps = Apps::single(App {
        name: String::new(),
        client_id: client_id.expose_secret().to_owned(),
        client_secret: client_secret.clone(),
        webhook_secret: webhook_secret.clone(),
        kind: AppKind::Account,
    });
    let ingress = Ingress::bind(
        args.http_addr,
        router(IngressState::new(bus.clone(), apps, checks)),
    )
    .await
    .with_context(|| {
        format!(
            "cannot listen on {} (set RECTOKEN_HTTP_ADDR)",
            args.http_addr
        )
    })?;
    let ingress_addr = ingress.local_addr()?;
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(ingress.run(shutdown.clone()));

    let mut sim_addr = None;
    if args.sim {
        let mut config = zoom_sim::SimConfig::for_tests(
            client_id.expose_secret(),
            client_secret.expose_secret(),
            webhook_secret.expose_secret(),
        );
        config.addr = args.sim_addr;
        config.webhook_urls = vec![format!("http://{ingress_addr}/zoom/webhook")];
        // Zoom's real retry schedule (5, 20, 60 minutes) in the demo too.
        config.webhook_retry_scale = 1.0;
        let listener = tokio::net::TcpListener::bind(args.sim_addr)
            .await
            .with_context(|| {
                format!("cannot listen on {} (set RECTOKEN_SIM_ADDR)", args.sim_addr)
            })?;
        sim_addr = Some(listener.local_addr()?);
        let sim = zoom_sim::Sim::new(config);
        sim.seed_demo()
            .map_err(|e| anyhow::anyhow!("cannot seed the demo account: {e}"))?;
        tasks.spawn(sim.serve(listener, shutdown.clone()));
    }

    print_banner(
        ingress_addr,
        sim_addr,
        args.amqp_url.is_some(),
        args.redis_url.is_some(),
    );

    shutdown.cancelled().await;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "server error"),
            Err(e) => tracing::error!(error = %e, "task failed"),
        }
    }
    bus.close().await;
    tracing::info!("dev stopped");
    Ok(())
}

fn print_banner(ingress: SocketAddr, sim: Option<SocketAddr>, real_bus: bool, real_redis: bool) {
    let queue = if real_bus {
        "RabbitMQ (RECTOKEN_AMQP_URL)"
    } else {
        "in-process (set RECTOKEN_AMQP_URL for RabbitMQ)"
    };
    let store = if real_redis {
        "Redis (RECTOKEN_REDIS_URL)"
    } else {
        "in-process (set RECTOKEN_REDIS_URL for Redis)"
    };
    println!("rectoken dev is running (Ctrl-C stops it)\n");
    println!("  ingress    http://{ingress}  POST /zoom/webhook, /healthz, /readyz, /metrics");
    if let Some(sim) = sim {
        println!(
            "  Zoom sim   http://{sim}  /oauth, /v2, control API under /_sim (demo account \"demo\")"
        );
    }
    println!("  queue      {queue}");
    println!("  store      {store}\n");
    if let Some(sim) = sim {
        println!("Try:");
        println!(
            "  1. Create a meeting in the simulator; it sends a signed meeting.created webhook here:"
        );
        println!(
            "     curl -s -X POST 'http://{sim}/_sim/users/demo-bob/meetings?wait=true' -H 'content-type: application/json' -d '{{\"topic\":\"Demo\"}}'"
        );
        println!("  2. See that the ingress verified and queued it:");
        println!("     curl -s http://{ingress}/metrics | grep rectoken_webhook_requests_total");
        println!("  3. Check readiness:");
        println!("     curl -s http://{ingress}/readyz");
    }
}
