//! `rectoken sync-worker` and `rectoken token-worker`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use rectoken_bus::Topology;
use rectoken_ingress::AppKind;
use rectoken_ingress::apps::{App, Apps};
use rectoken_runtime::{HealthCheck, HealthState, serve_health};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::config::{SyncWorkerArgs, TokenWorkerArgs, WorkerArgs};
use crate::core::{self, Core, StoreCheck, is_memory};
use crate::durability::{DurabilityCheck, check_at_start};

/// The apps by name → whether user-level, for keying events.
pub fn app_kinds(args: &WorkerArgs) -> anyhow::Result<HashMap<String, bool>> {
    let mut apps = Apps::single(App {
        name: String::new(),
        client_id: args.zoom.client_id.clone(),
        client_secret: args.zoom.client_secret.clone(),
        webhook_secret: args.zoom.webhook_secret.clone(),
        kind: args.zoom.app_kind,
    });
    if let Some(path) = &args.apps_file {
        apps.add_from_file(path)?;
    }
    Ok(apps
        .names()
        .filter_map(|n| apps.get(n).map(|a| (n.to_owned(), a.kind == AppKind::User)))
        .collect())
}

async fn start(
    args: &WorkerArgs,
    shutdown: &CancellationToken,
) -> anyhow::Result<(Core, tokio::task::JoinHandle<std::io::Result<()>>)> {
    if is_memory(&args.backends.amqp_url) || is_memory(&args.backends.redis_url) {
        bail!("memory:// backends work only inside one process: use `rectoken dev`");
    }
    let core = core::build(
        args.backends.amqp_url.expose_secret(),
        args.backends.redis_url.expose_secret(),
        Topology::new(args.backends.queue_prefix.clone()),
        &args.zoom,
        &args.crypto,
        &args.limits,
    )?;
    check_at_start(&core.store, args.allow_volatile_redis).await?;
    let checks: Vec<Arc<dyn HealthCheck>> = vec![
        Arc::new(StoreCheck(core.store.clone())),
        Arc::new(DurabilityCheck(core.store.clone())),
    ];
    let health = HealthState::new(core.bus.clone(), checks);
    let listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {} (RECTOKEN_METRICS_ADDR): {e}",
                args.metrics_addr
            )
        })?;
    let server = tokio::spawn(serve_health(listener, health, shutdown.clone()));
    Ok((core, server))
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
        resync_interval: Duration::from_secs(args.resync_hours.max(1) * 3600),
        keepalive_interval: Duration::from_secs(args.keepalive_days.max(1) * 24 * 3600),
        ..Default::default()
    };
    if let Some(c) = args.worker.concurrency {
        options.concurrency = c.max(1);
    }
    let deps = rectoken_sync::SyncDeps {
        bus: core.bus.clone(),
        store: core.store.clone(),
        access: core.access.clone(),
        zoom: core.zoom.clone(),
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
        probe_max_accounts: args.probe_max_accounts,
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
