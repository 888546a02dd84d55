//! Zoom webhook events: the envelope every event shares, and typed views of
//! the events the sync workers act on.
//!
//! Parsing is two-level on purpose. The ingress only needs the
//! [`Envelope`] (event name, time, account) and forwards the body unchanged;
//! the sync worker turns an envelope into a [`ZoomEvent`]. Field shapes follow
//! docs/zoom.md §3: IDs arrive as numbers in some events and strings in others,
//! so every ID field accepts both.

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::meeting_id::MeetingId;

/// The event name Zoom uses for the endpoint validation challenge.
pub const URL_VALIDATION: &str = "endpoint.url_validation";

/// Longest event name accepted; it becomes an AMQP routing key (max 255 bytes).
pub const MAX_EVENT_NAME_LEN: usize = 128;

/// Why a webhook body is not a usable event. Maps to HTTP 400 at the ingress
/// and to a dead-letter at the worker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The body is not JSON or not a JSON object.
    #[error("body is not a JSON object: {0}")]
    NotJson(String),
    /// The `event` field is absent or not a string.
    #[error("body has no string field \"event\"")]
    MissingEvent,
    /// The event name cannot be a routing key.
    #[error("event name is empty, too long or has characters outside [A-Za-z0-9._-]")]
    BadEventName,
    /// A field the event needs is missing or of the wrong type.
    #[error("{event}: {detail}")]
    BadField {
        /// The event name.
        event: String,
        /// What is wrong.
        detail: String,
    },
}

/// The parts of a Zoom event every consumer needs; the body itself travels
/// unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Event name, e.g. `meeting.created`; also the AMQP routing key.
    pub event: String,
    /// Zoom's `event_ts` (Unix milliseconds) when present.
    pub event_ts: Option<i64>,
    /// `payload.account_id` when present.
    pub account_id: Option<String>,
    /// The whole `payload` object (`Null` when absent).
    pub payload: Value,
}

#[derive(Deserialize)]
struct RawEnvelope {
    event: Option<Value>,
    #[serde(default)]
    event_ts: Option<Value>,
    #[serde(default)]
    payload: Value,
}

impl Envelope {
    /// Parse a webhook body. Call only after the signature was verified.
    pub fn parse(body: &[u8]) -> Result<Self, EventError> {
        // Go through a map, not straight into a struct: serde would accept a
        // JSON array as a struct in sequence form.
        let value: Value =
            serde_json::from_slice(body).map_err(|e| EventError::NotJson(e.to_string()))?;
        Self::from_value(value)
    }

    /// [`Envelope::parse`] of a body already parsed as JSON (the sync
    /// worker reads a body once, then tells jobs from events).
    pub fn from_value(value: Value) -> Result<Self, EventError> {
        if !value.is_object() {
            return Err(EventError::NotJson("expected a JSON object".into()));
        }
        let raw: RawEnvelope =
            serde_json::from_value(value).map_err(|e| EventError::NotJson(e.to_string()))?;
        let event = match raw.event {
            Some(Value::String(s)) => s,
            _ => return Err(EventError::MissingEvent),
        };
        if !is_valid_event_name(&event) {
            return Err(EventError::BadEventName);
        }
        let event_ts = raw.event_ts.as_ref().and_then(as_i64);
        let account_id = raw
            .payload
            .get("account_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(Envelope {
            event,
            event_ts,
            account_id,
            payload: raw.payload,
        })
    }

    /// `payload.plainToken` of an `endpoint.url_validation` challenge.
    pub fn plain_token(&self) -> Option<&str> {
        self.payload.get("plainToken").and_then(Value::as_str)
    }
}

