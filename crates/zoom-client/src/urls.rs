//! Every URL the client requests, built from the configured bases; and the
//! recording-token path template.
//!
//! Pure. Path parameters (user IDs, which may also be emails) are
//! percent-encoded as single segments, so no value can add a segment, a
//! query or a fragment; query values are form-encoded.

use rectoken_domain::join::TokenKind;
use rectoken_domain::meeting_id::MeetingId;
use url::Url;

use crate::config::MEETING_ID_PLACEHOLDER;
use crate::error::{ApiError, ConfigError};
use crate::model::{ListType, UserTokenKind};

/// Largest `page_size` Zoom accepts for `/users` and `/users/{id}/meetings`
/// (docs/zoom.md §5/§6: 300; a larger maximum is UNCONFIRMED). Larger
/// requests are clamped to it, and 0 becomes 1.
pub const MAX_PAGE_SIZE: u32 = 300;

/// Parses a base URL (`api_url`, `oauth_url`): `http` or `https`, a host,
/// no query, no fragment. A trailing slash is allowed.
pub(crate) fn base_url(field: &'static str, value: &str) -> Result<Url, ConfigError> {
    let bad = |reason: &str| ConfigError::InvalidUrl {
        field,
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(value.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host().is_none() || url.cannot_be_a_base() {
        return Err(bad("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it must not contain credentials"));
    }
    Ok(url)
}

/// `base` with `segments` appended, each percent-encoded as one segment
/// (`/`, `?`, `#`, `%`, spaces … are escaped). Dot segments are resolved,
/// so values that can be one pass through [`user_segment`] first.
pub(crate) fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// Checks a user ID (or email, or `me`) for use as a path segment. Empty,
/// `.` and `..` would change which endpoint is called (`/users/` lists
/// users; dot segments are resolved by the URL parser and by servers, even
/// percent-encoded), and no Zoom user ID looks like them.
pub(crate) fn user_segment(user_id: &str) -> Result<&str, ApiError> {
    match user_id {
        "" | "." | ".." => Err(ApiError::InvalidRequest(format!(
            "{user_id:?} is not a Zoom user ID"
        ))),
        ok => Ok(ok),
    }
}

/// `{oauth_url}/authorize?response_type=code&client_id=…&redirect_uri=…&state=…`.
pub(crate) fn authorize_url(oauth: &Url, client_id: &str, redirect_uri: &str, state: &str) -> Url {
    let mut url = join(oauth, &["authorize"]);
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state);
    url
}

/// `{oauth_url}/token`.
pub(crate) fn token_url(oauth: &Url) -> Url {
    join(oauth, &["token"])
}

/// Clamps a requested page size into `1..=`[`MAX_PAGE_SIZE`].
pub(crate) fn clamp_page_size(page_size: u32) -> u32 {
    page_size.clamp(1, MAX_PAGE_SIZE)
}

/// A cursor worth sending: `None` and `""` both mean "first page".
fn cursor(page_token: Option<&str>) -> Option<&str> {
    page_token.filter(|t| !t.is_empty())
}

/// `GET /users/{userId}` (`me` for the authorizing user).
pub(crate) fn get_user_url(api: &Url, user_id: &str) -> Result<Url, ApiError> {
    Ok(join(api, &["users", user_segment(user_id)?]))
}

/// `GET /users?status=active&page_size=…[&next_page_token=…]`.
pub(crate) fn list_users_url(api: &Url, page_token: Option<&str>, page_size: u32) -> Url {
    let mut url = join(api, &["users"]);
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("status", "active")
            .append_pair("page_size", &clamp_page_size(page_size).to_string());
        if let Some(t) = cursor(page_token) {
            q.append_pair("next_page_token", t);
        }
    }
    url
}

