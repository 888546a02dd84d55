//! Account events: what happens to a connected Zoom account that an
//! operator acts on (connected, disconnected and why, deauthorized, syncs
//! done or failed, mints failing), as published to the
//! `rectoken.account-events` exchange and POSTed to operator webhooks.
//!
//! The JSON body is the contract (docs/asyncapi.yaml, README "Account
//! events"):
//!
//! ```json
//! { "id": "evt_6f1c…", "type": "account.disconnected",
//!   "timestamp": "2026-12-06T03:04:05.678Z", "account_id": "aBcD123",
//!   "app": "default", "data": { "reason": "invalid_grant: Invalid Token!" } }
//! ```
//!
//! `type` is also the AMQP routing key. `data` holds the details of each
//! type; new fields may be added, never renamed. No event carries a token
//! or a secret: the details are counts, scope names and Zoom's reasons,
//! which are error texts, never credentials.
//!
//! Outbound webhooks are signed the Standard Webhooks way with
//! [`crate::callback_auth::standard_signature`] (the same code that verifies
//! Recall.ai's callbacks); [`signed_headers`] names the three headers and
//! [`webhook_id`] derives the stable `webhook-id` of an event, so a
//! redelivered event carries the same one and receivers can deduplicate.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::callback_auth::{WHSEC_PREFIX, standard_signature};

/// Longest reason text an event carries (Zoom's error messages are short;
/// this bounds what a misbehaving upstream can push into every receiver).
pub const MAX_REASON_LEN: usize = 500;

/// What happened, with the details of that kind. Serialized as `type`
/// (the stable type name) and `data` (the details).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum AccountEventKind {
    /// An account connected for the first time (OAuth connect flow).
    #[serde(rename = "account.connected")]
    Connected {
        /// `account` (admin-managed app) or `user` (user-managed app).
        kind: String,
        /// The scopes Zoom granted.
        scopes: Vec<String>,
        /// Required scopes the grant lacks (empty when complete).
        missing_scopes: Vec<String>,
    },
    /// An account that had a record (connected or disconnected) connected
    /// again.
    #[serde(rename = "account.reconnected")]
    Reconnected {
        /// `account` or `user`.
        kind: String,
        /// Its status before: `connected` or `disconnected`.
        previous_status: String,
        /// The scopes Zoom granted this time.
        scopes: Vec<String>,
        /// Required scopes the grant lacks.
        missing_scopes: Vec<String>,
    },
    /// Zoom refused the account's refresh token for good (revoked,
    /// expired, app removed): no token can be minted until it reconnects.
    #[serde(rename = "account.disconnected")]
    Disconnected {
        /// The reason Zoom gave (its OAuth error and message).
        reason: String,
    },
    /// The app was uninstalled (`app_deauthorized`): credentials, state
    /// and mappings are removed.
    #[serde(rename = "account.deauthorized")]
    Deauthorized {
        /// The Zoom user who removed the app, when Zoom says.
        user_id: Option<String>,
    },
    /// A reconnect granted other scopes than before, or the grant lacks a
    /// scope rectoken needs.
    #[serde(rename = "account.scopes_changed")]
    ScopesChanged {
        /// Scopes granted now but not before.
        added: Vec<String>,
        /// Scopes granted before but not now.
        removed: Vec<String>,
        /// Required scopes the grant lacks (syncs or joins will fail).
        missing_scopes: Vec<String>,
    },
    /// A full sync of the account completed.
    #[serde(rename = "account.sync_completed")]
    SyncCompleted {
        /// Users visited.
        users: u64,
        /// Meeting and PMI mappings the account has now.
        mappings: u64,
        /// Mappings the sync removed (no longer in Zoom).
        pruned: u64,
        /// How long the sync took.
        duration_ms: u64,
    },
    /// A full sync of the account failed.
    #[serde(rename = "account.sync_failed")]
    SyncFailed {
        /// Why.
        reason: String,
        /// Deliveries of the failing sync step: 1 for a failure no retry
        /// can mend, else the deliveries tried before its retries ran out.
        attempts: u32,
    },
    /// A token worker saw the account's mints fail repeatedly.
    #[serde(rename = "account.mints_failing")]
    MintsFailing {
        /// Consecutive failed mints seen by the reporting worker.
        failures: u32,
        /// The status of the last failure (`zoom_error`,
        /// `account_disconnected`, `rate_limited`).
        last_status: String,
        /// Its error text.
        last_error: String,
    },
}

