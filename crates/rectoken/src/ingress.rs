//! `rectoken ingress`: wire the bus, the Redis probe and the router.

use std::sync::Arc;

use anyhow::{Context, bail};
use rectoken_bus::{Bus, Topology};
use rectoken_ingress::apps::{App, Apps};
use rectoken_ingress::{HealthCheck, Ingress, IngressState, router};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::config::{IngressArgs, decode_encryption_key};
use rectoken_store::RedisCheck;

/// How long in-flight requests may take to finish after SIGTERM.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Run the ingress until `shutdown` fires.
pub async fn run(args: IngressArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    decode_encryption_key(&args.encryption_key).map_err(anyhow::Error::msg)?;
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
    let topology = Topology::new(args.backends.queue_prefix.clone());
    let bus: Arc<dyn Bus> = rectoken_bus::connect(args.backends.amqp_url.expose_secret(), topology)
        .context("RECTOKEN_AMQP_URL")?;
    let redis_url = args.backends.redis_url.expose_secret();
    let mut checks: Vec<Arc<dyn HealthCheck>> = Vec::new();
    if !redis_url.starts_with("memory:") {
        let check = RedisCheck::new(redis_url)
            .map_err(|e| anyhow::anyhow!("RECTOKEN_REDIS_URL is invalid: {e}"))?;
        checks.push(Arc::new(check));
    } else if !args
        .backends
        .amqp_url
        .expose_secret()
        .starts_with("memory:")
    {
        bail!("RECTOKEN_REDIS_URL=memory:// works only inside `rectoken dev`");
    }
    let state = IngressState::new(bus.clone(), apps, checks);
    let ingress = Ingress::bind(args.http_addr, router(state))
        .await
        .with_context(|| format!("cannot listen on {}", args.http_addr))?;
    let addr = ingress.local_addr()?;
    tracing::info!(%addr, apps = ?ingress_app_names(&args), "ingress listening");
    let server = tokio::spawn(ingress.run(shutdown.clone()));
    shutdown.cancelled().await;
    match tokio::time::timeout(DRAIN_TIMEOUT, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "ingress server error"),
        Ok(Err(e)) => tracing::error!(error = %e, "ingress task failed"),
        Err(_) => tracing::warn!("in-flight requests did not finish within {DRAIN_TIMEOUT:?}"),
    }
    bus.close().await;
    tracing::info!("ingress stopped");
    Ok(())
}

fn ingress_app_names(args: &IngressArgs) -> Vec<String> {
    let mut names = vec!["default".to_owned()];
    if let Some(path) = &args.apps_file {
        names.push(format!("(+ apps from {})", path.display()));
    }
    names
}