/// `GET /users/{userId}/meetings?type=…&page_size=…[&next_page_token=…]`.
pub(crate) fn list_meetings_url(
    api: &Url,
    user_id: &str,
    kind: ListType,
    page_token: Option<&str>,
    page_size: u32,
) -> Result<Url, ApiError> {
    let mut url = join(api, &["users", user_segment(user_id)?, "meetings"]);
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("type", kind.as_str())
            .append_pair("page_size", &clamp_page_size(page_size).to_string());
        if let Some(t) = cursor(page_token) {
            q.append_pair("next_page_token", t);
        }
    }
    Ok(url)
}

/// `GET /meetings/{meetingId}`.
pub(crate) fn get_meeting_url(api: &Url, id: MeetingId) -> Url {
    join(api, &["meetings", &id.to_string()])
}

/// The join-token URL of `kind`: the configured template for
/// `local_recording`, `/meetings/{id}/jointoken/{kind}` for the others;
/// `?bypass_waiting_room=true` when asked (absent means false to Zoom).
/// An on-behalf token is not a join token (it comes from
/// `/users/{id}/token`), so asking for one here is refused.
pub(crate) fn join_token_url(
    api: &Url,
    recording: &PathTemplate,
    id: MeetingId,
    kind: TokenKind,
    bypass_waiting_room: bool,
) -> Result<Url, ApiError> {
    let segments = match kind {
        TokenKind::LocalRecording => recording.render(id),
        TokenKind::LocalArchiving | TokenKind::LiveStreaming => vec![
            "meetings".to_owned(),
            id.to_string(),
            "jointoken".to_owned(),
            kind.as_str().to_owned(),
        ],
        TokenKind::OnBehalf => {
            return Err(ApiError::InvalidRequest(
                "an on-behalf (onbehalf) token is not a meeting join token: request it with \
                 user_token(…, UserTokenKind::OnBehalf, Some(meeting_id))"
                    .to_owned(),
            ));
        }
        TokenKind::Zak => {
            return Err(ApiError::InvalidRequest(
                "a ZAK is not a meeting join token: request it with \
                 user_token(…, UserTokenKind::Zak, None)"
                    .to_owned(),
            ));
        }
    };
    let refs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let mut url = join(api, &refs);
    if bypass_waiting_room {
        url.query_pairs_mut()
            .append_pair("bypass_waiting_room", "true");
    }
    Ok(url)
}

/// `GET /users/{userId}/token?type=…[&meeting_id=…]`.
pub(crate) fn user_token_url(
    api: &Url,
    user_id: &str,
    kind: UserTokenKind,
    meeting_id: Option<MeetingId>,
) -> Result<Url, ApiError> {
    let mut url = join(api, &["users", user_segment(user_id)?, "token"]);
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("type", kind.as_str());
        if let Some(id) = meeting_id {
            q.append_pair("meeting_id", &id.to_string());
        }
    }
    Ok(url)
}

/// One segment of a [`PathTemplate`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    MeetingId,
}

/// The recording-token path (`ZOOM_RECORDING_TOKEN_PATH`), checked once at
/// start-up so a typo fails the process, not every token request.
///
/// Rules: starts with `/`; no query, fragment, `%`, whitespace or empty,
/// `.` or `..` segments; `{meetingId}` (exact spelling) is a whole segment
/// and appears at least once; no other `{…}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PathTemplate {
    segments: Vec<Segment>,
}

impl PathTemplate {
    pub(crate) fn parse(template: &str) -> Result<Self, ConfigError> {
        let bad = |reason: &str| ConfigError::InvalidTemplate {
            value: template.to_owned(),
            reason: reason.to_owned(),
        };
        let Some(rest) = template.strip_prefix('/') else {
            return Err(bad("it must start with /"));
        };
        let mut segments = Vec::new();
        for seg in rest.split('/') {
            if seg.is_empty() || seg == "." || seg == ".." {
                return Err(bad("it has an empty, . or .. segment"));
            }
            if seg == MEETING_ID_PLACEHOLDER {
                segments.push(Segment::MeetingId);
                continue;
            }
            if seg.contains(['{', '}']) {
                return Err(bad(
                    "{meetingId} must be a whole segment, spelled exactly so; no other placeholder exists",
                ));
            }
            if seg
                .chars()
                .any(|c| matches!(c, '?' | '#' | '%') || c.is_whitespace() || c.is_control())
            {
                return Err(bad(
                    "it is a path only: no query, fragment, percent-escape or whitespace",
                ));
            }
            segments.push(Segment::Literal(seg.to_owned()));
        }
        if !segments.contains(&Segment::MeetingId) {
            return Err(bad("it does not contain {meetingId}"));
        }
        Ok(PathTemplate { segments })
    }

