//! The Zoom endpoints this client calls: their names in metrics, the path
//! templates that may appear in logs, and Zoom's rate-limit labels.
//!
//! Pure: no I/O.

use std::fmt;

/// Zoom's rate-limit label of an endpoint (docs/zoom.md §8).
///
/// Limits are per Zoom account and per label, shared by every app installed
/// on the account, so callers that pace requests (one limiter per account
/// in Redis) key the limiter by this label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RateLabel {
    /// Single-resource reads and writes (Pro 30/s, Business+ 80/s).
    Light,
    /// Multi-resource reads, i.e. lists (Pro 20/s, Business+ 60/s).
    Medium,
    /// Reports and dashboards (Pro 10/s, Business+ 40/s, plus a daily cap).
    Heavy,
}

impl RateLabel {
    /// The label as Zoom spells it in `X-RateLimit-Category`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RateLabel::Light => "Light",
            RateLabel::Medium => "Medium",
            RateLabel::Heavy => "Heavy",
        }
    }

    /// Parses an `X-RateLimit-Category` value, ignoring ASCII case.
    pub fn parse(value: &str) -> Option<Self> {
        [RateLabel::Light, RateLabel::Medium, RateLabel::Heavy]
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(value.trim()))
    }
}

impl fmt::Display for RateLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Label of `GET /users/{userId}` (and `/users/me`). UNCONFIRMED
/// (docs/zoom.md §8: probably Light, as single-resource reads are); matches
/// the simulator's `faults::LABEL_GET_USER`.
pub const LABEL_GET_USER: RateLabel = RateLabel::Light;
/// Label of `GET /users`. UNCONFIRMED (docs/zoom.md §5/§8: probably Medium,
/// as lists are); matches the simulator's `faults::LABEL_LIST_USERS`.
pub const LABEL_LIST_USERS: RateLabel = RateLabel::Medium;
/// Label of `GET /users/{userId}/meetings` (derived: Medium).
pub const LABEL_LIST_MEETINGS: RateLabel = RateLabel::Medium;
/// Label of `GET /meetings/{meetingId}` (derived: Light).
pub const LABEL_GET_MEETING: RateLabel = RateLabel::Light;
/// Label of `GET /meetings/{meetingId}/jointoken/{kind}`. UNCONFIRMED
/// (docs/zoom.md §8: probably Light, a single-resource read); matches the
/// simulator's `faults::LABEL_JOIN_TOKEN`.
pub const LABEL_JOIN_TOKEN: RateLabel = RateLabel::Light;
/// Label of `GET /users/{userId}/token`. UNCONFIRMED: Light, like other
/// single-resource reads; matches the simulator's `faults::LABEL_USER_TOKEN`.
pub const LABEL_USER_TOKEN: RateLabel = RateLabel::Light;

/// One endpoint this client calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `POST /oauth/token` with `grant_type=authorization_code`.
    OAuthCode,
    /// `POST /oauth/token` with `grant_type=refresh_token`.
    OAuthRefresh,
    /// `GET /users/{userId}` (and `/users/me`).
    GetUser,
    /// `GET /users`.
    ListUsers,
    /// `GET /users/{userId}/meetings`.
    ListMeetings,
    /// `GET /meetings/{meetingId}`.
    GetMeeting,
    /// `GET /meetings/{meetingId}/jointoken/{kind}`, or the configured
    /// recording-token path.
    JoinToken,
    /// `GET /users/{userId}/token`.
    UserToken,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 8] = [
        Endpoint::OAuthCode,
        Endpoint::OAuthRefresh,
        Endpoint::GetUser,
        Endpoint::ListUsers,
        Endpoint::ListMeetings,
        Endpoint::GetMeeting,
        Endpoint::JoinToken,
        Endpoint::UserToken,
    ];

    /// The `endpoint` label of the client's metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Endpoint::OAuthCode => "oauth_code",
            Endpoint::OAuthRefresh => "oauth_refresh",
            Endpoint::GetUser => "get_user",
            Endpoint::ListUsers => "list_users",
            Endpoint::ListMeetings => "list_meetings",
            Endpoint::GetMeeting => "get_meeting",
            Endpoint::JoinToken => "join_token",
            Endpoint::UserToken => "user_token",
        }
    }

    /// The path with its parameters left as placeholders: the only form of
    /// a request path that goes into logs (real paths and queries carry user
    /// IDs, meeting IDs and page cursors).
    pub const fn path_template(self) -> &'static str {
        match self {
            Endpoint::OAuthCode | Endpoint::OAuthRefresh => "/oauth/token",
            Endpoint::GetUser => "/users/{userId}",
            Endpoint::ListUsers => "/users",
            Endpoint::ListMeetings => "/users/{userId}/meetings",
            Endpoint::GetMeeting => "/meetings/{meetingId}",
            Endpoint::JoinToken => "/meetings/{meetingId}/jointoken/{kind}",
            Endpoint::UserToken => "/users/{userId}/token",
        }
    }

    /// HTTP method.
    pub const fn method(self) -> &'static str {
        match self {
            Endpoint::OAuthCode | Endpoint::OAuthRefresh => "POST",
            _ => "GET",
        }
    }

    /// Zoom's rate-limit label; `None` for the OAuth endpoints, which Zoom's
    /// REST limits do not cover.
    pub const fn label(self) -> Option<RateLabel> {
        match self {
            Endpoint::OAuthCode | Endpoint::OAuthRefresh => None,
            Endpoint::GetUser => Some(LABEL_GET_USER),
            Endpoint::ListUsers => Some(LABEL_LIST_USERS),
            Endpoint::ListMeetings => Some(LABEL_LIST_MEETINGS),
            Endpoint::GetMeeting => Some(LABEL_GET_MEETING),
            Endpoint::JoinToken => Some(LABEL_JOIN_TOKEN),
            Endpoint::UserToken => Some(LABEL_USER_TOKEN),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        use Endpoint as E;
        use RateLabel as L;
        let want = [
            (E::OAuthCode, None),
            (E::OAuthRefresh, None),
            (E::GetUser, Some(L::Light)),
            (E::ListUsers, Some(L::Medium)),
            (E::ListMeetings, Some(L::Medium)),
            (E::GetMeeting, Some(L::Light)),
            (E::JoinToken, Some(L::Light)),
            (E::UserToken, Some(L::Light)),
        ];
        assert_eq!(want.len(), Endpoint::ALL.len());
        for (e, l) in want {
            assert_eq!(e.label(), l, "{e}");
        }
    }

    #[test]
    fn names_are_unique_and_templates_hold_no_values() {
        let mut names: Vec<_> = Endpoint::ALL.iter().map(|e| e.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Endpoint::ALL.len());
        for e in Endpoint::ALL {
            let t = e.path_template();
            assert!(t.starts_with('/'), "{t}");
            assert!(
                !t.contains('?') && !t.chars().any(|c| c.is_ascii_digit()),
                "{t}"
            );
            assert_eq!(e.method() == "POST", e.label().is_none(), "{e}");
        }
    }

    #[test]
    fn label_parse_round_trips() {
        for l in [RateLabel::Light, RateLabel::Medium, RateLabel::Heavy] {
            assert_eq!(RateLabel::parse(l.as_str()), Some(l));
            assert_eq!(RateLabel::parse(&l.as_str().to_uppercase()), Some(l));
            assert_eq!(RateLabel::parse(&format!(" {l} ")), Some(l));
        }
        assert_eq!(RateLabel::parse("Resource-intensive"), None);
        assert_eq!(RateLabel::parse(""), None);
    }
}
