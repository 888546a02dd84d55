//! The join request and reply: the messages of the public contract
//! (docs/design.md, "Join request and reply") that bots exchange with token
//! workers over RabbitMQ and with ingress over `POST /join`.
//!
//! Decoding is field by field rather than one derived `Deserialize`, so every
//! rejection names the field and the problem ("`tokens[1]`: unknown token kind
//! \"recording\"; …"); that text goes verbatim into the `invalid_request`
//! reply's `error`, where a bot developer reads it. Unknown fields are
//! ignored, so callers may send fields a later version understands.
//!
//! Replies are built only through [`JoinReply::ok`] and
//! [`JoinReply::failure`], which make "every non-`ok` reply carries an
//! `error`" true by construction; deserializing checks it too.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::meeting_id::{MeetingId, MeetingKind, MeetingRef, MeetingUrlError, parse_meeting_ref};

/// How long after receipt a request without `deadline` stays worth answering.
///
/// A bot asks for a token right before it joins and gives up soon after;
/// Zoom's tokens themselves live about 120 s (docs/zoom.md §7). 30 s is the
/// contract's default (docs/design.md).
pub const DEFAULT_DEADLINE: Duration = Duration::seconds(30);

/// Largest request body decoded, in bytes. A real request is a few hundred
/// bytes; the cap bounds the work a hostile or broken publisher can cause on
/// the AMQP path, where no HTTP body limit applies.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Longest `request_id` accepted, in bytes. It is echoed in the reply and
/// logged, so it must stay small.
pub const MAX_REQUEST_ID_LEN: usize = 256;

/// Longest `on_behalf_of` accepted, in bytes: an email address is at most
/// 254 (RFC 5321), a Zoom user ID about 22.
pub const MAX_ON_BEHALF_OF_LEN: usize = 256;

/// A kind of join token Zoom can mint for a meeting.
///
/// Ordered so a set or map of kinds serializes in a stable order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// `jointoken/local_recording`: lets a Meeting SDK bot join and record
    /// locally (also the default path of the 3rd-party recording token).
    LocalRecording,
    /// `jointoken/local_archiving`: the archiving token.
    LocalArchiving,
    /// `jointoken/live_streaming`: the live-streaming token.
    LiveStreaming,
    /// An OBF ("on behalf of") token, needed to join meetings outside the
    /// app's own account: minted for the request's `on_behalf_of` user (the
    /// one who sends the bot), else for the meeting's host.
    #[serde(rename = "onbehalf")]
    OnBehalf,
    /// The `on_behalf_of` user's ZAK (`GET /users/{userId}/token?type=zak`):
    /// lets the bot join signed in as that user. Minted only when the
    /// operator allows it (`RECTOKEN_ALLOW_ZAK`), because a ZAK lets the bot
    /// act as that user, and never for a host the request did not name.
    Zak,
}

impl TokenKind {
    /// Every kind, in wire order.
    pub const ALL: [TokenKind; 5] = [
        TokenKind::LocalRecording,
        TokenKind::LocalArchiving,
        TokenKind::LiveStreaming,
        TokenKind::OnBehalf,
        TokenKind::Zak,
    ];

