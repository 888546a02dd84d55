//! The simulated Zoom data: accounts, users, meetings.
//!
//! These are the simulator's own records (served as-is by the `/_sim/`
//! control API); the Zoom-shaped JSON of the REST API and webhooks is built
//! from them in [`crate::http`] and [`crate::events`].

use serde::{Deserialize, Serialize};

use crate::ratelimit::Plan;

/// Meeting type numbers (docs/zoom.md §6; beyond 2, 4 and 8 UNCONFIRMED, the
/// usual Zoom meanings).
pub mod meeting_type {
    /// Instant meeting (never listed by `GET /users/{id}/meetings`).
    pub const INSTANT: u8 = 1;
    /// Scheduled meeting.
    pub const SCHEDULED: u8 = 2;
    /// Recurring meeting with no fixed time.
    pub const RECURRING_NO_FIXED_TIME: u8 = 3;
    /// Personal meeting room (PMI).
    pub const PMI: u8 = 4;
    /// Recurring meeting with a fixed time.
    pub const RECURRING_FIXED_TIME: u8 = 8;
}

/// A Zoom account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Zoom account ID.
    pub id: String,
    /// Plan, which fixes the rate limits.
    pub plan: Plan,
    /// Zoom's numeric account number.
    pub account_number: u64,
    /// Creation time, Unix ms.
    pub created_ms: u64,
}

/// A Zoom user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Zoom user ID.
    pub id: String,
    /// Owning account.
    pub account_id: String,
    /// Email address.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// User type: 1 basic, 2 licensed.
    pub user_type: u8,
    /// Role: `"0"` owner, `"1"` admin, `"2"` member.
    pub role_id: String,
    /// Personal meeting ID, 10 digits.
    pub pmi: u64,
    /// Whether instant meetings use the PMI.
    pub use_pmi: bool,
    /// `active`, `inactive` or `pending`.
    pub status: String,
    /// IANA time zone.
    pub timezone: String,
    /// Creation time, Unix ms.
    pub created_ms: u64,
    /// Creation sequence number: the paging key of `GET /users`.
    pub seq: u64,
    /// Vanity name of the personal link `https://zoom.us/my/NAME`, if set.
    #[serde(default)]
    pub vanity_name: Option<String>,
    /// The user's settings the join-token endpoints check.
    #[serde(default)]
    pub settings: UserSettings,
}

/// The user settings Zoom's join-token endpoints check (docs/zoom.md §7):
/// with one off, the endpoint answers 400/3000; a user who may not host
/// gets 400/3161.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserSettings {
    /// *Local recording* (the `local_recording` token).
    pub local_recording: bool,
    /// *Archive meetings and webinars* (the `local_archiving` token).
    pub archiving: bool,
    /// *Allow livestreaming of meetings* (the `live_streaming` token).
    pub live_streaming: bool,
    /// Whether the user may host and schedule meetings.
    pub host_allowed: bool,
}

impl Default for UserSettings {
    fn default() -> Self {
        Self {
            local_recording: true,
            archiving: true,
            live_streaming: true,
            host_allowed: true,
        }
    }
}

impl User {
    /// `first last`, Zoom's `display_name`.
    #[must_use]
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_owned()
    }
}

/// One occurrence of a recurring meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occurrence {
    /// Zoom's occurrence ID (the start time in Unix ms, as a string).
    pub occurrence_id: String,
    /// Start time, Unix ms.
    pub start_ms: u64,
    /// Duration in minutes.
    pub duration: u32,
}

/// A Zoom meeting (not a PMI: those are derived from the user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meeting {
    /// Meeting number, 11 digits for generated meetings.
    pub id: u64,
    /// Meeting UUID (base64-like).
    pub uuid: String,
    /// Host user ID.
    pub host_id: String,
    /// Account of the host.
    pub account_id: String,
    /// Topic.
    pub topic: String,
    /// Meeting type, see [`meeting_type`].
    pub meeting_type: u8,
    /// Start time, Unix ms (none for type 3).
    pub start_ms: Option<u64>,
    /// Duration in minutes.
    pub duration: u32,
    /// IANA time zone.
    pub timezone: String,
    /// Creation time, Unix ms.
    pub created_ms: u64,
    /// Agenda.
    pub agenda: String,
    /// Passcode.
    pub password: String,
    /// Whether the meeting was scheduled with the host's PMI.
    pub use_pmi: bool,
    /// Occurrences of a recurring meeting (empty otherwise).
    pub occurrences: Vec<Occurrence>,
}

impl Meeting {
    /// `https://zoom.us/j/{id}`.
    #[must_use]
    pub fn join_url(&self) -> String {
        format!("https://zoom.us/j/{}", self.id)
    }

    /// Whether the meeting is recurring (types 3 and 8).
    #[must_use]
    pub fn is_recurring(&self) -> bool {
        matches!(
            self.meeting_type,
            meeting_type::RECURRING_FIXED_TIME | meeting_type::RECURRING_NO_FIXED_TIME
        )
    }

    /// End of the last (or only) occurrence, Unix ms, if the meeting has a time.
    #[must_use]
    pub fn end_ms(&self) -> Option<u64> {
        let minutes = |d: u32| u64::from(d) * 60_000;
        match self
            .occurrences
            .iter()
            .map(|o| o.start_ms + minutes(o.duration))
            .max()
        {
            Some(end) => Some(end),
            None => self.start_ms.map(|s| s + minutes(self.duration)),
        }
    }
}

/// What a meeting number resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved<'a> {
    /// A scheduled, recurring or instant meeting.
    Meeting(&'a Meeting),
    /// A user's personal meeting room.
    Pmi(&'a User),
}

impl Resolved<'_> {
    /// Host user ID.
    #[must_use]
    pub fn host_id(&self) -> &str {
        match self {
            Self::Meeting(m) => &m.host_id,
            Self::Pmi(u) => &u.id,
        }
    }

    /// Account ID of the host.
    #[must_use]
    pub fn account_id(&self) -> &str {
        match self {
            Self::Meeting(m) => &m.account_id,
            Self::Pmi(u) => &u.account_id,
        }
    }
}
