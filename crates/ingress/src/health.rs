//! Health, readiness and metrics endpoints.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub use rectoken_telemetry::HealthCheck;

use crate::server::IngressState;

/// How long one readiness check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// `GET /healthz`: the process runs.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 only while RabbitMQ and every registered dependency
/// answer; 503 with the failing ones otherwise.
pub async fn readyz(State(state): State<IngressState>) -> Response {
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
        ready &= result.is_ok();
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
pub async fn metrics(State(state): State<IngressState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
