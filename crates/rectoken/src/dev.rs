//! `rectoken dev`: every role in one process, for trying rectoken on a
//! laptop. In-process queue and store unless `RECTOKEN_AMQP_URL` /
//! `RECTOKEN_REDIS_URL` are set; with `--sim` the Zoom simulator too,
//! seeded with a demo account that is then connected through the real OAuth
//! flow, its webhooks coming to this ingress.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use clap::Args;
use rectoken_bus::Topology;
use rectoken_ingress::apps::{App, Apps};
use rectoken_ingress::services::derive_state_key;
use rectoken_ingress::{AppKind, HealthCheck, Ingress, IngressState, Services, router};
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use crate::config::{CryptoArgs, LimitArgs, ZoomArgs};
use crate::core::{self, StoreCheck};

/// Client ID, secret and webhook secret used with `--sim` when the `ZOOM_*`
/// variables are unset. They only ever meet the local simulator.
const DEV_CLIENT_ID: &str = "rectoken-dev-client";
const DEV_CLIENT_SECRET: &str = "rectoken-dev-client-secret";
const DEV_WEBHOOK_SECRET: &str = "rectoken-dev-webhook-secret";
/// Admin token and join key of the dev mode when unset (printed, local only).
const DEV_ADMIN_TOKEN: &str = "dev-admin-token";
const DEV_JOIN_KEY: &str = "dev-join-key";
/// The meeting the printed commands create and join.
const DEMO_MEETING: u64 = 85_099_990_001;