/// Event names become routing keys and metric labels: keep them to a safe
/// alphabet so neither can be abused.
pub fn is_valid_event_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_EVENT_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A deterministic message ID for a webhook delivery.
///
/// Zoom's retries resend the same body (with a new timestamp header), so
/// hashing the app name and the raw body lets consumers recognise duplicates.
pub fn webhook_message_id(app: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(app.as_bytes());
    hasher.update([0u8]);
    hasher.update(body);
    let digest = hasher.finalize();
    format!("zm-{}", hex::encode(&digest[..16]))
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The events the sync workers act on, with the fields they need.
///
/// `at_ms` is the event's time in Unix milliseconds: the version that orders
/// writes, so a late or repeated event never overwrites newer state. It is
/// `None` only when Zoom sent no time at all.
#[derive(Debug, Clone, PartialEq)]
pub enum ZoomEvent {
    /// `endpoint.url_validation`.
    UrlValidation {
        /// The challenge's `plainToken`.
        plain_token: String,
    },
    /// `meeting.created`: map the meeting to its host and account.
    MeetingCreated {
        /// Owning account (`payload.account_id`).
        account_id: String,
        /// `object.id`.
        meeting_id: MeetingId,
        /// `object.host_id`: the owner, which can differ from the operator.
        host_id: String,
        /// `object.uuid`, when present.
        uuid: Option<String>,
        /// Event time.
        at_ms: Option<i64>,
    },
    /// `meeting.deleted`: unmap the meeting, or only some occurrences.
    MeetingDeleted {
        /// Owning account.
        account_id: String,
        /// `object.id`.
        meeting_id: MeetingId,
        /// `object.host_id`, when present.
        host_id: Option<String>,
        /// `Some` when only these occurrence IDs were deleted (docs/zoom.md:
        /// reading of the field shape, UNCONFIRMED).
        occurrences: Option<Vec<String>>,
        /// Event time.
        at_ms: Option<i64>,
    },
    /// `user.updated`. Only changed fields are present.
    UserUpdated {
        /// The account.
        account_id: String,
        /// `object.id`.
        user_id: String,
        /// `object.pmi` when the PMI is among the changed fields.
        new_pmi: Option<MeetingId>,
        /// `old_object.pmi` when present.
        old_pmi: Option<MeetingId>,
        /// `object.email` when the email is among the changed fields.
        email: Option<String>,
        /// `object.vanity_name` when among the changed fields (`Some("")`:
        /// the personal link was removed).
        vanity_name: Option<String>,
        /// Event time.
        at_ms: Option<i64>,
    },
    /// `user.created` or `user.activated`: a user (re)joins the account;
    /// `object {id, first_name, last_name, email, type}` (docs/zoom.md,
    /// "User lifecycle events").
    UserAdded {
        /// The account.
        account_id: String,
        /// `object.id`.
        user_id: String,
        /// `object.email`, when present.
        email: Option<String>,
        /// Event time.
        at_ms: Option<i64>,
    },
    /// `meeting.updated` (only the changed fields are present): a new
    /// `host_id` moves the meeting to that host.
    MeetingUpdated {
        /// Owning account.
        account_id: String,
        /// `object.id`.
        meeting_id: MeetingId,
        /// `object.host_id` when the host changed.
        host_id: Option<String>,
        /// Event time.
        at_ms: Option<i64>,
    },
    /// `user.deleted`, `user.deactivated` or `user.disassociated`: the
    /// user's PMI and directory entry go away.
    UserRemoved {
        /// The account.
        account_id: String,
        /// `object.id`.
        user_id: String,
        /// Event time.
        at_ms: Option<i64>,
    },
    /// `app_deauthorized`: purge the account's credentials and mappings.
    AppDeauthorized {
        /// The account.
        account_id: String,
        /// `payload.user_id` (who deauthorized; the connection for user-level apps).
        user_id: Option<String>,
        /// Event time (`event_ts` at top level or inside the payload, else
        /// `deauthorization_time`).
        at_ms: Option<i64>,
    },
    /// Any other event: acknowledged and counted, nothing to do.
    Other {
        /// The event name.
        event: String,
    },
}

impl ZoomEvent {
    /// Turn an envelope into a typed event.
    pub fn from_envelope(env: &Envelope) -> Result<Self, EventError> {
        let bad = |detail: &str| EventError::BadField {
            event: env.event.clone(),
            detail: detail.to_owned(),
        };
        let p = &env.payload;
        let object = p.get("object");
        let account = || {
            env.account_id
                .clone()
                .ok_or_else(|| bad("payload.account_id is missing"))
        };
        let meeting_id = || -> Result<MeetingId, EventError> {
            let v = object
                .and_then(|o| o.get("id"))
                .ok_or_else(|| bad("payload.object.id is missing"))?;
            serde_json::from_value(v.clone()).map_err(|e| bad(&format!("payload.object.id: {e}")))
        };
        let object_str = |field: &str| -> Option<String> {
            object
                .and_then(|o| o.get(field))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let at_ms = env.event_ts;
        Ok(match env.event.as_str() {
            URL_VALIDATION => ZoomEvent::UrlValidation {
                plain_token: env
                    .plain_token()
                    .ok_or_else(|| bad("payload.plainToken is missing"))?
                    .to_owned(),
            },
            // A recovered meeting (restored from the trash) carries the
            // meeting object like `meeting.created` (docs/zoom.md §3, rivet).
            "meeting.created" | "meeting.recovered" => ZoomEvent::MeetingCreated {
                account_id: account()?,
                meeting_id: meeting_id()?,
                host_id: object_str("host_id")
                    .ok_or_else(|| bad("payload.object.host_id is missing"))?,
                uuid: object_str("uuid"),
                at_ms,
            },
            "meeting.deleted" => {
                let occurrences = match object.and_then(|o| o.get("occurrences")) {
                    None | Some(Value::Null) => None,
                    Some(Value::Array(items)) => Some(
                        items
                            .iter()
                            .map(|item| {
                                item.get("occurrence_id")
                                    .and_then(|v| match v {
                                        Value::String(s) => Some(s.clone()),
                                        Value::Number(n) => Some(n.to_string()),
                                        _ => None,
                                    })
                                    .ok_or_else(|| bad("occurrences[].occurrence_id is missing"))
                            })
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                    Some(_) => return Err(bad("payload.object.occurrences is not an array")),
                };
                ZoomEvent::MeetingDeleted {
                    account_id: account()?,
                    meeting_id: meeting_id()?,
                    host_id: object_str("host_id"),
                    occurrences,
                    at_ms,
                }
            }
            "user.updated" => {
                let pmi_of = |v: Option<&Value>| -> Result<Option<MeetingId>, EventError> {
                    match v.and_then(|o| o.get("pmi")) {
                        None | Some(Value::Null) => Ok(None),
                        Some(v) => serde_json::from_value(v.clone())
                            .map(Some)
                            .map_err(|e| bad(&format!("pmi: {e}"))),
                    }
                };
                ZoomEvent::UserUpdated {
                    account_id: account()?,
                    user_id: object_str("id").ok_or_else(|| bad("payload.object.id is missing"))?,
                    new_pmi: pmi_of(object)?,
                    old_pmi: pmi_of(p.get("old_object"))?,
                    email: object_str("email"),
                    vanity_name: object_str("vanity_name"),
                    at_ms: at_ms.or_else(|| p.get("time_stamp").and_then(as_i64)),
                }
            }
            "user.created" | "user.activated" => ZoomEvent::UserAdded {
                account_id: account()?,
                user_id: object_str("id").ok_or_else(|| bad("payload.object.id is missing"))?,
                email: object_str("email"),
                at_ms,
            },
            "meeting.updated" => ZoomEvent::MeetingUpdated {
                account_id: account()?,
                meeting_id: meeting_id()?,
                host_id: object_str("host_id"),
                at_ms: at_ms.or_else(|| p.get("time_stamp").and_then(as_i64)),
            },
            "user.deleted" | "user.deactivated" | "user.disassociated" => ZoomEvent::UserRemoved {
                account_id: account()?,
                user_id: object_str("id").ok_or_else(|| bad("payload.object.id is missing"))?,
                at_ms,
            },
            "app_deauthorized" => ZoomEvent::AppDeauthorized {
                account_id: account()?,
                user_id: p.get("user_id").and_then(Value::as_str).map(str::to_owned),
                at_ms: at_ms
                    .or_else(|| p.get("event_ts").and_then(as_i64))
                    .or_else(|| {
                        p.get("deauthorization_time")
                            .and_then(Value::as_str)
                            .and_then(|t| {
                                time::OffsetDateTime::parse(
                                    t,
                                    &time::format_description::well_known::Rfc3339,
                                )
                                .ok()
                            })
                            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                    }),
            },
            other => ZoomEvent::Other {
                event: other.to_owned(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(json: &str) -> Result<ZoomEvent, EventError> {
        ZoomEvent::from_envelope(&Envelope::parse(json.as_bytes())?)
    }

    fn mid(n: u64) -> MeetingId {
        serde_json::from_value(serde_json::json!(n)).unwrap()
    }

    #[test]
    fn meeting_created_from_zoom_api_sample() {
        let json = r#"{"event":"meeting.created","event_ts":1739923528000,
 "payload":{"account_id":"AbCdEfGhIjKlMn","operator":"admin@example.com","operator_id":"z8yAAAAA8bbbQ",
  "operation":"single",
  "object":{"uuid":"4444AAAiAAAAAiAiAiiAii==","id":85123456789,"host_id":"z8yAAAAA8bbbQ",
   "topic":"Weekly sync","type":2,"start_time":"2026-03-01T15:00:00Z","duration":30,
   "timezone":"UTC","join_url":"https://zoom.us/j/85123456789","pmi":"5551112222",
   "settings":{"use_pmi":false,"alternative_hosts":""}}}}"#;
        assert_eq!(
            parse(json).unwrap(),
            ZoomEvent::MeetingCreated {
                account_id: "AbCdEfGhIjKlMn".into(),
                meeting_id: mid(85_123_456_789),
                host_id: "z8yAAAAA8bbbQ".into(),
                uuid: Some("4444AAAiAAAAAiAiAiiAii==".into()),
                at_ms: Some(1_739_923_528_000),
            }
        );
    }

    #[test]
    fn host_differs_from_operator() {
        let json = r#"{"event":"meeting.created","event_ts":1,"payload":{"account_id":"A","operator_id":"op",
            "object":{"id":"85123456789","host_id":"host"}}}"#;
        match parse(json).unwrap() {
            ZoomEvent::MeetingCreated {
                host_id,
                meeting_id,
                ..
            } => {
                assert_eq!(host_id, "host");
                assert_eq!(meeting_id, mid(85_123_456_789));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn meeting_deleted_whole_and_occurrences() {
        let whole = r#"{"event":"meeting.deleted","event_ts":1739923999000,
 "payload":{"account_id":"AbCdEfGhIjKlMn","operator":"admin@example.com","operator_id":"z8yAAAAA8bbbQ",
  "object":{"uuid":"4444AAAiAAAAAiAiAiiAii==","id":85123456789,"host_id":"z8yAAAAA8bbbQ","type":2}}}"#;
        assert!(matches!(
            parse(whole).unwrap(),
            ZoomEvent::MeetingDeleted {
                occurrences: None,
                at_ms: Some(1_739_923_999_000),
                ..
            }
        ));
        let some = r#"{"event":"meeting.deleted","payload":{"account_id":"A","object":{"id":85123456789,
            "occurrences":[{"occurrence_id":"1648194360000","start_time":"x"},{"occurrence_id":1648280760000}]}}}"#;
        match parse(some).unwrap() {
            ZoomEvent::MeetingDeleted {
                occurrences,
                at_ms,
                host_id,
                ..
            } => {
                assert_eq!(
                    occurrences,
                    Some(vec!["1648194360000".into(), "1648280760000".into()])
                );
                assert_eq!(at_ms, None, "event_ts is optional on meeting.deleted");
                assert_eq!(host_id, None);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn user_updated_pmi_change_and_other_change() {
        let json = r#"{"event":"user.updated","event_ts":1739923528000,
 "payload":{"account_id":"AbCdEfGhIjKlMn","operator":"jill@example.com","operator_id":"uLobbbbbbbb_qQsQ",
  "object":{"id":"uLobbbbbbbb_qQsQ","pmi":5559876543},
  "old_object":{"id":"uLobbbbbbbb_qQsQ","pmi":5551234567},
  "time_stamp":1739923528000}}"#;
        assert_eq!(
            parse(json).unwrap(),
            ZoomEvent::UserUpdated {
                account_id: "AbCdEfGhIjKlMn".into(),
                user_id: "uLobbbbbbbb_qQsQ".into(),
                new_pmi: Some(mid(5_559_876_543)),
                old_pmi: Some(mid(5_551_234_567)),
                email: None,
                vanity_name: None,
                at_ms: Some(1_739_923_528_000),
            }
        );
        let no_pmi = r#"{"event":"user.updated","payload":{"account_id":"A","time_stamp":5,
            "object":{"id":"u","first_name":"X"},"old_object":{"id":"u","first_name":"Y"}}}"#;
        assert_eq!(
            parse(no_pmi).unwrap(),
            ZoomEvent::UserUpdated {
                account_id: "A".into(),
                user_id: "u".into(),
                new_pmi: None,
                old_pmi: None,
                email: None,
                vanity_name: None,
                at_ms: Some(5)
            }
        );
        let vanity = r#"{"event":"user.updated","event_ts":9,"payload":{"account_id":"A",
            "object":{"id":"u","vanity_name":"jillsmith","email":"J@x.com"},"old_object":{"id":"u","vanity_name":""}}}"#;
        assert!(matches!(
            parse(vanity).unwrap(),
            ZoomEvent::UserUpdated { vanity_name: Some(v), email: Some(e), .. } if v == "jillsmith" && e == "J@x.com"
        ));
    }

    #[test]
    fn user_lifecycle_and_meeting_recovery_events() {
        for name in ["user.created", "user.activated"] {
            let json = format!(
                r#"{{"event":"{name}","event_ts":8,"payload":{{"account_id":"A","operator":"a@x.com",
                "object":{{"id":"u2","first_name":"J","last_name":"S","email":"j@x.com","type":1}}}}}}"#
            );
            assert_eq!(
                parse(&json).unwrap(),
                ZoomEvent::UserAdded {
                    account_id: "A".into(),
                    user_id: "u2".into(),
                    email: Some("j@x.com".into()),
                    at_ms: Some(8)
                },
                "{name}"
            );
        }
        let disassociated = r#"{"event":"user.disassociated","event_ts":9,"payload":{"account_id":"A","object":{"id":"u3","email":"x@y.com"}}}"#;
        assert!(matches!(
            parse(disassociated).unwrap(),
            ZoomEvent::UserRemoved { at_ms: Some(9), .. }
        ));
        let recovered = r#"{"event":"meeting.recovered","event_ts":10,"payload":{"account_id":"A",
            "object":{"id":85123456789,"uuid":"u==","host_id":"h","type":2}}}"#;
        assert!(matches!(
            parse(recovered).unwrap(),
            ZoomEvent::MeetingCreated { host_id, at_ms: Some(10), .. } if host_id == "h"
        ));
        let updated = r#"{"event":"meeting.updated","event_ts":11,"payload":{"account_id":"A",
            "object":{"id":85123456789,"host_id":"h2"},"old_object":{"id":85123456789,"host_id":"h"}}}"#;
        assert_eq!(
            parse(updated).unwrap(),
            ZoomEvent::MeetingUpdated {
                account_id: "A".into(),
                meeting_id: mid(85_123_456_789),
                host_id: Some("h2".into()),
                at_ms: Some(11)
            }
        );
        let topic = r#"{"event":"meeting.updated","payload":{"account_id":"A","time_stamp":12,"object":{"id":85123456789,"topic":"t"}}}"#;
        assert!(matches!(
            parse(topic).unwrap(),
            ZoomEvent::MeetingUpdated {
                host_id: None,
                at_ms: Some(12),
                ..
            }
        ));
        assert!(
            parse(r#"{"event":"user.created","payload":{"account_id":"A","object":{}}}"#).is_err()
        );
    }

    #[test]
    fn app_deauthorized_time_inside_payload() {
        let json = r#"{"event":"app_deauthorized",
 "payload":{"account_id":"AbCdEfGhIjKlMn","user_id":"z8yAAAAA8bbbQ","client_id":"ADZ9k9bTWmGUoUbECUKU_a",
  "deauthorization_time":"2026-03-01T13:52:28.632Z","signature":"827edc34...","event_ts":1740837148632}}"#;
        assert_eq!(
            parse(json).unwrap(),
            ZoomEvent::AppDeauthorized {
                account_id: "AbCdEfGhIjKlMn".into(),
                user_id: Some("z8yAAAAA8bbbQ".into()),
                at_ms: Some(1_740_837_148_632),
            }
        );
        let only_time = r#"{"event":"app_deauthorized","payload":{"account_id":"A","deauthorization_time":"1970-01-01T00:00:01.5Z"}}"#;
        assert!(matches!(
            parse(only_time).unwrap(),
            ZoomEvent::AppDeauthorized {
                at_ms: Some(1500),
                ..
            }
        ));
    }

    #[test]
    fn user_removed_and_other_events() {
        for name in ["user.deleted", "user.deactivated", "user.disassociated"] {
            let json = format!(
                r#"{{"event":"{name}","event_ts":7,"payload":{{"account_id":"A","object":{{"id":"u1"}}}}}}"#
            );
            assert_eq!(
                parse(&json).unwrap(),
                ZoomEvent::UserRemoved {
                    account_id: "A".into(),
                    user_id: "u1".into(),
                    at_ms: Some(7)
                }
            );
        }
        assert_eq!(
            parse(r#"{"event":"meeting.started","payload":{}}"#).unwrap(),
            ZoomEvent::Other {
                event: "meeting.started".into()
            }
        );
    }

    #[test]
    fn url_validation() {
        let json = r#"{"event":"endpoint.url_validation","event_ts":1739923528000,"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"}}"#;
        assert_eq!(
            parse(json).unwrap(),
            ZoomEvent::UrlValidation {
                plain_token: "qgg8vlvZRS6UYooatFL8Aw".into()
            }
        );
        assert!(matches!(
            parse(r#"{"event":"endpoint.url_validation","payload":{}}"#),
            Err(EventError::BadField { .. })
        ));
    }

    #[test]
    fn envelope_errors() {
        assert!(matches!(
            Envelope::parse(b"not json"),
            Err(EventError::NotJson(_))
        ));
        assert!(matches!(
            Envelope::parse(b"[1,2]"),
            Err(EventError::NotJson(_))
        ));
        assert_eq!(Envelope::parse(b"{}"), Err(EventError::MissingEvent));
        assert_eq!(
            Envelope::parse(br#"{"event":5}"#),
            Err(EventError::MissingEvent)
        );
        assert_eq!(
            Envelope::parse(br#"{"event":""}"#),
            Err(EventError::BadEventName)
        );
        assert_eq!(
            Envelope::parse(br#"{"event":"a b"}"#),
            Err(EventError::BadEventName)
        );
        assert_eq!(
            Envelope::parse(br#"{"event":"a\u0000"}"#),
            Err(EventError::BadEventName)
        );
        let long = format!(r#"{{"event":"{}"}}"#, "a".repeat(MAX_EVENT_NAME_LEN + 1));
        assert_eq!(
            Envelope::parse(long.as_bytes()),
            Err(EventError::BadEventName)
        );
        let env =
            Envelope::parse(br#"{"event":"x.y","event_ts":"12","payload":{"account_id":"acc"}}"#)
                .unwrap();
        assert_eq!(
            (env.event_ts, env.account_id.as_deref()),
            (Some(12), Some("acc"))
        );
    }

    #[test]
    fn missing_fields_are_typed_errors() {
        for json in [
            r#"{"event":"meeting.created","payload":{"object":{"id":85123456789,"host_id":"h"}}}"#,
            r#"{"event":"meeting.created","payload":{"account_id":"A","object":{"host_id":"h"}}}"#,
            r#"{"event":"meeting.created","payload":{"account_id":"A","object":{"id":"abc","host_id":"h"}}}"#,
            r#"{"event":"meeting.created","payload":{"account_id":"A","object":{"id":85123456789}}}"#,
            r#"{"event":"meeting.deleted","payload":{"account_id":"A","object":{"id":85123456789,"occurrences":{}}}}"#,
            r#"{"event":"user.updated","payload":{"account_id":"A","object":{"pmi":5551234567}}}"#,
            r#"{"event":"user.updated","payload":{"account_id":"A","object":{"id":"u","pmi":"x"}}}"#,
            r#"{"event":"app_deauthorized","payload":{}}"#,
        ] {
            assert!(
                matches!(parse(json), Err(EventError::BadField { .. })),
                "{json}"
            );
        }
    }

    #[test]
    fn message_id_is_deterministic_and_app_scoped() {
        let a = webhook_message_id("default", b"{}");
        assert_eq!(a, webhook_message_id("default", b"{}"));
        assert_ne!(a, webhook_message_id("other", b"{}"));
        assert_ne!(a, webhook_message_id("default", b"{ }"));
        assert_eq!(a.len(), 3 + 32);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..1024)) {
            if let Ok(env) = Envelope::parse(&body) {
                let _ = ZoomEvent::from_envelope(&env);
            }
        }

        #[test]
        fn arbitrary_payloads_never_panic(event in "(meeting\\.created|meeting\\.deleted|user\\.updated|user\\.deleted|app_deauthorized|endpoint\\.url_validation)", payload in arb_json()) {
            let body = serde_json::json!({"event": event, "payload": payload}).to_string();
            let env = Envelope::parse(body.as_bytes()).unwrap();
            let _ = ZoomEvent::from_envelope(&env);
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null)),
            "[a-z0-9_]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("id".to_string()),
                        Just("account_id".to_string()),
                        Just("object".to_string()),
                        Just("pmi".to_string()),
                        Just("host_id".to_string()),
                        Just("occurrences".to_string()),
                        Just("occurrence_id".to_string()),
                        Just("old_object".to_string()),
                        Just("plainToken".to_string()),
                        "[a-z]{1,6}"
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
