//! The sync worker's decisions, pure: what a message is, which store
//! operations an event asks for, when a sync is due, who finishes a sync,
//! which failures are worth a retry. No I/O here; [`crate::worker`],
//! [`crate::sync`] and [`crate::scheduler`] carry the plans out.

use std::collections::HashMap;
use std::time::Duration;

use rectoken_bus::Delivery;
use rectoken_bus::topology::APP_HEADER;
use rectoken_domain::event::{Envelope, ZoomEvent};
use rectoken_domain::jobs::{SyncJob, connection_id, is_job};
use rectoken_domain::meeting_id::MeetingId;
use rectoken_store::{MapKey, StoreError, SyncState, SyncStatus};
use rectoken_vault::{CallError, VaultError};
use rectoken_zoom::ApiError;

/// The app assumed when a message has no `x-rectoken-app` header (the
/// ingress's name for the app of the `ZOOM_*` variables).
pub const DEFAULT_APP: &str = "default";

/// What a `rectoken.sync` body is.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A job rectoken published itself.
    Job(SyncJob),
    /// A Zoom webhook event (`name` is the envelope's event name).
    Event {
        /// The event name, e.g. `meeting.created`.
        name: String,
        /// The typed event.
        event: ZoomEvent,
    },
}

/// Read a `rectoken.sync` body: a job when it has a `job` field, else a
/// Zoom event. `Err` is the reason to dead-letter it (it can never succeed).
pub fn classify(body: &[u8]) -> Result<Message, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    if !value.is_object() {
        return Err("body is not a JSON object".into());
    }
    if is_job(&value) {
        return serde_json::from_value::<SyncJob>(value)
            .map(Message::Job)
            .map_err(|e| format!("invalid sync job: {e}"));
    }
    // The body is parsed once: the envelope is read from the same value.
    let envelope = Envelope::from_value(value).map_err(|e| format!("invalid event: {e}"))?;
    let event = ZoomEvent::from_envelope(&envelope).map_err(|e| format!("invalid event: {e}"))?;
    Ok(Message::Event {
        name: envelope.event,
        event,
    })
}

/// Whether the app a delivery came through is user-level (user-managed),
/// from its `x-rectoken-app` header ([`DEFAULT_APP`] when absent).
///
/// An app this worker does not know is an error (dead-letter with the
/// reason) rather than a guess: keying its events under the wrong
/// connection ID would write mappings no token worker can use, while a
/// dead-lettered event can be redriven once the configuration is fixed.
/// The default app is account-level unless `apps` says otherwise.
pub fn app_user_level(apps: &HashMap<String, bool>, header: Option<&str>) -> Result<bool, String> {
    let name = header.filter(|h| !h.is_empty()).unwrap_or(DEFAULT_APP);
    match apps.get(name) {
        Some(user_level) => Ok(*user_level),
        None if name == DEFAULT_APP => Ok(false),
        None => Err(format!("unknown Zoom app {name:?} in {APP_HEADER}")),
    }
}

/// The app a delivery came through: its `x-rectoken-app` header, or
/// [`DEFAULT_APP`] when absent or empty (as [`app_user_level`] reads it).
pub fn app_name(header: Option<&str>) -> &str {
    header.filter(|h| !h.is_empty()).unwrap_or(DEFAULT_APP)
}

/// The `x-rectoken-app` header of a delivery.
pub fn app_header(delivery: &Delivery) -> Option<&str> {
    delivery.headers.get(APP_HEADER).map(String::as_str)
}

/// One store operation an event asks for, all at the plan's version and for
/// the plan's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Map `key` to `owner_id` (source webhook).
    Put {
        /// Meeting or PMI.
        key: MapKey,
        /// Host (meeting) or user (PMI).
        owner_id: String,
    },
    /// Unmap `key`.
    Remove {
        /// Meeting or PMI.
        key: MapKey,
    },
    /// Unmap the PMI the store knows for `user_id` (its PMI-of-user index),
    /// unless it is `keep`.
    RemoveUserPmi {
        /// The user.
        user_id: String,
        /// A PMI not to remove (the user's new one).
        keep: Option<MeetingId>,
    },
    /// Change the user's directory entry: the fields given replace the
    /// stored ones (`user.updated` carries only what changed; an empty
    /// vanity name removes the personal link).
    UpdateDirectory {
        /// The user.
        user_id: String,
        /// New email.
        email: Option<String>,
        /// New vanity name (`""`: none).
        vanity_name: Option<String>,
        /// New PMI.
        pmi: Option<MeetingId>,
    },
    /// Remove the user from the directory.
    RemoveDirectory {
        /// The user.
        user_id: String,
    },
    /// Read the user from Zoom (`GET /users/{id}`) and record their
    /// directory entry and PMI mapping: a user was created or activated,
    /// and the event itself carries no PMI.
    FetchUser {
        /// The user.
        user_id: String,
        /// The email the event gave, if Zoom cannot be asked.
        email: Option<String>,
    },
}

