//! The token callbacks of the two bot platforms most teams use, in the exact
//! shapes they call (docs/bots.md):
//!
//! - `POST /attendee/zoom-tokens`: attendee's
//!   `callback_settings.zoom_tokens_url`. Signed JSON in
//!   (`X-Webhook-Signature`, checked with `RECTOKEN_ATTENDEE_SECRET`; or
//!   `?key=`), `{"app_privilege_token", "onbehalf_token", "zak_token"}` out
//!   (those that could be minted; `{}` when none).
//! - `GET /zoom/obf-token?meeting_id=…&user=…` and `GET /zoom/zak?user=…`:
//!   Recall.ai's `zoom.obf_token_url` and `zoom.zak_url`, next to the
//!   existing `GET /zoom/join-token` ([`crate::join::get_join_token`]): the
//!   bare token as `text/plain`, or 404. All three take Recall's Standard
//!   Webhooks signature (`RECTOKEN_RECALL_SECRET`) or `?key=`; other query
//!   parameters are ignored.
//!
//! Each builds an ordinary join request and sends it through `rectoken.join`
//! like `POST /join`, so the token workers serve them. Nothing is minted for
//! a request that fails its check (401) or is malformed (400).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rectoken_domain::callback_auth::{StandardHeaders, verify_attendee, verify_standard};
use rectoken_domain::join::{
    JoinRequest, JoinRequestError, JoinStatus, MAX_REQUEST_BYTES, TokenKind, decode_join_request,
};
use rectoken_domain::meeting_id::MeetingUrlError;
use rectoken_domain::pyjson::{self, PyValue};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::join::{ask, hex_id, key_ok, wait_for};
use crate::services::{Services, bearer};
use crate::state::IngressState;

/// Longest attendee's callback waits for its answer: attendee gives up
/// after 30 s (`requests.post(..., timeout=30)`), so rectoken answers well
/// within that. The request's deadline is this minus the reply grace.
pub const ATTENDEE_ANSWER_WITHIN: Duration = Duration::from_secs(25);

/// The `bot_metadata` key naming the sender, unless configured.
pub const DEFAULT_ATTENDEE_USER_KEY: &str = "zoom_user";

/// A decoded HMAC key; `Debug` never shows it.
#[derive(Clone)]
pub struct CallbackKey(Vec<u8>);

impl CallbackKey {
    /// Wraps decoded key bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for CallbackKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackKey(<redacted>)")
    }
}

/// Settings of the token callbacks.
#[derive(Debug, Clone)]
pub struct Callbacks {
    /// Whether ZAKs may be minted (`RECTOKEN_ALLOW_ZAK`): `GET /zoom/zak`
    /// answers 404 and attendee gets no `zak_token` otherwise.
    pub allow_zak: bool,
    /// attendee's project webhook secret, decoded (`RECTOKEN_ATTENDEE_SECRET`).
    pub attendee_key: Option<CallbackKey>,
    /// The `bot_metadata` key that names the sender (`RECTOKEN_ATTENDEE_USER_KEY`).
    pub attendee_user_key: String,
    /// Recall.ai's workspace verification secret, decoded (`RECTOKEN_RECALL_SECRET`).
    pub recall_key: Option<CallbackKey>,
}

impl Default for Callbacks {
    /// No secrets (key only), no ZAKs, sender under `zoom_user`.
    fn default() -> Self {
        Self {
            allow_zak: false,
            attendee_key: None,
            attendee_user_key: DEFAULT_ATTENDEE_USER_KEY.to_owned(),
            recall_key: None,
        }
    }
}

fn plain(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn presented_key<'a>(headers: &'a HeaderMap, q: &'a HashMap<String, String>) -> Option<&'a str> {
    q.get("key").map(String::as_str).or_else(|| bearer(headers))
}

fn header_str<'a>(headers: &'a HeaderMap, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| headers.get(*n))
        .and_then(|v| v.to_str().ok())
}

