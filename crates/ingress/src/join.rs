//! HTTP join endpoints for bots that cannot speak AMQP. Both go through the
//! same `rectoken.join` queue as AMQP clients (direct reply-to), so every
//! token worker serves them.
//!
//! - `POST /join`: a join request in, its reply out, with the HTTP status of
//!   docs/design.md (200 ok, 404 not_found, 400 invalid_request, 409
//!   account_disconnected, 429 rate_limited, 502 zoom_error, 504 no reply).
//! - `GET /zoom/join-token?meeting_id=…&key=…`: the bare recording token as
//!   `text/plain`, or 404 — the shape of Recall.ai's `zoom.join_token_url`.
//!
//! Both are off (404) while `RECTOKEN_JOIN_KEY` is unset; a wrong key is 401.

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rectoken_bus::{BusError, OutgoingMessage};
use rectoken_domain::join::{
    FailureStatus, JoinReply, JoinRequestError, JoinStatus, TokenKind, decode_join_request,
    extract_request_id,
};
use rectoken_domain::meeting_id::MeetingUrlError;
use serde_json::json;
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::services::{Services, bearer, secret_matches};
use crate::state::IngressState;

/// Extra wait past a request's deadline, for the reply to travel back.
pub const REPLY_GRACE: Duration = Duration::from_secs(2);
/// Longest wait for any reply, whatever deadline the request names.
pub const MAX_WAIT: Duration = Duration::from_secs(120);

pub(crate) fn key_ok(services: &Services, presented: Option<&str>) -> bool {
    match (&services.join_key, presented) {
        (Some(expected), Some(p)) => secret_matches(p, expected),
        _ => false,
    }
}

/// Send a validated request body through the queue and wait for its reply.
pub(crate) async fn ask(
    state: &IngressState,
    body: Bytes,
    wait: Duration,
) -> Result<JoinReply, ApiError> {
    let correlation = format!("http-{}", hex_id());
    // Through the join exchange, as bots do: the ingress's broker user
    // then needs no more than a bot's to ask for tokens.
    let message = OutgoingMessage::json(
        state.bus.topology().join_exchange(),
        state.bus.topology().join_queue(),
        body,
        correlation.clone(),
    )
    .with_correlation_id(correlation);
    match state.bus.request(message, wait).await {
        Ok(reply) => serde_json::from_slice::<JoinReply>(&reply).map_err(|e| {
            // Not `%e`: serde quotes values, and a reply may hold tokens.
            tracing::error!(
                category = ?e.classify(),
                line = e.line(),
                column = e.column(),
                "a token worker sent a malformed reply"
            );
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "malformed reply from the token worker",
            )
        }),
        Err(BusError::ReplyTimeout(_)) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "no token worker answered in time",
        )),
        Err(e) => {
            tracing::warn!(error = %e, "could not queue a join request");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the queue is unavailable; try again",
            ))
        }
    }
}

pub(crate) fn hex_id() -> String {
    let bytes: [u8; 12] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How long to wait for a reply to a request with this deadline.
pub(crate) fn wait_for(deadline: Option<OffsetDateTime>, default: Duration) -> Duration {
    let wait = match deadline {
        Some(d) => {
            let left = d - OffsetDateTime::now_utc();
            Duration::try_from(left).unwrap_or(Duration::ZERO)
        }
        None => default,
    };
    (wait + REPLY_GRACE).min(MAX_WAIT)
}

/// Largest `POST /join` body: a join request is a few hundred bytes.
pub const MAX_JOIN_BODY_BYTES: usize = 64 * 1024;

/// `POST /join`.
///
/// The key is checked before a byte of the body is read, so a caller
/// without it costs no buffering; the body is then read up to
/// [`MAX_JOIN_BODY_BYTES`] (413 beyond).
pub async fn post_join(
    State(state): State<IngressState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let services = match state.join() {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    if !key_ok(services, bearer(&headers)) {
        return ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong join key")
            .into_response();
    }
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "a join request body is at most 64 KiB",
        )
        .into_response()
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_JOIN_BODY_BYTES as u64) {
        return too_large();
    }
    let body = match axum::body::to_bytes(body, MAX_JOIN_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => return too_large(),
    };
    // The request's deadline, when it could be read here.
    let deadline = match decode_join_request(&body) {
        Ok(r) => r.deadline(),
        // A personal link (`zoom.us/my/NAME`) names a user, not a meeting:
        // the token worker resolves it through the user directory.
        Err(JoinRequestError::InvalidMeetingUrl(MeetingUrlError::PersonalLink { .. })) => None,
        Err(e) => {
            let reply =
                JoinReply::invalid_request(extract_request_id(&body).unwrap_or_default(), &e);
            metrics::counter!("rectoken_http_join_total", "status" => "invalid_request")
                .increment(1);
            return (StatusCode::BAD_REQUEST, Json(reply)).into_response();
        }
    };
    // A deadline already past: no worker would answer (they drop expired
    // requests), so say so now instead of a 504 after the grace period.
    if deadline.is_some_and(|d| d <= OffsetDateTime::now_utc()) {
        let reply = JoinReply::failure(
            extract_request_id(&body).unwrap_or_default(),
            FailureStatus::InvalidRequest,
            "the request's deadline has passed",
        );
        metrics::counter!("rectoken_http_join_total", "status" => "invalid_request").increment(1);
        return (StatusCode::BAD_REQUEST, Json(reply)).into_response();
    }
    let wait = wait_for(deadline, services.join_timeout);
    match ask(&state, body, wait).await {
        Ok(reply) => {
            let status = reply.status();
            metrics::counter!("rectoken_http_join_total", "status" => status.as_str()).increment(1);
            let code =
                StatusCode::from_u16(status.http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
            (code, Json(reply)).into_response()
        }
        Err(r) => r.into_response(),
    }
}

/// `GET /zoom/join-token?meeting_id=…&key=…`.
///
/// The key may also come as `Authorization: Bearer`, which keeps it out of
/// proxies' access logs for callers that can send headers. Recall.ai's
/// signature headers may stand instead of the key (see
/// [`crate::callbacks::recall_authorized`]).
pub async fn get_join_token(
    State(state): State<IngressState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let services = match crate::callbacks::recall_authorized(&state, &headers, &q) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let not_found =
        || ApiError::text(StatusCode::NOT_FOUND, "no join token for this meeting").into_response();
    let Some(meeting) = q.get("meeting_id") else {
        return not_found();
    };
    let body = json!({
        "request_id": format!("join-token-{}", hex_id()),
        "meeting_url": meeting,
        "tokens": ["local_recording"],
    });
    let body = Bytes::from(body.to_string());
    match decode_join_request(&body) {
        // A personal link is resolved by the token worker (user directory).
        Ok(_) | Err(JoinRequestError::InvalidMeetingUrl(MeetingUrlError::PersonalLink { .. })) => {}
        Err(_) => return not_found(),
    }
    match ask(&state, body, wait_for(None, services.join_timeout)).await {
        Ok(reply) if reply.status() == JoinStatus::Ok => {
            match reply.tokens().get(&TokenKind::LocalRecording) {
                Some(minted) => (
                    StatusCode::OK,
                    [
                        (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                        (header::CACHE_CONTROL, "no-store"),
                    ],
                    minted.token.clone(),
                )
                    .into_response(),
                None => not_found(),
            }
        }
        // Recall treats anything but a token as "join without one": 404.
        Ok(_) => not_found(),
        Err(r) => r.into_response(),
    }
}