/// What to do with one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventPlan {
    /// Apply `ops` in order, if `connection` is a known account.
    Apply {
        /// Connection ID (account ID, or `account~user` for user-level apps).
        connection: String,
        /// The version every write carries.
        version_ms: i64,
        /// Whether the version is the receipt time (the event had none).
        receipt_time: bool,
        /// The operations, in order.
        ops: Vec<Op>,
    },
    /// The app was deauthorized: drop the connection's credentials, state
    /// and mappings, unless it was (re)connected after `at_ms`.
    Deauthorize {
        /// Connection ID.
        connection: String,
        /// Event time (receipt time when the event had none).
        at_ms: i64,
    },
    /// Nothing to do; ack and count under this label.
    Skip(&'static str),
    /// Can never succeed: dead-letter with this reason.
    Poison(String),
}

/// How far ahead of the worker's clock an event's `event_ts` may be: the
/// same allowance as the webhook's signed timestamp (clock skew between
/// Zoom and us). Later events are dead-lettered, not applied.
pub const MAX_FUTURE_MS: i64 = 5 * 60 * 1000;

/// The time an event carries (`event_ts`), if any.
pub fn event_time(event: &ZoomEvent) -> Option<i64> {
    match event {
        ZoomEvent::MeetingCreated { at_ms, .. }
        | ZoomEvent::MeetingDeleted { at_ms, .. }
        | ZoomEvent::UserUpdated { at_ms, .. }
        | ZoomEvent::UserRemoved { at_ms, .. }
        | ZoomEvent::UserAdded { at_ms, .. }
        | ZoomEvent::MeetingUpdated { at_ms, .. }
        | ZoomEvent::AppDeauthorized { at_ms, .. } => *at_ms,
        ZoomEvent::UrlValidation { .. } | ZoomEvent::Other { .. } => None,
    }
}

/// Plan one event.
///
/// `received_at_ms` stands in for the event's time when Zoom sent none
/// (`at_ms` is `None`). Zoom documents `event_ts` on every event we act on
/// except `meeting.deleted`, where it is optional: the change happened
/// before we received it, so the receipt time is the closest upper bound
/// we have. It orders the write after everything already stored, which is
/// right for a fresh event; a timeless event that arrives very late could
/// override a newer one, which the next full sync corrects.
pub fn plan_event(event: &ZoomEvent, user_level: bool, received_at_ms: i64) -> EventPlan {
    if let Some(at) = event_time(event)
        && at > received_at_ms.saturating_add(MAX_FUTURE_MS)
    {
        // A version from the future would win over every later event and
        // sync until that time comes: one forged or buggy timestamp would
        // pin a mapping (or, for app_deauthorized, outlive reconnects).
        return EventPlan::Poison(format!(
            "event_ts {at} is {} s ahead of this worker's clock (at most {} s allowed)",
            (at - received_at_ms) / 1000,
            MAX_FUTURE_MS / 1000
        ));
    }
    let version = |at: Option<i64>| (at.unwrap_or(received_at_ms), at.is_none());
    match event {
        ZoomEvent::MeetingCreated {
            account_id,
            meeting_id,
            host_id,
            at_ms,
            ..
        } => {
            let (version_ms, receipt_time) = version(*at_ms);
            EventPlan::Apply {
                connection: connection_id(user_level, account_id, host_id),
                version_ms,
                receipt_time,
                ops: vec![Op::Put {
                    key: MapKey::meeting(*meeting_id),
                    owner_id: host_id.clone(),
                }],
            }
        }
        ZoomEvent::MeetingDeleted {
            account_id,
            meeting_id,
            host_id,
            occurrences,
            at_ms,
        } => {
            // Only some occurrences of a recurring meeting went: the meeting
            // (one ID for every occurrence) is still there. Zoom sends an
            // empty list never; treat it as the whole meeting, as the
            // simulator's store does when every occurrence is removed.
            if occurrences.as_ref().is_some_and(|o| !o.is_empty()) {
                return EventPlan::Skip("occurrences_only");
            }
            let connection = if user_level {
                match host_id {
                    Some(h) => connection_id(true, account_id, h),
                    // The connection of a user-level app is its user's; an
                    // event without a host cannot be attributed. The next
                    // sync of that user prunes the meeting.
                    None => return EventPlan::Skip("no_host"),
                }
            } else {
                account_id.clone()
            };
            let (version_ms, receipt_time) = version(*at_ms);
            EventPlan::Apply {
                connection,
                version_ms,
                receipt_time,
                ops: vec![Op::Remove {
                    key: MapKey::meeting(*meeting_id),
                }],
            }
        }
        ZoomEvent::UserUpdated {
            account_id,
            user_id,
            new_pmi,
            old_pmi,
            email,
            vanity_name,
            at_ms,
        } => {
            // A PMI change moves the PMI mapping (attendee and Recall do the
            // same); a PMI, email or vanity-name change updates the user
            // directory (personal links, `on_behalf_of` by email).
            let pmi_changed = new_pmi.is_some_and(|new| *old_pmi != Some(new));
            let mut ops = Vec::new();
            if let (true, Some(new)) = (pmi_changed, new_pmi) {
                // The old PMI goes first: `RemoveUserPmi` reads the user's PMI
                // index, which the put of the new PMI overwrites.
                ops.push(match old_pmi {
                    Some(old) => Op::Remove {
                        key: MapKey::pmi(*old),
                    },
                    None => Op::RemoveUserPmi {
                        user_id: user_id.clone(),
                        keep: Some(*new),
                    },
                });
                ops.push(Op::Put {
                    key: MapKey::pmi(*new),
                    owner_id: user_id.clone(),
                });
            }
            if pmi_changed || email.is_some() || vanity_name.is_some() {
                ops.push(Op::UpdateDirectory {
                    user_id: user_id.clone(),
                    email: email.clone(),
                    vanity_name: vanity_name.clone(),
                    pmi: if pmi_changed { *new_pmi } else { None },
                });
            }
            if ops.is_empty() {
                return EventPlan::Skip("no_pmi_change");
            }
            let (version_ms, receipt_time) = version(*at_ms);
            EventPlan::Apply {
                connection: connection_id(user_level, account_id, user_id),
                version_ms,
                receipt_time,
                ops,
            }
        }
        ZoomEvent::UserAdded {
            account_id,
            user_id,
            email,
            at_ms,
        } => {
            let (version_ms, receipt_time) = version(*at_ms);
            EventPlan::Apply {
                connection: connection_id(user_level, account_id, user_id),
                version_ms,
                receipt_time,
                ops: vec![Op::FetchUser {
                    user_id: user_id.clone(),
                    email: email.clone(),
                }],
            }
        }
        ZoomEvent::MeetingUpdated {
            account_id,
            meeting_id,
            host_id,
            at_ms,
        } => {
            // Only a new host changes the map (the meeting's number never
            // changes); the meeting moves to that host's connection.
            let Some(host) = host_id else {
                return EventPlan::Skip("no_host_change");
            };
            let (version_ms, receipt_time) = version(*at_ms);
            EventPlan::Apply {
                connection: connection_id(user_level, account_id, host),
                version_ms,
                receipt_time,
                ops: vec![Op::Put {
                    key: MapKey::meeting(*meeting_id),
                    owner_id: host.clone(),
                }],
            }
        }
        ZoomEvent::UserRemoved {
            account_id,
            user_id,
            at_ms,
        } => {
            let (version_ms, receipt_time) = version(*at_ms);
            EventPlan::Apply {
                connection: connection_id(user_level, account_id, user_id),
                version_ms,
                receipt_time,
                ops: vec![
                    Op::RemoveUserPmi {
                        user_id: user_id.clone(),
                        keep: None,
                    },
                    Op::RemoveDirectory {
                        user_id: user_id.clone(),
                    },
                ],
            }
        }
        ZoomEvent::AppDeauthorized {
            account_id,
            user_id,
            at_ms,
        } => {
            let connection = if user_level {
                match user_id {
                    Some(u) => connection_id(true, account_id, u),
                    None => {
                        return EventPlan::Poison(
                            "app_deauthorized of a user-level app without payload.user_id".into(),
                        );
                    }
                }
            } else {
                account_id.clone()
            };
            EventPlan::Deauthorize {
                connection,
                at_ms: at_ms.unwrap_or(received_at_ms),
            }
        }
        ZoomEvent::UrlValidation { .. } | ZoomEvent::Other { .. } => EventPlan::Skip("ignored"),
    }
}