/// Whether a Recall callback may proceed: with Recall's signature headers
/// (when `RECTOKEN_RECALL_SECRET` is set) or with the join key. The routes
/// are off (404) when neither is configured.
pub(crate) fn recall_authorized<'a>(
    state: &'a IngressState,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Result<&'a Services, ApiError> {
    let services = match state.services.as_deref() {
        Some(s) if s.join_key.is_some() || s.callbacks.recall_key.is_some() => s,
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "the token callbacks are off (set RECTOKEN_JOIN_KEY or RECTOKEN_RECALL_SECRET)",
            ));
        }
    };
    let signed = StandardHeaders {
        id: header_str(headers, &["webhook-id", "svix-id"]),
        timestamp: header_str(headers, &["webhook-timestamp", "svix-timestamp"]),
        signature: header_str(headers, &["webhook-signature", "svix-signature"]),
    };
    if let (Some(key), true) = (&services.callbacks.recall_key, signed.present()) {
        return match verify_standard(key.bytes(), signed, b"", (state.now)()) {
            Ok(()) => Ok(services),
            Err(e) => {
                tracing::info!(error = %e, "Recall callback refused");
                Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "bad Recall.ai signature",
                ))
            }
        };
    }
    if key_ok(services, presented_key(headers, q)) {
        Ok(services)
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong key (or Recall.ai signature)",
        ))
    }
}

/// Sends one join request for `kinds` and returns the minted tokens by kind
/// (empty when none could be minted), or rectoken's own failure.
async fn mint(
    state: &IngressState,
    services: &Services,
    request: JoinRequest,
    wait: Duration,
) -> Result<BTreeMap<TokenKind, String>, ApiError> {
    let body = match serde_json::to_vec(&request) {
        Ok(b) => Bytes::from(b),
        Err(_) => return Ok(BTreeMap::new()),
    };
    match decode_join_request(&body) {
        // A personal link (`zoom.us/my/NAME`) is resolved by the token
        // worker through the user directory, as for `POST /join`.
        Ok(_) | Err(JoinRequestError::InvalidMeetingUrl(MeetingUrlError::PersonalLink { .. })) => {}
        Err(_) => return Ok(BTreeMap::new()),
    }
    let reply = ask(
        state,
        body,
        wait_for(request.deadline, services.join_timeout).min(wait),
    )
    .await?;
    if reply.status() != JoinStatus::Ok {
        tracing::info!(
            status = reply.status().as_str(),
            reason = reply.reason().unwrap_or(""),
            error = reply.error().unwrap_or(""),
            "token callback: nothing minted"
        );
    }
    Ok(reply
        .tokens()
        .iter()
        .map(|(k, t)| (*k, t.token.clone()))
        .collect())
}

fn request(meeting: &str, kinds: Vec<TokenKind>, sender: Option<&str>) -> JoinRequest {
    let mut req = JoinRequest::for_meeting_url(meeting);
    req.request_id = Some(format!("callback-{}", hex_id()));
    req.tokens = kinds;
    req.on_behalf_of = sender.map(str::to_owned);
    req
}

/// `GET /zoom/obf-token?meeting_id=…&user=…`: Recall.ai's
/// `zoom.obf_token_url`. Without `user`, the meeting's host.
pub async fn get_obf_token(
    State(state): State<IngressState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let services = match recall_authorized(&state, &headers, &q) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let not_found = || {
        plain(
            StatusCode::NOT_FOUND,
            "no on-behalf token for this meeting and user".into(),
        )
    };
    let Some(meeting) = q.get("meeting_id").filter(|m| !m.trim().is_empty()) else {
        return not_found();
    };
    let user = q.get("user").map(|u| u.trim()).filter(|u| !u.is_empty());
    let req = request(meeting, vec![TokenKind::OnBehalf], user);
    match mint(&state, services, req, services.join_timeout).await {
        Ok(mut tokens) => match tokens.remove(&TokenKind::OnBehalf) {
            Some(t) => plain(StatusCode::OK, t),
            None => not_found(),
        },
        Err(r) => r.into_response(),
    }
}

/// `GET /zoom/zak?user=…`: Recall.ai's `zoom.zak_url`. 404 unless ZAKs
/// are allowed and the user can be minted for.
pub async fn get_zak(
    State(state): State<IngressState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let services = match recall_authorized(&state, &headers, &q) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let not_found = || plain(StatusCode::NOT_FOUND, "no ZAK for this user".into());
    if !services.callbacks.allow_zak {
        return not_found();
    }
    let Some(user) = q.get("user").map(|u| u.trim()).filter(|u| !u.is_empty()) else {
        return not_found();
    };
    // A ZAK belongs to no meeting, but every join request names one: this
    // placeholder is never used for a `zak`-only request (and Recall's own
    // `meeting_id`, if any, is ignored as the contract says).
    let placeholder = rectoken_domain::meeting_id::MeetingId::MIN.to_string();
    let req = request(&placeholder, vec![TokenKind::Zak], Some(user));
    match mint(&state, services, req, services.join_timeout).await {
        Ok(mut tokens) => match tokens.remove(&TokenKind::Zak) {
            Some(t) => plain(StatusCode::OK, t),
            None => not_found(),
        },
        Err(r) => r.into_response(),
    }
}

