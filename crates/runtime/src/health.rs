//! Health, readiness and metrics endpoints for every role.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use rectoken_bus::Bus;
use serde_json::json;
use tokio_util::sync::CancellationToken;

pub use rectoken_telemetry::HealthCheck;

/// How long one readiness check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// What the health endpoints look at. Cheap to clone.
#[derive(Clone)]
pub struct HealthState {
    /// The bus; `/readyz` needs it connected.
    pub bus: Arc<dyn Bus>,
    /// Further dependencies (Redis, …).
    pub checks: Arc<Vec<Arc<dyn HealthCheck>>>,
    /// The recorder `/metrics` renders.
    pub metrics: PrometheusHandle,
}

impl HealthState {
    /// State with the process-wide metrics recorder.
    pub fn new(bus: Arc<dyn Bus>, checks: Vec<Arc<dyn HealthCheck>>) -> Self {
        Self {
            bus,
            checks: Arc::new(checks),
            metrics: rectoken_telemetry::metrics_handle(),
        }
    }
}

/// `/healthz`, `/readyz` and `/metrics`, for any router whose state can
/// produce a [`HealthState`].
pub fn health_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    HealthState: FromRef<S>,
{
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
}

/// Serve only the health routes on a bound listener until `shutdown`
/// (workers; binding first lets the caller fail at start on a taken port).
pub async fn serve_health(
    listener: tokio::net::TcpListener,
    state: HealthState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "metrics and health listening");
    axum::serve(listener, health_routes().with_state(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// `GET /healthz`: the process runs.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 only while the bus and every registered dependency
/// answer; 503 with the failing ones otherwise.
pub async fn readyz(State(state): State<HealthState>) -> Response {
    let mut checks = serde_json::Map::new();
    let mut ready = true;
    let bus_ok = state.bus.is_connected();
    ready &= bus_ok;
    checks.insert(
        "rabbitmq".into(),
        json!(if bus_ok { "ok" } else { "unreachable" }),
    );
    for check in state.checks.iter() {
        let result = match tokio::time::timeout(CHECK_TIMEOUT, check.check()).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
        };
        if check.critical() {
            ready &= result.is_ok();
        }
        checks.insert(
            check.name().to_owned(),
            json!(result.err().unwrap_or_else(|| "ok".into())),
        );
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(json!({"ready": ready, "checks": checks})),
    )
        .into_response()
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics_text(State(state): State<HealthState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
