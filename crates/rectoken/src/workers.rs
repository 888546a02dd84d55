//! `rectoken sync-worker` and `rectoken token-worker`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rectoken_bus::Topology;
use rectoken_runtime::{HealthCheck, HealthState, serve_health};
use rectoken_zoom::apps::{App, Apps};
use tokio_util::sync::CancellationToken;

use crate::config::{SyncWorkerArgs, TokenWorkerArgs, WorkerArgs};
use crate::core::{self, Core, StoreCheck};
use crate::durability::{DurabilityCheck, check_at_start};

/// The worker's Zoom apps: the `ZOOM_*` app and those of the apps file.
pub fn worker_apps(args: &WorkerArgs) -> anyhow::Result<Apps> {
    core::apps(
        App::new(
            "",
            args.zoom.client_id().map_err(anyhow::Error::msg)?,
            args.zoom
                .client_secret()
                .map_err(anyhow::Error::msg)?
                .clone(),
            // Workers never verify webhooks (the ingress did, before
            // publishing); the app's name, kind, credentials and cloud
            // matter here.
            args.zoom.webhook_secret.clone().unwrap_or_default(),
            args.zoom.app_kind,
        ),
        args.apps_file.as_deref(),
    )
}

/// The apps by name → whether user-level, for keying events.
pub fn app_kinds(args: &WorkerArgs) -> anyhow::Result<HashMap<String, bool>> {
    Ok(core::app_kinds(&worker_apps(args)?))
}

async fn start(
    args: &WorkerArgs,
    shutdown: &CancellationToken,
) -> anyhow::Result<(Core, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let (amqp_url, redis_url) = args.backends.require().map_err(anyhow::Error::msg)?;
    let core = core::build(
        amqp_url,
        redis_url,
        Topology::new(args.backends.queue_prefix.clone()),
        &args.zoom,
        &args.crypto,
        &args.limits,
        &worker_apps(args)?,
    )?;
    check_at_start(&core.store, args.allow_volatile_redis).await?;
    let checks: Vec<Arc<dyn HealthCheck>> = vec![
        Arc::new(StoreCheck(core.store.clone())),
        Arc::new(DurabilityCheck(core.store.clone())),
    ];
    let health = HealthState::new(core.bus.clone(), checks);
    let listener = bind_metrics(args.metrics_addr).await?;
    let server = tokio::spawn(serve_health(listener, health, shutdown.clone()));
    Ok((core, server))
}

/// Bind the health and metrics listener, saying what to do when a second
/// worker on the same host finds the default port taken.
async fn bind_metrics(addr: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "cannot serve /healthz, /readyz and /metrics on {addr}: the address is in use, \
                 probably by another worker on this host; give each copy its own \
                 RECTOKEN_METRICS_ADDR (e.g. 127.0.0.1:9101, or port 0 for any free port)"
            )
        } else {
            anyhow::anyhow!("cannot listen on {addr} (RECTOKEN_METRICS_ADDR): {e}")
        }
    })?;
    if let Ok(bound) = listener.local_addr() {
        tracing::info!(addr = %bound, "serving /healthz, /readyz and /metrics");
    }
    Ok(listener)
}

async fn finish(core: Core, server: tokio::task::JoinHandle<std::io::Result<()>>) {
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "metrics server error"),
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics server task failed"),
        _ => {}
    }
    core.bus.close().await;
}

/// Run a sync worker until `shutdown`.
pub async fn run_sync(args: SyncWorkerArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let apps = app_kinds(&args.worker)?;
    let (core, server) = start(&args.worker, &shutdown).await?;
    let mut options = rectoken_sync::SyncOptions {
        resync_interval: Duration::from_secs(args.tuning.resync_hours.max(1) * 3600),
        keepalive_interval: Duration::from_secs(args.tuning.keepalive_days.max(1) * 24 * 3600),
        ..Default::default()
    };
    if let Some(c) = args.worker.concurrency {
        options.concurrency = c.max(1);
    }
    let deps = rectoken_sync::SyncDeps {
        bus: core.bus.clone(),
        store: core.store.clone(),
        access: core.access.clone(),
        apps,
        origin: core.origin.clone(),
    };
    tracing::info!(concurrency = options.concurrency, "sync worker started");
    rectoken_sync::run(deps, options, shutdown).await;
    finish(core, server).await;
    tracing::info!("sync worker stopped");
    Ok(())
}

/// Run a token worker until `shutdown`.
pub async fn run_token(args: TokenWorkerArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let (core, server) = start(&args.worker, &shutdown).await?;
    let mut options = rectoken_token::TokenOptions {
        probe_max_accounts: args.tuning.probe_max_accounts,
        allow_zak: args.zak.allow_zak,
        join_log: Some(rectoken_token::recent::JoinRecorder(core.joins.clone())),
        ..Default::default()
    };
    if let Some(c) = args.worker.concurrency {
        options.concurrency = c.max(1);
    }
    let deps = rectoken_token::TokenDeps {
        bus: core.bus.clone(),
        store: core.store.clone(),
        access: core.access.clone(),
        zoom: core.zoom.clone(),
    };
    tracing::info!(concurrency = options.concurrency, "token worker started");
    rectoken_token::run(deps, options, shutdown).await;
    finish(core, server).await;
    tracing::info!("token worker stopped");
    Ok(())
}