    /// The path segments with the meeting number in place of `{meetingId}`.
    pub(crate) fn render(&self, id: MeetingId) -> Vec<String> {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => l.clone(),
                Segment::MeetingId => id.to_string(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_RECORDING_TOKEN_PATH;

    fn api() -> Url {
        base_url("api_url", "https://api.zoom.us/v2").unwrap()
    }

    fn mid(n: u64) -> MeetingId {
        MeetingId::new(n).unwrap()
    }

    fn recording() -> PathTemplate {
        PathTemplate::parse(DEFAULT_RECORDING_TOKEN_PATH).unwrap()
    }

    #[test]
    fn base_urls() {
        for ok in [
            "https://api.zoom.us/v2",
            "https://api.zoom.us/v2/",
            "http://127.0.0.1:9090/v2",
            " https://zoom.us/oauth ",
            "https://zoom.us",
        ] {
            assert!(base_url("api_url", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "api.zoom.us/v2",
            "ftp://api.zoom.us/v2",
            "mailto:a@b",
            "https://api.zoom.us/v2?x=1",
            "https://api.zoom.us/v2#f",
            "https://user:pw@api.zoom.us/v2",
            "file:///v2",
        ] {
            let e = base_url("api_url", bad).unwrap_err();
            assert!(
                matches!(
                    &e,
                    ConfigError::InvalidUrl {
                        field: "api_url",
                        ..
                    }
                ),
                "{bad}: {e:?}"
            );
        }
    }

    #[test]
    fn trailing_slash_on_a_base_does_not_double() {
        let with = base_url("api_url", "https://api.zoom.us/v2/").unwrap();
        assert_eq!(
            get_user_url(&with, "me").unwrap().as_str(),
            "https://api.zoom.us/v2/users/me"
        );
        let root = base_url("api_url", "https://api.zoom.us").unwrap();
        assert_eq!(
            get_user_url(&root, "me").unwrap().as_str(),
            "https://api.zoom.us/users/me"
        );
        let oauth = base_url("oauth_url", "https://zoom.us/oauth/").unwrap();
        assert_eq!(token_url(&oauth).as_str(), "https://zoom.us/oauth/token");
    }

    #[test]
    fn authorize_url_is_encoded() {
        let oauth = base_url("oauth_url", "https://zoom.us/oauth").unwrap();
        let url = authorize_url(
            &oauth,
            "ADZ9k9b TW&x",
            "https://rectoken.example.com/zoom/oauth/callback?a=1&b=2",
            "st/ate+=&?#",
        );
        assert_eq!(
            url.as_str(),
            "https://zoom.us/oauth/authorize?response_type=code&client_id=ADZ9k9b+TW%26x\
             &redirect_uri=https%3A%2F%2Frectoken.example.com%2Fzoom%2Foauth%2Fcallback%3Fa%3D1%26b%3D2\
             &state=st%2Fate%2B%3D%26%3F%23"
        );
        // Round trip: what the server decodes is what we passed.
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [
                ("response_type".into(), "code".into()),
                ("client_id".into(), "ADZ9k9b TW&x".into()),
                (
                    "redirect_uri".into(),
                    "https://rectoken.example.com/zoom/oauth/callback?a=1&b=2".into()
                ),
                ("state".into(), "st/ate+=&?#".into()),
            ]
        );
    }

    #[test]
    fn user_urls_encode_the_id_as_one_segment() {
        let a = api();
        let url = |id: &str| get_user_url(&a, id).map(|u| u.to_string());
        assert_eq!(url("me").unwrap(), "https://api.zoom.us/v2/users/me");
        assert_eq!(
            url("z8yAAAAA8bbbQ").unwrap(),
            "https://api.zoom.us/v2/users/z8yAAAAA8bbbQ"
        );
        assert_eq!(
            url("jill@example.com").unwrap(),
            "https://api.zoom.us/v2/users/jill@example.com"
        );
        assert_eq!(
            url("50%2F").unwrap(),
            "https://api.zoom.us/v2/users/50%252F"
        );
        assert_eq!(
            url("%2e%2e").unwrap(),
            "https://api.zoom.us/v2/users/%252e%252e"
        );
        assert_eq!(url("a b").unwrap(), "https://api.zoom.us/v2/users/a%20b");
        for hostile in [
            "../meetings/1",
            "a/b",
            "a?b=c",
            "a#b",
            "a b",
            "%2F",
            "a\\b",
            "...",
            "%2e%2e",
        ] {
            let url = get_user_url(&a, hostile).unwrap();
            let segs: Vec<_> = url.path_segments().unwrap().collect();
            assert_eq!(segs.len(), 3, "{hostile} -> {url}");
            assert_eq!(&segs[..2], ["v2", "users"]);
            assert_eq!(url.path().matches('/').count(), 3, "{hostile} -> {url}");
            assert_eq!(url.query(), None, "{hostile}");
            assert_eq!(url.fragment(), None, "{hostile}");
        }
        for refused in ["", ".", ".."] {
            let e = get_user_url(&a, refused).unwrap_err();
            assert!(matches!(e, ApiError::InvalidRequest(_)), "{refused:?}");
            let e =
                super::list_meetings_url(&a, refused, ListType::Scheduled, None, 1).unwrap_err();
            assert!(matches!(e, ApiError::InvalidRequest(_)), "{refused:?}");
            let e = user_token_url(&a, refused, UserTokenKind::Zak, None).unwrap_err();
            assert!(matches!(e, ApiError::InvalidRequest(_)), "{refused:?}");
        }
    }

    #[test]
    fn list_users_url() {
        let a = api();
        assert_eq!(
            super::list_users_url(&a, None, 300).as_str(),
            "https://api.zoom.us/v2/users?status=active&page_size=300"
        );
        assert_eq!(
            super::list_users_url(&a, Some(""), 30).as_str(),
            "https://api.zoom.us/v2/users?status=active&page_size=30"
        );
        assert_eq!(
            super::list_users_url(&a, Some("ab+/=c&d"), 10).as_str(),
            "https://api.zoom.us/v2/users?status=active&page_size=10&next_page_token=ab%2B%2F%3Dc%26d"
        );
    }

    #[test]
    fn page_sizes_are_clamped() {
        for (asked, sent) in [
            (0, 1),
            (1, 1),
            (30, 30),
            (300, 300),
            (301, 300),
            (u32::MAX, 300),
        ] {
            assert_eq!(clamp_page_size(asked), sent);
            let url = super::list_users_url(&api(), None, asked);
            assert!(
                url.as_str().ends_with(&format!("page_size={sent}")),
                "{url}"
            );
        }
    }

    #[test]
    fn list_meetings_url() {
        let a = api();
        assert_eq!(
            super::list_meetings_url(&a, "me", ListType::Scheduled, None, 300)
                .unwrap()
                .as_str(),
            "https://api.zoom.us/v2/users/me/meetings?type=scheduled&page_size=300"
        );
        assert_eq!(
            super::list_meetings_url(&a, "u1", ListType::Upcoming, Some("tok"), 50)
                .unwrap()
                .as_str(),
            "https://api.zoom.us/v2/users/u1/meetings?type=upcoming&page_size=50&next_page_token=tok"
        );
    }

    #[test]
    fn get_meeting_url() {
        assert_eq!(
            super::get_meeting_url(&api(), mid(85_123_456_789)).as_str(),
            "https://api.zoom.us/v2/meetings/85123456789"
        );
    }

    #[test]
    fn join_token_urls() {
        let a = api();
        let r = recording();
        let id = mid(85_123_456_789);
        let cases = [
            (
                TokenKind::LocalRecording,
                true,
                "https://api.zoom.us/v2/meetings/85123456789/jointoken/local_recording?bypass_waiting_room=true",
            ),
            (
                TokenKind::LocalRecording,
                false,
                "https://api.zoom.us/v2/meetings/85123456789/jointoken/local_recording",
            ),
            (
                TokenKind::LocalArchiving,
                true,
                "https://api.zoom.us/v2/meetings/85123456789/jointoken/local_archiving?bypass_waiting_room=true",
            ),
            (
                TokenKind::LiveStreaming,
                false,
                "https://api.zoom.us/v2/meetings/85123456789/jointoken/live_streaming",
            ),
        ];
        for (kind, bypass, want) in cases {
            assert_eq!(
                join_token_url(&a, &r, id, kind, bypass).unwrap().as_str(),
                want,
                "{kind}"
            );
        }
        for kind in [TokenKind::OnBehalf, TokenKind::Zak] {
            let e = join_token_url(&a, &r, id, kind, true).unwrap_err();
            assert!(matches!(e, ApiError::InvalidRequest(_)), "{e:?}");
            assert!(e.to_string().contains("user_token"), "{e}");
        }
    }

    #[test]
    fn the_recording_template_is_used_for_local_recording_only() {
        let custom =
            PathTemplate::parse("/meetings/{meetingId}/jointoken/3rd_party_recording").unwrap();
        let id = mid(5_551_112_222);
        assert_eq!(
            join_token_url(&api(), &custom, id, TokenKind::LocalRecording, false)
                .unwrap()
                .as_str(),
            "https://api.zoom.us/v2/meetings/5551112222/jointoken/3rd_party_recording"
        );
        assert_eq!(
            join_token_url(&api(), &custom, id, TokenKind::LiveStreaming, false)
                .unwrap()
                .as_str(),
            "https://api.zoom.us/v2/meetings/5551112222/jointoken/live_streaming"
        );
        let twice = PathTemplate::parse("/x/{meetingId}/y/{meetingId}").unwrap();
        assert_eq!(twice.render(id), ["x", "5551112222", "y", "5551112222"]);
    }

    #[test]
    fn template_rules() {
        for ok in [
            DEFAULT_RECORDING_TOKEN_PATH,
            "/{meetingId}",
            "/webinars/{meetingId}/jointoken/local_recording",
            "/meetings/{meetingId}/token:3rd-party_v1",
        ] {
            assert!(PathTemplate::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/",
            "meetings/{meetingId}/jointoken/local_recording",
            "/meetings/jointoken/local_recording",
            "/meetings/{meetingID}/jointoken/local_recording",
            "/meetings/{meeting_id}/x",
            "/meetings/id{meetingId}/x",
            "/meetings/{meetingId}/jointoken/local_recording/",
            "/meetings//{meetingId}",
            "/meetings/{meetingId}/../users",
            "/meetings/{meetingId}/./x",
            "/meetings/{meetingId}/x?type=y",
            "/meetings/{meetingId}/x#y",
            "/meetings/{meetingId}/a%2Fb",
            "/meetings/{meetingId}/a b",
        ] {
            let e = PathTemplate::parse(bad).unwrap_err();
            assert!(matches!(e, ConfigError::InvalidTemplate { .. }), "{bad}");
        }
    }

    #[test]
    fn user_token_urls() {
        let a = api();
        assert_eq!(
            user_token_url(&a, "me", UserTokenKind::OnBehalf, Some(mid(85_123_456_789)))
                .unwrap()
                .as_str(),
            "https://api.zoom.us/v2/users/me/token?type=onbehalf&meeting_id=85123456789"
        );
        assert_eq!(
            user_token_url(&a, "u1", UserTokenKind::Zak, None)
                .unwrap()
                .as_str(),
            "https://api.zoom.us/v2/users/u1/token?type=zak"
        );
    }
}