/// Whether a deauthorization at `at_ms` applies to a connection whose
/// record says it connected at `connected_at_ms` (`None`: no record). A
/// late `app_deauthorized` must not wipe a connection the admin made again
/// after it.
pub fn deauthorization_applies(connected_at_ms: Option<i64>, at_ms: i64) -> bool {
    connected_at_ms.is_none_or(|c| c <= at_ms)
}

/// How long an in-progress sync may run before it counts as stuck and a
/// new one may supersede it: `floor`, or 100 ms per user for big accounts
/// (each user costs at least two Medium calls, ~35 ms at Business+ limits;
/// three times that leaves room for other apps' share of the budget).
pub fn stale_after(floor: Duration, users_total: u64) -> Duration {
    floor.max(Duration::from_millis(users_total.saturating_mul(100)))
}

/// Whether an in-progress sync is stuck.
pub fn in_progress_stale(status: &SyncStatus, now_ms: i64, floor: Duration) -> bool {
    let limit = duration_ms(stale_after(floor, status.users_total));
    status
        .started_at_ms
        .is_none_or(|s| now_ms.saturating_sub(s) > limit)
}

/// What a `full_sync` job should do given the account's current sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullSyncDecision {
    /// Start a new generation.
    Start,
    /// Skip with this label.
    Skip(&'static str),
}

/// Decide a `full_sync` requested at `requested_at_ms`:
/// - a sync in progress and not stuck: `sync_running`;
/// - a sync that started at or after the request and completed already
///   covers it (the same request delivered twice, or the scheduler and an
///   admin asking at once): `already_synced`;
/// - otherwise start (also after a failed sync: a retried job must run).
pub fn full_sync_decision(
    status: &SyncStatus,
    requested_at_ms: i64,
    now_ms: i64,
    stale_floor: Duration,
) -> FullSyncDecision {
    if status.state == SyncState::InProgress && !in_progress_stale(status, now_ms, stale_floor) {
        return FullSyncDecision::Skip("sync_running");
    }
    if status.state == SyncState::Completed
        && status.started_at_ms.is_some_and(|s| s >= requested_at_ms)
    {
        return FullSyncDecision::Skip("already_synced");
    }
    FullSyncDecision::Start
}

/// What a `sync_user` job should do given the account's current sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncUserDecision {
    /// Visit the user.
    Run,
    /// Skip with this label.
    Skip(&'static str),
}

