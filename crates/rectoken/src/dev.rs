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
use rectoken_ingress::apps::App;
use rectoken_ingress::services::derive_state_key;
use rectoken_ingress::{AppKind, HealthCheck, Ingress, IngressState, Services, router};
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use crate::config::{CryptoArgs, IngressArgs, SyncTuning, TokenTuning, ZoomArgs, check_secret};
use crate::core::{self, StoreCheck};

/// Client ID, secret and webhook secret used with `--sim` when the `ZOOM_*`
/// variables are unset. They only ever meet the local simulator.
const DEV_CLIENT_ID: &str = "rectoken-dev-client";
const DEV_CLIENT_SECRET: &str = "rectoken-dev-client-secret";
const DEV_WEBHOOK_SECRET: &str = "rectoken-dev-webhook-secret";
/// Admin token and join key of `dev --sim` when unset: public values,
/// printed in the banner and the README, so they are accepted only while
/// rectoken talks to its own simulator on a loopback address.
pub const DEV_ADMIN_TOKEN: &str = "rectoken-dev-admin-token";
/// See [`DEV_ADMIN_TOKEN`].
pub const DEV_JOIN_KEY: &str = "rectoken-dev-join-key";
/// The meeting the printed commands create and join.
const DEMO_MEETING: u64 = 85_099_990_001;

/// `rectoken dev` flags: every setting of the ingress, the sync worker and
/// the token worker (one process runs all three), plus the simulator's.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Also start the Zoom simulator, seeded with a demo account that is
    /// connected through the OAuth flow, and send its webhooks to this
    /// ingress. Without it, rectoken talks to real Zoom with the configured
    /// app (open /zoom/oauth/authorize to connect an account).
    #[arg(long)]
    pub sim: bool,
    /// Address the simulator listens on (with `--sim`).
    #[arg(
        long = "sim-addr",
        env = "RECTOKEN_SIM_ADDR",
        default_value = "127.0.0.1:9090"
    )]
    pub sim_addr: SocketAddr,
    #[command(flatten)]
    pub ingress: IngressArgs,
    /// Messages each worker handles at once (also its prefetch), 1 to 10000.
    #[arg(
        long = "concurrency",
        env = "RECTOKEN_CONCURRENCY",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000)
    )]
    pub concurrency: Option<usize>,
    #[command(flatten)]
    pub sync: SyncTuning,
    #[command(flatten)]
    pub token: TokenTuning,
}

/// What `dev` runs with, once every default is filled in and every setting
/// checked: built by [`DevArgs::resolve`], a pure function of the flags
/// and the environment, so the rules are unit-tested.
#[derive(Debug)]
struct Resolved {
    client_id: String,
    client_secret: SecretString,
    webhook_secret: SecretString,
    admin_token: SecretString,
    join_key: SecretString,
    /// Where each secret of the banner came from.
    admin_token_origin: Origin,
    join_key_origin: Origin,
    encryption_key: SecretString,
    amqp_url: String,
    redis_url: String,
}

/// Where a secret shown in the banner came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The operator set it: the banner names the variable, never the value.
    Operator,
    /// The public dev value of `--sim`.
    DevDefault,
    /// Made for this run (without `--sim`): shown once.
    Generated,
}

