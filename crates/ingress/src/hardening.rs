//! Limits and headers that keep a slow or greedy client from tying the
//! ingress up, and browsers from caching or sniffing what it answers
//! (docs/security.md, "HTTP").
//!
//! - Connection level ([`crate::server::Ingress::run`]): a client must send
//!   a request's headers within [`HttpLimits::header_read_timeout`] of the
//!   connection being ready for one (slowloris; an idle keep-alive
//!   connection is closed after the same time).
//! - Request level ([`harden`], a middleware on every route): at most
//!   [`HttpLimits::max_concurrent_requests`] at once (more get 503 at
//!   once, with `Retry-After`), each answered within
//!   [`HttpLimits::request_timeout`] (a body sent too slowly included).
//! - Every response: `Cache-Control: no-store` (tokens, account data) and
//!   `X-Content-Type-Options: nosniff`; HTML pages also a
//!   `Content-Security-Policy`, `X-Frame-Options: DENY` and
//!   `Referrer-Policy: no-referrer`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::join::MAX_WAIT;

/// The ingress's HTTP limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest wait for a request's headers once the connection is ready
    /// for one; the connection is closed after it.
    pub header_read_timeout: Duration,
    /// Longest time from a request's headers to its answer, body reading
    /// included. Longer than the longest join wait ([`MAX_WAIT`]), so a
    /// join is answered by its own 504 first.
    pub request_timeout: Duration,
    /// Requests handled at once; more are refused with 503.
    pub max_concurrent_requests: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            // hyper runs this timer while an idle keep-alive connection
            // waits for its next request too, so it is also the idle
            // timeout: longer than the 60 s of common proxies (nginx's
            // upstream keepalive, AWS ALB), so that the proxy closes idle
            // connections first; a request racing our close would
            // otherwise come back to the proxy as a 502.
            header_read_timeout: Duration::from_secs(65),
            request_timeout: MAX_WAIT + Duration::from_secs(10),
            max_concurrent_requests: 1024,
        }
    }
}

/// The limits with the semaphore that enforces the concurrency limit.
#[derive(Debug, Clone)]
pub struct Guard {
    /// The limits.
    pub limits: HttpLimits,
    permits: Arc<Semaphore>,
}

impl Guard {
    /// A guard enforcing `limits`.
    pub fn new(limits: HttpLimits) -> Self {
        Self {
            limits,
            permits: Arc::new(Semaphore::new(limits.max_concurrent_requests.max(1))),
        }
    }
}

/// The Content-Security-Policy of the HTML pages: nothing but their own
/// inline style; no scripts, frames, forms or other origins.
pub const HTML_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; \
                            base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn refuse(status: StatusCode, message: &str) -> Response {
    let mut r = (status, axum::Json(json!({ "error": message }))).into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// Middleware: concurrency limit, request timeout, security headers.
pub async fn harden(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let mut response = match guard.permits.clone().try_acquire_owned() {
        Err(_) => {
            metrics::counter!("rectoken_http_refused_total", "reason" => "concurrency")
                .increment(1);
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many requests at once; try again",
            )
        }
        Ok(_permit) => {
            match tokio::time::timeout(guard.limits.request_timeout, next.run(request)).await {
                Ok(r) => r,
                Err(_) => {
                    metrics::counter!("rectoken_http_refused_total", "reason" => "timeout")
                        .increment(1);
                    refuse(StatusCode::REQUEST_TIMEOUT, "the request took too long")
                }
            }
        }
    };
    secure_headers(&mut response);
    response
}

/// Add the headers every response carries (and HTML pages' extra ones),
/// keeping any a handler set itself.
pub fn secure_headers(response: &mut Response) {
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    let h = response.headers_mut();
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    if html {
        h.entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(HTML_CSP));
        h.entry(header::X_FRAME_OPTIONS)
            .or_insert(HeaderValue::from_static("DENY"));
        h.entry(header::REFERRER_POLICY)
            .or_insert(HeaderValue::from_static("no-referrer"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_gets_a_csp_json_does_not() {
        let mut html =
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], "<p>").into_response();
        secure_headers(&mut html);
        let h = html.headers();
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], HTML_CSP);
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");

        let mut json = axum::Json(json!({})).into_response();
        secure_headers(&mut json);
        assert_eq!(json.headers()[header::CACHE_CONTROL], "no-store");
        assert!(
            json.headers()
                .get(header::CONTENT_SECURITY_POLICY)
                .is_none()
        );

        // A handler's own value wins.
        let mut own = ([(header::CACHE_CONTROL, "max-age=60")], "x").into_response();
        secure_headers(&mut own);
        assert_eq!(own.headers()[header::CACHE_CONTROL], "max-age=60");
    }

    #[test]
    fn request_timeout_outlasts_the_longest_join() {
        let l = HttpLimits::default();
        assert!(l.request_timeout > MAX_WAIT + crate::join::REPLY_GRACE);
        assert!(l.header_read_timeout < l.request_timeout);
    }
}