/// A `sync_user` job runs only for the account's current generation and
/// while that generation has not failed. It also runs after the generation
/// completed: progress is counted at least once, so a redelivered job may
/// have completed a sync one user early, and this user's writes must still
/// land (they mark the mappings as seen and repair an early prune).
pub fn sync_user_decision(status: &SyncStatus, generation: &str) -> SyncUserDecision {
    if status.generation != generation {
        return SyncUserDecision::Skip("superseded");
    }
    match status.state {
        SyncState::InProgress | SyncState::Completed => SyncUserDecision::Run,
        SyncState::Failed => SyncUserDecision::Skip("sync_failed"),
        SyncState::NotStarted => SyncUserDecision::Skip("superseded"),
    }
}

/// Whether the worker that just added progress (the status returned by the
/// store) finishes the sync: the generation is still current and in
/// progress, and every user was visited. `>=` and not `==` so that a
/// finisher that failed after counting and is retried (counting again)
/// still finishes; two finishers at once are harmless (prune and finish
/// are idempotent).
pub fn should_finish(status: &SyncStatus, generation: &str) -> bool {
    status.generation == generation
        && status.state == SyncState::InProgress
        && status.users_done >= status.users_total
}

/// Why a sync is due, if it is.
pub fn sync_due(
    status: &SyncStatus,
    now_ms: i64,
    resync_interval: Duration,
    stale_floor: Duration,
) -> Option<&'static str> {
    match status.state {
        SyncState::NotStarted => Some("never_synced"),
        SyncState::InProgress => in_progress_stale(status, now_ms, stale_floor).then_some("stuck"),
        SyncState::Completed | SyncState::Failed => {
            let last = status.finished_at_ms.or(status.started_at_ms);
            match last {
                None => Some("never_synced"),
                Some(t) => {
                    (now_ms.saturating_sub(t) > duration_ms(resync_interval)).then_some("periodic")
                }
            }
        }
    }
}

/// Whether credentials refreshed at `refreshed_at_ms` need the keep-alive
/// refresh.
pub fn keepalive_due(refreshed_at_ms: i64, now_ms: i64, interval: Duration) -> bool {
    now_ms.saturating_sub(refreshed_at_ms) > duration_ms(interval)
}

/// How a failed Zoom call for a sync is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt (rate limit, 5xx, network, Redis, a refresh
    /// held by another worker).
    Transient(String),
    /// The account cannot be synced until someone acts (disconnected,
    /// missing scope, a refused request): the sync fails with the reason.
    Fatal(String),
    /// The user no longer exists (HTTP 404): counts as visited.
    UserGone,
}

/// How many times one listing restarts after its `next_page_token`
/// expired before the sync gives up on it.
pub const MAX_CURSOR_RESTARTS: u32 = 3;

/// Whether a failed list call means its `next_page_token` expired: Zoom's
/// cursors live 15 minutes (issue 14); a page fetched later gets 400 with
/// code 300 naming the token. The listing restarts from its first page.
pub fn is_expired_cursor(e: &CallError) -> bool {
    match e {
        CallError::Zoom(ApiError::Other {
            status: 400,
            code: Some(300),
            message,
        }) => {
            let m = message.to_ascii_lowercase();
            m.contains("page token") || m.contains("next_page_token")
        }
        _ => false,
    }
}

/// Classify a failed call.
pub fn classify_failure(e: &CallError) -> Failure {
    match e {
        CallError::RateLimited => Failure::Transient(e.to_string()),
        CallError::Store(_) => Failure::Transient(e.to_string()),
        CallError::Vault(v) => match v {
            VaultError::Transient(_) | VaultError::Store(_) => Failure::Transient(v.to_string()),
            VaultError::NotConnected(_)
            | VaultError::Disconnected { .. }
            | VaultError::Crypto(_) => Failure::Fatal(v.to_string()),
        },
        CallError::Zoom(api) => match api {
            ApiError::NotFound { .. } => Failure::UserGone,
            a if a.is_retryable() => Failure::Transient(a.to_string()),
            a => Failure::Fatal(a.to_string()),
        },
    }
}

/// Whether a store failure can pass with time (Redis down, contention) or
/// is permanent (invalid input, corrupt data).
pub fn store_failure_is_transient(e: &StoreError) -> bool {
    matches!(e, StoreError::Redis(_) | StoreError::Contention(_))
}

