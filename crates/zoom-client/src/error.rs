//! The client's errors, and their classification from an HTTP status, a few
//! headers and the body (docs/zoom.md §4, §7, §8).
//!
//! Classification is pure and total: any status with any body (JSON of
//! Zoom's shape, JSON of another shape, HTML from a proxy, nothing) yields
//! exactly one variant, so the caller's decision (refresh, back off,
//! disconnect the account, give up) is a `match`. Bodies are quoted only as
//! Zoom's `message`/`reason` text or a short, single-line snippet: Zoom's
//! error texts never echo credentials, and a snippet is cut before it could
//! hold much of anything.

use std::time::{Duration, SystemTime};

use serde_json::Value;
use thiserror::Error;

use crate::retry_after::parse_retry_after;

/// Zoom's error code for "Invalid access token, does not contain scopes"
/// (docs/zoom.md §7). Its HTTP status is UNCONFIRMED (probably 400), so it is
/// recognised by code whatever the status.
pub const CODE_MISSING_SCOPE: i64 = 4711;
/// Zoom's error code for an invalid or expired access token (with 401).
pub const CODE_INVALID_TOKEN: i64 = 124;
/// Zoom's error code for "Meeting does not exist" (with 404).
pub const CODE_MEETING_NOT_FOUND: i64 = 3001;
/// Zoom's error code for "User does not exist" (with 404).
pub const CODE_USER_NOT_FOUND: i64 = 1001;
/// Zoom's error code for "Invalid meeting ID" (with 400 or 404).
pub const CODE_INVALID_MEETING: i64 = 300;

/// Most characters of a non-JSON body quoted in an error.
const MAX_SNIPPET_CHARS: usize = 120;

/// Why a call to the OAuth token endpoint failed.
///
/// The variants sort failures by what the caller must do:
/// [`is_permanent`](Self::is_permanent) ones mean the stored credentials can
/// never work again (mark the account disconnected), retryable ones mean
/// "later", and [`Unexpected`](Self::Unexpected) means a bug or a Zoom
/// change that needs a human.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OAuthError {
    /// `error: invalid_grant`: the refresh token is dead (rotated by an
    /// earlier refresh, expired or revoked by deauthorization), or the
    /// authorization code is bad, used or expired. Permanent: the account
    /// must be connected again.
    #[error("Zoom refused the grant (invalid_grant): {0}")]
    InvalidGrant(String),
    /// `error: invalid_client`: the app's client ID or secret is wrong, or
    /// the app is disabled. Permanent for every account of the app.
    #[error("Zoom refused the client credentials (invalid_client): {0}")]
    InvalidClient(String),
    /// The app's OAuth configuration does not match Zoom's: the
    /// `redirect_uri` differs from the app's (4709), the grant type is not
    /// allowed for the app (4705), or the client credentials are missing
    /// (4706). Not a verdict on the account; retrying cannot help, fixing
    /// the configuration does.
    #[error("Zoom refused the app's OAuth configuration: {0}")]
    Misconfigured(String),
    /// HTTP 429 from the token endpoint.
    #[error("Zoom's token endpoint is rate limiting{}", fmt_retry(*retry_after))]
    RateLimited {
        /// From `Retry-After`, when present and readable.
        retry_after: Option<Duration>,
    },
    /// A 5xx, a timeout or a transport failure: retry with backoff.
    ///
    /// Beware a refresh that timed out: Zoom may have rotated the refresh
    /// token although the answer never arrived, and the next attempt then
    /// gets [`InvalidGrant`](Self::InvalidGrant).
    #[error("Zoom's token endpoint failed transiently: {0}")]
    Transient(String),
    /// Any other answer: a 4xx none of the above explains, or a 2xx whose
    /// body is not a token response.
    #[error("unexpected answer from Zoom's token endpoint (HTTP {status}): {detail}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// Zoom's reason, or what was wrong with the body.
        detail: String,
    },
}

