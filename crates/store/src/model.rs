//! The values the store keeps, shared by both backends and by callers.

use std::fmt;
use std::time::Duration;

use rectoken_domain::meeting_id::MeetingId;
use serde::{Deserialize, Serialize};

/// Which map a key lives in. Meeting IDs and PMIs are separate namespaces:
/// the same number may be a meeting ID in one and a PMI in the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MapKind {
    /// A scheduled or instant meeting's ID.
    Meeting,
    /// A user's personal meeting ID.
    Pmi,
}

impl MapKind {
    /// One-letter tag used in keys and cursors (`m` or `p`).
    pub(crate) fn tag(self) -> char {
        match self {
            MapKind::Meeting => 'm',
            MapKind::Pmi => 'p',
        }
    }
}

/// The address of one entry of the meeting/PMI map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MapKey {
    /// Meeting or PMI namespace.
    pub kind: MapKind,
    /// The meeting ID or PMI.
    pub id: MeetingId,
}

impl MapKey {
    /// A meeting-ID key.
    pub fn meeting(id: MeetingId) -> Self {
        Self {
            kind: MapKind::Meeting,
            id,
        }
    }

    /// A PMI key.
    pub fn pmi(id: MeetingId) -> Self {
        Self {
            kind: MapKind::Pmi,
            id,
        }
    }
}

impl fmt::Display for MapKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            MapKind::Meeting => write!(f, "meeting {}", self.id),
            MapKind::Pmi => write!(f, "PMI {}", self.id),
        }
    }
}

/// Who wrote a mapping: shown by the admin API, and useful when debugging
/// which path produced a stale entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A Zoom webhook event (`meeting.created`, `user.updated`, …).
    Webhook,
    /// A full or periodic sync through the REST API.
    Sync,
    /// A token worker's cache-miss probe of the REST API.
    Probe,
}

impl Source {
    /// The snake_case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::Sync => "sync",
            Source::Probe => "probe",
        }
    }

    /// Inverse of [`Source::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "webhook" => Some(Source::Webhook),
            "sync" => Some(Source::Sync),
            "probe" => Some(Source::Probe),
            _ => None,
        }
    }
}

/// One entry of the meeting/PMI map: which account owns the meeting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    /// The owning Zoom account.
    pub account_id: String,
    /// Host user ID (meeting) or the user whose PMI it is (PMI).
    pub owner_id: String,
    /// Which path wrote it.
    pub source: Source,
    /// The order of writes: Zoom's `event_ts` for webhooks, the time the
    /// sync or probe read the REST API otherwise. A write with a lower
    /// version than the stored one is ignored. Must lie within ±2^53 so Lua
    /// (whose numbers are doubles) compares it exactly.
    pub version_ms: i64,
    /// Wall-clock time of the write, as given by the caller (informational).
    pub written_at_ms: i64,
}

/// What a versioned write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WriteOutcome {
    /// The write changed the stored state.
    Applied,
    /// A newer version is stored (or, for a remove, the mapping belongs to
    /// another account): nothing changed.
    Stale,
    /// The same version with the same content is already stored: nothing
    /// changed (a redelivered message).
    Duplicate,
}

/// Whether rectoken may act for an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Credentials are valid as far as we know.
    Connected,
    /// Deauthorized, or the refresh token was rejected.
    Disconnected,
}

impl AccountStatus {
    /// The snake_case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Connected => "connected",
            AccountStatus::Disconnected => "disconnected",
        }
    }

    /// Inverse of [`AccountStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "connected" => Some(AccountStatus::Connected),
            "disconnected" => Some(AccountStatus::Disconnected),
            _ => None,
        }
    }
}

/// The state of an account's full sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// No sync ever started.
    #[default]
    NotStarted,
    /// A sync of the current generation is running.
    InProgress,
    /// The current generation finished.
    Completed,
    /// The current generation gave up; see `last_error`.
    Failed,
}

impl SyncState {
    /// The snake_case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::NotStarted => "not_started",
            SyncState::InProgress => "in_progress",
            SyncState::Completed => "completed",
            SyncState::Failed => "failed",
        }
    }

    /// Inverse of [`SyncState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "not_started" => Some(SyncState::NotStarted),
            "in_progress" => Some(SyncState::InProgress),
            "completed" => Some(SyncState::Completed),
            "failed" => Some(SyncState::Failed),
            _ => None,
        }
    }
}

/// Progress of an account's latest sync. A sync is identified by its
/// `generation`: progress and completion reported under an older generation
/// are ignored, so a superseded sync cannot overwrite a newer one's status.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncStatus {
    /// Where the current generation is.
    pub state: SyncState,
    /// The current generation (empty before the first sync).
    pub generation: String,
    /// Users the sync will visit.
    pub users_total: u64,
    /// Users visited so far.
    pub users_done: u64,
    /// When the current generation started.
    pub started_at_ms: Option<i64>,
    /// When it completed or failed.
    pub finished_at_ms: Option<i64>,
    /// Why it failed.
    pub last_error: Option<String>,
}

/// A connected (or formerly connected) Zoom account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// Zoom account ID.
    pub account_id: String,
    /// Name of the configured Zoom app that connected it.
    pub app: String,
    /// `"account"` (admin-managed app) or `"user"` (user-managed app).
    pub kind: String,
    /// For user-managed apps, the user who authorized.
    pub user_id: Option<String>,
    /// Connected or not.
    pub status: AccountStatus,
    /// When the OAuth connect flow completed.
    pub connected_at_ms: i64,
    /// OAuth scopes granted.
    pub scopes: Vec<String>,
    /// The last error seen for the account (refresh failure, …).
    pub last_error: Option<String>,
    /// The latest sync.
    pub sync: SyncStatus,
}

/// An encrypted blob. The vault encrypts and decrypts; the store only keeps
/// bytes and never sees plaintext.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Which encryption key sealed it (for key rotation).
    pub key_id: String,
    /// The AEAD nonce.
    pub nonce: Vec<u8>,
    /// The ciphertext with its tag.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    // Only sizes: even ciphertext has no business in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("nonce_len", &self.nonce.len())
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// An account's OAuth tokens as stored: sealed, plus the times workers need
/// without decrypting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCredentials {
    /// The sealed token set (access and refresh token).
    pub sealed: Sealed,
    /// When the tokens were obtained.
    pub refreshed_at_ms: i64,
    /// When the access token expires.
    pub access_expires_at_ms: i64,
}

/// A held distributed lock.
///
/// `fence` is a fencing token: every successful acquisition of the same lock
/// name gets a strictly greater one, so a holder that stalled past its TTL
/// can be told apart from the current holder (see
/// [`Store::put_credentials`](crate::Store::put_credentials)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The lock's name.
    pub name: String,
    /// The fencing token of this acquisition.
    pub fence: u64,
}

/// The limiter's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead: one request's worth of budget was taken.
    Allowed,
    /// Not now: retry after this long (nothing was taken).
    Wait(Duration),
}

/// A rate: `per_second` sustained, up to `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second; must be positive and finite.
    pub per_second: f64,
    /// Requests admitted back to back from idle; at least 1.
    pub burst: u32,
}