/// Every type name, in the order docs list them.
pub const EVENT_TYPES: [&str; 8] = [
    "account.connected",
    "account.reconnected",
    "account.disconnected",
    "account.deauthorized",
    "account.scopes_changed",
    "account.sync_completed",
    "account.sync_failed",
    "account.mints_failing",
];

impl AccountEventKind {
    /// The stable type name (also the routing key).
    pub fn type_name(&self) -> &'static str {
        match self {
            AccountEventKind::Connected { .. } => EVENT_TYPES[0],
            AccountEventKind::Reconnected { .. } => EVENT_TYPES[1],
            AccountEventKind::Disconnected { .. } => EVENT_TYPES[2],
            AccountEventKind::Deauthorized { .. } => EVENT_TYPES[3],
            AccountEventKind::ScopesChanged { .. } => EVENT_TYPES[4],
            AccountEventKind::SyncCompleted { .. } => EVENT_TYPES[5],
            AccountEventKind::SyncFailed { .. } => EVENT_TYPES[6],
            AccountEventKind::MintsFailing { .. } => EVENT_TYPES[7],
        }
    }

    /// The same kind with every free text bounded to [`MAX_REASON_LEN`].
    fn bounded(self) -> Self {
        match self {
            AccountEventKind::Disconnected { reason } => AccountEventKind::Disconnected {
                reason: bound(reason),
            },
            AccountEventKind::SyncFailed { reason, attempts } => AccountEventKind::SyncFailed {
                reason: bound(reason),
                attempts,
            },
            AccountEventKind::MintsFailing {
                failures,
                last_status,
                last_error,
            } => AccountEventKind::MintsFailing {
                failures,
                last_status,
                last_error: bound(last_error),
            },
            other => other,
        }
    }
}

fn bound(mut s: String) -> String {
    if s.len() > MAX_REASON_LEN {
        let mut end = MAX_REASON_LEN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// One account event, as published and delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEvent {
    /// Unique per event (`evt_` + 32 hex digits); the AMQP `message_id`
    /// and, through [`webhook_id`], the `webhook-id`.
    pub id: String,
    /// When it happened, RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    /// The connection: a Zoom account ID (or `account~user` for a
    /// user-managed app).
    pub account_id: String,
    /// The configured Zoom app the account is connected through.
    pub app: String,
    /// `type` and `data`.
    #[serde(flatten)]
    pub kind: AccountEventKind,
}

impl AccountEvent {
    /// An event `id` that happened at `at_ms` (Unix milliseconds). Free
    /// texts are bounded to [`MAX_REASON_LEN`].
    pub fn new(
        id: impl Into<String>,
        at_ms: i64,
        account_id: impl Into<String>,
        app: impl Into<String>,
        kind: AccountEventKind,
    ) -> Self {
        Self {
            id: id.into(),
            timestamp: rfc3339_ms(at_ms),
            account_id: account_id.into(),
            app: app.into(),
            kind: kind.bounded(),
        }
    }

    /// The stable type name, e.g. `account.disconnected`.
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings, numbers and string lists always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Where a role reports account events.
///
/// Why synchronous and infallible: reporting an event must never hold up
/// or fail the action it reports (an OAuth callback, a message's ack). An
/// implementation takes the event and returns at once; publishing with
/// confirms, retrying and recording happen behind it (the runtime's
/// `AccountEventPublisher`).
pub trait AccountEventSink: Send + Sync {
    /// Report that `kind` happened to `account_id` (connected through
    /// `app`) now.
    fn emit(&self, account_id: &str, app: &str, kind: AccountEventKind);
}

/// The sink of a role with nowhere to report to (unit tests, tools).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAccountEvents;

impl AccountEventSink for NoAccountEvents {
    fn emit(&self, _account_id: &str, _app: &str, _kind: AccountEventKind) {}
}

/// An event ID from 16 random bytes.
pub fn event_id(random: [u8; 16]) -> String {
    format!("evt_{}", hex::encode(random))
}

fn rfc3339_ms(at_ms: i64) -> String {
    let nanos = i128::from(at_ms) * 1_000_000;
    let t = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    // Millisecond precision, as Zoom's own timestamps.
    let t = t
        .replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

/// The `id` of an event body, read without knowing its type: what the
/// webhook deliverer needs, so that it forwards bodies of types newer than
/// itself unchanged.
pub fn peek_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        id: String,
    }
    serde_json::from_slice::<IdOnly>(body)
        .ok()
        .map(|v| v.id)
        .filter(|id| !id.is_empty() && id.len() <= 200)
}

/// The `webhook-id` of an event: its own `id`, so every delivery of the
/// same event (a retry, a redelivery after a crash) carries the same one,
/// as Standard Webhooks asks for idempotent receivers.
pub fn webhook_id(event_id: &str) -> String {
    event_id.to_owned()
}

/// A `RECTOKEN_EVENTS_WEBHOOK_SECRET` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WebhookSecretError {
    /// Not `whsec_…`.
    #[error(
        "RECTOKEN_EVENTS_WEBHOOK_SECRET must start with \"whsec_\" (a Standard Webhooks secret)"
    )]
    NotWhsec,
    /// The part after `whsec_` is not base64.
    #[error("RECTOKEN_EVENTS_WEBHOOK_SECRET: the part after \"whsec_\" is not base64")]
    NotBase64,
    /// Fewer than 16 key bytes (Standard Webhooks suggests 24 to 64).
    #[error(
        "RECTOKEN_EVENTS_WEBHOOK_SECRET is too short: {0} bytes after decoding, at least 16 needed"
    )]
    TooShort(usize),
}