impl OAuthError {
    /// Whether the credentials can never work again: the account (or, for
    /// [`InvalidClient`](Self::InvalidClient), the app) must be reconnected
    /// or reconfigured. Attendee disconnects on exactly these two.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            OAuthError::InvalidGrant(_) | OAuthError::InvalidClient(_)
        )
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            OAuthError::RateLimited { .. } | OAuthError::Transient(_)
        )
    }

    /// The wait Zoom asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            OAuthError::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// Why a failed *refresh* leaves the account unusable, for the account
    /// record and the admin view; `None` when a retry may succeed. Every
    /// answer that is not retryable is final for a refresh: the same refresh
    /// token will get the same answer, and an account that keeps failing
    /// must show `disconnected` rather than look connected (issue 14).
    pub fn refresh_disconnect_reason(&self) -> Option<String> {
        match self {
            OAuthError::RateLimited { .. } | OAuthError::Transient(_) => None,
            OAuthError::InvalidGrant(d) => Some(format!(
                "Zoom refused the refresh token ({d}): reconnect the account"
            )),
            OAuthError::InvalidClient(d) => Some(format!(
                "Zoom refused the app's client credentials ({d}): check ZOOM_CLIENT_ID/ZOOM_CLIENT_SECRET and that the app is enabled, then reconnect"
            )),
            OAuthError::Misconfigured(d) => Some(format!(
                "Zoom refused the app's OAuth configuration ({d}): fix the app, then reconnect"
            )),
            OAuthError::Unexpected { status, detail } => Some(format!(
                "Zoom's token endpoint refused the refresh (HTTP {status}: {detail}): reconnect the account"
            )),
        }
    }

    /// The `outcome` label of `rectoken_zoom_requests_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::InvalidClient(_) => "invalid_client",
            OAuthError::Misconfigured(_) => "misconfigured",
            OAuthError::RateLimited { .. } => "rate_limited",
            OAuthError::Transient(_) => "transient",
            OAuthError::Unexpected { .. } => "unexpected",
        }
    }
}

/// Why a call to Zoom's REST API (`/v2`) failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApiError {
    /// HTTP 401, e.g. code 124 "Invalid access token." (expired or
    /// revoked). The caller forces one refresh and retries once; a second
    /// 401 with a fresh token means the grant is gone.
    #[error("Zoom rejected the access token (HTTP 401{}): {message}", fmt_code(*code))]
    Unauthorized {
        /// Zoom's error code.
        code: Option<i64>,
        /// Zoom's message.
        message: String,
    },
    /// HTTP 404: 3001 "Meeting does not exist", 1001 "User does not exist",
    /// 300 "Meeting ID does not exist". Also what Zoom most likely answers
    /// for a meeting of another account (docs/zoom.md §7).
    #[error("not found at Zoom (HTTP 404{}): {message}", fmt_code(*code))]
    NotFound {
        /// Zoom's error code.
        code: Option<i64>,
        /// Zoom's message.
        message: String,
    },
    /// Code 4711 (whatever the HTTP status): the grant lacks a scope the
    /// endpoint needs. Only re-authorizing the app with the scope helps.
    #[error("the Zoom grant is missing a scope (code 4711): {message}")]
    MissingScope {
        /// Zoom's message, which names the scopes.
        message: String,
    },
    /// HTTP 429. Every header is optional (docs/zoom.md §8).
    #[error("{}", fmt_rate_limited(category.as_deref(), limit_type.as_deref(), *retry_after))]
    RateLimited {
        /// From `Retry-After` (seconds or a date), when present and readable.
        retry_after: Option<Duration>,
        /// `X-RateLimit-Category`: `Light`, `Medium`, `Heavy`, …
        category: Option<String>,
        /// `X-RateLimit-Type`: `QPS` or `Daily-limit`.
        limit_type: Option<String>,
    },
    /// HTTP 5xx: retry with backoff.
    #[error("Zoom server error (HTTP {status})")]
    Server {
        /// HTTP status.
        status: u16,
    },
    /// No answer: connect failure, timeout, broken connection.
    #[error("could not reach Zoom: {0}")]
    Transport(String),
    /// A 2xx whose body is not what the endpoint returns.
    #[error("unreadable answer from Zoom: {0}")]
    BadResponse(String),
    /// Refused before sending: the request cannot be expressed (e.g. an
    /// on-behalf token asked of a join-token endpoint).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Any other error status (e.g. 400/300 "Invalid meeting ID", 400/3000
    /// "Not allowed to start local recording", 403).
    #[error("Zoom refused the request (HTTP {status}{}): {message}", fmt_code(*code))]
    Other {
        /// HTTP status.
        status: u16,
        /// Zoom's error code.
        code: Option<i64>,
        /// Zoom's message.
        message: String,
    },
}

