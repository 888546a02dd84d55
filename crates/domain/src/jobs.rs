//! Sync jobs: the messages rectoken itself puts on `rectoken.sync` beside
//! Zoom's webhook events.
//!
//! A job body is a JSON object with a `job` field (`full_sync`,
//! `sync_user`); a webhook event body has an `event` field instead, so the
//! sync worker tells them apart without headers. Jobs are published to the
//! default exchange with the sync queue's name as routing key.

use serde::{Deserialize, Serialize};

use crate::meeting_id::MeetingId;

/// Header marking a message on `rectoken.sync` as a job (informational;
/// the body's `job` field decides).
pub const JOB_HEADER: &str = "x-rectoken-job";

/// A unit of sync work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum SyncJob {
    /// Sync a whole account: list its users, then fan out one
    /// [`SyncJob::SyncUser`] per user.
    FullSync {
        /// The connection to sync (account ID, or the user connection ID of
        /// a user-managed app).
        account_id: String,
        /// Why: `connect`, `admin`, `schedule`.
        reason: String,
        /// When it was asked for (Unix ms).
        requested_at_ms: i64,
    },
    /// Sync one user's meetings and PMI, as part of a full sync.
    SyncUser {
        /// The connection.
        account_id: String,
        /// The full sync this belongs to.
        generation: String,
        /// When that full sync started (Unix ms): its prune boundary.
        sync_started_ms: i64,
        /// The Zoom user.
        user_id: String,
        /// The user's PMI, as `GET /users` listed it.
        pmi: Option<MeetingId>,
        /// The user's email, as `GET /users` listed it (for the user
        /// directory; absent in jobs of older versions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<String>,
    },
}

impl SyncJob {
    /// The connection the job is for.
    pub fn account_id(&self) -> &str {
        match self {
            SyncJob::FullSync { account_id, .. } | SyncJob::SyncUser { account_id, .. } => {
                account_id
            }
        }
    }

    /// A stable message ID, so a job published twice is recognisable.
    pub fn message_id(&self) -> String {
        match self {
            SyncJob::FullSync {
                account_id,
                requested_at_ms,
                ..
            } => format!("job-full-{account_id}-{requested_at_ms}"),
            SyncJob::SyncUser {
                account_id,
                generation,
                user_id,
                ..
            } => format!("job-user-{account_id}-{generation}-{user_id}"),
        }
    }
}

/// Whether a `rectoken.sync` body is a job (has a `job` field) rather than a
/// webhook event.
pub fn is_job(body: &serde_json::Value) -> bool {
    body.get("job").is_some()
}

/// The connection ID credentials and mappings are stored under: the Zoom
/// account ID for an account-level (admin-managed) app, and
/// `{account_id}~{user_id}` for a user-level one, whose credentials act for
/// one user only. `~` cannot occur in Zoom IDs and needs no URL escaping.
pub fn connection_id(user_level: bool, account_id: &str, user_id: &str) -> String {
    if user_level {
        format!("{account_id}{CONNECTION_SEPARATOR}{user_id}")
    } else {
        account_id.to_owned()
    }
}

/// What separates the account from the user in a user-level connection ID.
pub const CONNECTION_SEPARATOR: char = '~';

/// A connection ID's parts: the Zoom account ID, and the user ID when it is
/// a user-level connection (the inverse of [`connection_id`]).
pub fn split_connection_id(connection_id: &str) -> (&str, Option<&str>) {
    match connection_id.split_once(CONNECTION_SEPARATOR) {
        Some((account, user)) => (account, Some(user)),
        None => (connection_id, None),
    }
}

/// Whether a connection ID is a user-level app's (`account~user`).
pub fn is_user_level_connection(connection_id: &str) -> bool {
    split_connection_id(connection_id).1.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_split_back_into_their_parts() {
        let user = connection_id(true, "acc", "u1");
        assert_eq!(split_connection_id(&user), ("acc", Some("u1")));
        assert!(is_user_level_connection(&user));
        let account = connection_id(false, "acc", "u1");
        assert_eq!(split_connection_id(&account), ("acc", None));
        assert!(!is_user_level_connection(&account));
    }

    #[test]
    fn jobs_round_trip_with_tag() {
        let job = SyncJob::SyncUser {
            account_id: "A".into(),
            generation: "g1".into(),
            sync_started_ms: 5,
            user_id: "u".into(),
            pmi: Some("5551234567".parse().unwrap()),
            email: None,
        };
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(json["job"], "sync_user");
        assert_eq!(json["pmi"], "5551234567");
        assert!(is_job(&json));
        assert_eq!(serde_json::from_value::<SyncJob>(json).unwrap(), job);
        let full: SyncJob = serde_json::from_str(
            r#"{"job":"full_sync","account_id":"A","reason":"admin","requested_at_ms":1}"#,
        )
        .unwrap();
        assert_eq!(full.account_id(), "A");
        assert_eq!(full.message_id(), "job-full-A-1");
        assert!(!is_job(&serde_json::json!({"event":"meeting.created"})));
    }

    #[test]
    fn connection_ids() {
        assert_eq!(connection_id(false, "A", "u"), "A");
        assert_eq!(connection_id(true, "A", "u"), "A~u");
    }
}