/// The HMAC key of a `whsec_…` secret (its base64-decoded part).
pub fn webhook_key(secret: &str) -> Result<Vec<u8>, WebhookSecretError> {
    let rest = secret
        .trim()
        .strip_prefix(WHSEC_PREFIX)
        .ok_or(WebhookSecretError::NotWhsec)?;
    let key = STANDARD
        .decode(rest)
        .map_err(|_| WebhookSecretError::NotBase64)?;
    if key.len() < 16 {
        return Err(WebhookSecretError::TooShort(key.len()));
    }
    Ok(key)
}

/// The three Standard Webhooks headers of one delivery, in order:
/// `webhook-id`, `webhook-timestamp` (Unix seconds), `webhook-signature`
/// (`v1,` + base64 HMAC-SHA256 over `"{id}.{timestamp}.{body}"`).
pub fn signed_headers(
    key: &[u8],
    event_id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    let id = webhook_id(event_id);
    let timestamp = timestamp_secs.to_string();
    let signature = standard_signature(key, &id, &timestamp, body);
    [
        ("webhook-id", id),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signature),
    ]
}

/// A `RECTOKEN_EVENTS_WEBHOOK_URL` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WebhookUrlError {
    /// No URL in the list.
    #[error("RECTOKEN_EVENTS_WEBHOOK_URL names no URL")]
    Empty,
    /// One entry is not an absolute http(s) URL.
    #[error("RECTOKEN_EVENTS_WEBHOOK_URL: {0:?} is not an http:// or https:// URL")]
    NotHttp(String),
}

/// The URLs of `RECTOKEN_EVENTS_WEBHOOK_URL`: one or several, separated by
/// commas (blanks around them ignored, duplicates dropped).
pub fn parse_webhook_urls(list: &str) -> Result<Vec<url::Url>, WebhookUrlError> {
    let mut urls: Vec<url::Url> = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        // The entry itself is no secret, but a URL may carry credentials in
        // its userinfo: errors show only the scheme and host.
        let shown = || match url::Url::parse(entry) {
            Ok(u) => format!("{}://{}", u.scheme(), u.host_str().unwrap_or("")),
            Err(_) => entry.chars().take(40).collect(),
        };
        let url = url::Url::parse(entry).map_err(|_| WebhookUrlError::NotHttp(shown()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(WebhookUrlError::NotHttp(shown()));
        }
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    if urls.is_empty() {
        return Err(WebhookUrlError::Empty);
    }
    Ok(urls)
}

/// Decides when a token worker reports `account.mints_failing`: after
/// `threshold` consecutive failed mints of one account, then again only
/// after `cooldown_ms` while it keeps failing; a success resets it.
///
/// Pure: the caller keeps one per account and passes the clock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureStreak {
    failures: u32,
    reported_at_ms: Option<i64>,
}

impl FailureStreak {
    /// A failure at `now_ms`: `Some(consecutive failures)` when it should be
    /// reported now.
    pub fn failed(&mut self, now_ms: i64, threshold: u32, cooldown_ms: i64) -> Option<u32> {
        self.failures = self.failures.saturating_add(1);
        if self.failures < threshold.max(1) {
            return None;
        }
        match self.reported_at_ms {
            Some(at) if now_ms.saturating_sub(at) < cooldown_ms => None,
            _ => {
                self.reported_at_ms = Some(now_ms);
                Some(self.failures)
            }
        }
    }

    /// A success: the streak is over.
    pub fn succeeded(&mut self) {
        *self = Self::default();
    }