/// `rectoken dev` flags.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Also start the Zoom simulator, seeded with a demo account that is
    /// connected through the OAuth flow, and send its webhooks to this
    /// ingress. Without it, rectoken talks to real Zoom with the configured
    /// app (open /zoom/oauth/authorize to connect an account).
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
    /// The OAuth app's client ID (a dev value with `--sim` when unset).
    #[arg(long = "zoom-client-id", env = "ZOOM_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The OAuth app's client secret (a dev value with `--sim` when unset).
    #[arg(
        long = "zoom-client-secret",
        env = "ZOOM_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub client_secret: Option<SecretString>,
    /// The app's webhook secret token (a dev value with `--sim` when unset).
    #[arg(
        long = "zoom-webhook-secret",
        env = "ZOOM_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub webhook_secret: Option<SecretString>,
    /// 32 bytes, base64 (a random key per run when unset: fine in memory,
    /// but then credentials in a real Redis do not survive a restart).
    #[arg(
        long = "encryption-key",
        env = "RECTOKEN_ENCRYPTION_KEY",
        hide_env_values = true
    )]
    pub encryption_key: Option<SecretString>,
    /// Bearer token of the admin API (`dev-admin-token` when unset).
    #[arg(
        long = "admin-token",
        env = "RECTOKEN_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<SecretString>,
    /// Key of the HTTP join endpoints (`dev-join-key` when unset).
    #[arg(long = "join-key", env = "RECTOKEN_JOIN_KEY", hide_env_values = true)]
    pub join_key: Option<SecretString>,
    /// With a real Redis: start even if it may lose credentials.
    #[arg(long = "allow-volatile-redis", env = "RECTOKEN_ALLOW_VOLATILE_REDIS")]
    pub allow_volatile_redis: bool,
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
        args.client_id.clone().map(SecretString::from),
        args.sim,
        DEV_CLIENT_ID,
        "ZOOM_CLIENT_ID",
    )?;
    let client_secret = or_dev(
        args.client_secret.clone(),
        args.sim,
        DEV_CLIENT_SECRET,
        "ZOOM_CLIENT_SECRET",
    )?;
    let webhook_secret = or_dev(
        args.webhook_secret.clone(),
        args.sim,
        DEV_WEBHOOK_SECRET,
        "ZOOM_WEBHOOK_SECRET",
    )?;
    let admin_token = args
        .admin_token
        .clone()
        .unwrap_or_else(|| SecretString::from(DEV_ADMIN_TOKEN.to_owned()));
    let join_key = args
        .join_key
        .clone()
        .unwrap_or_else(|| SecretString::from(DEV_JOIN_KEY.to_owned()));
    let encryption_key = args.encryption_key.clone().unwrap_or_else(|| {
        let key: [u8; 32] = rand::random();
        SecretString::from(base64::engine::general_purpose::STANDARD.encode(key))
    });

    // Bind both listeners first: the simulator's address goes into the
    // Zoom URLs, the ingress's into the webhook and redirect URLs.
    let ingress_listener = tokio::net::TcpListener::bind(args.http_addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (set RECTOKEN_HTTP_ADDR)",
                args.http_addr
            )
        })?;
    let ingress_addr = ingress_listener.local_addr()?;
    drop(ingress_listener);
    let sim_listener = if args.sim {
        Some(
            tokio::net::TcpListener::bind(args.sim_addr)
                .await
                .with_context(|| {
                    format!("cannot listen on {} (set RECTOKEN_SIM_ADDR)", args.sim_addr)
                })?,
        )
    } else {
        None
    };
    let sim_addr = sim_listener.as_ref().map(|l| l.local_addr()).transpose()?;

    let zoom_args =
        ZoomArgs {
            client_id: client_id.expose_secret().to_owned(),
            client_secret: client_secret.clone(),
            webhook_secret: webhook_secret.clone(),
            api_url: match sim_addr {
                Some(a) => format!("http://{a}/v2"),
                None => std::env::var("ZOOM_API_URL")
                    .unwrap_or_else(|_| "https://api.zoom.us/v2".into()),
            },
            oauth_url: match sim_addr {
                Some(a) => format!("http://{a}/oauth"),
                None => std::env::var("ZOOM_OAUTH_URL")
                    .unwrap_or_else(|_| "https://zoom.us/oauth".into()),
            },
            app_kind: AppKind::Account,
            recording_token_path: std::env::var("ZOOM_RECORDING_TOKEN_PATH")
                .unwrap_or_else(|_| "/meetings/{meetingId}/jointoken/local_recording".into()),
        };
    let crypto = CryptoArgs {
        encryption_key,
        encryption_key_old: None,
    };
    let limits = LimitArgs {
        plan: rectoken_vault::Plan::BusinessPlus,
        fraction: 0.95,
    };
    let amqp_url = args
        .amqp_url
        .as_ref()
        .map_or("memory://", |u| u.expose_secret())
        .to_owned();
    let redis_url = args
        .redis_url
        .as_ref()
        .map_or("memory://", |u| u.expose_secret())
        .to_owned();
    let core = core::build(
        &amqp_url,
        &redis_url,
        Topology::default(),
        &zoom_args,
        &crypto,
        &limits,
    )?;
    if args.redis_url.is_some() {
        crate::durability::check_at_start(&core.store, args.allow_volatile_redis).await?;
    }

    let mut tasks = tokio::task::JoinSet::new();

    // The simulator.
    if let (Some(listener), true) = (sim_listener, args.sim) {
        let mut config = zoom_sim::SimConfig::for_tests(
            client_id.expose_secret(),
            client_secret.expose_secret(),
            webhook_secret.expose_secret(),
        );
        config.addr = args.sim_addr;
        config.webhook_urls = vec![format!("http://{ingress_addr}/zoom/webhook")];
        // Zoom's real retry schedule (5, 20, 60 minutes) in the demo too.
        config.webhook_retry_scale = 1.0;
        let sim = zoom_sim::Sim::new(config);
        sim.seed_demo()
            .map_err(|e| anyhow::anyhow!("cannot seed the demo account: {e}"))?;
        let stop = shutdown.clone();
        tasks.spawn(async move { sim.serve(listener, stop).await.context("simulator") });
    }

    // The ingress.
    let apps = Apps::single(App {
        name: String::new(),
        client_id: client_id.expose_secret().to_owned(),
        client_secret: client_secret.clone(),
        webhook_secret: webhook_secret.clone(),
        kind: AppKind::Account,
    });
    let services = Services {
        store: core.store.clone(),
        vault: core.vault.clone(),
        zoom: core.zoom.clone(),
        public_url: format!("http://{ingress_addr}"),
        state_key: derive_state_key(&core.encryption_key),
        user_level: false,
        admin_token: Some(admin_token.clone()),
        join_key: Some(join_key.clone()),
        join_timeout: Duration::from_secs(30),
    };
    let checks: Vec<Arc<dyn HealthCheck>> = vec![Arc::new(StoreCheck(core.store.clone()))];
    // Dev connects its demo account through the flow, and whoever runs it
    // may connect another without a link (issue 15: RECTOKEN_OPEN_CONNECT).
    let state = IngressState::new(core.bus.clone(), apps, checks)
        .with_services(services)
        .with_open_connect(true);
    let ingress = Ingress::bind(ingress_addr, router(state))
        .await
        .with_context(|| format!("cannot listen on {ingress_addr}"))?;
    let stop = shutdown.clone();
    tasks.spawn(async move { ingress.run(stop).await.context("ingress") });

    // One sync worker and one token worker.
    let sync_deps = rectoken_sync::SyncDeps {
        bus: core.bus.clone(),
        store: core.store.clone(),
        access: core.access.clone(),
        zoom: core.zoom.clone(),
        apps: [("default".to_owned(), false)].into_iter().collect(),
        origin: core.origin.clone(),
    };
    let stop = shutdown.clone();
    tasks.spawn(async move {
        rectoken_sync::run(sync_deps, rectoken_sync::SyncOptions::default(), stop).await;
        Ok(())
    });
    let token_deps = rectoken_token::TokenDeps {
        bus: core.bus.clone(),
        store: core.store.clone(),
        access: core.access.clone(),
        zoom: core.zoom.clone(),
    };
    let stop = shutdown.clone();
    tasks.spawn(async move {
        rectoken_token::run(token_deps, rectoken_token::TokenOptions::default(), stop).await;
        Ok(())
    });

    // Connect the demo account the way an admin would: authorize → Zoom's
    // consent page (the simulator consents) → our callback.
    // The first sync is queued by the OAuth callback, so a real broker
    // must be connected first (it connects in the background).
    if args.sim {
        tokio::time::timeout(BUS_WAIT, core.bus.wait_connected())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "RabbitMQ (RECTOKEN_AMQP_URL) not connected after {} s; is it running?",
                    BUS_WAIT.as_secs()
                )
            })?;
        connect_demo(ingress_addr).await?;
    }
    // The built-in dev values are printed so the commands can be pasted;
    // secrets the operator set are referred to by name, never echoed.
    let admin_shown = shown(
        args.admin_token.is_some(),
        "RECTOKEN_ADMIN_TOKEN",
        &admin_token,
    );
    let join_key_shown = shown(args.join_key.is_some(), "RECTOKEN_JOIN_KEY", &join_key);
    print_banner(
        ingress_addr,
        sim_addr,
        args.amqp_url.is_some(),
        args.redis_url.is_some(),
        &admin_shown,
        &join_key_shown,
    );

    shutdown.cancelled().await;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = format!("{e:#}"), "role failed"),
            Err(e) => tracing::error!(error = %e, "task failed"),
        }
    }
    core.bus.close().await;
    tracing::info!("dev stopped");
    Ok(())
}

