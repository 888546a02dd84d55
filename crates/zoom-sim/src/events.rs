//! Webhook event bodies shaped as in docs/zoom.md §3, kept pure.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::clock::{rfc3339_millis, rfc3339_secs};
use crate::model::{Meeting, Occurrence, User};
use crate::signing;

/// `payload.operation` of `meeting.created`. UNCONFIRMED (docs/zoom.md §3:
/// rivet types it only as an optional string; the doc example uses "single").
pub const MEETING_CREATED_OPERATION: &str = "single";
/// `payload.operation` of `meeting.deleted` when the whole meeting goes.
/// UNCONFIRMED: Zoom's recurring-meeting delete distinguishes "all" from
/// "single" occurrences; "all" for a whole meeting is the plausible reading.
pub const MEETING_DELETED_OPERATION_ALL: &str = "all";
/// `payload.operation` of `meeting.deleted` when only some occurrences go.
pub const MEETING_DELETED_OPERATION_OCCURRENCES: &str = "single";
/// Whether `app_deauthorized` also carries `event_ts` at top level.
/// UNCONFIRMED (docs/zoom.md §3: rivet has it only inside `payload`), and
/// issue 14 reports real deliveries often without any `event_ts`: the
/// simulator sends none at the top level and none in the payload, only
/// `deauthorization_time`, so a receiver must order by that (never kinder
/// than Zoom).
pub const APP_DEAUTHORIZED_TOP_LEVEL_EVENT_TS: bool = false;

/// One webhook event: Zoom's envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Event name, e.g. `meeting.created`.
    pub event: String,
    /// Event time, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_ts: Option<u64>,
    /// Event payload.
    pub payload: Value,
}

impl Event {
    /// Compact JSON, as Zoom sends it (the signed bytes).
    #[must_use]
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn occurrence_json(o: &Occurrence, with_duration: bool) -> Value {
    let mut v = json!({
        "occurrence_id": o.occurrence_id,
        "start_time": rfc3339_secs(o.start_ms),
    });
    if with_duration && let Some(obj) = v.as_object_mut() {
        obj.insert("duration".into(), json!(o.duration));
        obj.insert("status".into(), json!("available"));
    }
    v
}

/// The `object` of `meeting.created` (also the base of `GET /meetings/{id}`).
#[must_use]
pub fn meeting_object(m: &Meeting, host_pmi: u64) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("uuid".into(), json!(m.uuid));
    o.insert("id".into(), json!(m.id));
    o.insert("host_id".into(), json!(m.host_id));
    o.insert("topic".into(), json!(m.topic));
    o.insert("type".into(), json!(m.meeting_type));
    if let Some(s) = m.start_ms {
        o.insert("start_time".into(), json!(rfc3339_secs(s)));
    }
    o.insert("duration".into(), json!(m.duration));
    o.insert("timezone".into(), json!(m.timezone));
    o.insert("join_url".into(), json!(m.join_url()));
    o.insert("password".into(), json!(m.password));
    o.insert("pmi".into(), json!(host_pmi.to_string()));
    o.insert(
        "settings".into(),
        json!({"use_pmi": m.use_pmi, "alternative_hosts": "", "join_before_host": false, "jbh_time": 0}),
    );
    if m.is_recurring() {
        o.insert(
            "recurrence".into(),
            json!({"type": 2, "repeat_interval": 1, "end_times": m.occurrences.len()}),
        );
    }
    if !m.occurrences.is_empty() {
        let occ: Vec<Value> = m
            .occurrences
            .iter()
            .map(|o| occurrence_json(o, true))
            .collect();
        o.insert("occurrences".into(), Value::Array(occ));
    }
    o
}

/// `meeting.created` for `m`, hosted by `host`, scheduled by `operator`.
#[must_use]
pub fn meeting_created(m: &Meeting, host: &User, operator: &User, ts_ms: u64) -> Event {
    Event {
        event: "meeting.created".into(),
        event_ts: Some(ts_ms),
        payload: json!({
            "account_id": m.account_id,
            "operator": operator.email,
            "operator_id": operator.id,
            "operation": MEETING_CREATED_OPERATION,
            "object": Value::Object(meeting_object(m, host.pmi)),
        }),
    }
}