    /// Whether nothing is being counted (the caller may forget it).
    pub fn is_clear(&self) -> bool {
        self.failures == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::callback_auth::{StandardHeaders, verify_standard};

    fn all_kinds() -> Vec<AccountEventKind> {
        vec![
            AccountEventKind::Connected {
                kind: "account".into(),
                scopes: vec!["user:read:admin".into()],
                missing_scopes: vec![],
            },
            AccountEventKind::Reconnected {
                kind: "account".into(),
                previous_status: "disconnected".into(),
                scopes: vec![],
                missing_scopes: vec!["meeting:read:admin".into()],
            },
            AccountEventKind::Disconnected {
                reason: "invalid_grant: Invalid Token!".into(),
            },
            AccountEventKind::Deauthorized {
                user_id: Some("u1".into()),
            },
            AccountEventKind::ScopesChanged {
                added: vec!["a".into()],
                removed: vec!["b".into()],
                missing_scopes: vec![],
            },
            AccountEventKind::SyncCompleted {
                users: 3,
                mappings: 7,
                pruned: 1,
                duration_ms: 1234,
            },
            AccountEventKind::SyncFailed {
                reason: "GET /users answered 404".into(),
                attempts: 2,
            },
            AccountEventKind::MintsFailing {
                failures: 5,
                last_status: "zoom_error".into(),
                last_error: "boom".into(),
            },
        ]
    }

    #[test]
    fn every_kind_has_its_listed_type_name_and_round_trips() {
        let kinds = all_kinds();
        assert_eq!(kinds.len(), EVENT_TYPES.len());
        for (kind, name) in kinds.into_iter().zip(EVENT_TYPES) {
            assert_eq!(kind.type_name(), name);
            let e = AccountEvent::new("evt_1", 1_764_990_245_678, "acc", "default", kind);
            let json: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
            assert_eq!(json["type"], name, "{json}");
            assert_eq!(json["id"], "evt_1");
            assert_eq!(json["account_id"], "acc");
            assert_eq!(json["app"], "default");
            assert_eq!(json["timestamp"], "2025-12-06T03:04:05.678Z");
            assert!(json["data"].is_object(), "{json}");
            let back: AccountEvent = serde_json::from_slice(&e.to_json()).unwrap();
            assert_eq!(back, e);
        }
    }

    #[test]
    fn the_body_has_exactly_the_documented_fields() {
        let e = AccountEvent::new(
            "evt_2",
            0,
            "acc",
            "default",
            AccountEventKind::Disconnected { reason: "r".into() },
        );
        let json: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["account_id", "app", "data", "id", "timestamp", "type"]
        );
        assert_eq!(json["data"], serde_json::json!({"reason": "r"}));
        assert_eq!(json["timestamp"], "1970-01-01T00:00:00Z");
    }

    #[test]
    fn long_reasons_are_bounded_on_a_char_boundary() {
        let e = AccountEvent::new(
            "evt",
            0,
            "a",
            "default",
            AccountEventKind::SyncFailed {
                reason: "é".repeat(400),
                attempts: 1,
            },
        );
        let AccountEventKind::SyncFailed { reason, .. } = &e.kind else {
            panic!("kind changed");
        };
        assert!(reason.len() <= MAX_REASON_LEN + '…'.len_utf8());
        assert!(reason.ends_with('…'));
        let short = AccountEvent::new(
            "evt",
            0,
            "a",
            "default",
            AccountEventKind::Disconnected { reason: "x".into() },
        );
        assert_eq!(
            short.kind,
            AccountEventKind::Disconnected { reason: "x".into() }
        );
    }