    /// The wire name (`local_recording`, …, `onbehalf`).
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenKind::LocalRecording => "local_recording",
            TokenKind::LocalArchiving => "local_archiving",
            TokenKind::LiveStreaming => "live_streaming",
            TokenKind::OnBehalf => "onbehalf",
            TokenKind::Zak => "zak",
        }
    }

    /// Whether Zoom mints this kind per user (`/users/{userId}/token`)
    /// rather than per meeting with the host's account (`jointoken/…`).
    pub const fn is_user_token(self) -> bool {
        matches!(self, TokenKind::OnBehalf | TokenKind::Zak)
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token kind name that is not one of [`TokenKind::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error(
    "unknown token kind {0:?}; expected one of \"local_recording\", \"local_archiving\", \"live_streaming\", \"onbehalf\", \"zak\""
)]
pub struct UnknownTokenKind(pub String);

impl FromStr for TokenKind {
    type Err = UnknownTokenKind;

    /// Exact wire names only: a near miss (`LocalRecording`, `recording`) is
    /// an error rather than a guess, so bots learn the real name at once.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TokenKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownTokenKind(echo(s)))
    }
}

/// A join request as sent on the wire, before validation.
///
/// This is what the `join` CLI builds and serializes, and what
/// [`JoinRequest::from_slice`] yields. Its `Deserialize` runs the same
/// field-by-field decoding as [`decode_join_request`]. Use
/// [`JoinRequest::validate`] (or [`decode_join_request`]) to get a
/// [`ValidJoinRequest`].
///
/// `Debug` hides the query of `meeting_url`: its `pwd` lets anyone join.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct JoinRequest {
    /// The caller's own ID for the request, echoed in the reply. Optional:
    /// AMQP callers correlate by `correlation_id` and HTTP callers by the
    /// response, so requiring it would only turn forgetful bots away. When
    /// absent the reply carries `""`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// A meeting link or ID in any form [`parse_meeting_ref`] accepts.
    /// Exactly one of `meeting_url` and `meeting_id` must be present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meeting_url: Option<String>,
    /// The meeting ID or PMI (a string or a number on the wire).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meeting_id: Option<MeetingId>,
    /// The tokens wanted; `["local_recording"]` when absent or `null`.
    pub tokens: Vec<TokenKind>,
    /// Whether the token should let the bot skip the waiting room; `true`
    /// when absent, as bots almost always want (attendee always sends it).
    pub bypass_waiting_room: bool,
    /// After this instant the worker drops the request (the bot has given
    /// up); when absent, [`DEFAULT_DEADLINE`] after receipt. RFC 3339.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub deadline: Option<OffsetDateTime>,
    /// The user who sends the bot (a Zoom user ID or email): `onbehalf` and
    /// `zak` are minted for this user, through the connected account (or
    /// user-level connection) the user belongs to. Absent: `onbehalf` is
    /// minted for the meeting's host, `zak` is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
}

impl JoinRequest {
    /// A request for `meeting` (a link or an ID as a string) with every
    /// other field at its default: what `rectoken join <meeting-url-or-id>`
    /// sends.
    pub fn for_meeting_url(meeting: impl Into<String>) -> Self {
        JoinRequest {
            meeting_url: Some(meeting.into()),
            ..Self::empty()
        }
    }

    /// A request for a known meeting ID with every other field at its default.
    pub fn for_meeting_id(id: MeetingId) -> Self {
        JoinRequest {
            meeting_id: Some(id),
            ..Self::empty()
        }
    }

    fn empty() -> Self {
        JoinRequest {
            request_id: None,
            meeting_url: None,
            meeting_id: None,
            tokens: vec![TokenKind::LocalRecording],
            bypass_waiting_room: true,
            deadline: None,
            on_behalf_of: None,
        }
    }

    /// Parses a request body without validating it beyond field types.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, JoinRequestError> {
        if bytes.len() > MAX_REQUEST_BYTES {
            return Err(JoinRequestError::TooLarge { len: bytes.len() });
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| JoinRequestError::InvalidJson {
                message: e.to_string(),
            })?;
        Self::from_json(value)
    }

    /// Reads the fields of an already parsed JSON value.
    ///
    /// `null` counts as absent for every field, as serde does for options.
    pub fn from_json(value: Value) -> Result<Self, JoinRequestError> {
        let Value::Object(map) = value else {
            return Err(JoinRequestError::NotAnObject {
                found: json_kind(&value),
            });
        };
        let mut req = Self::empty();
        req.request_id = field(&map, "request_id").map(request_id_of).transpose()?;
        req.meeting_url = field(&map, "meeting_url")
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(wrong_type("meeting_url", "a string", other)),
            })
            .transpose()?;
        req.meeting_id = field(&map, "meeting_id").map(meeting_id_of).transpose()?;
        if let Some(v) = field(&map, "tokens") {
            req.tokens = tokens_of(v)?;
        }
        if let Some(v) = field(&map, "bypass_waiting_room") {
            req.bypass_waiting_room = v
                .as_bool()
                .ok_or_else(|| wrong_type("bypass_waiting_room", "true or false", v))?;
        }
        req.deadline = field(&map, "deadline").map(deadline_of).transpose()?;
        req.on_behalf_of = field(&map, "on_behalf_of")
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(wrong_type(
                    "on_behalf_of",
                    "a string (a Zoom user ID or email)",
                    other,
                )),
            })
            .transpose()?;
        Ok(req)
    }

    /// Checks the rules that span fields and resolves the meeting.
    ///
    /// Exactly one of `meeting_url` / `meeting_id` (both is ambiguous when
    /// they disagree, and a caller sending both has a bug worth reporting);
    /// at least one token kind; duplicates are dropped; `on_behalf_of`, when
    /// given, is trimmed and must be non-blank and at most
    /// [`MAX_ON_BEHALF_OF_LEN`] bytes.
    pub fn validate(self) -> Result<ValidJoinRequest, JoinRequestError> {
        let meeting = match (self.meeting_url, self.meeting_id) {
            (Some(_), Some(_)) => return Err(JoinRequestError::BothMeetingFields),
            (None, None) => return Err(JoinRequestError::MissingMeeting),
            (Some(url), None) => {
                parse_meeting_ref(&url).map_err(JoinRequestError::InvalidMeetingUrl)?
            }
            (None, Some(id)) => MeetingRef {
                id,
                password: None,
                kind: MeetingKind::Meeting,
            },
        };
        let tokens: BTreeSet<TokenKind> = self.tokens.into_iter().collect();
        if tokens.is_empty() {
            return Err(JoinRequestError::EmptyTokens);
        }
        let on_behalf_of = self
            .on_behalf_of
            .map(|s| {
                let s = s.trim();
                if s.is_empty() {
                    Err(JoinRequestError::BlankOnBehalfOf)
                } else if s.len() > MAX_ON_BEHALF_OF_LEN {
                    Err(JoinRequestError::OnBehalfOfTooLong { len: s.len() })
                } else {
                    Ok(s.to_owned())
                }
            })
            .transpose()?;
        Ok(ValidJoinRequest {
            request_id: self.request_id.unwrap_or_default(),
            meeting,
            tokens,
            bypass_waiting_room: self.bypass_waiting_room,
            deadline: self.deadline,
            on_behalf_of,
        })
    }
}

impl<'de> Deserialize<'de> for JoinRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        JoinRequest::from_json(value).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for JoinRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self
            .meeting_url
            .as_deref()
            .map(|u| match u.split_once(['?', '#']) {
                Some((before, _)) => format!("{before}?<redacted>"),
                None => u.to_owned(),
            });
        f.debug_struct("JoinRequest")
            .field("request_id", &self.request_id)
            .field("meeting_url", &url)
            .field("meeting_id", &self.meeting_id)
            .field("tokens", &self.tokens)
            .field("bypass_waiting_room", &self.bypass_waiting_room)
            .field("deadline", &self.deadline)
            .field("on_behalf_of", &self.on_behalf_of)
            .finish()
    }
}

/// The value of `name` in `map`, with `null` read as absent.
fn field<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).filter(|v| !v.is_null())
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(field: &'static str, expected: &'static str, found: &Value) -> JoinRequestError {
    JoinRequestError::WrongType {
        field,
        expected,
        found: json_kind(found),
    }
}

fn request_id_of(v: &Value) -> Result<String, JoinRequestError> {
    let Value::String(s) = v else {
        return Err(wrong_type("request_id", "a string", v));
    };
    if s.len() > MAX_REQUEST_ID_LEN {
        return Err(JoinRequestError::RequestIdTooLong { len: s.len() });
    }
    Ok(s.clone())
}

fn meeting_id_of(v: &Value) -> Result<MeetingId, JoinRequestError> {
    match v {
        Value::String(s) => s.parse().map_err(JoinRequestError::InvalidMeetingId),
        Value::Number(n) => match n.as_u64() {
            Some(n) => MeetingId::new(n).map_err(JoinRequestError::InvalidMeetingId),
            None => Err(wrong_type(
                "meeting_id",
                "a string of digits or a positive integer",
                v,
            )),
        },
        other => Err(wrong_type(
            "meeting_id",
            "a string of digits or a positive integer",
            other,
        )),
    }
}

fn tokens_of(v: &Value) -> Result<Vec<TokenKind>, JoinRequestError> {
    let Value::Array(items) = v else {
        return Err(wrong_type("tokens", "an array of token kind names", v));
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::String(s) => s
                .parse()
                .map_err(|kind| JoinRequestError::UnknownTokenKind { index, kind }),
            other => Err(wrong_type("tokens", "an array of token kind names", other)),
        })
        .collect()
}

fn deadline_of(v: &Value) -> Result<OffsetDateTime, JoinRequestError> {
    let Value::String(s) = v else {
        return Err(wrong_type("deadline", "an RFC 3339 timestamp string", v));
    };
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|_| JoinRequestError::InvalidDeadline { value: echo(s) })
}

/// Cuts user input to 64 characters for an error message.
fn echo(s: &str) -> String {
    let mut chars = s.chars();
    let mut out: String = chars.by_ref().take(64).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// A join request that passed every check, with its meeting resolved.
///
/// Fields are private so that holding one proves validity: at least one
/// token kind, no duplicates, a meeting ID in range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidJoinRequest {
    request_id: String,
    meeting: MeetingRef,
    tokens: BTreeSet<TokenKind>,
    bypass_waiting_room: bool,
    deadline: Option<OffsetDateTime>,
    on_behalf_of: Option<String>,
}

impl ValidJoinRequest {
    /// When the worker should drop the request: its own `deadline`, or
    /// [`DEFAULT_DEADLINE`] after `received_at` (when ingress or the worker
    /// first saw it). A caller's deadline is taken as given, even if
    /// already past: the bot has said it stops waiting then.
    pub fn deadline_or_default(&self, received_at: OffsetDateTime) -> OffsetDateTime {
        self.deadline
            .unwrap_or_else(|| received_at.saturating_add(DEFAULT_DEADLINE))
    }

    /// Whether the request is past its deadline (or the default one) at
    /// `now`, having arrived at `received_at`.
    pub fn is_expired(&self, received_at: OffsetDateTime, now: OffsetDateTime) -> bool {
        self.deadline_or_default(received_at) <= now
    }

    /// The caller's request ID, `""` when it sent none; echo it in the reply.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The resolved meeting (ID, link password, meeting/webinar hint).
    pub fn meeting(&self) -> &MeetingRef {
        &self.meeting
    }

    /// The meeting ID or PMI to look up and mint tokens for.
    pub fn meeting_id(&self) -> MeetingId {
        self.meeting.id
    }

    /// The requested token kinds: non-empty, deduplicated, in stable order.
    pub fn tokens(&self) -> &BTreeSet<TokenKind> {
        &self.tokens
    }

    /// Whether to mint with `bypass_waiting_room=true`.
    pub fn bypass_waiting_room(&self) -> bool {
        self.bypass_waiting_room
    }

    /// The caller's explicit deadline, if any; see [`deadline_or_default`].
    pub fn deadline(&self) -> Option<OffsetDateTime> {
        self.deadline
    }

    /// The user who sends the bot (trimmed Zoom user ID or email), if named.
    pub fn on_behalf_of(&self) -> Option<&str> {
        self.on_behalf_of.as_deref()
    }
}

/// Decodes and validates a join request body.
///
/// Never panics, whatever the bytes. On error, answer
/// [`JoinReply::invalid_request`] with the ID from [`extract_request_id`].
pub fn decode_join_request(bytes: &[u8]) -> Result<ValidJoinRequest, JoinRequestError> {
    JoinRequest::from_slice(bytes)?.validate()
}

/// The `request_id` of a request body that may be invalid, so the
/// `invalid_request` reply can still echo it.
///
/// Best effort: `None` unless the body is a JSON object whose `request_id` is
/// a string of at most [`MAX_REQUEST_ID_LEN`] bytes (a body that is not JSON
/// has no trustworthy ID; AMQP callers still have their `correlation_id`).
pub fn extract_request_id(bytes: &[u8]) -> Option<String> {
    if bytes.len() > MAX_REQUEST_BYTES {
        return None;
    }
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let id = value.get("request_id")?.as_str()?;
    (id.len() <= MAX_REQUEST_ID_LEN).then(|| id.to_owned())
}

/// Why a join request is invalid. Always answered with `invalid_request`;
/// the `Display` text is written for the bot developer and becomes the
/// reply's `error`.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum JoinRequestError {
    /// Larger than [`MAX_REQUEST_BYTES`].
    #[error("request is {len} bytes, more than the {max} allowed", max = MAX_REQUEST_BYTES)]
    TooLarge {
        /// Size of the body in bytes.
        len: usize,
    },
    /// Not JSON (or not UTF-8).
    #[error("request is not valid JSON: {message}")]
    InvalidJson {
        /// The parser's description, with line and column.
        message: String,
    },
    /// JSON, but not an object.
    #[error("request must be a JSON object, found {found}")]
    NotAnObject {
        /// What was found instead (`an array`, `a string`, …).
        found: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("\"{field}\" must be {expected}, found {found}")]
    WrongType {
        /// The field name.
        field: &'static str,
        /// What the contract expects.
        expected: &'static str,
        /// What was found.
        found: &'static str,
    },
    /// `request_id` longer than [`MAX_REQUEST_ID_LEN`].
    #[error("\"request_id\" is {len} bytes, more than the {max} allowed", max = MAX_REQUEST_ID_LEN)]
    RequestIdTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// An entry of `tokens` is not a known kind.
    #[error("\"tokens[{index}]\": {kind}")]
    UnknownTokenKind {
        /// Position in the `tokens` array.
        index: usize,
        /// The unknown name.
        kind: UnknownTokenKind,
    },
    /// `tokens` is `[]`: nothing to mint. (Absent means the default.)
    #[error(
        "\"tokens\" is empty; ask for at least one of \"local_recording\", \"local_archiving\", \"live_streaming\", \"onbehalf\", \"zak\" (or omit it for [\"local_recording\"])"
    )]
    EmptyTokens,
    /// `deadline` is a string but not RFC 3339.
    #[error(
        "\"deadline\" is {value:?}, not an RFC 3339 timestamp such as \"2026-11-29T10:00:05Z\""
    )]
    InvalidDeadline {
        /// The given value (shortened).
        value: String,
    },
    /// Neither `meeting_url` nor `meeting_id`.
    #[error("request names no meeting; give \"meeting_url\" (a Zoom link or ID) or \"meeting_id\"")]
    MissingMeeting,
    /// Both `meeting_url` and `meeting_id`.
    #[error("request gives both \"meeting_url\" and \"meeting_id\"; give exactly one")]
    BothMeetingFields,
    /// `meeting_url` is not an accepted meeting reference.
    #[error("\"meeting_url\": {0}")]
    InvalidMeetingUrl(MeetingUrlError),
    /// `meeting_id` is not a valid meeting ID.
    #[error("\"meeting_id\": {0}")]
    InvalidMeetingId(crate::meeting_id::MeetingIdError),
    /// `on_behalf_of` is empty or only whitespace.
    #[error(
        "\"on_behalf_of\" is blank; give the Zoom user ID or email of the user who sends the bot, or omit it"
    )]
    BlankOnBehalfOf,
    /// `on_behalf_of` longer than [`MAX_ON_BEHALF_OF_LEN`].
    #[error("\"on_behalf_of\" is {len} bytes, more than the {max} allowed", max = MAX_ON_BEHALF_OF_LEN)]
    OnBehalfOfTooLong {
        /// Its length in bytes (after trimming).
        len: usize,
    },
}

/// The outcome of a join request: the reply's `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinStatus {
    /// At least one requested token was minted (with one kind asked:
    /// that one); `token_errors` says why any other was not.
    Ok,
    /// No connected account owns the meeting: the bot should join without a
    /// token.
    NotFound,
    /// The owning account's authorization is gone or broken.
    AccountDisconnected,
    /// The request itself is malformed.
    InvalidRequest,
    /// Zoom refused or failed.
    ZoomError,
    /// The owning account's Zoom rate limit is exhausted.
    RateLimited,
}

impl JoinStatus {
    /// The HTTP status `POST /join` answers with (docs/design.md, HTTP table).
    pub const fn http_status(&self) -> u16 {
        match self {
            JoinStatus::Ok => 200,
            JoinStatus::NotFound => 404,
            JoinStatus::InvalidRequest => 400,
            JoinStatus::AccountDisconnected => 409,
            JoinStatus::RateLimited => 429,
            JoinStatus::ZoomError => 502,
        }
    }

    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            JoinStatus::Ok => "ok",
            JoinStatus::NotFound => "not_found",
            JoinStatus::AccountDisconnected => "account_disconnected",
            JoinStatus::InvalidRequest => "invalid_request",
            JoinStatus::ZoomError => "zoom_error",
            JoinStatus::RateLimited => "rate_limited",
        }
    }

    /// Whether this is [`JoinStatus::Ok`].
    pub const fn is_ok(&self) -> bool {
        matches!(self, JoinStatus::Ok)
    }
}