/// A duration in whole milliseconds, saturating.
pub fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn mid(n: u64) -> MeetingId {
        MeetingId::new(n).unwrap()
    }

    fn event(json: &str) -> ZoomEvent {
        match classify(json.as_bytes()).unwrap() {
            Message::Event { event, .. } => event,
            other => panic!("{other:?}"),
        }
    }

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn future_event_times_are_refused_not_applied() {
        let at = |ts: i64, name: &str| {
            event(&format!(
                r#"{{"event":"{name}","event_ts":{ts},"payload":{{"account_id":"A","object":{{"id":85123456789,"host_id":"h"}}}}}}"#
            ))
        };
        // Up to five minutes ahead: clock skew, applied with its own time.
        let EventPlan::Apply { version_ms, .. } =
            plan_event(&at(NOW + MAX_FUTURE_MS, "meeting.created"), false, NOW)
        else {
            panic!("skew within the allowance is applied");
        };
        assert_eq!(version_ms, NOW + MAX_FUTURE_MS);
        // A millisecond more, or a year: dead-lettered with the reason.
        for ts in [NOW + MAX_FUTURE_MS + 1, NOW + 365 * 86_400_000, i64::MAX] {
            match plan_event(&at(ts, "meeting.created"), false, NOW) {
                EventPlan::Poison(reason) => assert!(reason.contains("ahead"), "{reason}"),
                other => panic!("{ts}: {other:?}"),
            }
        }
        let deauth = event(&format!(
            r#"{{"event":"app_deauthorized","event_ts":{},"payload":{{"account_id":"A"}}}}"#,
            NOW + 3_600_000
        ));
        assert!(matches!(
            plan_event(&deauth, false, NOW),
            EventPlan::Poison(_)
        ));
    }

    #[test]
    fn classify_jobs_events_and_poison() {
        let job = classify(
            br#"{"job":"full_sync","account_id":"A","reason":"admin","requested_at_ms":1}"#,
        );
        assert!(matches!(job, Ok(Message::Job(SyncJob::FullSync { .. }))));
        let ev = classify(br#"{"event":"meeting.created","event_ts":1,"payload":{"account_id":"A","object":{"id":85123456789,"host_id":"h"}}}"#);
        assert!(matches!(ev, Ok(Message::Event { ref name, .. }) if name == "meeting.created"));
        let other = classify(br#"{"event":"recording.completed","payload":{}}"#).unwrap();
        assert!(matches!(
            other,
            Message::Event {
                event: ZoomEvent::Other { .. },
                ..
            }
        ));
        for (bad, why) in [
            (&b"not json"[..], "not JSON"),
            (b"[1,2]", "not a JSON object"),
            (b"{}", "invalid event"),
            (br#"{"job":"explode"}"#, "invalid sync job"),
            (br#"{"job":"full_sync"}"#, "invalid sync job"),
            (br#"{"event":"meeting.created","payload":{"account_id":"A","object":{"id":1,"host_id":"h"}}}"#, "invalid event"),
            (br#"{"event":"meeting.created","payload":{"object":{"id":85123456789,"host_id":"h"}}}"#, "account_id"),
            (br#"{"event":"bad name!","payload":{}}"#, "invalid event"),
        ] {
            let e = classify(bad).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn app_kinds() {
        let apps: HashMap<String, bool> =
            [("default".to_owned(), false), ("users".to_owned(), true)].into();
        assert_eq!(app_user_level(&apps, None), Ok(false));
        assert_eq!(app_user_level(&apps, Some("")), Ok(false));
        assert_eq!(app_user_level(&apps, Some("users")), Ok(true));
        assert!(
            app_user_level(&apps, Some("nope"))
                .unwrap_err()
                .contains("nope")
        );
        assert_eq!(app_user_level(&HashMap::new(), None), Ok(false));
        let user_default: HashMap<String, bool> = [("default".to_owned(), true)].into();
        assert_eq!(app_user_level(&user_default, None), Ok(true));
    }

    #[test]
    fn meeting_created_maps_to_host_not_operator() {
        let e = event(
            r#"{"event":"meeting.created","event_ts":7,"payload":{"account_id":"A","operator_id":"op","object":{"id":85123456789,"host_id":"h"}}}"#,
        );
        assert_eq!(
            plan_event(&e, false, NOW),
            EventPlan::Apply {
                connection: "A".into(),
                version_ms: 7,
                receipt_time: false,
                ops: vec![Op::Put {
                    key: MapKey::meeting(mid(85_123_456_789)),
                    owner_id: "h".into()
                }],
            }
        );
        // User-level apps key by the host.
        let EventPlan::Apply { connection, .. } = plan_event(&e, true, NOW) else {
            panic!()
        };
        assert_eq!(connection, "A~h");
    }

    #[test]
    fn meeting_deleted_whole_partial_and_timeless() {
        let whole = event(
            r#"{"event":"meeting.deleted","event_ts":9,"payload":{"account_id":"A","object":{"id":85123456789,"host_id":"h"}}}"#,
        );
        assert_eq!(
            plan_event(&whole, false, NOW),
            EventPlan::Apply {
                connection: "A".into(),
                version_ms: 9,
                receipt_time: false,
                ops: vec![Op::Remove {
                    key: MapKey::meeting(mid(85_123_456_789))
                }],
            }
        );
        let partial = event(
            r#"{"event":"meeting.deleted","event_ts":9,"payload":{"account_id":"A","object":{"id":85123456789,"host_id":"h","occurrences":[{"occurrence_id":"1648194360000"}]}}}"#,
        );
        assert_eq!(
            plan_event(&partial, false, NOW),
            EventPlan::Skip("occurrences_only")
        );
        let empty = event(
            r#"{"event":"meeting.deleted","event_ts":9,"payload":{"account_id":"A","object":{"id":85123456789,"host_id":"h","occurrences":[]}}}"#,
        );
        assert!(matches!(
            plan_event(&empty, false, NOW),
            EventPlan::Apply { .. }
        ));
        // `event_ts` is optional here: the receipt time stands in.
        let timeless = event(
            r#"{"event":"meeting.deleted","payload":{"account_id":"A","object":{"id":85123456789}}}"#,
        );
        let EventPlan::Apply {
            version_ms,
            receipt_time,
            connection,
            ..
        } = plan_event(&timeless, false, NOW)
        else {
            panic!()
        };
        assert_eq!(
            (version_ms, receipt_time, connection.as_str()),
            (NOW, true, "A")
        );
        assert_eq!(plan_event(&timeless, true, NOW), EventPlan::Skip("no_host"));
        let EventPlan::Apply { connection, .. } = plan_event(&whole, true, NOW) else {
            panic!()
        };
        assert_eq!(connection, "A~h");
    }

    #[test]
    fn user_updated_pmi_changes() {
        let changed = event(
            r#"{"event":"user.updated","event_ts":5,"payload":{"account_id":"A","object":{"id":"u","pmi":5559876543},"old_object":{"id":"u","pmi":5551234567}}}"#,
        );
        assert_eq!(
            plan_event(&changed, false, NOW),
            EventPlan::Apply {
                connection: "A".into(),
                version_ms: 5,
                receipt_time: false,
                ops: vec![
                    Op::Remove {
                        key: MapKey::pmi(mid(5_551_234_567))
                    },
                    Op::Put {
                        key: MapKey::pmi(mid(5_559_876_543)),
                        owner_id: "u".into()
                    },
                    Op::UpdateDirectory {
                        user_id: "u".into(),
                        email: None,
                        vanity_name: None,
                        pmi: Some(mid(5_559_876_543)),
                    },
                ],
            }
        );
        // Without old_object, the user's PMI index names the old one.
        let no_old = event(
            r#"{"event":"user.updated","payload":{"account_id":"A","time_stamp":6,"object":{"id":"u","pmi":"5559876543"}}}"#,
        );
        assert_eq!(
            plan_event(&no_old, true, NOW),
            EventPlan::Apply {
                connection: "A~u".into(),
                version_ms: 6,
                receipt_time: false,
                ops: vec![
                    Op::RemoveUserPmi {
                        user_id: "u".into(),
                        keep: Some(mid(5_559_876_543))
                    },
                    Op::Put {
                        key: MapKey::pmi(mid(5_559_876_543)),
                        owner_id: "u".into()
                    },
                    Op::UpdateDirectory {
                        user_id: "u".into(),
                        email: None,
                        vanity_name: None,
                        pmi: Some(mid(5_559_876_543)),
                    },
                ],
            }
        );
        // An email or personal-link change updates only the directory.
        let email = event(
            r#"{"event":"user.updated","event_ts":5,"payload":{"account_id":"A","object":{"id":"u","email":"x@y","vanity_name":"jill"},"old_object":{"id":"u","email":"a@b","vanity_name":""}}}"#,
        );
        assert_eq!(
            plan_event(&email, false, NOW),
            EventPlan::Apply {
                connection: "A".into(),
                version_ms: 5,
                receipt_time: false,
                ops: vec![Op::UpdateDirectory {
                    user_id: "u".into(),
                    email: Some("x@y".into()),
                    vanity_name: Some("jill".into()),
                    pmi: None,
                }],
            }
        );
        for unchanged in [
            r#"{"event":"user.updated","event_ts":5,"payload":{"account_id":"A","object":{"id":"u","first_name":"X"},"old_object":{"id":"u","first_name":"Y"}}}"#,
            r#"{"event":"user.updated","event_ts":5,"payload":{"account_id":"A","object":{"id":"u","pmi":5551234567},"old_object":{"id":"u","pmi":"5551234567"}}}"#,
        ] {
            assert_eq!(
                plan_event(&event(unchanged), false, NOW),
                EventPlan::Skip("no_pmi_change")
            );
        }
    }

    #[test]
    fn expired_cursors_are_told_from_other_400s() {
        let other = |status, code, message: &str| {
            CallError::Zoom(ApiError::Other {
                status,
                code,
                message: message.into(),
            })
        };
        assert!(is_expired_cursor(&other(
            400,
            Some(300),
            "The next page token is invalid or expired."
        )));
        assert!(is_expired_cursor(&other(
            400,
            Some(300),
            "Invalid field: next_page_token."
        )));
        assert!(!is_expired_cursor(&other(
            400,
            Some(300),
            "Invalid field: page_size."
        )));
        assert!(!is_expired_cursor(&other(
            400,
            Some(124),
            "The next page token is invalid or expired."
        )));
        assert!(!is_expired_cursor(&other(
            404,
            Some(300),
            "The next page token is invalid or expired."
        )));
        assert!(!is_expired_cursor(&CallError::RateLimited));
    }

    #[test]
    fn user_removed_drops_the_pmi() {
        for name in ["user.deleted", "user.deactivated", "user.disassociated"] {
            let e = event(&format!(
                r#"{{"event":"{name}","event_ts":3,"payload":{{"account_id":"A","object":{{"id":"u"}}}}}}"#
            ));
            assert_eq!(
                plan_event(&e, false, NOW),
                EventPlan::Apply {
                    connection: "A".into(),
                    version_ms: 3,
                    receipt_time: false,
                    ops: vec![
                        Op::RemoveUserPmi {
                            user_id: "u".into(),
                            keep: None
                        },
                        Op::RemoveDirectory {
                            user_id: "u".into()
                        },
                    ],
                }
            );
        }
    }

    #[test]
    fn user_added_and_meeting_updated() {
        for name in ["user.created", "user.activated"] {
            let e = event(&format!(
                r#"{{"event":"{name}","event_ts":4,"payload":{{"account_id":"A","object":{{"id":"u","email":"u@x.com","type":1}}}}}}"#
            ));
            assert_eq!(
                plan_event(&e, false, NOW),
                EventPlan::Apply {
                    connection: "A".into(),
                    version_ms: 4,
                    receipt_time: false,
                    ops: vec![Op::FetchUser {
                        user_id: "u".into(),
                        email: Some("u@x.com".into())
                    }],
                }
            );
        }
        let moved = event(
            r#"{"event":"meeting.updated","event_ts":8,"payload":{"account_id":"A","object":{"id":85123456789,"host_id":"h2"}}}"#,
        );
        assert_eq!(
            plan_event(&moved, false, NOW),
            EventPlan::Apply {
                connection: "A".into(),
                version_ms: 8,
                receipt_time: false,
                ops: vec![Op::Put {
                    key: MapKey::meeting(mid(85_123_456_789)),
                    owner_id: "h2".into()
                }],
            }
        );
        let topic = event(
            r#"{"event":"meeting.updated","event_ts":8,"payload":{"account_id":"A","object":{"id":85123456789,"topic":"x"}}}"#,
        );
        assert_eq!(
            plan_event(&topic, false, NOW),
            EventPlan::Skip("no_host_change")
        );
    }

    #[test]
    fn deauthorization() {
        let e = event(
            r#"{"event":"app_deauthorized","payload":{"account_id":"A","user_id":"u","client_id":"c","event_ts":11}}"#,
        );
        assert_eq!(
            plan_event(&e, false, NOW),
            EventPlan::Deauthorize {
                connection: "A".into(),
                at_ms: 11
            }
        );
        assert_eq!(
            plan_event(&e, true, NOW),
            EventPlan::Deauthorize {
                connection: "A~u".into(),
                at_ms: 11
            }
        );
        let anonymous = event(r#"{"event":"app_deauthorized","payload":{"account_id":"A"}}"#);
        assert_eq!(
            plan_event(&anonymous, false, NOW),
            EventPlan::Deauthorize {
                connection: "A".into(),
                at_ms: NOW
            }
        );
        assert!(matches!(
            plan_event(&anonymous, true, NOW),
            EventPlan::Poison(_)
        ));
        assert!(deauthorization_applies(None, 5));
        assert!(deauthorization_applies(Some(5), 5));
        assert!(deauthorization_applies(Some(4), 5));
        assert!(
            !deauthorization_applies(Some(6), 5),
            "reconnected after the event"
        );
    }

    #[test]
    fn other_events_are_ignored() {
        for json in [
            r#"{"event":"recording.completed","payload":{"account_id":"A"}}"#,
            r#"{"event":"endpoint.url_validation","payload":{"plainToken":"x"}}"#,
            r#"{"event":"meeting.started","event_ts":1,"payload":{"account_id":"A","object":{"id":85123456789}}}"#,
        ] {
            assert_eq!(
                plan_event(&event(json), false, NOW),
                EventPlan::Skip("ignored"),
                "{json}"
            );
        }
    }

    fn status(
        state: SyncState,
        started: Option<i64>,
        finished: Option<i64>,
        total: u64,
        done: u64,
    ) -> SyncStatus {
        SyncStatus {
            state,
            generation: "g".into(),
            users_total: total,
            users_done: done,
            started_at_ms: started,
            finished_at_ms: finished,
            last_error: None,
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);
    const DAY: Duration = Duration::from_secs(24 * 3600);
    const H: i64 = 3_600_000;

    #[test]
    fn full_sync_decisions() {
        use FullSyncDecision::*;
        let never = SyncStatus::default();
        assert_eq!(full_sync_decision(&never, NOW, NOW, HOUR), Start);
        let running = status(SyncState::InProgress, Some(NOW - 10), None, 10, 1);
        assert_eq!(
            full_sync_decision(&running, NOW, NOW, HOUR),
            Skip("sync_running")
        );
        let stuck = status(SyncState::InProgress, Some(NOW - 2 * H), None, 10, 1);
        assert_eq!(full_sync_decision(&stuck, NOW, NOW, HOUR), Start);
        // A big account's sync may run longer than the floor.
        let big = status(SyncState::InProgress, Some(NOW - 2 * H), None, 100_000, 1);
        assert_eq!(
            full_sync_decision(&big, NOW, NOW, HOUR),
            Skip("sync_running")
        );
        let done_after = status(SyncState::Completed, Some(NOW - 5), Some(NOW - 1), 10, 10);
        assert_eq!(
            full_sync_decision(&done_after, NOW - 5, NOW, HOUR),
            Skip("already_synced")
        );
        assert_eq!(
            full_sync_decision(&done_after, NOW - 6, NOW, HOUR),
            Skip("already_synced")
        );
        assert_eq!(full_sync_decision(&done_after, NOW - 4, NOW, HOUR), Start);
        let failed = status(SyncState::Failed, Some(NOW - 5), Some(NOW - 1), 10, 3);
        assert_eq!(
            full_sync_decision(&failed, NOW - 10, NOW, HOUR),
            Start,
            "a retried job runs again"
        );
    }

    #[test]
    fn stale_floor_grows_with_users() {
        assert_eq!(stale_after(HOUR, 0), HOUR);
        assert_eq!(stale_after(HOUR, 36_000), HOUR);
        assert_eq!(stale_after(HOUR, 72_000), 2 * HOUR);
        assert!(in_progress_stale(
            &status(SyncState::InProgress, None, None, 0, 0),
            NOW,
            HOUR
        ));
    }

    #[test]
    fn sync_user_decisions() {
        use SyncUserDecision::*;
        let s = |state| status(state, Some(1), None, 3, 1);
        assert_eq!(sync_user_decision(&s(SyncState::InProgress), "g"), Run);
        assert_eq!(sync_user_decision(&s(SyncState::Completed), "g"), Run);
        assert_eq!(
            sync_user_decision(&s(SyncState::Failed), "g"),
            Skip("sync_failed")
        );
        assert_eq!(
            sync_user_decision(&s(SyncState::NotStarted), "g"),
            Skip("superseded")
        );
        assert_eq!(
            sync_user_decision(&s(SyncState::InProgress), "old"),
            Skip("superseded")
        );
    }

    #[test]
    fn finishing() {
        assert!(should_finish(
            &status(SyncState::InProgress, Some(1), None, 3, 3),
            "g"
        ));
        assert!(
            should_finish(&status(SyncState::InProgress, Some(1), None, 3, 4), "g"),
            "a retried finisher"
        );
        assert!(should_finish(
            &status(SyncState::InProgress, Some(1), None, 0, 0),
            "g"
        ));
        assert!(!should_finish(
            &status(SyncState::InProgress, Some(1), None, 3, 2),
            "g"
        ));
        assert!(!should_finish(
            &status(SyncState::Completed, Some(1), None, 3, 3),
            "g"
        ));
        assert!(!should_finish(
            &status(SyncState::InProgress, Some(1), None, 3, 3),
            "other"
        ));
    }

    #[test]
    fn schedule_decisions() {
        assert_eq!(
            sync_due(&SyncStatus::default(), NOW, DAY, HOUR),
            Some("never_synced")
        );
        let recent = status(SyncState::Completed, Some(NOW - 2 * H), Some(NOW - H), 1, 1);
        assert_eq!(sync_due(&recent, NOW, DAY, HOUR), None);
        let old = status(
            SyncState::Completed,
            Some(NOW - 26 * H),
            Some(NOW - 25 * H),
            1,
            1,
        );
        assert_eq!(sync_due(&old, NOW, DAY, HOUR), Some("periodic"));
        let failed_old = status(
            SyncState::Failed,
            Some(NOW - 26 * H),
            Some(NOW - 25 * H),
            1,
            0,
        );
        assert_eq!(sync_due(&failed_old, NOW, DAY, HOUR), Some("periodic"));
        let failed_recent = status(SyncState::Failed, Some(NOW - 2 * H), Some(NOW - H), 1, 0);
        assert_eq!(sync_due(&failed_recent, NOW, DAY, HOUR), None);
        let running = status(SyncState::InProgress, Some(NOW - H / 2), None, 10, 1);
        assert_eq!(sync_due(&running, NOW, DAY, HOUR), None);
        let stuck = status(SyncState::InProgress, Some(NOW - 2 * H), None, 10, 1);
        assert_eq!(sync_due(&stuck, NOW, DAY, HOUR), Some("stuck"));
        let odd = status(SyncState::Completed, None, None, 0, 0);
        assert_eq!(sync_due(&odd, NOW, DAY, HOUR), Some("never_synced"));
        let week = Duration::from_secs(7 * 24 * 3600);
        assert!(!keepalive_due(NOW - 6 * 24 * H, NOW, week));
        assert!(keepalive_due(NOW - 8 * 24 * H, NOW, week));
    }

    #[test]
    fn failure_classes() {
        let nf = CallError::Zoom(ApiError::NotFound {
            code: Some(1001),
            message: "User does not exist".into(),
        });
        assert_eq!(classify_failure(&nf), Failure::UserGone);
        for transient in [
            CallError::RateLimited,
            CallError::Zoom(ApiError::Server { status: 503 }),
            CallError::Zoom(ApiError::Transport("reset".into())),
            CallError::Zoom(ApiError::RateLimited {
                retry_after: None,
                category: None,
                limit_type: None,
            }),
            CallError::Vault(VaultError::Transient("lock".into())),
        ] {
            assert!(
                matches!(classify_failure(&transient), Failure::Transient(_)),
                "{transient:?}"
            );
        }
        for fatal in [
            CallError::Vault(VaultError::NotConnected("A".into())),
            CallError::Vault(VaultError::Disconnected {
                account_id: "A".into(),
                reason: "invalid_grant".into(),
            }),
            CallError::Zoom(ApiError::MissingScope {
                message: "scope".into(),
            }),
            CallError::Zoom(ApiError::Unauthorized {
                code: Some(124),
                message: "bad".into(),
            }),
            CallError::Zoom(ApiError::BadResponse("junk".into())),
            CallError::Zoom(ApiError::Other {
                status: 400,
                code: None,
                message: "no".into(),
            }),
        ] {
            assert!(
                matches!(classify_failure(&fatal), Failure::Fatal(_)),
                "{fatal:?}"
            );
        }
        assert!(store_failure_is_transient(&StoreError::Contention(
            "k".into()
        )));
        assert!(!store_failure_is_transient(&StoreError::InvalidInput(
            "v".into()
        )));
        assert!(!store_failure_is_transient(&StoreError::AccountNotFound(
            "A".into()
        )));
    }
}