impl ApiError {
    /// Whether retrying the same request later may succeed (after
    /// [`retry_after`](Self::retry_after) or a backoff).
    /// [`Unauthorized`](Self::Unauthorized) is not: it needs a refresh first.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ApiError::RateLimited { .. } | ApiError::Server { .. } | ApiError::Transport(_)
        )
    }

    /// The wait Zoom asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Zoom's error code, when the body had one.
    pub fn code(&self) -> Option<i64> {
        match self {
            ApiError::Unauthorized { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Other { code, .. } => *code,
            ApiError::MissingScope { .. } => Some(CODE_MISSING_SCOPE),
            _ => None,
        }
    }

    /// The `outcome` label of `rectoken_zoom_requests_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::NotFound { .. } => "not_found",
            ApiError::MissingScope { .. } => "missing_scope",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Server { .. } => "server_error",
            ApiError::Transport(_) => "transport",
            ApiError::BadResponse(_) => "bad_response",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::Other { .. } => "error",
        }
    }
}

/// Why [`crate::ZoomClient::new`] refused a configuration.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// A base URL does not parse or is not `http(s)://`.
    #[error("{field} {value:?} is not a usable http(s) base URL: {reason}")]
    InvalidUrl {
        /// Which setting.
        field: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// The recording-token path template is unusable.
    #[error("recording_token_path {value:?} is invalid: {reason}")]
    InvalidTemplate {
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// `client_id` is empty.
    #[error("client_id is empty")]
    EmptyClientId,
    /// The timeout is zero.
    #[error("timeout must be positive")]
    ZeroTimeout,
    /// The HTTP client could not be built (TLS setup).
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

fn fmt_code(code: Option<i64>) -> String {
    code.map(|c| format!(", code {c}")).unwrap_or_default()
}

fn fmt_retry(retry_after: Option<Duration>) -> String {
    retry_after
        .map(|d| format!("; retry after {:.3}s", d.as_secs_f64()))
        .unwrap_or_default()
}

fn fmt_rate_limited(
    category: Option<&str>,
    limit_type: Option<&str>,
    retry_after: Option<Duration>,
) -> String {
    let kinds: Vec<&str> = category.into_iter().chain(limit_type).collect();
    let kinds = if kinds.is_empty() {
        String::new()
    } else {
        format!(" ({})", kinds.join(", "))
    };
    format!("rate limited by Zoom{kinds}{}", fmt_retry(retry_after))
}

/// What classification needs of a response besides its body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ResponseMeta<'a> {
    pub status: u16,
    pub retry_after: Option<&'a str>,
    pub category: Option<&'a str>,
    pub limit_type: Option<&'a str>,
}

/// Classifies a non-2xx answer of a `/v2` endpoint.
///
/// Order matters: 4711 first (it identifies a missing scope whatever the
/// status), then 429, 401, 404, 5xx, and everything else is `Other`.
pub(crate) fn classify_api(meta: ResponseMeta<'_>, body: &[u8], now: SystemTime) -> ApiError {
    let (code, message) = zoom_error_body(meta.status, body);
    if code == Some(CODE_MISSING_SCOPE) {
        return ApiError::MissingScope { message };
    }
    match meta.status {
        429 => ApiError::RateLimited {
            retry_after: meta.retry_after.and_then(|v| parse_retry_after(v, now)),
            category: header_text(meta.category),
            limit_type: header_text(meta.limit_type),
        },
        401 => ApiError::Unauthorized { code, message },
        404 => ApiError::NotFound { code, message },
        500..=599 => ApiError::Server {
            status: meta.status,
        },
        status => ApiError::Other {
            status,
            code,
            message,
        },
    }
}

/// Zoom's OAuth error codes (docs/zoom.md §4, Zoom's OAuth error page).
mod oauth_code {
    /// Bad client ID (4702) or secret (4704).
    pub const BAD_CLIENT: [i64; 2] = [4702, 4704];
    /// Unsupported grant type.
    pub const UNSUPPORTED_GRANT: i64 = 4705;
    /// Missing client credentials or grant type.
    pub const MISSING_CREDENTIALS: i64 = 4706;
    /// `redirect_uri` mismatch.
    pub const REDIRECT_MISMATCH: i64 = 4709;
    /// "Refresh token invalid" (listed with a scope mismatch).
    pub const REFRESH_TOKEN_INVALID: i64 = 4711;
    /// The app is disabled.
    pub const APP_DISABLED: i64 = 4717;
}

/// Classifies a non-2xx answer of the OAuth token endpoint by what it
/// means, not only by RFC 6749's `error` label, because Zoom's labels vary
/// (issue 14, seen in the wild): a dead refresh token comes back as 400 or
/// 401, `invalid_grant` or `invalid_request`, always with the reason
/// "Invalid Token!"; a bad authorization code as `invalid_request`.
///
/// 429 and 5xx first (whatever the body says, they are not a verdict on the
/// credentials); then the client (`invalid_client`, 4702/4704/4717); the
/// app's configuration (4705/4706/4709, `unsupported_grant_type`, a
/// redirect mismatch); the grant (`invalid_grant`, "Invalid Token", an
/// invalid code, 4711, `invalid_request`); anything else is `Unexpected`.
pub(crate) fn classify_oauth(meta: ResponseMeta<'_>, body: &[u8], now: SystemTime) -> OAuthError {
    if meta.status == 429 {
        return OAuthError::RateLimited {
            retry_after: meta.retry_after.and_then(|v| parse_retry_after(v, now)),
        };
    }
    let (error, code, detail) = oauth_error_body(meta.status, body);
    if (500..=599).contains(&meta.status) {
        return OAuthError::Transient(format!("HTTP {}: {detail}", meta.status));
    }
    let text = detail.to_ascii_lowercase();
    let error = error.as_deref().unwrap_or("");
    let code = code.unwrap_or(0);
    if error == "invalid_client"
        || oauth_code::BAD_CLIENT.contains(&code)
        || code == oauth_code::APP_DISABLED
    {
        return OAuthError::InvalidClient(detail);
    }
    if error == "unsupported_grant_type"
        || matches!(
            code,
            oauth_code::UNSUPPORTED_GRANT
                | oauth_code::MISSING_CREDENTIALS
                | oauth_code::REDIRECT_MISMATCH
        )
        || text.contains("redirect")
    {
        return OAuthError::Misconfigured(detail);
    }
    if error == "invalid_grant"
        || error == "invalid_token"
        || text.contains("invalid token")
        || text.contains("authorization code")
        || code == oauth_code::REFRESH_TOKEN_INVALID
        || error == "invalid_request"
    {
        return OAuthError::InvalidGrant(detail);
    }
    OAuthError::Unexpected {
        status: meta.status,
        detail,
    }
}

/// Zoom's `{"code": …, "message": …}`, tolerating a missing, partial or
/// non-JSON body. The message falls back to a snippet of the body, then to
/// the status's reason phrase.
pub(crate) fn zoom_error_body(status: u16, body: &[u8]) -> (Option<i64>, String) {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => {
            let code = o.get("code").and_then(json_int);
            let message = o
                .get("message")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map_or_else(|| reason_phrase(status), one_line);
            (code, message)
        }
        _ => (None, snippet_or_reason(status, body)),
    }
}