impl fmt::Display for JoinStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The non-`ok` statuses: what [`JoinReply::failure`] takes, so a failure
/// reply with status `ok` cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureStatus {
    /// See [`JoinStatus::NotFound`].
    NotFound,
    /// See [`JoinStatus::AccountDisconnected`].
    AccountDisconnected,
    /// See [`JoinStatus::InvalidRequest`].
    InvalidRequest,
    /// See [`JoinStatus::ZoomError`].
    ZoomError,
    /// See [`JoinStatus::RateLimited`].
    RateLimited,
}

impl FailureStatus {
    /// How much this status says, for picking the status of a reply in
    /// which every asked kind failed (higher wins; ties: the first kind in
    /// wire order). A malformed or disallowed request first (the bot must
    /// fix it), then the retryable outcomes (rate limit, Zoom failing:
    /// retrying may help), then a disconnected account (an operator must
    /// act), and last `not_found` (join without a token).
    pub const fn significance(self) -> u8 {
        match self {
            FailureStatus::InvalidRequest => 4,
            FailureStatus::RateLimited => 3,
            FailureStatus::ZoomError => 2,
            FailureStatus::AccountDisconnected => 1,
            FailureStatus::NotFound => 0,
        }
    }

    /// Used when a failure is built with an empty message, so `error` is
    /// never blank.
    pub const fn default_message(self) -> &'static str {
        match self {
            FailureStatus::NotFound => {
                "no connected account owns this meeting; join without a token"
            }
            FailureStatus::AccountDisconnected => {
                "the account that owns this meeting is disconnected"
            }
            FailureStatus::InvalidRequest => "invalid request",
            FailureStatus::ZoomError => "Zoom could not mint the token",
            FailureStatus::RateLimited => {
                "Zoom's rate limit for the owning account is exhausted; retry later"
            }
        }
    }
}

impl From<FailureStatus> for JoinStatus {
    fn from(s: FailureStatus) -> JoinStatus {
        match s {
            FailureStatus::NotFound => JoinStatus::NotFound,
            FailureStatus::AccountDisconnected => JoinStatus::AccountDisconnected,
            FailureStatus::InvalidRequest => JoinStatus::InvalidRequest,
            FailureStatus::ZoomError => JoinStatus::ZoomError,
            FailureStatus::RateLimited => JoinStatus::RateLimited,
        }
    }
}

/// A token Zoom minted, with its expiry.
///
/// `Debug` prints `<redacted>` instead of the token: tokens never appear in
/// logs, and a derived `Debug` inside any logged struct would leak them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintedToken {
    /// The token, for the SDK's `app_privilege_token` (or OBF parameter).
    pub token: String,
    /// When Zoom stops accepting it. RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl MintedToken {
    /// A token minted at `minted_at` that Zoom says expires in `expire_in`
    /// seconds (saturating at the end of time).
    pub fn expiring_in(
        token: impl Into<String>,
        minted_at: OffsetDateTime,
        expire_in: u64,
    ) -> Self {
        let secs = i64::try_from(expire_in).unwrap_or(i64::MAX);
        Self::new(
            token,
            minted_at.saturating_add(time::Duration::seconds(secs)),
        )
    }

    /// A token expiring at `expires_at`, normalized to UTC so it always
    /// serializes as `…Z` (RFC 3339 cannot express sub-minute offsets).
    pub fn new(token: impl Into<String>, expires_at: OffsetDateTime) -> Self {
        MintedToken {
            token: token.into(),
            expires_at: expires_at.to_offset(UtcOffset::UTC),
        }
    }
}

impl fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintedToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Stable, machine-readable reasons (`reason` of a reply and of each entry
/// of `token_errors`): snake_case codes a bot can branch on, next to the
/// human-readable `error`. New codes may be added; existing ones keep their
/// meaning.
pub mod reason {
    /// The request is malformed (status `invalid_request`).
    pub const INVALID_REQUEST: &str = "invalid_request";
    /// No connected account owns the meeting: a meeting-bound token
    /// (`local_recording`, `local_archiving`, `live_streaming`, or
    /// `onbehalf` without a sender) cannot be minted; join without it.
    pub const MEETING_NOT_FOUND: &str = "meeting_not_found";
    /// The meeting was mapped but Zoom says it no longer exists; the stale
    /// mapping was removed.
    pub const MEETING_GONE: &str = "meeting_gone";
    /// The owning (or the sender's) account or connection is disconnected.
    pub const ACCOUNT_DISCONNECTED: &str = "account_disconnected";
    /// The Zoom app's authorization lacks a scope the call needs (Zoom 4711).
    pub const MISSING_SCOPE: &str = "missing_scope";
    /// Zoom's rate limit for the account did not let the call through in time.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// Zoom refused or kept failing (see `zoom_code` and `error`).
    pub const ZOOM_ERROR: &str = "zoom_error";
    /// rectoken's own state store failed.
    pub const STORE_UNAVAILABLE: &str = "store_unavailable";
    /// `zak` was asked for but this deployment does not allow ZAKs
    /// (`RECTOKEN_ALLOW_ZAK` is off).
    pub const ZAK_NOT_ALLOWED: &str = "zak_not_allowed";
    /// `zak` was asked for without `on_behalf_of`: a ZAK is only ever
    /// minted for the user the request names.
    pub const SENDER_REQUIRED: &str = "sender_required";
    /// `on_behalf_of` names no user rectoken knows (no connected account
    /// lists that user ID or email, and no user-level connection is theirs).
    pub const SENDER_NOT_FOUND: &str = "sender_not_found";
    /// `on_behalf_of` is a known user, but the account or user-level
    /// connection that could mint for them is disconnected or absent.
    pub const SENDER_NOT_CONNECTED: &str = "sender_not_connected";
    /// Zoom (400/300) calls the meeting ID invalid; nothing removed.
    pub const INVALID_MEETING_ID: &str = "invalid_meeting_id";
    /// Zoom (404/1001): the host, or the user asked for, does not exist.
    pub const USER_NOT_FOUND: &str = "user_not_found";
    /// Zoom (400/3000) for a recording token: the host's *Local recording*
    /// setting is off (or an admin locked it off).
    pub const RECORDING_DISABLED: &str = "recording_disabled";
    /// Zoom (400/3000) for an archiving token: archiving is off for the host.
    pub const ARCHIVING_DISABLED: &str = "archiving_disabled";
    /// Zoom (400/3000) for a live-streaming token: live streaming is off.
    pub const LIVE_STREAMING_DISABLED: &str = "live_streaming_disabled";
    /// Zoom (400/3161): the host may not host or schedule meetings.
    pub const HOST_NOT_ALLOWED: &str = "host_not_allowed";
    /// Zoom (400/124): the API wants an OAuth token.
    pub const OAUTH_REQUIRED: &str = "oauth_required";
    /// The meeting link is on the other Zoom cloud (ZoomGov vs commercial)
    /// than every app that could mint for it.
    pub const OTHER_CLOUD: &str = "other_cloud";
    /// A personal link (`zoom.us/my/NAME`) no connected account's user has.
    pub const PERSONAL_LINK_UNKNOWN: &str = "personal_link_unknown";

    /// Every reason above, for documentation checks.
    pub const ALL: [&str; 21] = [
        INVALID_REQUEST,
        MEETING_NOT_FOUND,
        MEETING_GONE,
        ACCOUNT_DISCONNECTED,
        MISSING_SCOPE,
        RATE_LIMITED,
        ZOOM_ERROR,
        STORE_UNAVAILABLE,
        ZAK_NOT_ALLOWED,
        SENDER_REQUIRED,
        SENDER_NOT_FOUND,
        SENDER_NOT_CONNECTED,
        INVALID_MEETING_ID,
        USER_NOT_FOUND,
        RECORDING_DISABLED,
        ARCHIVING_DISABLED,
        LIVE_STREAMING_DISABLED,
        HOST_NOT_ALLOWED,
        OAUTH_REQUIRED,
        OTHER_CLOUD,
        PERSONAL_LINK_UNKNOWN,
    ];

    /// The default reason of a failure status, when nothing more precise
    /// is known.
    pub const fn of_status(status: super::FailureStatus) -> &'static str {
        use super::FailureStatus as S;
        match status {
            S::NotFound => MEETING_NOT_FOUND,
            S::AccountDisconnected => ACCOUNT_DISCONNECTED,
            S::InvalidRequest => INVALID_REQUEST,
            S::ZoomError => ZOOM_ERROR,
            S::RateLimited => RATE_LIMITED,
        }
    }
}

