//! The crate's error type, returned by the control methods of [`crate::Sim`]
//! and mapped to HTTP by the `/_sim/` control API.
//!
//! Zoom's own error answers (`{"code":…,"message":…}`) are not errors of the
//! simulator: they are the expected outcome of a request and live in
//! [`crate::http`] as plain responses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Everything a control call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The named account, user, meeting or token does not exist.
    #[error("{kind} not found: {id}")]
    NotFound {
        /// What was looked up (`account`, `user`, `meeting`, …).
        kind: &'static str,
        /// The ID that was not found.
        id: String,
    },
    /// The object would clash with an existing one (same ID, PMI in use, …).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The request was well-formed but its values are not acceptable.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Binding or serving the listener failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// The crate's result type.
pub type Result<T, E = SimError> = std::result::Result<T, E>;

impl SimError {
    pub(crate) fn not_found(kind: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::InvalidInput(_) => StatusCode::BAD_REQUEST,
            Self::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let kind = match &self {
            Self::NotFound { .. } => "not_found",
            Self::Conflict(_) => "conflict",
            Self::InvalidInput(_) => "invalid_input",
            Self::Io(_) => "io",
        };
        let body = serde_json::json!({ "error": kind, "message": self.to_string() });
        (self.status(), Json(body)).into_response()
    }
}
