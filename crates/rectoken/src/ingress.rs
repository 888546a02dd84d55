//! `rectoken ingress`: wire the bus, the store, the vault and the router.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use rectoken_bus::Topology;
use rectoken_domain::webhook::Window;
use rectoken_ingress::apps::{App, Apps};
use rectoken_ingress::services::derive_state_key;
use rectoken_ingress::{AppKind, HealthCheck, Ingress, IngressState, Services, router};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::config::IngressArgs;
use crate::core::{self, StoreCheck, is_memory};

/// How long in-flight requests may take to finish after SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `POST /join` waits for a reply when the request names no
/// deadline (the contract's default deadline plus a little).
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Run the ingress until `shutdown` fires.
pub async fn run(args: IngressArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    if is_memory(&args.backends.amqp_url) || is_memory(&args.backends.redis_url) {
        bail!("memory:// backends work only inside one process: use `rectoken dev`");
    }
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
    let core = core::build(
        args.backends.amqp_url.expose_secret(),
        args.backends.redis_url.expose_secret(),
        Topology::new(args.backends.queue_prefix.clone()),
        &args.zoom,
        &args.crypto,
        &args.limits,
    )?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.http_addr));
    let callbacks = args.callbacks.callbacks().map_err(|e| anyhow::anyhow!(e))?;
    let services = Services {
        store: core.store.clone(),
        vault: core.vault.clone(),
        zoom: core.zoom.clone(),
        public_url,
        state_key: derive_state_key(&core.encryption_key),
        user_level: args.zoom.app_kind == AppKind::User,
        admin_token: args.admin_token.clone(),
        join_key: args.join_key.clone(),
        join_timeout: JOIN_TIMEOUT,
        callbacks,
    };
    crate::durability::check_at_start(&core.store, args.allow_volatile_redis).await?;
    let checks: Vec<Arc<dyn HealthCheck>> = vec![
        Arc::new(StoreCheck(core.store.clone())),
        Arc::new(crate::durability::DurabilityCheck(core.store.clone())),
    ];
    let state = IngressState::new(core.bus.clone(), apps, checks)
        .with_services(services)
        .with_webhook_window(Window::with_max_age(args.webhook_max_age));
    let ingress = Ingress::bind(args.http_addr, router(state))
        .await
        .with_context(|| format!("cannot listen on {}", args.http_addr))?;
    let addr = ingress.local_addr()?;
    tracing::info!(
        %addr,
        admin_api = args.admin_token.is_some(),
        join_endpoints = args.join_key.is_some(),
        "ingress listening"
    );
    let server = tokio::spawn(ingress.run(shutdown.clone()));
    shutdown.cancelled().await;
    match tokio::time::timeout(DRAIN_TIMEOUT, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "ingress server error"),
        Ok(Err(e)) => tracing::error!(error = %e, "ingress task failed"),
        Err(_) => tracing::warn!("in-flight requests did not finish within {DRAIN_TIMEOUT:?}"),
    }
    core.bus.close().await;
    tracing::info!("ingress stopped");
    Ok(())
}