/// What attendee's callback asks for, read from its verified payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttendeeAsk {
    /// `meeting_url`.
    pub meeting_url: String,
    /// The sender from `bot_metadata[user_key]`, when a non-blank string.
    pub sender: Option<String>,
    /// `bot_id`, for logs.
    pub bot_id: Option<String>,
}

/// Reads attendee's payload. `Err` names what is malformed.
pub fn read_attendee_payload(
    payload: &PyValue,
    user_key: &str,
) -> Result<AttendeeAsk, &'static str> {
    if !matches!(payload, PyValue::Object(_)) {
        return Err("the body must be a JSON object");
    }
    let meeting_url = match payload.get("meeting_url") {
        Some(PyValue::Str(s)) => s.clone(),
        Some(_) => return Err("\"meeting_url\" must be a string"),
        None => return Err("\"meeting_url\" is missing"),
    };
    let sender = match payload.get("bot_metadata") {
        None | Some(PyValue::Null) => None,
        Some(meta @ PyValue::Object(_)) => meta
            .get(user_key)
            .and_then(PyValue::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        Some(_) => return Err("\"bot_metadata\" must be an object or null"),
    };
    let bot_id = payload
        .get("bot_id")
        .and_then(PyValue::as_str)
        .map(str::to_owned);
    Ok(AttendeeAsk {
        meeting_url,
        sender,
        bot_id,
    })
}

/// The kinds attendee's callback asks for: the recording token
/// (`app_privilege_token`), an OBF token (the sender's, else the host's),
/// and a ZAK when allowed and there is a sender.
pub fn attendee_kinds(has_sender: bool, allow_zak: bool) -> Vec<TokenKind> {
    let mut kinds = vec![TokenKind::LocalRecording, TokenKind::OnBehalf];
    if has_sender && allow_zak {
        kinds.push(TokenKind::Zak);
    }
    kinds
}

/// attendee's answer: each minted kind under the key attendee reads.
pub fn attendee_answer(tokens: &BTreeMap<TokenKind, String>) -> Value {
    let mut out = Map::new();
    for (kind, field) in [
        (TokenKind::LocalRecording, "app_privilege_token"),
        (TokenKind::OnBehalf, "onbehalf_token"),
        (TokenKind::Zak, "zak_token"),
    ] {
        if let Some(t) = tokens.get(&kind) {
            out.insert(field.to_owned(), Value::String(t.clone()));
        }
    }
    Value::Object(out)
}

