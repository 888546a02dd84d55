//! The HTTP face of the simulator: `/oauth/*` and `/v2/*` as Zoom serves
//! them, and the `/_sim/*` control API. Handlers only extract, call the pure
//! modules under the state lock, and shape Zoom's answers.

mod api;
mod control;
mod oauth;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::Sim;
use crate::faults::{Endpoint, Injected};
use crate::ratelimit::Label;

/// HTTP status of the missing-scope error 4711. UNCONFIRMED (docs/zoom.md §7:
/// "probably 400"); 400 is what the devforum reports show alongside the body.
pub const MISSING_SCOPE_STATUS: StatusCode = StatusCode::BAD_REQUEST;
/// Whether successful rate-limited responses also carry the
/// `X-RateLimit-*` headers. UNCONFIRMED (docs/zoom.md §8 documents them on
/// 429s only); sending them on every `/v2` answer lets clients pace
/// themselves, and clients must treat them as optional anyway.
pub const RATE_LIMIT_HEADERS_ON_SUCCESS: bool = true;
/// `expire_in` of join tokens, in seconds (docs/zoom.md §7: example value 120;
/// the unit is UNCONFIRMED, seconds per docs/design.md).
pub const JOIN_TOKEN_EXPIRE_IN_SECS: u64 = 120;
/// Lifetime of a ZAK, in seconds (Zoom: two hours).
pub const ZAK_TTL_SECS: u64 = 2 * 3600;
/// Message of a per-second 429 (docs/zoom.md §8).
pub const QPS_LIMIT_MESSAGE: &str =
    "You have reached the maximum per-second rate limit for this API. Try again later.";
/// `X-RateLimit-Type` of per-second limits. UNCONFIRMED (docs/zoom.md §8:
/// the documented other value is `Daily-limit`).
pub const RATE_LIMIT_TYPE_QPS: &str = "QPS";

pub(crate) fn router(sim: Sim) -> Router {
    Router::new()
        .nest("/oauth", oauth::routes())
        .nest("/v2", api::routes())
        .nest("/_sim", control::routes())
        .with_state(sim)
}

/// Zoom's error answer: `{"code":…,"message":…}`.
pub(crate) fn zoom_error(status: StatusCode, code: u32, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "code": code, "message": message.into() });
    (status, axum::Json(body)).into_response()
}

/// Adds the `X-RateLimit-*` headers (and `Retry-After` when given).
pub(crate) fn rate_headers(
    resp: &mut Response,
    label: Label,
    limit: u32,
    remaining: u32,
    retry_after: Option<u64>,
) {
    let h = resp.headers_mut();
    h.insert(
        "x-ratelimit-category",
        HeaderValue::from_static(label.as_str()),
    );
    h.insert(
        "x-ratelimit-type",
        HeaderValue::from_static(RATE_LIMIT_TYPE_QPS),
    );
    h.insert("x-ratelimit-limit", HeaderValue::from(limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    if let Some(secs) = retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
}

/// The 429 of a per-second limit.
pub(crate) fn too_many(label: Label, limit: u32, retry_after: u64) -> Response {
    let mut resp = zoom_error(StatusCode::TOO_MANY_REQUESTS, 429, QPS_LIMIT_MESSAGE);
    rate_headers(&mut resp, label, limit, 0, Some(retry_after));
    resp
}

/// The answer of an injected fault, if one was drawn.
pub(crate) fn injected_response(
    sim: &Sim,
    endpoint: Endpoint,
    injected: Injected,
    limit: u32,
) -> Option<Response> {
    match injected {
        Injected::None => None,
        Injected::Status500 => {
            sim.with_stats(|s| s.injected_errors += 1);
            Some(zoom_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                500,
                "Internal server error.",
            ))
        }
        Injected::Status503 => {
            sim.with_stats(|s| s.injected_errors += 1);
            Some(zoom_error(
                StatusCode::SERVICE_UNAVAILABLE,
                503,
                "Service temporarily unavailable.",
            ))
        }
        Injected::RateLimited => {
            sim.with_stats(|s| s.injected_rate_limited += 1);
            let label = endpoint.label().unwrap_or(Label::Light);
            Some(too_many(label, limit, 1))
        }
        Injected::Refusal(refusal) => {
            sim.with_stats(|s| s.injected_errors += 1);
            let (status, code, message) = refusal.answer();
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            Some(zoom_error(status, code, message))
        }
    }
}

/// Sleeps the endpoint's injected latency.
pub(crate) async fn injected_latency(sim: &Sim, endpoint: Endpoint) {
    let ms = sim.behaviour(endpoint).latency_ms;
    if ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}