    #[test]
    fn unknown_types_are_not_events_but_their_id_is_readable() {
        let body = br#"{"id":"evt_9","type":"account.future","data":{}}"#;
        assert!(serde_json::from_slice::<AccountEvent>(body).is_err());
        assert_eq!(peek_id(body).as_deref(), Some("evt_9"));
        assert_eq!(peek_id(b"not json"), None);
        assert_eq!(peek_id(br#"{"id":""}"#), None);
        assert_eq!(peek_id(br#"{"id":7}"#), None);
        assert_eq!(
            peek_id(format!(r#"{{"id":"{}"}}"#, "x".repeat(201)).as_bytes()),
            None
        );
    }

    #[test]
    fn event_ids_are_hex_and_webhook_ids_follow_them() {
        let id = event_id([0xab; 16]);
        assert_eq!(id, format!("evt_{}", "ab".repeat(16)));
        assert_eq!(webhook_id(&id), id);
    }

    /// The Standard Webhooks reference vector (standard-webhooks spec and
    /// svix's libraries test this exact triple).
    #[test]
    fn signing_matches_the_standard_webhooks_reference_vector() {
        let key = webhook_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let headers = signed_headers(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            headers,
            [
                ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".to_owned()),
                ("webhook-timestamp", "1614265330".to_owned()),
                (
                    "webhook-signature",
                    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn signed_headers_verify_and_cover_id_timestamp_and_body() {
        let key = webhook_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"id":"evt_1","type":"account.connected"}"#;
        let now = 1_764_990_245;
        let [(_, id), (_, ts), (_, sig)] = signed_headers(&key, "evt_1", now, body);
        let h = |id: &'static str, ts: &'static str| StandardHeaders {
            id: Some(id),
            timestamp: Some(ts),
            signature: None,
        };
        let ok = StandardHeaders {
            id: Some(&id),
            timestamp: Some(&ts),
            signature: Some(&sig),
        };
        assert_eq!(verify_standard(&key, ok, body, now), Ok(()));
        assert!(verify_standard(&key, ok, b"{}", now).is_err());
        let other_id = StandardHeaders {
            signature: Some(&sig),
            ..h("evt_2", "1764990245")
        };
        assert!(verify_standard(&key, other_id, body, now).is_err());
        let other_ts = StandardHeaders {
            signature: Some(&sig),
            ..h("evt_1", "1764990246")
        };
        assert!(verify_standard(&key, other_ts, body, now).is_err());
        let other_key = webhook_key("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
        assert!(verify_standard(&other_key, ok, body, now).is_err());
        // The same event signed later: same id, new timestamp and signature.
        let [(_, id2), (_, ts2), (_, sig2)] = signed_headers(&key, "evt_1", now + 60, body);
        assert_eq!(id2, id);
        assert_ne!(ts2, ts);
        assert_ne!(sig2, sig);
    }

    #[test]
    fn webhook_secrets() {
        assert_eq!(
            webhook_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                .unwrap()
                .len(),
            24
        );
        assert_eq!(
            webhook_key(" whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n")
                .unwrap()
                .len(),
            24
        );
        assert_eq!(
            webhook_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(WebhookSecretError::NotWhsec)
        );
        assert_eq!(webhook_key("whsec_!!!"), Err(WebhookSecretError::NotBase64));
        assert_eq!(webhook_key("whsec_"), Err(WebhookSecretError::TooShort(0)));
        assert_eq!(
            webhook_key("whsec_AAAAAAAAAAAAAAAAAAAA"),
            Err(WebhookSecretError::TooShort(15))
        );
        // The message never echoes the secret.
        let msg = webhook_key("whsec_!!secret!!").unwrap_err().to_string();
        assert!(!msg.contains("secret!!"), "{msg}");
    }

    #[test]
    fn webhook_urls() {
        let urls = parse_webhook_urls(
            " https://a.example/hook , http://127.0.0.1:9/x,https://a.example/hook",
        )
        .unwrap();
        let shown: Vec<_> = urls.iter().map(url::Url::as_str).collect();
        assert_eq!(shown, ["https://a.example/hook", "http://127.0.0.1:9/x"]);
        assert_eq!(parse_webhook_urls(""), Err(WebhookUrlError::Empty));
        assert_eq!(parse_webhook_urls(" , ,"), Err(WebhookUrlError::Empty));
        assert_eq!(
            parse_webhook_urls("ftp://x/y"),
            Err(WebhookUrlError::NotHttp("ftp://x".into()))
        );
        assert!(parse_webhook_urls("https://ok.example,not a url").is_err());
        // Userinfo never reaches the error.
        let e = parse_webhook_urls("gopher://user:pw@h.example/")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("pw"), "{e}");
    }

    #[test]
    fn failure_streak_reports_at_the_threshold_then_after_the_cooldown() {
        let mut s = FailureStreak::default();
        assert!(s.is_clear());
        assert_eq!(s.failed(0, 3, 1000), None);
        assert_eq!(s.failed(1, 3, 1000), None);
        assert_eq!(s.failed(2, 3, 1000), Some(3));
        assert_eq!(s.failed(3, 3, 1000), None, "within the cooldown");
        assert_eq!(
            s.failed(1001, 3, 1000),
            None,
            "cooldown counts from the report"
        );
        assert_eq!(s.failed(1002, 3, 1000), Some(6));
        s.succeeded();
        assert!(s.is_clear());
        assert_eq!(s.failed(1003, 3, 1000), None, "a success starts over");
        // A threshold of 0 behaves as 1.
        let mut t = FailureStreak::default();
        assert_eq!(t.failed(0, 0, 10), Some(1));
    }
}