impl DevArgs {
    /// Fill in the dev defaults and check every setting. `metrics_addr_env`
    /// is `RECTOKEN_METRICS_ADDR` from the environment, which `dev` refuses
    /// rather than ignores.
    fn resolve(&self, metrics_addr_env: Option<&str>) -> anyhow::Result<Resolved> {
        let a = &self.ingress;
        if let Some(v) = metrics_addr_env {
            bail!(
                "RECTOKEN_METRICS_ADDR={v} does not apply to `rectoken dev`: it serves /healthz, /readyz and /metrics on the ingress (RECTOKEN_HTTP_ADDR={}); unset it",
                a.http_addr
            );
        }
        if self.sim {
            for (set, name) in [
                (a.zoom.api_url.is_some(), "ZOOM_API_URL"),
                (a.zoom.oauth_url.is_some(), "ZOOM_OAUTH_URL"),
            ] {
                if set {
                    bail!(
                        "{name} does not apply with --sim: rectoken then talks to its own simulator at RECTOKEN_SIM_ADDR; unset {name}, or drop --sim to use it"
                    );
                }
            }
        }
        let dev_or_required = |value: Option<SecretString>, dev: &str, name: &str| {
            match (value, self.sim) {
                (Some(v), _) => check_secret(&v, name).map(|()| v),
                (None, true) => Ok(SecretString::from(dev.to_owned())),
                (None, false) => Err(format!(
                    "{name} is required without --sim (or run `rectoken dev --sim`)"
                )),
            }
            .map_err(anyhow::Error::msg)
        };
        let client_id = match (a.zoom.client_id.clone(), self.sim) {
            (Some(id), _) if !id.trim().is_empty() => id,
            (_, true) => DEV_CLIENT_ID.to_owned(),
            (_, false) => {
                bail!("ZOOM_CLIENT_ID is required without --sim (or run `rectoken dev --sim`)")
            }
        };
        let client_secret = dev_or_required(
            a.zoom.client_secret.clone(),
            DEV_CLIENT_SECRET,
            "ZOOM_CLIENT_SECRET",
        )?;
        let webhook_secret = dev_or_required(
            a.zoom.webhook_secret.clone(),
            DEV_WEBHOOK_SECRET,
            "ZOOM_WEBHOOK_SECRET",
        )?;
        // The public dev admin token and join key only with the simulator;
        // against real Zoom, unset ones are made for this run, and only on a
        // loopback address.
        let mut generated = false;
        let mut dev_secret = |value: Option<SecretString>, dev: &str, name: &str| {
            if let Some(v) = value {
                check_secret(&v, name).map_err(anyhow::Error::msg)?;
                return Ok::<_, anyhow::Error>((v, Origin::Operator));
            }
            if self.sim {
                return Ok((SecretString::from(dev.to_owned()), Origin::DevDefault));
            }
            generated = true;
            Ok((random_secret(), Origin::Generated))
        };
        let (admin_token, admin_token_origin) = dev_secret(
            a.admin_token.clone(),
            DEV_ADMIN_TOKEN,
            "RECTOKEN_ADMIN_TOKEN",
        )?;
        let (join_key, join_key_origin) =
            dev_secret(a.join_key.clone(), DEV_JOIN_KEY, "RECTOKEN_JOIN_KEY")?;
        if (generated || self.sim) && !a.http_addr.ip().is_loopback() {
            bail!(
                "rectoken dev listens on {} with {} admin token or join key; set RECTOKEN_ADMIN_TOKEN and RECTOKEN_JOIN_KEY to listen on a non-loopback address",
                a.http_addr,
                if self.sim {
                    "the public dev"
                } else {
                    "a generated"
                }
            );
        }
        let amqp_url = a
            .backends
            .amqp_url
            .as_ref()
            .map_or("memory://", |u| u.expose_secret())
            .trim()
            .to_owned();
        let redis_url = a
            .backends
            .redis_url
            .as_ref()
            .map_or("memory://", |u| u.expose_secret())
            .trim()
            .to_owned();
        let encryption_key = match &a.crypto.encryption_key {
            Some(k) => k.clone(),
            None if redis_url.starts_with("memory:") => {
                let key: [u8; 32] = rand::random();
                SecretString::from(base64::engine::general_purpose::STANDARD.encode(key))
            }
            None => bail!(
                "rectoken dev with RECTOKEN_REDIS_URL needs RECTOKEN_ENCRYPTION_KEY: credentials sealed with a random key would be unreadable after a restart. Set one and keep it: export RECTOKEN_ENCRYPTION_KEY=\"$(openssl rand -base64 32)\""
            ),
        };
        Ok(Resolved {
            client_id,
            client_secret,
            webhook_secret,
            admin_token,
            join_key,
            admin_token_origin,
            join_key_origin,
            encryption_key,
            amqp_url,
            redis_url,
        })
    }
}