/// `meeting.deleted` for `m`; with `removed` non-empty only those occurrences
/// were deleted and they are listed in `object.occurrences`.
#[must_use]
pub fn meeting_deleted(m: &Meeting, removed: &[Occurrence], operator: &User, ts_ms: u64) -> Event {
    let mut o = Map::new();
    o.insert("uuid".into(), json!(m.uuid));
    o.insert("id".into(), json!(m.id));
    o.insert("host_id".into(), json!(m.host_id));
    o.insert("type".into(), json!(m.meeting_type));
    o.insert("topic".into(), json!(m.topic));
    if let Some(s) = m.start_ms {
        o.insert("start_time".into(), json!(rfc3339_secs(s)));
    }
    o.insert("duration".into(), json!(m.duration));
    o.insert("timezone".into(), json!(m.timezone));
    let operation = if removed.is_empty() {
        MEETING_DELETED_OPERATION_ALL
    } else {
        let occ: Vec<Value> = removed.iter().map(|o| occurrence_json(o, false)).collect();
        o.insert("occurrences".into(), Value::Array(occ));
        MEETING_DELETED_OPERATION_OCCURRENCES
    };
    Event {
        event: "meeting.deleted".into(),
        event_ts: Some(ts_ms),
        payload: json!({
            "account_id": m.account_id,
            "operator": operator.email,
            "operator_id": operator.id,
            "operation": operation,
            "object": Value::Object(o),
        }),
    }
}

/// `user.updated` from `before` to `after`: `object` and `old_object` hold
/// `id` plus only the fields that changed. `None` if nothing changed.
#[must_use]
pub fn user_updated(before: &User, after: &User, operator: &User, ts_ms: u64) -> Option<Event> {
    let mut new = Map::new();
    let mut old = Map::new();
    let mut diff = |name: &str, b: Value, a: Value| {
        if a != b {
            new.insert(name.to_owned(), a);
            old.insert(name.to_owned(), b);
        }
    };
    // PMI is a number here (docs/zoom.md §3).
    diff("pmi", json!(before.pmi), json!(after.pmi));
    diff("use_pmi", json!(before.use_pmi), json!(after.use_pmi));
    diff("email", json!(before.email), json!(after.email));
    diff(
        "first_name",
        json!(before.first_name),
        json!(after.first_name),
    );
    diff("last_name", json!(before.last_name), json!(after.last_name));
    diff("timezone", json!(before.timezone), json!(after.timezone));
    diff("type", json!(before.user_type), json!(after.user_type));
    diff(
        "vanity_name",
        json!(before.vanity_name.clone().unwrap_or_default()),
        json!(after.vanity_name.clone().unwrap_or_default()),
    );
    if new.is_empty() {
        return None;
    }
    new.insert("id".into(), json!(after.id));
    old.insert("id".into(), json!(before.id));
    Some(Event {
        event: "user.updated".into(),
        event_ts: Some(ts_ms),
        payload: json!({
            "account_id": after.account_id,
            "operator": operator.email,
            "operator_id": operator.id,
            "object": Value::Object(new),
            "old_object": Value::Object(old),
            "time_stamp": ts_ms,
        }),
    })
}

/// A user lifecycle event: `user.created`, `user.activated`,
/// `user.deactivated`, `user.deleted` or `user.disassociated`, with
/// `object {id, first_name, last_name, email, type}` (docs/zoom.md "User
/// lifecycle events"; rivet `UserCreatedEvent` … `UserDisassociatedEvent`).
/// `user.created` also carries `creation_type` (`create`).
#[must_use]
pub fn user_lifecycle(name: &str, user: &User, operator: &User, ts_ms: u64) -> Event {
    let mut payload = json!({
        "account_id": user.account_id,
        "operator": operator.email,
        "operator_id": operator.id,
        "object": {
            "id": user.id,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "type": user.user_type,
        },
    });
    if name == "user.created"
        && let Some(o) = payload.as_object_mut()
    {
        o.insert("creation_type".into(), json!("create"));
    }
    Event {
        event: name.into(),
        event_ts: Some(ts_ms),
        payload,
    }
}

/// `meeting.recovered`: a deleted meeting restored from the trash, with
/// the meeting object as `meeting.created` has it.
#[must_use]
pub fn meeting_recovered(m: &Meeting, host: &User, operator: &User, ts_ms: u64) -> Event {
    let mut e = meeting_created(m, host, operator, ts_ms);
    e.event = "meeting.recovered".into();
    if let Some(o) = e.payload.as_object_mut() {
        o.remove("operation");
    }
    e
}