/// The OAuth error body `{"error": …, "reason": …}` (Zoom), with
/// `error_description` (RFC 6749) and Zoom's `{"code","message"}` shape
/// accepted too. Returns the `error` value, Zoom's numeric code and a
/// human-readable detail.
pub(crate) fn oauth_error_body(status: u16, body: &[u8]) -> (Option<String>, Option<i64>, String) {
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) else {
        return (None, None, snippet_or_reason(status, body));
    };
    let text = |k: &str| {
        o.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(one_line)
    };
    let error = text("error");
    let detail = text("reason")
        .or_else(|| text("error_description"))
        .or_else(|| text("message"))
        .or_else(|| error.clone())
        .unwrap_or_else(|| reason_phrase(status));
    let code = o.get("code").and_then(json_int);
    let detail = match code {
        Some(code) => format!("{detail} (code {code})"),
        None => detail,
    };
    (error, code, detail)
}

/// An integer code, as a JSON number or a numeric string.
fn json_int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn header_text(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn snippet_or_reason(status: u16, body: &[u8]) -> String {
    let text = one_line(&String::from_utf8_lossy(body));
    if text.is_empty() {
        return reason_phrase(status);
    }
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(MAX_SNIPPET_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// Collapses whitespace and drops control characters, so a hostile body
/// cannot forge log lines.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn reason_phrase(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map_or_else(|| format!("HTTP {status}"), str::to_owned)
}

/// A serde error described by its category and position only: the default
/// `Display` quotes the offending value, which in a token response would be
/// the token.
pub(crate) fn describe_json_error(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "JSON of an unexpected shape",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_590_879_600) // 2020-05-30T23:00:00Z
    }

    fn meta(status: u16) -> ResponseMeta<'static> {
        ResponseMeta {
            status,
            ..ResponseMeta::default()
        }
    }

    fn api(status: u16, body: &str) -> ApiError {
        classify_api(meta(status), body.as_bytes(), now())
    }

    fn oauth(status: u16, body: &str) -> OAuthError {
        classify_oauth(meta(status), body.as_bytes(), now())
    }

    fn s(x: &str) -> String {
        x.to_owned()
    }

    #[test]
    fn api_errors_from_zoom_bodies() {
        let cases = [
            (
                401,
                r#"{"code":124,"message":"Invalid access token."}"#,
                ApiError::Unauthorized {
                    code: Some(124),
                    message: s("Invalid access token."),
                },
            ),
            (
                404,
                r#"{"code":3001,"message":"Meeting does not exist: 85123456789."}"#,
                ApiError::NotFound {
                    code: Some(3001),
                    message: s("Meeting does not exist: 85123456789."),
                },
            ),
            (
                404,
                r#"{"code":1001,"message":"User does not exist: x."}"#,
                ApiError::NotFound {
                    code: Some(1001),
                    message: s("User does not exist: x."),
                },
            ),
            (
                404,
                r#"{"code":300,"message":"Meeting ID does not exist."}"#,
                ApiError::NotFound {
                    code: Some(300),
                    message: s("Meeting ID does not exist."),
                },
            ),
            (
                400,
                r#"{"code":300,"message":"Invalid meeting ID."}"#,
                ApiError::Other {
                    status: 400,
                    code: Some(300),
                    message: s("Invalid meeting ID."),
                },
            ),
            (
                400,
                r#"{"code":3000,"message":"Not allowed to start local recording."}"#,
                ApiError::Other {
                    status: 400,
                    code: Some(3000),
                    message: s("Not allowed to start local recording."),
                },
            ),
            (
                400,
                r#"{"code":124,"message":"This API only supports OAuth2 authorization."}"#,
                ApiError::Other {
                    status: 400,
                    code: Some(124),
                    message: s("This API only supports OAuth2 authorization."),
                },
            ),
            (
                403,
                r#"{"code":200,"message":"No permission."}"#,
                ApiError::Other {
                    status: 403,
                    code: Some(200),
                    message: s("No permission."),
                },
            ),
            (
                500,
                r#"{"code":500,"message":"boom"}"#,
                ApiError::Server { status: 500 },
            ),
            (503, "", ApiError::Server { status: 503 }),
            (
                502,
                "<html>Bad gateway</html>",
                ApiError::Server { status: 502 },
            ),
            (599, "", ApiError::Server { status: 599 }),
        ];
        for (status, body, want) in cases {
            assert_eq!(api(status, body), want, "{status} {body}");
        }
    }

    #[test]
    fn missing_scope_is_recognised_by_code_whatever_the_status() {
        let body = r#"{"code":4711,"message":"Invalid access token, does not contain scopes:[meeting:read:local_recording_token:admin]."}"#;
        for status in [400, 401, 403, 404, 429, 500] {
            let e = api(status, body);
            assert_eq!(
                e,
                ApiError::MissingScope {
                    message: s(
                        "Invalid access token, does not contain scopes:[meeting:read:local_recording_token:admin]."
                    )
                },
                "{status}"
            );
            assert_eq!(e.code(), Some(4711));
            assert!(!e.is_retryable());
        }
        // A string code counts too.
        assert!(matches!(
            api(400, r#"{"code":"4711","message":"x"}"#),
            ApiError::MissingScope { .. }
        ));
    }

    #[test]
    fn rate_limited_reads_every_optional_header() {
        let full = ResponseMeta {
            status: 429,
            retry_after: Some("2020-05-31T00:00:00Z"),
            category: Some("Heavy"),
            limit_type: Some("Daily-limit"),
        };
        let body = r#"{"code":429,"message":"You have reached the maximum daily rate limit for this API. Refreshes at 2020-05-31T00:00:00Z."}"#;
        let e = classify_api(full, body.as_bytes(), now());
        assert_eq!(
            e,
            ApiError::RateLimited {
                retry_after: Some(Duration::from_secs(3600)),
                category: Some(s("Heavy")),
                limit_type: Some(s("Daily-limit")),
            }
        );
        assert!(e.is_retryable());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
        assert_eq!(
            e.to_string(),
            "rate limited by Zoom (Heavy, Daily-limit); retry after 3600.000s"
        );

        let seconds = ResponseMeta {
            status: 429,
            retry_after: Some("1"),
            category: Some("Light"),
            limit_type: Some("QPS"),
        };
        assert_eq!(
            classify_api(seconds, b"", now()).retry_after(),
            Some(Duration::from_secs(1))
        );

        let bare = api(429, "");
        assert_eq!(
            bare,
            ApiError::RateLimited {
                retry_after: None,
                category: None,
                limit_type: None
            }
        );
        assert_eq!(bare.to_string(), "rate limited by Zoom");

        let odd = ResponseMeta {
            status: 429,
            retry_after: Some("whenever"),
            category: Some("  "),
            limit_type: Some("QPS"),
        };
        let e = classify_api(odd, b"{}", now());
        assert_eq!(
            e,
            ApiError::RateLimited {
                retry_after: None,
                category: None,
                limit_type: Some(s("QPS"))
            }
        );
        assert_eq!(e.to_string(), "rate limited by Zoom (QPS)");
    }

    #[test]
    fn api_bodies_are_tolerated_in_any_shape() {
        let cases = [
            ("", None, "Unauthorized"),
            ("not json", None, "not json"),
            ("[1,2]", None, "[1,2]"),
            ("{}", None, "Unauthorized"),
            (r#"{"code":124}"#, Some(124), "Unauthorized"),
            (r#"{"message":"  "}"#, None, "Unauthorized"),
            (r#"{"code":"124","message":"x"}"#, Some(124), "x"),
            (r#"{"code":1.5,"message":"x"}"#, None, "x"),
            (r#"{"code":null,"message":7}"#, None, "Unauthorized"),
            (
                "{\"message\":\"line\\nbreak\\r\\n forged\"}",
                None,
                "line break forged",
            ),
        ];
        for (body, code, message) in cases {
            assert_eq!(
                api(401, body),
                ApiError::Unauthorized {
                    code,
                    message: s(message)
                },
                "{body:?}"
            );
        }
        // Non-UTF-8 and long bodies: a short, single-line snippet.
        let long = format!("<html>\n{}</html>", "x".repeat(1000));
        let ApiError::Other { message, .. } = api(418, &long) else {
            panic!()
        };
        assert_eq!(message.chars().count(), MAX_SNIPPET_CHARS + 1);
        assert!(message.starts_with("<html> xxx") && message.ends_with('…'));
        let e = classify_api(meta(400), b"\xff\xfe bad", now());
        assert!(matches!(
            e,
            ApiError::Other {
                status: 400,
                code: None,
                ..
            }
        ));
        // Unknown status: no reason phrase, still a message.
        assert_eq!(
            api(499, ""),
            ApiError::Other {
                status: 499,
                code: None,
                message: s("HTTP 499")
            }
        );
    }

    #[test]
    fn api_error_helpers() {
        let retryable = [
            ApiError::RateLimited {
                retry_after: None,
                category: None,
                limit_type: None,
            },
            ApiError::Server { status: 503 },
            ApiError::Transport(s("timeout")),
        ];
        for e in &retryable {
            assert!(e.is_retryable(), "{e:?}");
        }
        let final_ = [
            ApiError::Unauthorized {
                code: Some(124),
                message: s("m"),
            },
            ApiError::NotFound {
                code: Some(3001),
                message: s("m"),
            },
            ApiError::MissingScope { message: s("m") },
            ApiError::BadResponse(s("b")),
            ApiError::InvalidRequest(s("i")),
            ApiError::Other {
                status: 400,
                code: None,
                message: s("m"),
            },
        ];
        for e in &final_ {
            assert!(!e.is_retryable(), "{e:?}");
            assert_eq!(e.retry_after(), None);
        }
        let mut outcomes: Vec<_> = retryable
            .iter()
            .chain(&final_)
            .map(ApiError::outcome)
            .collect();
        outcomes.sort_unstable();
        outcomes.dedup();
        assert_eq!(outcomes.len(), 9, "one outcome per variant");
        assert_eq!(
            ApiError::Unauthorized {
                code: Some(124),
                message: s("Invalid access token.")
            }
            .to_string(),
            "Zoom rejected the access token (HTTP 401, code 124): Invalid access token."
        );
        assert_eq!(
            ApiError::NotFound {
                code: None,
                message: s("Not Found")
            }
            .to_string(),
            "not found at Zoom (HTTP 404): Not Found"
        );
    }

    #[test]
    fn oauth_errors_from_zoom_bodies() {
        let cases = [
            // The simulator's (and, by its text, Zoom's) rotated refresh token.
            (
                400,
                r#"{"reason":"Invalid Token!","error":"invalid_grant"}"#,
                OAuthError::InvalidGrant(s("Invalid Token!")),
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"code expired"}"#,
                OAuthError::InvalidGrant(s("code expired")),
            ),
            (
                401,
                r#"{"error":"invalid_grant"}"#,
                OAuthError::InvalidGrant(s("invalid_grant")),
            ),
            (
                401,
                r#"{"reason":"Invalid client_id or client_secret","error":"invalid_client"}"#,
                OAuthError::InvalidClient(s("Invalid client_id or client_secret")),
            ),
            (
                400,
                r#"{"reason":"Redirect URI mismatch.","error":"invalid_request"}"#,
                OAuthError::Misconfigured(s("Redirect URI mismatch.")),
            ),
            (
                400,
                r#"{"reason":"Unsupported grant type","error":"unsupported_grant_type"}"#,
                OAuthError::Misconfigured(s("Unsupported grant type")),
            ),
            (
                400,
                r#"{"code":4709,"message":"Redirect URI mismatch."}"#,
                OAuthError::Misconfigured(s("Redirect URI mismatch. (code 4709)")),
            ),
            (
                400,
                r#"{"code":4706,"message":"Missing client_id or client_secret"}"#,
                OAuthError::Misconfigured(s("Missing client_id or client_secret (code 4706)")),
            ),
            // Dead refresh tokens as reported in the wild: 400 or 401,
            // invalid_grant or invalid_request, or only the reason.
            (
                401,
                r#"{"reason":"Invalid Token!","error":"invalid_grant"}"#,
                OAuthError::InvalidGrant(s("Invalid Token!")),
            ),
            (
                400,
                r#"{"reason":"Invalid Token!","error":"invalid_request"}"#,
                OAuthError::InvalidGrant(s("Invalid Token!")),
            ),
            (
                401,
                r#"{"reason":"Invalid Token!"}"#,
                OAuthError::InvalidGrant(s("Invalid Token!")),
            ),
            (
                400,
                r#"{"code":4711,"message":"Refresh token invalid"}"#,
                OAuthError::InvalidGrant(s("Refresh token invalid (code 4711)")),
            ),
            // A bad authorization code: invalid_request at Zoom.
            (
                400,
                r#"{"reason":"Invalid authorization code","error":"invalid_request"}"#,
                OAuthError::InvalidGrant(s("Invalid authorization code")),
            ),
            (
                400,
                r#"{"code":4717,"message":"The app is disabled."}"#,
                OAuthError::InvalidClient(s("The app is disabled. (code 4717)")),
            ),
            // A 401 alone is not proof of bad credentials: it could be a proxy.
            (
                401,
                "",
                OAuthError::Unexpected {
                    status: 401,
                    detail: s("Unauthorized"),
                },
            ),
            (
                403,
                "<html>denied</html>",
                OAuthError::Unexpected {
                    status: 403,
                    detail: s("<html>denied</html>"),
                },
            ),
            // 5xx is transient even when the body names a grant error.
            (
                503,
                r#"{"error":"invalid_grant","reason":"maintenance"}"#,
                OAuthError::Transient(s("HTTP 503: maintenance")),
            ),
            (
                500,
                "",
                OAuthError::Transient(s("HTTP 500: Internal Server Error")),
            ),
            (
                429,
                r#"{"error":"invalid_grant"}"#,
                OAuthError::RateLimited { retry_after: None },
            ),
        ];
        for (status, body, want) in cases {
            assert_eq!(oauth(status, body), want, "{status} {body}");
        }
        let limited = ResponseMeta {
            status: 429,
            retry_after: Some("30"),
            ..ResponseMeta::default()
        };
        let e = classify_oauth(limited, b"", now());
        assert_eq!(
            e,
            OAuthError::RateLimited {
                retry_after: Some(Duration::from_secs(30))
            }
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
    }

    #[test]
    fn oauth_error_helpers() {
        let all = [
            OAuthError::InvalidGrant(s("g")),
            OAuthError::InvalidClient(s("c")),
            OAuthError::RateLimited { retry_after: None },
            OAuthError::Transient(s("t")),
            OAuthError::Unexpected {
                status: 400,
                detail: s("u"),
            },
            OAuthError::Misconfigured(s("m")),
        ];
        let permanent: Vec<_> = all.iter().map(OAuthError::is_permanent).collect();
        assert_eq!(permanent, [true, true, false, false, false, false]);
        let retryable: Vec<_> = all.iter().map(OAuthError::is_retryable).collect();
        assert_eq!(retryable, [false, false, true, true, false, false]);
        // A refresh ends the account on everything that is not retryable.
        let disconnects: Vec<_> = all
            .iter()
            .map(|e| e.refresh_disconnect_reason().is_some())
            .collect();
        assert_eq!(disconnects, [true, true, false, false, true, true]);
        assert!(
            all[0]
                .refresh_disconnect_reason()
                .unwrap()
                .contains("reconnect the account")
        );
        let mut outcomes: Vec<_> = all.iter().map(OAuthError::outcome).collect();
        outcomes.sort_unstable();
        outcomes.dedup();
        assert_eq!(outcomes.len(), all.len());
    }

    #[test]
    fn json_errors_never_quote_the_value() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct T {
            expires_in: u64,
        }
        let e = serde_json::from_str::<T>(r#"{"expires_in":"SECRET_TOKEN_VALUE"}"#).unwrap_err();
        assert!(e.to_string().contains("SECRET_TOKEN_VALUE"), "premise");
        let d = describe_json_error(&e);
        assert!(!d.contains("SECRET"), "{d}");
        assert!(
            d.starts_with("JSON of an unexpected shape at line 1"),
            "{d}"
        );
        let e = serde_json::from_str::<T>(r#"{"expires_in":"#).unwrap_err();
        assert!(describe_json_error(&e).starts_with("truncated JSON"));
        let e = serde_json::from_str::<T>("<html>").unwrap_err();
        assert!(describe_json_error(&e).starts_with("not valid JSON"));
    }
}