/// `POST /attendee/zoom-tokens`.
pub async fn post_attendee(
    State(state): State<IngressState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let services = match state.services.as_deref() {
        Some(s) if s.join_key.is_some() || s.callbacks.attendee_key.is_some() => s,
        _ => {
            return ApiError::new(
                StatusCode::NOT_FOUND,
                "the attendee callback is off (set RECTOKEN_ATTENDEE_SECRET or RECTOKEN_JOIN_KEY)",
            )
            .into_response();
        }
    };
    if body.len() > MAX_REQUEST_BYTES {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    }
    let signature = header_str(&headers, &["x-webhook-signature"]);
    let payload = match (&services.callbacks.attendee_key, signature) {
        (Some(key), Some(sig)) => match verify_attendee(key.bytes(), &body, Some(sig)) {
            Ok(p) => p,
            Err(e) if e.is_malformed() => {
                return ApiError::new(StatusCode::BAD_REQUEST, "the body is not valid JSON")
                    .into_response();
            }
            Err(e) => {
                tracing::info!(error = %e, "attendee callback refused");
                return ApiError::new(StatusCode::UNAUTHORIZED, "bad X-Webhook-Signature")
                    .into_response();
            }
        },
        _ if key_ok(services, presented_key(&headers, &q)) => match pyjson::parse(&body) {
            Ok(p) => p,
            Err(_) => {
                return ApiError::new(StatusCode::BAD_REQUEST, "the body is not valid JSON")
                    .into_response();
            }
        },
        _ => {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or wrong X-Webhook-Signature (or key)",
            )
            .into_response();
        }
    };
    let ask_for = match read_attendee_payload(&payload, &services.callbacks.attendee_user_key) {
        Ok(a) => a,
        Err(what) => return ApiError::new(StatusCode::BAD_REQUEST, what).into_response(),
    };
    let kinds = attendee_kinds(ask_for.sender.is_some(), services.callbacks.allow_zak);
    let mut req = request(&ask_for.meeting_url, kinds, ask_for.sender.as_deref());
    let budget = ATTENDEE_ANSWER_WITHIN.saturating_sub(crate::join::REPLY_GRACE);
    req.deadline = time::Duration::try_from(budget)
        .ok()
        .map(|d| OffsetDateTime::now_utc() + d);
    tracing::info!(
        bot_id = ask_for.bot_id.as_deref().unwrap_or(""),
        sender = ask_for.sender.is_some(),
        "attendee token callback"
    );
    match mint(&state, services, req, ATTENDEE_ANSWER_WITHIN).await {
        Ok(tokens) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            Json(attendee_answer(&tokens)),
        )
            .into_response(),
        Err(r) => r.into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn attendee_payloads() {
        let p = pyjson::parse(br#"{"bot_id": "bot_1", "bot_metadata": {"zoom_user": " jill@example.com "}, "callback_type": "zoom_tokens", "meeting_url": "https://zoom.us/j/85012345678"}"#).unwrap();
        let a = read_attendee_payload(&p, "zoom_user").unwrap();
        assert_eq!(a.meeting_url, "https://zoom.us/j/85012345678");
        assert_eq!(a.sender.as_deref(), Some("jill@example.com"));
        assert_eq!(a.bot_id.as_deref(), Some("bot_1"));
        // Another key: no sender.
        assert_eq!(read_attendee_payload(&p, "owner").unwrap().sender, None);
        for (body, sender) in [
            (r#"{"meeting_url": "x", "bot_metadata": null}"#, None),
            (r#"{"meeting_url": "x"}"#, None),
            (
                r#"{"meeting_url": "x", "bot_metadata": {"zoom_user": 5}}"#,
                None,
            ),
            (
                r#"{"meeting_url": "x", "bot_metadata": {"zoom_user": "  "}}"#,
                None,
            ),
            (
                r#"{"meeting_url": "x", "bot_metadata": {"zoom_user": "u1"}}"#,
                Some("u1"),
            ),
        ] {
            let p = pyjson::parse(body.as_bytes()).unwrap();
            assert_eq!(
                read_attendee_payload(&p, "zoom_user")
                    .unwrap()
                    .sender
                    .as_deref(),
                sender,
                "{body}"
            );
        }
        for (body, want) in [
            (r#"[]"#, "must be a JSON object"),
            (r#"{}"#, "is missing"),
            (r#"{"meeting_url": 1}"#, "must be a string"),
            (
                r#"{"meeting_url": "x", "bot_metadata": "a"}"#,
                "object or null",
            ),
        ] {
            let p = pyjson::parse(body.as_bytes()).unwrap();
            let e = read_attendee_payload(&p, "zoom_user").unwrap_err();
            assert!(e.contains(want), "{body}: {e}");
        }
    }

    #[test]
    fn attendee_kinds_and_answer() {
        use TokenKind as K;
        assert_eq!(
            attendee_kinds(false, true),
            vec![K::LocalRecording, K::OnBehalf]
        );
        assert_eq!(
            attendee_kinds(true, false),
            vec![K::LocalRecording, K::OnBehalf]
        );
        assert_eq!(
            attendee_kinds(true, true),
            vec![K::LocalRecording, K::OnBehalf, K::Zak]
        );
        assert_eq!(attendee_answer(&BTreeMap::new()), serde_json::json!({}));
        let all = BTreeMap::from([
            (K::LocalRecording, "r".to_owned()),
            (K::OnBehalf, "o".to_owned()),
            (K::Zak, "z".to_owned()),
            (K::LiveStreaming, "ignored".to_owned()),
        ]);
        assert_eq!(
            attendee_answer(&all),
            serde_json::json!({"app_privilege_token": "r", "onbehalf_token": "o", "zak_token": "z"})
        );
    }

    #[test]
    fn keys_are_redacted() {
        let k = CallbackKey::new(b"secret-bytes".to_vec());
        assert!(!format!("{k:?}").contains("secret"));
        let c = Callbacks {
            attendee_key: Some(k),
            ..Callbacks::default()
        };
        assert!(!format!("{c:?}").contains("secret-bytes"));
        assert_eq!(Callbacks::default().attendee_user_key, "zoom_user");
    }
}