/// A random secret for this run (24 bytes, base64url).
fn random_secret() -> SecretString {
    let bytes: [u8; 24] = rand::random();
    SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Run until `shutdown` fires.
pub async fn run(args: DevArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let r = args.resolve(std::env::var("RECTOKEN_METRICS_ADDR").ok().as_deref())?;
    let a = &args.ingress;
    if !r.amqp_url.starts_with("memory:") {
        // Say what is wrong with a broker URL at once, instead of retrying
        // in the background while the operator waits.
        rectoken_bus::probe(&r.amqp_url, BUS_PROBE_TIMEOUT)
            .await
            .map_err(|e| anyhow::anyhow!("RECTOKEN_AMQP_URL: {e}"))?;
    }

    // Bind both listeners first: the simulator's address goes into the
    // Zoom URLs, the ingress's into the webhook and redirect URLs.
    let ingress_listener = tokio::net::TcpListener::bind(a.http_addr)
        .await
        .with_context(|| format!("cannot listen on {} (set RECTOKEN_HTTP_ADDR)", a.http_addr))?;
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

    let zoom_args = ZoomArgs {
        client_id: Some(r.client_id.clone()),
        client_secret: Some(r.client_secret.clone()),
        webhook_secret: Some(r.webhook_secret.clone()),
        api_url: match sim_addr {
            Some(s) => Some(format!("http://{s}/v2")),
            None => a.zoom.api_url.clone(),
        },
        oauth_url: match sim_addr {
            Some(s) => Some(format!("http://{s}/oauth")),
            None => a.zoom.oauth_url.clone(),
        },
        app_kind: a.zoom.app_kind,
        recording_token_path: a.zoom.recording_token_path.clone(),
    };
    let crypto = CryptoArgs {
        encryption_key: Some(r.encryption_key.clone()),
        encryption_key_old: a.crypto.encryption_key_old.clone(),
    };
    let apps = core::apps(
        App::new(
            "",
            r.client_id.clone(),
            r.client_secret.clone(),
            r.webhook_secret.clone(),
            a.zoom.app_kind,
        ),
        a.apps_file.as_deref(),
    )?;
    let core = core::build(
        &r.amqp_url,
        &r.redis_url,
        Topology::new(a.backends.queue_prefix.clone()),
        &zoom_args,
        &crypto,
        &a.limits,
        &apps,
    )?;
    if !r.redis_url.starts_with("memory:") {
        crate::durability::check_at_start(&core.store, a.allow_volatile_redis).await?;
    }

    let app_kinds = core::app_kinds(&apps);

    let mut tasks = tokio::task::JoinSet::new();

    // The simulator.
    if let Some(listener) = sim_listener {
        let mut config = zoom_sim::SimConfig::for_tests(
            &r.client_id,
            r.client_secret.expose_secret(),
            r.webhook_secret.expose_secret(),
        );
        config.addr = args.sim_addr;
        config.app_kind = match a.zoom.app_kind {
            AppKind::Account => zoom_sim::AppKind::Account,
            AppKind::User => zoom_sim::AppKind::User,
        };
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
    let services = Services {
        store: core.store.clone(),
        vault: core.vault.clone(),
        zoom: core.zoom.clone(),
        public_url: a
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{ingress_addr}")),
        state_key: derive_state_key(&core.encryption_key),
        user_level: a.zoom.app_kind == AppKind::User,
        admin_token: Some(r.admin_token.clone()),
        join_key: Some(r.join_key.clone()),
        join_timeout: Duration::from_secs(30),
        callbacks: a.callbacks.callbacks().map_err(anyhow::Error::msg)?,
    };
    let checks: Vec<Arc<dyn HealthCheck>> = vec![Arc::new(StoreCheck(core.store.clone()))];
    // Dev connects its demo account through the flow, and whoever runs it
    // may connect another without a link (issue 15: RECTOKEN_OPEN_CONNECT).
    let state = IngressState::new(core.bus.clone(), apps, checks)
        .with_services(services)
        .with_open_connect(true)
        .with_webhook_window(rectoken_domain::webhook::Window::with_max_age(
            a.webhook_max_age,
        ))
        .with_console(rectoken_ingress::console::ConsoleOptions {
            joins: Some(core.joins.clone()),
            // One-click sign-in only with the public dev admin token that
            // the banner prints anyway; never with an operator's.
            dev_signin: args.sim && r.admin_token_origin == Origin::DevDefault,
        });
    let ingress = Ingress::bind(ingress_addr, router(state))
        .await
        .with_context(|| format!("cannot listen on {ingress_addr}"))?;
    let stop = shutdown.clone();
    tasks.spawn(async move { ingress.run(stop).await.context("ingress") });

    // One sync worker and one token worker.
    let mut sync_options = rectoken_sync::SyncOptions {
        resync_interval: Duration::from_secs(args.sync.resync_hours.max(1) * 3600),
        keepalive_interval: Duration::from_secs(args.sync.keepalive_days.max(1) * 24 * 3600),
        ..Default::default()
    };
    let mut token_options = rectoken_token::TokenOptions {
        probe_max_accounts: args.token.probe_max_accounts,
        allow_zak: a.callbacks.zak.allow_zak,
        join_log: Some(rectoken_token::recent::JoinRecorder(core.joins.clone())),
        ..Default::default()
    };
    if let Some(c) = args.concurrency {
        sync_options.concurrency = c.max(1);
        token_options.concurrency = c.max(1);
    }
    let sync_deps = rectoken_sync::SyncDeps {
        bus: core.bus.clone(),
        store: core.store.clone(),
        access: core.access.clone(),
        apps: app_kinds,
        origin: core.origin.clone(),
    };
    let stop = shutdown.clone();
    tasks.spawn(async move {
        rectoken_sync::run(sync_deps, sync_options, stop).await;
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
        rectoken_token::run(token_deps, token_options, stop).await;
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
    print_banner(&Banner {
        ingress: ingress_addr,
        sim: sim_addr,
        real_bus: !r.amqp_url.starts_with("memory:"),
        real_redis: !r.redis_url.starts_with("memory:"),
        admin_token: shown(r.admin_token_origin, "RECTOKEN_ADMIN_TOKEN", &r.admin_token),
        join_key: shown(r.join_key_origin, "RECTOKEN_JOIN_KEY", &r.join_key),
    });

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

/// How long `dev` tries a configured RabbitMQ before saying it cannot.
const BUS_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// What the banner shows for a secret: the dev value itself or the one
/// made for this run (shown once, so the commands can be pasted), or a
/// shell reference to the variable the operator set it in.
fn shown(origin: Origin, variable: &str, value: &SecretString) -> String {
    match origin {
        Origin::Operator => format!("${variable}"),
        Origin::DevDefault | Origin::Generated => value.expose_secret().to_owned(),
    }
}

/// What the start-up banner says.
struct Banner {
    ingress: SocketAddr,
    sim: Option<SocketAddr>,
    real_bus: bool,
    real_redis: bool,
    admin_token: String,
    join_key: String,
}

fn print_banner(b: &Banner) {
    use std::fmt::Write as _;
    // One write: the banner reaches a pipe whole, and its last line says it
    // is complete (what the README test waits for).
    let mut out = String::new();
    let queue = if b.real_bus {
        "RabbitMQ (RECTOKEN_AMQP_URL)"
    } else {
        "in-process (set RECTOKEN_AMQP_URL for RabbitMQ)"
    };
    let store = if b.real_redis {
        "Redis (RECTOKEN_REDIS_URL)"
    } else {
        "in-process (set RECTOKEN_REDIS_URL for Redis)"
    };
    let exe = std::env::current_exe()
        .ok()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "rectoken".into());
    let (ingress, admin_token, join_key) = (b.ingress, &b.admin_token, &b.join_key);
    let _ = writeln!(
        out,
        "rectoken dev is running: ingress, sync worker, token worker (Ctrl-C stops it)\n"
    );
    let _ = writeln!(
        out,
        "  ingress    http://{ingress}  webhooks, OAuth, /join, /admin, /healthz, /readyz, /metrics"
    );
    let _ = writeln!(
        out,
        "  console    http://{ingress}/console  the operator console in a browser (sign in with the admin token)"
    );
    if let Some(sim) = b.sim {
        let _ = writeln!(
            out,
            "  Zoom sim   http://{sim}  /oauth, /v2, control API under /_sim; demo account \"demo\" connected"
        );
    }
    let _ = writeln!(out, "  queue      {queue}");
    let _ = writeln!(out, "  store      {store}");
    let _ = writeln!(out, "  admin      Authorization: Bearer {admin_token}");
    let _ = writeln!(out, "  join key   {join_key}\n");
    if let Some(sim) = b.sim {
        let _ = writeln!(out, "Try:");
        let _ = writeln!(
            out,
            "  1. Create meeting {DEMO_MEETING} in the simulator; it sends a signed meeting.created webhook here:"
        );
        let _ = writeln!(
            out,
            "     curl -sf -X POST 'http://{sim}/_sim/users/demo-bob/meetings?wait=true' -H 'content-type: application/json' -d '{{\"id\":{DEMO_MEETING},\"topic\":\"Demo\"}}'"
        );
        let _ = writeln!(out, "  2. Ask for its recording token, as a bot would:");
        let _ = writeln!(
            out,
            "     RECTOKEN_JOIN_KEY={join_key} {exe} join --url http://{ingress} https://zoom.us/j/{DEMO_MEETING}"
        );
        let _ = writeln!(
            out,
            "  3. Open the admin view of the account and the meeting map:"
        );
        let _ = writeln!(
            out,
            "     curl -sf -H 'Authorization: Bearer {admin_token}' http://{ingress}/admin/accounts/demo"
        );
        let _ = writeln!(
            out,
            "     curl -sf -H 'Authorization: Bearer {admin_token}' http://{ingress}/admin/meetings/{DEMO_MEETING}"
        );
        let _ = writeln!(
            out,
            "  4. Or see all of it in the operator console (one click signs the demo in): http://{ingress}/console"
        );
    } else {
        let _ = writeln!(
            out,
            "Connect a Zoom account: open http://{ingress}/zoom/oauth/authorize"
        );
    }
    let _ = writeln!(out, "\nCtrl-C stops rectoken dev.");
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        dev: DevArgs,
    }

    /// `rectoken dev ARGS` with nothing from the environment but `env`.
    fn dev(args: &[&str]) -> DevArgs {
        let mut argv = vec!["dev"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv) {
            Ok(cli) => cli.dev,
            Err(e) => panic!("{e}"),
        }
    }

    const LONG: &str = "0123456789abcdef-operator";

    #[test]
    fn the_banner_echoes_dev_defaults_but_never_an_operators_secret() {
        let secret = SecretString::from("s3cret-from-env".to_owned());
        assert_eq!(
            shown(Origin::Operator, "RECTOKEN_JOIN_KEY", &secret),
            "$RECTOKEN_JOIN_KEY"
        );
        let default = SecretString::from(DEV_JOIN_KEY.to_owned());
        assert_eq!(
            shown(Origin::DevDefault, "RECTOKEN_JOIN_KEY", &default),
            DEV_JOIN_KEY
        );
    }

    #[test]
    fn dev_defaults_are_long_enough_to_pass_the_secret_check() {
        for (v, n) in [
            (DEV_ADMIN_TOKEN, "a"),
            (DEV_JOIN_KEY, "j"),
            (DEV_CLIENT_SECRET, "c"),
            (DEV_WEBHOOK_SECRET, "w"),
        ] {
            check_secret(&SecretString::from(v.to_owned()), n).unwrap();
        }
    }

    #[test]
    fn with_sim_everything_defaults_and_stays_in_process() {
        let r = dev(&["--sim"]).resolve(None).unwrap();
        assert_eq!(r.client_id, DEV_CLIENT_ID);
        assert_eq!(r.admin_token.expose_secret(), DEV_ADMIN_TOKEN);
        assert_eq!(r.join_key_origin, Origin::DevDefault);
        assert_eq!(
            (r.amqp_url.as_str(), r.redis_url.as_str()),
            ("memory://", "memory://")
        );
    }

    #[test]
    fn without_sim_the_public_dev_keys_are_never_used() {
        let r = dev(&[
            "--zoom-client-id",
            "id",
            "--zoom-client-secret",
            LONG,
            "--zoom-webhook-secret",
            LONG,
        ])
        .resolve(None)
        .unwrap();
        assert_eq!(r.admin_token_origin, Origin::Generated);
        assert_eq!(r.join_key_origin, Origin::Generated);
        assert_ne!(r.admin_token.expose_secret(), DEV_ADMIN_TOKEN);
        assert_ne!(r.join_key.expose_secret(), DEV_JOIN_KEY);
        assert!(r.join_key.expose_secret().len() >= 16);
        // ... and generated keys only on loopback.
        let err = dev(&[
            "--zoom-client-id",
            "id",
            "--zoom-client-secret",
            LONG,
            "--zoom-webhook-secret",
            LONG,
            "--http-addr",
            "0.0.0.0:8080",
        ])
        .resolve(None)
        .unwrap_err();
        assert!(format!("{err}").contains("RECTOKEN_JOIN_KEY"), "{err}");
        // Without --sim the Zoom app is required.
        let err = dev(&[]).resolve(None).unwrap_err();
        assert!(format!("{err}").contains("ZOOM_CLIENT_ID"), "{err}");
    }

    #[test]
    fn short_or_empty_secrets_are_refused_by_name() {
        let err = dev(&["--sim", "--join-key", ""]).resolve(None).unwrap_err();
        assert!(format!("{err}").contains("RECTOKEN_JOIN_KEY"), "{err}");
        let err = dev(&["--sim", "--admin-token", "short"])
            .resolve(None)
            .unwrap_err();
        assert!(format!("{err}").contains("RECTOKEN_ADMIN_TOKEN"), "{err}");
    }

    #[test]
    fn settings_that_do_not_apply_are_refused_not_ignored() {
        let err = dev(&["--sim", "--zoom-api-url", "https://api.zoom.us/v2"])
            .resolve(None)
            .unwrap_err();
        assert!(format!("{err}").contains("ZOOM_API_URL"), "{err}");
        let err = dev(&["--sim"]).resolve(Some("127.0.0.1:9100")).unwrap_err();
        assert!(format!("{err}").contains("RECTOKEN_METRICS_ADDR"), "{err}");
    }

    #[test]
    fn a_real_redis_without_a_key_is_refused() {
        let err = dev(&["--sim", "--redis-url", "redis://127.0.0.1:6380/"])
            .resolve(None)
            .unwrap_err();
        assert!(
            format!("{err}").contains("RECTOKEN_ENCRYPTION_KEY"),
            "{err}"
        );
        let key = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        let r = dev(&[
            "--sim",
            "--redis-url",
            "redis://127.0.0.1:6380/",
            "--encryption-key",
            &key,
        ])
        .resolve(None)
        .unwrap();
        assert_eq!(r.encryption_key.expose_secret(), key);
    }

    #[test]
    fn every_worker_and_ingress_setting_is_a_dev_flag() {
        let d = dev(&[
            "--sim",
            "--queue-prefix",
            "p-",
            "--public-url",
            "https://rt.example.com",
            "--zoom-plan",
            "pro",
            "--zoom-rate-fraction",
            "0.5",
            "--concurrency",
            "3",
            "--resync-hours",
            "2",
            "--keepalive-days",
            "3",
            "--probe-max-accounts",
            "4",
            "--zoom-app-kind",
            "user",
            "--apps-file",
            "/x.toml",
            "--allow-zak",
            "--attendee-user-key",
            "sender",
        ]);
        assert!(d.ingress.callbacks.zak.allow_zak);
        assert_eq!(d.ingress.callbacks.attendee_user_key, "sender");
        assert_eq!(d.ingress.backends.queue_prefix, "p-");
        assert_eq!(
            d.ingress.public_url.as_deref(),
            Some("https://rt.example.com")
        );
        assert_eq!(d.ingress.limits.fraction, 0.5);
        assert_eq!(d.concurrency, Some(3));
        assert_eq!((d.sync.resync_hours, d.sync.keepalive_days), (2, 3));
        assert_eq!(d.token.probe_max_accounts, 4);
        assert_eq!(d.ingress.zoom.app_kind, AppKind::User);
    }
}