/// How long `dev --sim` waits for a real RabbitMQ before giving up.
const BUS_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

async fn connect_demo(ingress: SocketAddr) -> anyhow::Result<()> {
    // As a browser would: the state cookie goes back with the callback.
    let (status, text) = rectoken_ingress::oauth::follow_connect_flow(&format!(
        "http://{ingress}/zoom/oauth/authorize"
    ))
    .await
    .map_err(|e| anyhow::anyhow!("connecting the demo account: {e}"))?;
    if !(200..300).contains(&status) {
        bail!("connecting the demo account failed (HTTP {status}): {text}");
    }
    tracing::info!("demo account connected through the OAuth flow");
    Ok(())
}

/// What the banner shows for a secret: the built-in dev value itself, or a
/// shell reference to the variable the operator set it in.
fn shown(from_operator: bool, variable: &str, value: &SecretString) -> String {
    if from_operator {
        format!("${variable}")
    } else {
        value.expose_secret().to_owned()
    }
}

fn print_banner(
    ingress: SocketAddr,
    sim: Option<SocketAddr>,
    real_bus: bool,
    real_redis: bool,
    admin_token: &str,
    join_key: &str,
) {
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
    let exe = std::env::current_exe()
        .ok()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "rectoken".into());
    println!("rectoken dev is running: ingress, sync worker, token worker (Ctrl-C stops it)\n");
    println!(
        "  ingress    http://{ingress}  webhooks, OAuth, /join, /admin, /healthz, /readyz, /metrics"
    );
    if let Some(sim) = sim {
        println!(
            "  Zoom sim   http://{sim}  /oauth, /v2, control API under /_sim; demo account \"demo\" connected"
        );
    }
    println!("  queue      {queue}");
    println!("  store      {store}");
    println!("  admin      Authorization: Bearer {admin_token}");
    println!("  join key   {join_key}\n");
    if let Some(sim) = sim {
        println!("Try:");
        println!(
            "  1. Create meeting {DEMO_MEETING} in the simulator; it sends a signed meeting.created webhook here:"
        );
        println!(
            "     curl -s -X POST 'http://{sim}/_sim/users/demo-bob/meetings?wait=true' -H 'content-type: application/json' -d '{{\"id\":{DEMO_MEETING},\"topic\":\"Demo\"}}'"
        );
        println!("  2. Ask for its recording token, as a bot would:");
        println!(
            "     RECTOKEN_JOIN_KEY={join_key} {exe} join --url http://{ingress} https://zoom.us/j/{DEMO_MEETING}"
        );
        println!("  3. Open the admin view of the account and the meeting map:");
        println!(
            "     curl -s -H 'Authorization: Bearer {admin_token}' http://{ingress}/admin/accounts/demo"
        );
        println!(
            "     curl -s -H 'Authorization: Bearer {admin_token}' http://{ingress}/admin/meetings/{DEMO_MEETING}"
        );
    } else {
        println!("Connect a Zoom account: open http://{ingress}/zoom/oauth/authorize");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banner_echoes_dev_defaults_but_never_an_operators_secret() {
        let secret = SecretString::from("s3cret-from-env".to_owned());
        assert_eq!(
            shown(true, "RECTOKEN_JOIN_KEY", &secret),
            "$RECTOKEN_JOIN_KEY"
        );
        let default = SecretString::from(DEV_JOIN_KEY.to_owned());
        assert_eq!(shown(false, "RECTOKEN_JOIN_KEY", &default), DEV_JOIN_KEY);
    }
}
