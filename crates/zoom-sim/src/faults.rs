//! Endpoints, their rate-limit labels, and injectable latency and faults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ratelimit::Label;
use crate::rng::SplitMix64;

/// Label of `GET /users/{id}` and `/users/me`. UNCONFIRMED (docs/zoom.md §8:
/// probably Light, as single-resource reads are).
pub const LABEL_GET_USER: Label = Label::Light;
/// Label of `GET /users`. UNCONFIRMED (docs/zoom.md §5/§8: probably Medium,
/// as multi-resource lists are).
pub const LABEL_LIST_USERS: Label = Label::Medium;
/// Label of `GET /users/{id}/meetings` (derived: Medium).
pub const LABEL_LIST_MEETINGS: Label = Label::Medium;
/// Label of `GET /meetings/{id}` (derived: Light).
pub const LABEL_GET_MEETING: Label = Label::Light;
/// Label of `GET /meetings/{id}/jointoken/*`. UNCONFIRMED (docs/zoom.md §8:
/// probably Light, a single-resource read).
pub const LABEL_JOIN_TOKEN: Label = Label::Light;
/// Label of `GET /users/{id}/token`. UNCONFIRMED: Light, like other
/// single-resource reads.
pub const LABEL_USER_TOKEN: Label = Label::Light;

/// Every endpoint the simulator serves to clients (not `/_sim/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `GET /oauth/authorize`.
    OauthAuthorize,
    /// `POST /oauth/token`.
    OauthToken,
    /// `GET /v2/users/{id}` (and `me`).
    GetUser,
    /// `GET /v2/users`.
    ListUsers,
    /// `GET /v2/users/{id}/meetings`.
    ListMeetings,
    /// `GET /v2/meetings/{id}`.
    GetMeeting,
    /// `GET /v2/meetings/{id}/jointoken/{kind}`.
    JoinToken,
    /// `GET /v2/users/{id}/token`.
    UserToken,
}

impl Endpoint {
    /// All endpoints.
    pub const ALL: [Self; 8] = [
        Self::OauthAuthorize,
        Self::OauthToken,
        Self::GetUser,
        Self::ListUsers,
        Self::ListMeetings,
        Self::GetMeeting,
        Self::JoinToken,
        Self::UserToken,
    ];

    /// Snake-case name, as in counters and the control API.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OauthAuthorize => "oauth_authorize",
            Self::OauthToken => "oauth_token",
            Self::GetUser => "get_user",
            Self::ListUsers => "list_users",
            Self::ListMeetings => "list_meetings",
            Self::GetMeeting => "get_meeting",
            Self::JoinToken => "join_token",
            Self::UserToken => "user_token",
        }
    }

    /// Rate-limit label; `None` for OAuth endpoints, which are not limited.
    #[must_use]
    pub fn label(self) -> Option<Label> {
        match self {
            Self::OauthAuthorize | Self::OauthToken => None,
            Self::GetUser => Some(LABEL_GET_USER),
            Self::ListUsers => Some(LABEL_LIST_USERS),
            Self::ListMeetings => Some(LABEL_LIST_MEETINGS),
            Self::GetMeeting => Some(LABEL_GET_MEETING),
            Self::JoinToken => Some(LABEL_JOIN_TOKEN),
            Self::UserToken => Some(LABEL_USER_TOKEN),
        }
    }
}

/// Largest injectable latency: ten minutes.
pub const MAX_LATENCY_MS: u64 = 600_000;

/// Injected behaviour of one endpoint. Rates are fractions in `[0, 1]` whose
/// sum is at most 1; each request draws once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Behaviour {
    /// Fixed delay before the endpoint answers, in milliseconds.
    pub latency_ms: u64,
    /// Fraction of requests answered 500.
    pub error_500: f64,
    /// Fraction of requests answered 503.
    pub error_503: f64,
    /// Fraction of requests answered 429 (as if rate-limited).
    pub rate_limited: f64,
    /// When set, every request is answered with this documented Zoom
    /// refusal instead (after the latency; before the rates above), so a
    /// test can drive a client through an error the simulated data never
    /// produces by itself (docs/zoom.md "Join-token errors").
    pub refusal: Option<ZoomRefusal>,
}

/// A documented Zoom error answer (docs/zoom.md §7 and "Join-token
/// errors") that [`Behaviour::refusal`] injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoomRefusal {
    /// 400 / 300 "Invalid meeting ID." (Zoom refuses the ID).
    InvalidMeetingId,
    /// 400 / 124 "This API only supports OAuth2 authorization." (not an
    /// OAuth token).
    OauthOnly,
    /// 404 / 3001 "Meeting does not exist: {id}." (the meeting is gone).
    MeetingGone,
}