/// Why one asked token kind was not minted: an entry of the reply's
/// `token_errors`.
///
/// `status` is what the reply's status would be had only this kind been
/// asked for (never `ok`); `reason` a [`reason`] code; `error` a sentence
/// for people; `zoom_code` Zoom's error code when Zoom refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawTokenError")]
pub struct TokenError {
    status: JoinStatus,
    reason: String,
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    zoom_code: Option<i64>,
}

impl TokenError {
    /// A per-kind failure. A blank `reason` becomes the status's default
    /// ([`reason::of_status`]), a blank `error` its default message.
    pub fn new(status: FailureStatus, reason: impl Into<String>, error: impl Into<String>) -> Self {
        let reason = reason.into();
        let error = error.into();
        TokenError {
            status: status.into(),
            reason: if reason.trim().is_empty() {
                reason::of_status(status).to_owned()
            } else {
                reason
            },
            error: if error.trim().is_empty() {
                status.default_message().to_owned()
            } else {
                error
            },
            zoom_code: None,
        }
    }

    /// Adds Zoom's error code.
    pub fn with_zoom_code(mut self, code: i64) -> Self {
        self.zoom_code = Some(code);
        self
    }

    /// The status this failure alone would give (never `ok`).
    pub fn status(&self) -> JoinStatus {
        self.status
    }

    /// The [`reason`] code.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The human-readable explanation.
    pub fn error(&self) -> &str {
        &self.error
    }

    /// Zoom's error code, when Zoom refused.
    pub fn zoom_code(&self) -> Option<i64> {
        self.zoom_code
    }

    fn failure_status(&self) -> FailureStatus {
        match self.status {
            JoinStatus::NotFound | JoinStatus::Ok => FailureStatus::NotFound,
            JoinStatus::AccountDisconnected => FailureStatus::AccountDisconnected,
            JoinStatus::InvalidRequest => FailureStatus::InvalidRequest,
            JoinStatus::ZoomError => FailureStatus::ZoomError,
            JoinStatus::RateLimited => FailureStatus::RateLimited,
        }
    }
}

#[derive(Deserialize)]
struct RawTokenError {
    status: JoinStatus,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    zoom_code: Option<i64>,
}

impl TryFrom<RawTokenError> for TokenError {
    type Error = InvalidJoinReply;

    fn try_from(raw: RawTokenError) -> Result<Self, Self::Error> {
        if raw.status.is_ok() {
            return Err(InvalidJoinReply::OkTokenError);
        }
        if raw.reason.trim().is_empty() || raw.error.trim().is_empty() {
            return Err(InvalidJoinReply::IncompleteTokenError);
        }
        Ok(TokenError {
            status: raw.status,
            reason: raw.reason,
            error: raw.error,
            zoom_code: raw.zoom_code,
        })
    }
}

/// The reply to a join request.
///
/// Build it with [`JoinReply::ok`], [`JoinReply::failure`] or
/// [`JoinReply::per_kind`] (plus the `with_*` methods); fields are private
/// so that a non-`ok` reply always has an `error` and never tokens, and an
/// `ok` reply never has an `error`. Absent optional fields are omitted from
/// the JSON.
///
/// With several kinds asked, the reply is `ok` when at least one was minted:
/// `tokens` holds those and `token_errors` says, per kind, why each other
/// one was not. When none was minted the status is the most
/// [significant](FailureStatus::significance) of the kinds' failures, and `token_errors`
/// still names every kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawJoinReply")]
pub struct JoinReply {
    request_id: String,
    status: JoinStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    meeting_id: Option<MeetingId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host_id: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tokens: BTreeMap<TokenKind, MintedToken>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    zoom_code: Option<i64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    token_errors: BTreeMap<TokenKind, TokenError>,
}

impl JoinReply {
    /// A successful reply carrying the minted tokens and who owns the meeting.
    pub fn ok(
        request_id: impl Into<String>,
        meeting_id: MeetingId,
        account_id: impl Into<String>,
        host_id: impl Into<String>,
        tokens: BTreeMap<TokenKind, MintedToken>,
    ) -> Self {
        JoinReply {
            request_id: request_id.into(),
            status: JoinStatus::Ok,
            meeting_id: Some(meeting_id),
            account_id: Some(account_id.into()),
            host_id: Some(host_id.into()),
            tokens,
            error: None,
            reason: None,
            zoom_code: None,
            token_errors: BTreeMap::new(),
        }
    }

    /// A failure reply. An empty (or all-whitespace) `error` is replaced by
    /// the status's [default message](FailureStatus::default_message), so
    /// the contract's "every non-`ok` reply carries an `error`" always holds.
    pub fn failure(
        request_id: impl Into<String>,
        status: FailureStatus,
        error: impl Into<String>,
    ) -> Self {
        let error = error.into();
        let error = if error.trim().is_empty() {
            status.default_message().to_owned()
        } else {
            error
        };
        JoinReply {
            request_id: request_id.into(),
            status: status.into(),
            meeting_id: None,
            account_id: None,
            host_id: None,
            tokens: BTreeMap::new(),
            error: Some(error),
            reason: None,
            zoom_code: None,
            token_errors: BTreeMap::new(),
        }
    }

    /// The reply for per-kind results: `ok` with `minted` (and the failures
    /// in `token_errors`) when anything was minted; otherwise a failure
    /// whose status, `reason`, `error` and `zoom_code` are those of the most
    /// [significant](FailureStatus::significance) failure, with every kind's failure in
    /// `token_errors`. Owner fields are added with the `with_*` methods.
    ///
    /// With both maps empty (nothing was asked, which validation prevents)
    /// the reply is an `invalid_request`.
    pub fn per_kind(
        request_id: impl Into<String>,
        meeting_id: MeetingId,
        minted: BTreeMap<TokenKind, MintedToken>,
        failed: BTreeMap<TokenKind, TokenError>,
    ) -> Self {
        let request_id = request_id.into();
        if !minted.is_empty() {
            return JoinReply {
                request_id,
                status: JoinStatus::Ok,
                meeting_id: Some(meeting_id),
                account_id: None,
                host_id: None,
                tokens: minted,
                error: None,
                reason: None,
                zoom_code: None,
                token_errors: failed,
            };
        }
        // `max_by_key` keeps the last of equals; iterate in reverse so the
        // first kind in wire order wins ties.
        let worst = failed
            .values()
            .rev()
            .max_by_key(|e| e.failure_status().significance())
            .cloned();
        let Some(worst) = worst else {
            return JoinReply::failure(
                request_id,
                FailureStatus::InvalidRequest,
                "no token kind was asked for",
            )
            .with_reason(reason::INVALID_REQUEST)
            .with_meeting_id(meeting_id);
        };
        let mut reply = JoinReply::failure(request_id, worst.failure_status(), worst.error)
            .with_reason(worst.reason)
            .with_meeting_id(meeting_id);
        reply.zoom_code = worst.zoom_code;
        reply.token_errors = failed;
        reply
    }

    /// The `invalid_request` reply for a request that failed to decode.
    pub fn invalid_request(request_id: impl Into<String>, error: &JoinRequestError) -> Self {
        Self::failure(request_id, FailureStatus::InvalidRequest, error.to_string())
            .with_reason(reason::INVALID_REQUEST)
    }

    /// Adds the resolved meeting ID (useful on `not_found` and the like).
    pub fn with_meeting_id(mut self, meeting_id: MeetingId) -> Self {
        self.meeting_id = Some(meeting_id);
        self
    }

    /// Adds the owning account (useful on `account_disconnected`).
    pub fn with_account_id(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = Some(account_id.into());
        self
    }

    /// Adds the meeting's host user ID.
    pub fn with_host_id(mut self, host_id: impl Into<String>) -> Self {
        self.host_id = Some(host_id.into());
        self
    }

