//! `POST /zoom/webhook` and `POST /zoom/webhook/{app}`.
//!
//! Order matters: the signature is verified over the raw bytes first, so an
//! unsigned request never reaches the JSON parser; the URL-validation
//! challenge is answered without I/O; every other event is published with a
//! publisher confirm and answered 200 only after the broker confirmed it.
//! Anything else is 503 so Zoom retries (5, 20, 60 minutes later).

use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rectoken_bus::topology::APP_HEADER;
use rectoken_bus::{BusError, OutgoingMessage};
use rectoken_domain::event::{self, Envelope, EventError, URL_VALIDATION};
use rectoken_domain::webhook::{self as signing, VerifyError};
use serde_json::json;

use crate::apps::DEFAULT_APP;
use crate::error::ApiError;
use crate::state::IngressState;

/// Largest webhook body accepted (docs/design.md): larger is 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Everything that can go wrong with one webhook request, mapped to its
/// status code in one place.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No app has this route name.
    #[error("no Zoom app named {0:?}")]
    UnknownApp(String),
    /// Signature or timestamp check failed.
    #[error(transparent)]
    Unauthorized(#[from] VerifyError),
    /// Signed, but not a usable event.
    #[error(transparent)]
    BadEvent(#[from] EventError),
    /// The broker could not take the event; Zoom should retry.
    #[error(transparent)]
    Unavailable(#[from] BusError),
}

impl WebhookError {
    fn outcome(&self) -> &'static str {
        match self {
            WebhookError::UnknownApp(_) => "unknown_app",
            WebhookError::Unauthorized(_) => "unauthorized",
            WebhookError::BadEvent(_) => "bad_request",
            WebhookError::Unavailable(_) => "unavailable",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            WebhookError::UnknownApp(_) => StatusCode::NOT_FOUND,
            WebhookError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            WebhookError::BadEvent(_) => StatusCode::BAD_REQUEST,
            WebhookError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let status = self.status();
        // 503 bodies do not reveal broker details to the caller.
        let message = match &self {
            WebhookError::Unavailable(_) => "event could not be queued; retry later".to_owned(),
            other => other.to_string(),
        };
        ApiError::new(status, message).into_response()
    }
}

/// `POST /zoom/webhook`: the default app.
pub async fn default_app(
    State(state): State<IngressState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(state, DEFAULT_APP, headers, body).await
}

/// `POST /zoom/webhook/{app}`: a named app from the apps file.
pub async fn named_app(
    State(state): State<IngressState>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(state, &app, headers, body).await
}

async fn handle(state: IngressState, app: &str, headers: HeaderMap, body: Bytes) -> Response {
    let result = process(&state, app, &headers, body).await;
    let outcome = match &result {
        Ok(Accepted::Validation(_)) => "url_validation",
        Ok(Accepted::Published { .. }) => "accepted",
        Err(e) => e.outcome(),
    };
    metrics::counter!("rectoken_webhook_requests_total", "outcome" => outcome).increment(1);
    match result {
        Ok(Accepted::Validation(answer)) => (StatusCode::OK, Json(answer)).into_response(),
        Ok(Accepted::Published { message_id }) => (
            StatusCode::OK,
            Json(json!({"status": "accepted", "message_id": message_id})),
        )
            .into_response(),
        Err(e) => {
            match &e {
                WebhookError::Unavailable(cause) => {
                    tracing::warn!(app, outcome, error = %cause, "webhook not queued")
                }
                other => tracing::info!(app, outcome, error = %other, "webhook refused"),
            }
            e.into_response()
        }
    }
}

enum Accepted {
    Validation(serde_json::Value),
    Published { message_id: String },
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn process(
    state: &IngressState,
    app_name: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Accepted, WebhookError> {
    let app = state
        .apps
        .get(app_name)
        .ok_or_else(|| WebhookError::UnknownApp(app_name.to_owned()))?;
    signing::verify_within(
        app.webhook_secret_bytes(),
        header(headers, "x-zm-request-timestamp"),
        header(headers, "x-zm-signature"),
        &body,
        (state.now)(),
        state.webhook_window,
    )?;
    let envelope = Envelope::parse(&body)?;
    if envelope.event == URL_VALIDATION {
        let plain = envelope.plain_token().ok_or_else(|| EventError::BadField {
            event: envelope.event.clone(),
            detail: "payload.plainToken is missing".into(),
        })?;
        let encrypted = signing::url_validation_token(app.webhook_secret_bytes(), plain);
        tracing::info!(
            app = app_name,
            event = URL_VALIDATION,
            outcome = "url_validation",
            "answered URL validation"
        );
        return Ok(Accepted::Validation(
            json!({"plainToken": plain, "encryptedToken": encrypted}),
        ));
    }
    let message_id = event::webhook_message_id(app_name, &body);
    let message = OutgoingMessage::json(
        state.bus.topology().events_exchange(),
        envelope.event.clone(),
        body,
        message_id.clone(),
    )
    .with_header(APP_HEADER, app_name);
    let started = Instant::now();
    let published = state.bus.publish(message).await;
    metrics::histogram!("rectoken_webhook_publish_seconds").record(started.elapsed().as_secs_f64());
    published?;
    tracing::info!(
        app = app_name,
        event = %envelope.event,
        account_id = envelope.account_id.as_deref().unwrap_or(""),
        message_id = %message_id,
        outcome = "accepted",
        "webhook queued"
    );
    Ok(Accepted::Published { message_id })
}