impl ZoomRefusal {
    /// HTTP status, Zoom's `code` and `message`.
    #[must_use]
    pub fn answer(self) -> (u16, u32, &'static str) {
        match self {
            Self::InvalidMeetingId => (400, 300, "Invalid meeting ID."),
            Self::OauthOnly => (400, 124, "This API only supports OAuth2 authorization."),
            Self::MeetingGone => (404, 3001, "Meeting does not exist."),
        }
    }
}

impl Behaviour {
    /// Checks the rates and the latency (at most [`MAX_LATENCY_MS`]).
    pub fn validate(&self) -> Result<(), String> {
        if self.latency_ms > MAX_LATENCY_MS {
            return Err(format!("latency_ms must be at most {MAX_LATENCY_MS}"));
        }
        let rates = [self.error_500, self.error_503, self.rate_limited];
        if rates.iter().any(|r| !(0.0..=1.0).contains(r)) {
            return Err("fault rates must be within [0, 1]".into());
        }
        if rates.iter().sum::<f64>() > 1.0 + 1e-9 {
            return Err("fault rates must sum to at most 1".into());
        }
        Ok(())
    }

    /// Draws the fault for one request.
    pub fn roll(&self, rng: &mut SplitMix64) -> Injected {
        if let Some(r) = self.refusal {
            return Injected::Refusal(r);
        }
        if self.error_500 + self.error_503 + self.rate_limited <= 0.0 {
            return Injected::None;
        }
        let u = rng.next_f64();
        if u < self.error_500 {
            Injected::Status500
        } else if u < self.error_500 + self.error_503 {
            Injected::Status503
        } else if u < self.error_500 + self.error_503 + self.rate_limited {
            Injected::RateLimited
        } else {
            Injected::None
        }
    }
}

/// A drawn fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    /// Serve normally.
    None,
    /// Answer 500.
    Status500,
    /// Answer 503.
    Status503,
    /// Answer 429.
    RateLimited,
    /// Answer this Zoom refusal.
    Refusal(ZoomRefusal),
}

/// Behaviour of every endpoint.
pub type BehaviourTable = BTreeMap<Endpoint, Behaviour>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_answers_every_request() {
        let b = Behaviour {
            refusal: Some(ZoomRefusal::OauthOnly),
            error_500: 1.0,
            ..Behaviour::default()
        };
        let mut rng = SplitMix64::new(1);
        for _ in 0..10 {
            assert_eq!(b.roll(&mut rng), Injected::Refusal(ZoomRefusal::OauthOnly));
        }
        assert_eq!(ZoomRefusal::OauthOnly.answer().1, 124);
        let (status, code, _) = ZoomRefusal::InvalidMeetingId.answer();
        assert_eq!((status, code), (400, 300));
        let json = serde_json::to_string(&b).unwrap_or_default();
        assert!(json.contains(r#""refusal":"oauth_only""#), "{json}");
    }

    #[test]
    fn rolls_follow_rates() {
        let b = Behaviour {
            error_500: 0.2,
            error_503: 0.1,
            rate_limited: 0.3,
            ..Behaviour::default()
        };
        let mut rng = SplitMix64::new(1);
        let mut counts = [0usize; 4];
        for _ in 0..10_000 {
            let i = match b.roll(&mut rng) {
                // No refusal is configured here.
                Injected::None | Injected::Refusal(_) => 0,
                Injected::Status500 => 1,
                Injected::Status503 => 2,
                Injected::RateLimited => 3,
            };
            counts[i] += 1;
        }
        assert!((1800..2200).contains(&counts[1]), "{counts:?}");
        assert!((800..1200).contains(&counts[2]), "{counts:?}");
        assert!((2700..3300).contains(&counts[3]), "{counts:?}");
        assert_eq!(Behaviour::default().roll(&mut rng), Injected::None);
    }

    #[test]
    fn validates_rates() {
        assert!(Behaviour::default().validate().is_ok());
        let bad = Behaviour {
            error_500: 0.7,
            rate_limited: 0.7,
            ..Behaviour::default()
        };
        assert!(bad.validate().is_err());
        let neg = Behaviour {
            error_503: -0.1,
            ..Behaviour::default()
        };
        assert!(neg.validate().is_err());
    }

    #[test]
    fn labels() {
        assert_eq!(Endpoint::OauthToken.label(), None);
        assert_eq!(Endpoint::ListMeetings.label(), Some(Label::Medium));
        assert_eq!(Endpoint::JoinToken.label(), Some(Label::Light));
    }
}