    /// Sets the machine-readable [`reason`] code (serialized only when set;
    /// a blank one is ignored).
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        if !reason.trim().is_empty() {
            self.reason = Some(reason);
        }
        self
    }

    /// Sets Zoom's error code (serialized only when set).
    pub fn with_zoom_code(mut self, code: i64) -> Self {
        self.zoom_code = Some(code);
        self
    }

    /// Records why `kind` was not minted (kept in `token_errors`).
    pub fn with_token_error(mut self, kind: TokenKind, error: TokenError) -> Self {
        self.token_errors.insert(kind, error);
        self
    }

    /// The request ID echoed from the request (`""` if it had none).
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The outcome.
    pub fn status(&self) -> JoinStatus {
        self.status
    }

    /// The meeting the reply is about, when it was resolved.
    pub fn meeting_id(&self) -> Option<MeetingId> {
        self.meeting_id
    }

    /// The Zoom account that owns the meeting, when known.
    pub fn account_id(&self) -> Option<&str> {
        self.account_id.as_deref()
    }

    /// The meeting's host user ID, when known.
    pub fn host_id(&self) -> Option<&str> {
        self.host_id.as_deref()
    }

    /// The minted tokens (empty unless `ok`).
    pub fn tokens(&self) -> &BTreeMap<TokenKind, MintedToken> {
        &self.tokens
    }

    /// The human-readable reason; `Some` exactly when the status is not `ok`.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The machine-readable [`reason`] code, when set.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// Zoom's error code, when Zoom's refusal decided the reply.
    pub fn zoom_code(&self) -> Option<i64> {
        self.zoom_code
    }

    /// Why each asked kind that is not in [`JoinReply::tokens`] was not
    /// minted.
    pub fn token_errors(&self) -> &BTreeMap<TokenKind, TokenError> {
        &self.token_errors
    }
}

/// The reply as it appears on the wire, checked into a [`JoinReply`].
#[derive(Deserialize)]
struct RawJoinReply {
    #[serde(default)]
    request_id: String,
    status: JoinStatus,
    #[serde(default)]
    meeting_id: Option<MeetingId>,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    host_id: Option<String>,
    #[serde(default)]
    tokens: BTreeMap<TokenKind, MintedToken>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    zoom_code: Option<i64>,
    #[serde(default)]
    token_errors: BTreeMap<TokenKind, TokenError>,
}

/// A reply on the wire that breaks the contract's invariants.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum InvalidJoinReply {
    /// A non-`ok` reply without a (non-empty) `error`.
    #[error("a \"{0}\" reply must carry an \"error\"")]
    MissingError(JoinStatus),
    /// An `ok` reply with an `error`.
    #[error("an \"ok\" reply must not carry an \"error\"")]
    ErrorOnOk,
    /// Tokens on a non-`ok` reply.
    #[error("a \"{0}\" reply must not carry tokens")]
    TokensOnFailure(JoinStatus),
    /// A kind both minted and failed.
    #[error("token kind \"{0}\" is both in \"tokens\" and in \"token_errors\"")]
    KindBothWays(TokenKind),
    /// A `token_errors` entry with status `ok`.
    #[error("a \"token_errors\" entry must not have status \"ok\"")]
    OkTokenError,
    /// A `token_errors` entry without `reason` or `error`.
    #[error("a \"token_errors\" entry must carry a \"reason\" and an \"error\"")]
    IncompleteTokenError,
}

impl TryFrom<RawJoinReply> for JoinReply {
    type Error = InvalidJoinReply;

