//! `rectoken ingress`: wire the bus, the store, the vault and the router.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rectoken_bus::Topology;
use rectoken_domain::webhook::Window;
use rectoken_ingress::apps::App;
use rectoken_ingress::services::derive_state_key;
use rectoken_ingress::{AppKind, HealthCheck, Ingress, IngressState, Services, router};
use tokio_util::sync::CancellationToken;

use crate::config::IngressArgs;
use crate::config::optional_secret;
use crate::core::{self, StoreCheck};

/// How long in-flight requests may take to finish after SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `POST /join` waits for a reply when the request names no
/// deadline (the contract's default deadline plus a little).
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Run the ingress until `shutdown` fires.
pub async fn run(args: IngressArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let (amqp_url, redis_url) = args.backends.require().map_err(anyhow::Error::msg)?;
    check_secrets(&args).map_err(anyhow::Error::msg)?;
    let apps = core::apps(
        App::new(
            "",
            args.zoom.client_id().map_err(anyhow::Error::msg)?,
            args.zoom
                .client_secret()
                .map_err(anyhow::Error::msg)?
                .clone(),
            args.zoom
                .webhook_secret()
                .map_err(anyhow::Error::msg)?
                .clone(),
            args.zoom.app_kind,
        ),
        args.apps_file.as_deref(),
    )?;
    let core = core::build(
        amqp_url,
        redis_url,
        Topology::new(args.backends.queue_prefix.clone()),
        &args.zoom,
        &args.crypto,
        &args.limits,
        &apps,
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
        .with_open_connect(args.open_connect)
        .with_webhook_window(Window::with_max_age(args.webhook_max_age))
        .with_console(rectoken_ingress::console::ConsoleOptions {
            joins: Some(core.joins.clone()),
            dev_signin: false,
        });
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

/// Every secret the ingress holds, checked before anything starts: an empty
/// `RECTOKEN_JOIN_KEY` or `RECTOKEN_ADMIN_TOKEN` (a Kubernetes Secret key
/// present but empty) must never turn an endpoint on with an empty key.
fn check_secrets(args: &IngressArgs) -> Result<(), String> {
    args.zoom.client_secret()?;
    args.zoom.webhook_secret()?;
    optional_secret(args.admin_token.as_ref(), "RECTOKEN_ADMIN_TOKEN")?;
    optional_secret(args.join_key.as_ref(), "RECTOKEN_JOIN_KEY")?;
    Ok(())
}