/// `app_deauthorized`. `signature` is UNCONFIRMED in meaning (the old Data
/// Compliance API echoed it back); the simulator sends the hex HMAC-SHA256,
/// keyed with the webhook secret, of `{account_id}:{user_id}:{deauthorization_time}`
/// so it is stable and checkable.
#[must_use]
pub fn app_deauthorized(
    account_id: &str,
    user_id: &str,
    client_id: &str,
    webhook_secret: &str,
    ts_ms: u64,
) -> Event {
    let when = rfc3339_millis(ts_ms);
    let signature =
        signing::url_validation_token(webhook_secret, &format!("{account_id}:{user_id}:{when}"));
    Event {
        event: "app_deauthorized".into(),
        event_ts: APP_DEAUTHORIZED_TOP_LEVEL_EVENT_TS.then_some(ts_ms),
        payload: json!({
            "account_id": account_id,
            "user_id": user_id,
            "client_id": client_id,
            "deauthorization_time": when,
            "signature": signature,
            // Whether the user asked Zoom to keep their data [Zoom rivet
            // `AppDeauthorizedEvent`; issue 14].
            "user_data_retention": "false",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::meeting_type;

    fn user(pmi: u64) -> User {
        User {
            id: "z8y".into(),
            account_id: "A".into(),
            email: "jill@example.com".into(),
            first_name: "Jill".into(),
            last_name: "X".into(),
            user_type: 2,
            role_id: "0".into(),
            pmi,
            use_pmi: false,
            status: "active".into(),
            timezone: "UTC".into(),
            created_ms: 0,
            seq: 1,
            vanity_name: None,
            settings: crate::model::UserSettings::default(),
        }
    }

    fn meeting() -> Meeting {
        Meeting {
            id: 85_123_456_789,
            uuid: "4444AAAiAAAAAiAiAiiAii==".into(),
            host_id: "z8y".into(),
            account_id: "A".into(),
            topic: "Weekly sync".into(),
            meeting_type: meeting_type::SCHEDULED,
            start_ms: Some(1_772_377_200_000),
            duration: 30,
            timezone: "UTC".into(),
            created_ms: 0,
            agenda: String::new(),
            password: String::new(),
            use_pmi: false,
            occurrences: Vec::new(),
        }
    }

    #[test]
    fn meeting_created_shape() {
        let u = user(5_551_112_222);
        let e = meeting_created(&meeting(), &u, &u, 1_739_923_528_000);
        let v: Value = serde_json::from_str(&e.to_body()).unwrap();
        assert_eq!(v["event"], "meeting.created");
        assert_eq!(v["event_ts"], 1_739_923_528_000u64);
        assert_eq!(v["payload"]["account_id"], "A");
        assert_eq!(v["payload"]["operator_id"], "z8y");
        assert_eq!(v["payload"]["object"]["id"], 85_123_456_789u64);
        assert_eq!(v["payload"]["object"]["pmi"], "5551112222");
        assert_eq!(v["payload"]["object"]["start_time"], "2026-03-01T15:00:00Z");
        assert_eq!(v["payload"]["object"]["settings"]["use_pmi"], false);
        assert!(!e.to_body().contains(": "), "compact JSON");
    }

    #[test]
    fn user_updated_only_changed_fields() {
        let before = user(5_551_234_567);
        let after = user(5_559_876_543);
        let e = user_updated(&before, &after, &after, 5).unwrap();
        assert_eq!(
            e.payload["object"],
            json!({"id": "z8y", "pmi": 5_559_876_543u64})
        );
        assert_eq!(
            e.payload["old_object"],
            json!({"id": "z8y", "pmi": 5_551_234_567u64})
        );
        assert!(user_updated(&before, &before, &before, 5).is_none());
    }

    #[test]
    fn deleted_with_occurrences() {
        let u = user(1);
        let o = Occurrence {
            occurrence_id: "1772377200000".into(),
            start_ms: 1_772_377_200_000,
            duration: 30,
        };
        let e = meeting_deleted(&meeting(), std::slice::from_ref(&o), &u, 9);
        assert_eq!(
            e.payload["object"]["occurrences"],
            json!([{"occurrence_id": "1772377200000", "start_time": "2026-03-01T15:00:00Z"}])
        );
        let whole = meeting_deleted(&meeting(), &[], &u, 9);
        assert!(whole.payload["object"].get("occurrences").is_none());
        assert_eq!(whole.payload["operation"], "all");
    }

    #[test]
    fn deauthorized_shape() {
        let e = app_deauthorized("A", "u", "cid", "s", 1_772_373_148_632);
        assert_eq!(
            e.payload["deauthorization_time"],
            "2026-03-01T13:52:28.632Z"
        );
        assert!(e.payload.get("event_ts").is_none());
        assert_eq!(e.event_ts, None);
        assert_eq!(e.payload["user_data_retention"], "false");
        assert_eq!(e.payload["signature"].as_str().unwrap().len(), 64);
    }
}