    fn try_from(raw: RawJoinReply) -> Result<Self, Self::Error> {
        let has_error = raw.error.as_deref().is_some_and(|e| !e.trim().is_empty());
        match (raw.status.is_ok(), has_error) {
            (true, _) if raw.error.is_some() => return Err(InvalidJoinReply::ErrorOnOk),
            (false, false) => return Err(InvalidJoinReply::MissingError(raw.status)),
            (false, true) if !raw.tokens.is_empty() => {
                return Err(InvalidJoinReply::TokensOnFailure(raw.status));
            }
            _ => {}
        }
        if let Some(kind) = raw.tokens.keys().find(|k| raw.token_errors.contains_key(k)) {
            return Err(InvalidJoinReply::KindBothWays(*kind));
        }
        Ok(JoinReply {
            request_id: raw.request_id,
            status: raw.status,
            meeting_id: raw.meeting_id,
            account_id: raw.account_id,
            host_id: raw.host_id,
            tokens: raw.tokens,
            error: raw.error,
            reason: raw.reason.filter(|r| !r.trim().is_empty()),
            zoom_code: raw.zoom_code,
            token_errors: raw.token_errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting_id::MeetingIdError;
    use proptest::prelude::*;
    use serde_json::json;
    use time::macros::datetime;

    fn id(n: u64) -> MeetingId {
        MeetingId::new(n).unwrap()
    }

    fn decode(v: Value) -> Result<ValidJoinRequest, JoinRequestError> {
        decode_join_request(v.to_string().as_bytes())
    }

    const DESIGN_REQUEST: &str = r#"{ "request_id": "b-42", "meeting_url": "https://us02web.zoom.us/j/85012345678?pwd=abc",
  "tokens": ["local_recording"], "bypass_waiting_room": true,
  "deadline": "2026-11-29T10:00:05Z" }"#;

    const DESIGN_REPLY: &str = r#"{ "request_id": "b-42", "status": "ok", "meeting_id": "85012345678",
  "account_id": "aBcD123", "host_id": "z8yAAAAA8bbbQ",
  "tokens": { "local_recording": { "token": "…", "expires_at": "2026-11-29T10:02:00Z" } } }"#;

    #[test]
    fn design_request_example_decodes() {
        let req = decode_join_request(DESIGN_REQUEST.as_bytes()).unwrap();
        assert_eq!(req.request_id(), "b-42");
        assert_eq!(req.meeting_id(), id(85_012_345_678));
        assert_eq!(req.meeting().password.as_deref(), Some("abc"));
        assert_eq!(req.meeting().kind, MeetingKind::Meeting);
        assert_eq!(req.tokens(), &BTreeSet::from([TokenKind::LocalRecording]));
        assert!(req.bypass_waiting_room());
        assert_eq!(req.deadline(), Some(datetime!(2026-11-29 10:00:05 UTC)));
        // Also through the wire struct's Deserialize.
        let wire: JoinRequest = serde_json::from_str(DESIGN_REQUEST).unwrap();
        assert_eq!(wire.validate().unwrap(), req);
    }

    #[test]
    fn design_reply_example_serializes_exactly() {
        let reply = JoinReply::ok(
            "b-42",
            id(85_012_345_678),
            "aBcD123",
            "z8yAAAAA8bbbQ",
            BTreeMap::from([(
                TokenKind::LocalRecording,
                MintedToken::new("…", datetime!(2026-11-29 10:02:00 UTC)),
            )]),
        );
        let json = serde_json::to_string(&reply).unwrap();
        assert_eq!(
            json,
            r#"{"request_id":"b-42","status":"ok","meeting_id":"85012345678","account_id":"aBcD123","host_id":"z8yAAAAA8bbbQ","tokens":{"local_recording":{"token":"…","expires_at":"2026-11-29T10:02:00Z"}}}"#
        );
        let expected: Value = serde_json::from_str(DESIGN_REPLY).unwrap();
        assert_eq!(serde_json::to_value(&reply).unwrap(), expected);
        assert_eq!(
            serde_json::from_str::<JoinReply>(DESIGN_REPLY).unwrap(),
            reply
        );
    }

    #[test]
    fn defaults() {
        let req = decode(json!({"meeting_id": 85012345678u64})).unwrap();
        assert_eq!(req.request_id(), "");
        assert_eq!(req.tokens(), &BTreeSet::from([TokenKind::LocalRecording]));
        assert!(req.bypass_waiting_room());
        assert_eq!(req.deadline(), None);
        assert_eq!(req.meeting().password, None);
        // null is absent.
        let req2 = decode(
            json!({"request_id": null, "meeting_id": "85012345678", "meeting_url": null,
            "tokens": null, "bypass_waiting_room": null, "deadline": null}),
        )
        .unwrap();
        assert_eq!(req2, req);
        // Unknown fields are ignored.
        assert_eq!(
            decode(json!({"meeting_id": 85012345678u64, "future": [1, 2]})).unwrap(),
            req
        );
    }

    #[test]
    fn meeting_forms() {
        for v in [
            json!({"meeting_id": 85012345678u64}),
            json!({"meeting_id": "85012345678"}),
            json!({"meeting_id": "850 1234 5678"}),
            json!({"meeting_url": "85012345678"}),
            json!({"meeting_url": "850-1234-5678"}),
            json!({"meeting_url": "zoommtg://zoom.us/join?confno=85012345678"}),
        ] {
            assert_eq!(
                decode(v.clone()).unwrap().meeting_id(),
                id(85_012_345_678),
                "{v}"
            );
        }
        let web = decode(json!({"meeting_url": "https://zoom.us/w/85012345678"})).unwrap();
        assert_eq!(web.meeting().kind, MeetingKind::Webinar);
    }

    #[test]
    fn tokens_are_deduplicated_and_ordered() {
        let req = decode(json!({"meeting_id": 85012345678u64,
            "tokens": ["zak", "onbehalf", "local_recording", "onbehalf", "live_streaming", "local_archiving"]}))
        .unwrap();
        assert_eq!(
            req.tokens().iter().copied().collect::<Vec<_>>(),
            TokenKind::ALL.to_vec()
        );
        let req =
            decode(json!({"meeting_id": 85012345678u64, "bypass_waiting_room": false})).unwrap();
        assert!(!req.bypass_waiting_room());
    }

    #[test]
    fn token_kind_names() {
        for k in TokenKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), json!(k.as_str()));
            assert_eq!(k.as_str().parse::<TokenKind>(), Ok(k));
            assert_eq!(k.to_string(), k.as_str());
        }
        assert_eq!(
            serde_json::to_value(TokenKind::OnBehalf).unwrap(),
            json!("onbehalf")
        );
        assert!("LocalRecording".parse::<TokenKind>().is_err());
        assert!("on_behalf".parse::<TokenKind>().is_err());
    }

    #[test]
    fn every_error() {
        use JoinRequestError as E;
        let m = json!(85012345678u64);
        let wt = |field, expected, found| E::WrongType {
            field,
            expected,
            found,
        };
        let cases: Vec<(Value, E)> = vec![
            (json!([]), E::NotAnObject { found: "an array" }),
            (json!("x"), E::NotAnObject { found: "a string" }),
            (json!(null), E::NotAnObject { found: "null" }),
            (json!({}), E::MissingMeeting),
            (json!({"request_id": "r"}), E::MissingMeeting),
            (
                json!({"meeting_id": m, "meeting_url": "https://zoom.us/j/85012345678"}),
                E::BothMeetingFields,
            ),
            (
                json!({"meeting_id": m, "request_id": 42}),
                wt("request_id", "a string", "a number"),
            ),
            (
                json!({"meeting_id": m, "request_id": "x".repeat(257)}),
                E::RequestIdTooLong { len: 257 },
            ),
            (
                json!({"meeting_url": 85012345678u64}),
                wt("meeting_url", "a string", "a number"),
            ),
            (
                json!({"meeting_id": true}),
                wt(
                    "meeting_id",
                    "a string of digits or a positive integer",
                    "a boolean",
                ),
            ),
            (
                json!({"meeting_id": -85012345678i64}),
                wt(
                    "meeting_id",
                    "a string of digits or a positive integer",
                    "a number",
                ),
            ),
            (
                json!({"meeting_id": 85012345678.5}),
                wt(
                    "meeting_id",
                    "a string of digits or a positive integer",
                    "a number",
                ),
            ),
            (
                json!({"meeting_id": 12345}),
                E::InvalidMeetingId(MeetingIdError::TooShort { digits: 5 }),
            ),
            (
                json!({"meeting_id": "85O12345678"}),
                E::InvalidMeetingId(MeetingIdError::InvalidChar { ch: 'O' }),
            ),
            (
                json!({"meeting_url": "https://evil.com/j/85012345678"}),
                E::InvalidMeetingUrl(MeetingUrlError::NotZoomHost {
                    host: "evil.com".into(),
                }),
            ),
            (
                json!({"meeting_url": ""}),
                E::InvalidMeetingUrl(MeetingUrlError::Empty),
            ),
            (
                json!({"meeting_id": m, "tokens": "local_recording"}),
                wt("tokens", "an array of token kind names", "a string"),
            ),
            (
                json!({"meeting_id": m, "tokens": [1]}),
                wt("tokens", "an array of token kind names", "a number"),
            ),
            (
                json!({"meeting_id": m, "tokens": ["local_recording", "recording"]}),
                E::UnknownTokenKind {
                    index: 1,
                    kind: UnknownTokenKind("recording".into()),
                },
            ),
            (json!({"meeting_id": m, "tokens": []}), E::EmptyTokens),
            (
                json!({"meeting_id": m, "bypass_waiting_room": "yes"}),
                wt("bypass_waiting_room", "true or false", "a string"),
            ),
            (
                json!({"meeting_id": m, "deadline": 1764410405}),
                wt("deadline", "an RFC 3339 timestamp string", "a number"),
            ),
            (
                json!({"meeting_id": m, "deadline": "tomorrow"}),
                E::InvalidDeadline {
                    value: "tomorrow".into(),
                },
            ),
            (
                json!({"meeting_id": m, "deadline": "2026-11-29 10:00:05"}),
                E::InvalidDeadline {
                    value: "2026-11-29 10:00:05".into(),
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(decode(input.clone()), Err(want), "{input}");
        }
        assert!(matches!(
            decode_join_request(b"{\"request_id\":"),
            Err(E::InvalidJson { .. })
        ));
        assert!(matches!(
            decode_join_request(b""),
            Err(E::InvalidJson { .. })
        ));
        assert!(matches!(
            decode_join_request(b"\xff\xfe"),
            Err(E::InvalidJson { .. })
        ));
        assert!(matches!(
            decode_join_request("[".repeat(10_000).as_bytes()),
            Err(E::InvalidJson { .. })
        ));
        let big = vec![b' '; MAX_REQUEST_BYTES + 1];
        assert_eq!(
            decode_join_request(&big),
            Err(E::TooLarge {
                len: MAX_REQUEST_BYTES + 1
            })
        );
    }

    #[test]
    fn error_messages_are_readable() {
        let msg = |v: Value| decode(v).unwrap_err().to_string();
        assert_eq!(
            msg(json!({"meeting_id": 85012345678u64, "tokens": ["recording"]})),
            "\"tokens[0]\": unknown token kind \"recording\"; expected one of \"local_recording\", \"local_archiving\", \"live_streaming\", \"onbehalf\", \"zak\""
        );
        assert_eq!(
            msg(json!({"meeting_id": 85012345678u64, "bypass_waiting_room": 1})),
            "\"bypass_waiting_room\" must be true or false, found a number"
        );
        let url_err = msg(json!({"meeting_url": "https://zoom.us/my/jill"}));
        assert!(
            url_err.starts_with("\"meeting_url\": \"jill\" is a Zoom personal link"),
            "{url_err}"
        );
        let json_err = decode_join_request(b"{oops").unwrap_err().to_string();
        assert!(
            json_err
                .starts_with("request is not valid JSON: key must be a string at line 1 column 2"),
            "{json_err}"
        );
    }

    #[test]
    fn request_id_survives_invalid_requests() {
        let body = br#"{"request_id": "b-7", "tokens": ["bogus"]}"#;
        let err = decode_join_request(body).unwrap_err();
        assert_eq!(extract_request_id(body).as_deref(), Some("b-7"));
        let reply = JoinReply::invalid_request(extract_request_id(body).unwrap_or_default(), &err);
        assert_eq!(reply.status(), JoinStatus::InvalidRequest);
        assert_eq!(reply.request_id(), "b-7");
        assert_eq!(reply.error(), Some(err.to_string().as_str()));
        assert_eq!(extract_request_id(b"not json"), None);
        assert_eq!(extract_request_id(br#"{"request_id": 5}"#), None);
        assert_eq!(extract_request_id(br#"[{"request_id": "x"}]"#), None);
        let long = format!(
            r#"{{"request_id": "{}"}}"#,
            "x".repeat(MAX_REQUEST_ID_LEN + 1)
        );
        assert_eq!(extract_request_id(long.as_bytes()), None);
    }

    #[test]
    fn wire_request_round_trips() {
        let mut req = JoinRequest::for_meeting_url("https://zoom.us/j/85012345678?pwd=abc");
        req.request_id = Some("r1".into());
        req.tokens = vec![TokenKind::LiveStreaming, TokenKind::OnBehalf];
        req.bypass_waiting_room = false;
        req.deadline = Some(datetime!(2026-11-29 10:00:05 UTC));
        req.on_behalf_of = Some("jill@example.com".into());
        let json = serde_json::to_string(&req).unwrap();
        assert_eq!(
            json,
            r#"{"request_id":"r1","meeting_url":"https://zoom.us/j/85012345678?pwd=abc","tokens":["live_streaming","onbehalf"],"bypass_waiting_room":false,"deadline":"2026-11-29T10:00:05Z","on_behalf_of":"jill@example.com"}"#
        );
        assert_eq!(serde_json::from_str::<JoinRequest>(&json).unwrap(), req);
        assert_eq!(JoinRequest::from_slice(json.as_bytes()).unwrap(), req);

        let by_id = JoinRequest::for_meeting_id(id(5_551_112_222));
        let json = serde_json::to_string(&by_id).unwrap();
        assert_eq!(
            json,
            r#"{"meeting_id":"5551112222","tokens":["local_recording"],"bypass_waiting_room":true}"#
        );
        assert_eq!(
            decode_join_request(json.as_bytes()).unwrap().meeting_id(),
            id(5_551_112_222)
        );
        // Deserialize reports decoding errors too.
        assert!(serde_json::from_str::<JoinRequest>(r#"{"tokens":["x"]}"#).is_err());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let req = JoinRequest::for_meeting_url("https://zoom.us/j/85012345678?pwd=SECRETPWD");
        let dbg = format!("{req:?}");
        assert!(
            !dbg.contains("SECRETPWD") && dbg.contains("https://zoom.us/j/85012345678?<redacted>"),
            "{dbg}"
        );
        let valid = req.validate().unwrap();
        assert!(!format!("{valid:?}").contains("SECRETPWD"));
        let tok = MintedToken::new("SECRETTOKEN", datetime!(2026-11-29 10:02:00 UTC));
        assert!(!format!("{tok:?}").contains("SECRETTOKEN"));
        let reply = JoinReply::ok(
            "r",
            id(85_012_345_678),
            "a",
            "h",
            BTreeMap::from([(TokenKind::OnBehalf, tok)]),
        );
        assert!(!format!("{reply:?}").contains("SECRETTOKEN"));
        assert!(!format!("{reply:#?}").contains("SECRETTOKEN"));
    }

    #[test]
    fn failure_replies() {
        let r = JoinReply::failure(
            "b-1",
            FailureStatus::NotFound,
            "no account owns 85012345678",
        )
        .with_meeting_id(id(85_012_345_678));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"request_id":"b-1","status":"not_found","meeting_id":"85012345678","error":"no account owns 85012345678"}"#
        );
        let r = JoinReply::failure("", FailureStatus::AccountDisconnected, "  ")
            .with_account_id("acc")
            .with_host_id("host");
        assert_eq!(
            r.error(),
            Some(FailureStatus::AccountDisconnected.default_message())
        );
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"request_id": "", "status": "account_disconnected", "account_id": "acc", "host_id": "host",
                   "error": "the account that owns this meeting is disconnected"})
        );
        for s in [
            FailureStatus::NotFound,
            FailureStatus::AccountDisconnected,
            FailureStatus::InvalidRequest,
            FailureStatus::ZoomError,
            FailureStatus::RateLimited,
        ] {
            let r = JoinReply::failure("x", s, "");
            assert!(!r.status().is_ok());
            assert!(r.error().is_some_and(|e| !e.is_empty()));
            let back: JoinReply =
                serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
            assert_eq!(back, r);
        }
    }

    #[test]
    fn reply_invariants_on_deserialize() {
        let bad = [
            (
                r#"{"request_id":"x","status":"not_found"}"#,
                "must carry an \"error\"",
            ),
            (
                r#"{"request_id":"x","status":"zoom_error","error":""}"#,
                "must carry an \"error\"",
            ),
            (
                r#"{"request_id":"x","status":"ok","error":"e"}"#,
                "must not carry an \"error\"",
            ),
            (
                r#"{"request_id":"x","status":"rate_limited","error":"e","tokens":{"onbehalf":{"token":"t","expires_at":"2026-11-29T10:02:00Z"}}}"#,
                "must not carry tokens",
            ),
            (
                r#"{"request_id":"x","status":"weird","error":"e"}"#,
                "unknown variant",
            ),
        ];
        for (json, want) in bad {
            let err = serde_json::from_str::<JoinReply>(json)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{json}: {err}");
        }
    }

    #[test]
    fn on_behalf_of_field() {
        let m = 85012345678u64;
        let req = decode(json!({"meeting_id": m})).unwrap();
        assert_eq!(req.on_behalf_of(), None);
        let req = decode(json!({"meeting_id": m, "on_behalf_of": null})).unwrap();
        assert_eq!(req.on_behalf_of(), None);
        let req = decode(json!({"meeting_id": m, "on_behalf_of": "  jill@example.com\t"})).unwrap();
        assert_eq!(req.on_behalf_of(), Some("jill@example.com"));
        let req = decode(json!({"meeting_id": m, "on_behalf_of": "z8yAAAAA8bbbQ",
            "tokens": ["local_recording", "onbehalf", "zak"]}))
        .unwrap();
        assert_eq!(req.on_behalf_of(), Some("z8yAAAAA8bbbQ"));
        assert!(req.tokens().contains(&TokenKind::Zak));
        use JoinRequestError as E;
        assert_eq!(
            decode(json!({"meeting_id": m, "on_behalf_of": " "})),
            Err(E::BlankOnBehalfOf)
        );
        assert_eq!(
            decode(json!({"meeting_id": m, "on_behalf_of": ""})),
            Err(E::BlankOnBehalfOf)
        );
        assert_eq!(
            decode(json!({"meeting_id": m, "on_behalf_of": "x".repeat(MAX_ON_BEHALF_OF_LEN + 1)})),
            Err(E::OnBehalfOfTooLong {
                len: MAX_ON_BEHALF_OF_LEN + 1
            })
        );
        assert!(
            decode(json!({"meeting_id": m, "on_behalf_of": "x".repeat(MAX_ON_BEHALF_OF_LEN)}))
                .is_ok()
        );
        assert_eq!(
            decode(json!({"meeting_id": m, "on_behalf_of": 42})),
            Err(E::WrongType {
                field: "on_behalf_of",
                expected: "a string (a Zoom user ID or email)",
                found: "a number"
            })
        );
        let dbg = format!(
            "{:?}",
            JoinRequest {
                on_behalf_of: Some("jill@example.com".into()),
                ..JoinRequest::for_meeting_id(id(m))
            }
        );
        assert!(dbg.contains("jill@example.com"), "{dbg}");
        assert!(TokenKind::Zak.is_user_token() && TokenKind::OnBehalf.is_user_token());
        assert!(!TokenKind::LocalRecording.is_user_token());
    }

    fn minted(token: &str) -> MintedToken {
        MintedToken::new(token, datetime!(2026-11-29 10:02:00 UTC))
    }

    #[test]
    fn per_kind_reply_with_one_minted_is_ok() {
        let r = JoinReply::per_kind(
            "b-42",
            id(85_012_345_678),
            BTreeMap::from([(TokenKind::OnBehalf, minted("obf"))]),
            BTreeMap::from([(
                TokenKind::LocalRecording,
                TokenError::new(
                    FailureStatus::NotFound,
                    reason::MEETING_NOT_FOUND,
                    "no connected account owns meeting 85012345678",
                ),
            )]),
        );
        assert_eq!(r.status(), JoinStatus::Ok);
        assert_eq!(r.error(), None);
        assert_eq!(r.reason(), None);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"request_id":"b-42","status":"ok","meeting_id":"85012345678","tokens":{"onbehalf":{"token":"obf","expires_at":"2026-11-29T10:02:00Z"}},"token_errors":{"local_recording":{"status":"not_found","reason":"meeting_not_found","error":"no connected account owns meeting 85012345678"}}}"#
        );
        let back: JoinReply = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        // With owner fields, as a mapped meeting's reply carries them.
        let r = r.with_account_id("acc").with_host_id("host");
        assert_eq!(r.account_id(), Some("acc"));
        assert_eq!(r.host_id(), Some("host"));
    }

    #[test]
    fn per_kind_reply_with_nothing_minted_takes_the_most_significant_failure() {
        let nf = || {
            TokenError::new(
                FailureStatus::NotFound,
                reason::MEETING_NOT_FOUND,
                "no owner",
            )
        };
        let sender = || {
            TokenError::new(
                FailureStatus::AccountDisconnected,
                reason::SENDER_NOT_CONNECTED,
                "the sender's account is disconnected",
            )
        };
        let zoom = || {
            TokenError::new(
                FailureStatus::ZoomError,
                reason::ZOOM_ERROR,
                "local recording is off",
            )
            .with_zoom_code(3000)
        };
        let r = JoinReply::per_kind(
            "r",
            id(85_012_345_678),
            BTreeMap::new(),
            BTreeMap::from([
                (TokenKind::LocalRecording, nf()),
                (TokenKind::OnBehalf, sender()),
            ]),
        );
        assert_eq!(r.status(), JoinStatus::AccountDisconnected);
        assert_eq!(r.reason(), Some(reason::SENDER_NOT_CONNECTED));
        assert_eq!(r.error(), Some("the sender's account is disconnected"));
        assert!(r.tokens().is_empty());
        assert_eq!(r.token_errors().len(), 2);
        assert_eq!(r.zoom_code(), None);
        // Zoom's refusal outranks a disconnected account and carries its code.
        let r = JoinReply::per_kind(
            "r",
            id(85_012_345_678),
            BTreeMap::new(),
            BTreeMap::from([
                (TokenKind::LocalRecording, zoom()),
                (TokenKind::OnBehalf, sender()),
            ]),
        );
        assert_eq!(r.status(), JoinStatus::ZoomError);
        assert_eq!(r.zoom_code(), Some(3000));
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"request_id": "r", "status": "zoom_error", "meeting_id": "85012345678",
                   "error": "local recording is off", "reason": "zoom_error", "zoom_code": 3000,
                   "token_errors": {
                     "local_recording": {"status": "zoom_error", "reason": "zoom_error",
                                         "error": "local recording is off", "zoom_code": 3000},
                     "onbehalf": {"status": "account_disconnected", "reason": "sender_not_connected",
                                  "error": "the sender's account is disconnected"}}})
        );
        // Only local_recording of an unmapped meeting: still not_found.
        let r = JoinReply::per_kind(
            "r",
            id(85_012_345_678),
            BTreeMap::new(),
            BTreeMap::from([(TokenKind::LocalRecording, nf())]),
        );
        assert_eq!(r.status(), JoinStatus::NotFound);
        assert_eq!(r.reason(), Some(reason::MEETING_NOT_FOUND));
        // Ties: the first kind in wire order decides.
        let a = TokenError::new(FailureStatus::NotFound, "first", "a");
        let b = TokenError::new(FailureStatus::NotFound, "second", "b");
        let r = JoinReply::per_kind(
            "r",
            id(85_012_345_678),
            BTreeMap::new(),
            BTreeMap::from([(TokenKind::Zak, b), (TokenKind::LiveStreaming, a)]),
        );
        assert_eq!(r.reason(), Some("first"));
        // Every ordering of significance.
        let order = [
            FailureStatus::NotFound,
            FailureStatus::AccountDisconnected,
            FailureStatus::ZoomError,
            FailureStatus::RateLimited,
            FailureStatus::InvalidRequest,
        ];
        for (i, lo) in order.iter().enumerate() {
            for hi in &order[i + 1..] {
                assert!(hi.significance() > lo.significance(), "{hi:?} > {lo:?}");
                let r = JoinReply::per_kind(
                    "r",
                    id(85_012_345_678),
                    BTreeMap::new(),
                    BTreeMap::from([
                        (TokenKind::LocalRecording, TokenError::new(*lo, "", "")),
                        (TokenKind::Zak, TokenError::new(*hi, "", "")),
                    ]),
                );
                assert_eq!(r.status(), JoinStatus::from(*hi));
                assert_eq!(r.reason(), Some(reason::of_status(*hi)));
                assert_eq!(r.error(), Some(hi.default_message()));
            }
        }
        // Nothing asked at all cannot happen after validation, but is not ok.
        let r = JoinReply::per_kind("r", id(85_012_345_678), BTreeMap::new(), BTreeMap::new());
        assert_eq!(r.status(), JoinStatus::InvalidRequest);
    }

    #[test]
    fn reason_and_zoom_code_on_failures() {
        let r = JoinReply::failure("b-1", FailureStatus::ZoomError, "Zoom refused")
            .with_reason("local_recording_disabled")
            .with_zoom_code(3000);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"request_id":"b-1","status":"zoom_error","error":"Zoom refused","reason":"local_recording_disabled","zoom_code":3000}"#
        );
        assert_eq!(r.reason(), Some("local_recording_disabled"));
        assert_eq!(r.zoom_code(), Some(3000));
        let back: JoinReply = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        // A blank reason is not set.
        let r = JoinReply::failure("b-1", FailureStatus::NotFound, "x").with_reason(" ");
        assert_eq!(r.reason(), None);
        assert!(!serde_json::to_string(&r).unwrap().contains("reason"));
        // invalid_request replies say so in `reason` too.
        let err = JoinRequestError::EmptyTokens;
        assert_eq!(
            JoinReply::invalid_request("x", &err).reason(),
            Some(reason::INVALID_REQUEST)
        );
        for s in [
            FailureStatus::NotFound,
            FailureStatus::AccountDisconnected,
            FailureStatus::InvalidRequest,
            FailureStatus::ZoomError,
            FailureStatus::RateLimited,
        ] {
            assert_eq!(
                reason::of_status(s),
                JoinStatus::from(s)
                    .as_str()
                    .replace("not_found", "meeting_not_found")
            );
            let e = TokenError::new(s, "", " ");
            assert_eq!(e.reason(), reason::of_status(s));
            assert_eq!(e.error(), s.default_message());
            assert_eq!(e.status(), JoinStatus::from(s));
            assert_eq!(e.zoom_code(), None);
        }
        // The reply added to an ok reply keeps it ok.
        let r = JoinReply::ok(
            "r",
            id(85_012_345_678),
            "a",
            "h",
            BTreeMap::from([(TokenKind::LocalRecording, minted("t"))]),
        )
        .with_token_error(
            TokenKind::Zak,
            TokenError::new(
                FailureStatus::InvalidRequest,
                reason::ZAK_NOT_ALLOWED,
                "ZAKs are off",
            ),
        );
        assert_eq!(r.status(), JoinStatus::Ok);
        assert_eq!(
            r.token_errors()[&TokenKind::Zak].reason(),
            "zak_not_allowed"
        );
    }

    #[test]
    fn per_kind_invariants_on_deserialize() {
        let bad = [
            (
                r#"{"request_id":"x","status":"ok","tokens":{"zak":{"token":"t","expires_at":"2026-11-29T10:02:00Z"}},"token_errors":{"zak":{"status":"not_found","reason":"r","error":"e"}}}"#,
                "both in",
            ),
            (
                r#"{"request_id":"x","status":"ok","token_errors":{"zak":{"status":"ok","reason":"r","error":"e"}}}"#,
                "must not have status",
            ),
            (
                r#"{"request_id":"x","status":"ok","token_errors":{"zak":{"status":"not_found","reason":"","error":"e"}}}"#,
                "must carry a \"reason\"",
            ),
            (
                r#"{"request_id":"x","status":"ok","token_errors":{"zak":{"status":"not_found","reason":"r"}}}"#,
                "must carry a \"reason\"",
            ),
            (
                r#"{"request_id":"x","status":"ok","token_errors":{"bogus":{"status":"not_found","reason":"r","error":"e"}}}"#,
                "unknown variant",
            ),
        ];
        for (json, want) in bad {
            let err = serde_json::from_str::<JoinReply>(json)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{json}: {err}");
        }
        // Older replies (without the new fields) still decode.
        let old: JoinReply = serde_json::from_str(DESIGN_REPLY).unwrap();
        assert!(
            old.token_errors().is_empty() && old.reason().is_none() && old.zoom_code().is_none()
        );
    }

    #[test]
    fn statuses() {
        let table = [
            (JoinStatus::Ok, "ok", 200),
            (JoinStatus::NotFound, "not_found", 404),
            (JoinStatus::InvalidRequest, "invalid_request", 400),
            (JoinStatus::AccountDisconnected, "account_disconnected", 409),
            (JoinStatus::RateLimited, "rate_limited", 429),
            (JoinStatus::ZoomError, "zoom_error", 502),
        ];
        for (status, name, http) in table {
            assert_eq!(serde_json::to_value(status).unwrap(), json!(name));
            assert_eq!(
                serde_json::from_value::<JoinStatus>(json!(name)).unwrap(),
                status
            );
            assert_eq!(status.as_str(), name);
            assert_eq!(status.http_status(), http);
        }
    }

    #[test]
    fn minted_token_is_utc() {
        let t = MintedToken::new("t", datetime!(2026-11-29 11:02:00 +01:00));
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            json!({"token": "t", "expires_at": "2026-11-29T10:02:00Z"})
        );
    }

    #[test]
    fn deadlines() {
        let received = datetime!(2026-11-29 10:00:00 UTC);
        let req = decode(json!({"meeting_id": 85012345678u64})).unwrap();
        assert_eq!(
            req.deadline_or_default(received),
            datetime!(2026-11-29 10:00:30 UTC)
        );
        let req =
            decode(json!({"meeting_id": 85012345678u64, "deadline": "2026-11-29T11:00:05+01:00"}))
                .unwrap();
        assert_eq!(
            req.deadline_or_default(received),
            datetime!(2026-11-29 10:00:05 UTC)
        );
        let req = decode(json!({"meeting_id": 85012345678u64})).unwrap();
        // Never panics, even at the end of time.
        let _ = req.deadline_or_default(OffsetDateTime::new_utc(
            time::Date::MAX,
            time::Time::MIDNIGHT,
        ));
        assert!(req.is_expired(received, received + DEFAULT_DEADLINE));
        assert!(!req.is_expired(received, received + time::Duration::seconds(29)));
    }

    #[test]
    fn minted_token_expiry() {
        let t = datetime!(2026-11-29 10:00:00 UTC);
        assert_eq!(
            MintedToken::expiring_in("x", t, 120).expires_at,
            datetime!(2026-11-29 10:02:00 UTC)
        );
        assert_eq!(
            MintedToken::expiring_in("x", t, u64::MAX).expires_at,
            OffsetDateTime::new_utc(time::Date::MAX, time::Time::MAX)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_join_request(&bytes);
            let _ = extract_request_id(&bytes);
        }

        #[test]
        fn json_shaped_input_decodes_or_fails_typed(
            request_id in proptest::option::of("\\PC{0,10}"),
            meeting in prop_oneof![
                Just(json!(null)),
                (0u64..2_000_000_000_000).prop_map(|n| json!(n)),
                "[0-9 -]{0,14}".prop_map(|s| json!(s)),
                "\\PC{0,30}".prop_map(|s| json!({"meeting_url": s})),
            ],
            tokens in proptest::option::of(proptest::collection::vec(
                prop_oneof![Just("local_recording"), Just("onbehalf"), Just("live_streaming"), Just("bogus")], 0..4)),
            bypass in proptest::option::of(any::<bool>()),
        ) {
            let mut obj = Map::new();
            if let Some(r) = &request_id { obj.insert("request_id".into(), json!(r)); }
            match meeting {
                Value::Object(m) => obj.extend(m),
                other => { obj.insert("meeting_id".into(), other); }
            }
            if let Some(t) = &tokens { obj.insert("tokens".into(), json!(t)); }
            if let Some(b) = bypass { obj.insert("bypass_waiting_room".into(), json!(b)); }
            let body = Value::Object(obj).to_string();
            match decode_join_request(body.as_bytes()) {
                Ok(req) => {
                    prop_assert!(!req.tokens().is_empty());
                    prop_assert_eq!(req.request_id(), request_id.as_deref().unwrap_or(""));
                    prop_assert_eq!(req.bypass_waiting_room(), bypass.unwrap_or(true));
                }
                Err(e) => {
                    prop_assert!(!e.to_string().is_empty());
                    prop_assert_eq!(extract_request_id(body.as_bytes()), request_id);
                }
            }
        }
    }
}
