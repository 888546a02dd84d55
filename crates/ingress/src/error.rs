//! [`ApiError`]: the one error type of the ingress's handlers.
//!
//! Every refusal the ingress answers is a status, a message for the caller,
//! and the form the caller reads: JSON `{"error": …}` for API clients (admin
//! API, join endpoints, webhooks, token callbacks), plain text for
//! Recall.ai's bare-token URLs, or a small HTML page for the person in a
//! browser on the OAuth connect flow. Handlers return
//! `Result<Response, ApiError>` and use `?`; how a refusal looks is decided
//! here, once.

use std::borrow::Cow;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use rectoken_store::StoreError;
use serde_json::json;

/// How a refusal is rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Form {
    /// `{"error": message}`.
    Json,
    /// `text/plain` (Recall.ai's bare-token URLs: a 404 means "no token").
    Text,
    /// A small HTML page with a title, for a person in a browser.
    Page { title: Cow<'static, str> },
}

/// A refusal: status, message and form. Never carries a secret: messages
/// are written for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    message: Cow<'static, str>,
    form: Form,
}

impl ApiError {
    /// A JSON refusal, `{"error": message}`.
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            message: message.into(),
            form: Form::Json,
        }
    }

    /// A `text/plain` refusal.
    pub fn text(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            form: Form::Text,
            ..Self::new(status, message)
        }
    }

    /// An HTML page titled `title` whose paragraph is `message` (both
    /// escaped).
    pub fn page(
        status: StatusCode,
        title: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            form: Form::Page {
                title: title.into(),
            },
            ..Self::new(status, message)
        }
    }

    /// The same refusal as an HTML page titled `title`.
    pub fn into_page(self, title: impl Into<Cow<'static, str>>) -> Self {
        Self {
            form: Form::Page {
                title: title.into(),
            },
            ..self
        }
    }

    /// 404: the admin API is off.
    pub fn admin_off() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "the admin API is off (set RECTOKEN_ADMIN_TOKEN)",
        )
    }

    /// 404: the HTTP join endpoints are off.
    pub fn join_off() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "the join endpoints are off (set RECTOKEN_JOIN_KEY)",
        )
    }

    /// 404 (plain text): this ingress has no OAuth flow (webhook-only).
    pub fn oauth_off() -> Self {
        Self::text(
            StatusCode::NOT_FOUND,
            "OAuth is not configured on this ingress",
        )
    }

    /// A store failure: logged here, and 503 "try again" to the caller
    /// (the cause stays in the log); bad input is the caller's 400.
    pub fn store(e: &StoreError) -> Self {
        match e {
            StoreError::InvalidInput(m) => Self::new(StatusCode::BAD_REQUEST, m.clone()),
            e => {
                tracing::warn!(error = %e, "store error while answering a request");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the store is unavailable; try again",
                )
            }
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message for the caller.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::store(&e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.form {
            Form::Json => (self.status, Json(json!({ "error": self.message }))).into_response(),
            Form::Text => (
                self.status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                self.message.into_owned(),
            )
                .into_response(),
            Form::Page { title } => {
                (self.status, Html(page_html(&title, &self.message))).into_response()
            }
        }
    }
}

/// The small HTML page of the connect flow.
pub(crate) fn page_html(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t} · rectoken</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\"><h1>{t}</h1><p>{b}</p></body></html>",
        t = escape_html(title),
        b = escape_html(body)
    )
}

/// Escape text for HTML (Zoom's `error` parameter is attacker-controlled).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(e: ApiError) -> (StatusCode, String, String) {
        let r = e.into_response();
        let status = r.status();
        let ctype = r
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        (status, ctype, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn each_form_renders_as_its_callers_expect() {
        let (s, t, b) = body_of(ApiError::new(StatusCode::CONFLICT, "no")).await;
        assert_eq!((s, t.as_str()), (StatusCode::CONFLICT, "application/json"));
        assert_eq!(b, r#"{"error":"no"}"#);

        let (s, t, b) = body_of(ApiError::oauth_off()).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert!(t.starts_with("text/plain"), "{t}");
        assert_eq!(b, "OAuth is not configured on this ingress");

        let (s, t, b) = body_of(ApiError::page(StatusCode::GONE, "T<1>", "a & b")).await;
        assert_eq!(s, StatusCode::GONE);
        assert!(t.starts_with("text/html"), "{t}");
        assert!(b.contains("<h1>T&lt;1&gt;</h1><p>a &amp; b</p>"), "{b}");
    }

    #[test]
    fn store_errors_hide_their_cause_but_not_bad_input() {
        let e = ApiError::from(StoreError::InvalidInput("bad id".into()));
        assert_eq!(
            (e.status(), e.message()),
            (StatusCode::BAD_REQUEST, "bad id")
        );
        let e = ApiError::from(StoreError::Corrupt {
            key: "account:10.0.0.3".into(),
            reason: "not JSON".into(),
        });
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!e.message().contains("10.0.0.3"));
    }

    #[test]
    fn html_escaping() {
        assert_eq!(
            escape_html("<script>a&b</script>\"'"),
            "&lt;script&gt;a&amp;b&lt;/script&gt;&quot;&#39;"
        );
        assert_eq!(escape_html("a\r\nb"), "ab");
    }
}
