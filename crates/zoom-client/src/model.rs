//! What the endpoints return, and how their bodies are read
//! (docs/zoom.md §4–§7).
//!
//! Reading is tolerant where Zoom varies and strict where a wrong value
//! would be dangerous:
//! - PMIs arrive as numbers (user APIs) or strings (meeting items), or not at
//!   all; both forms parse, and an absent, `0`, empty or invalid PMI is
//!   `None` rather than a failed page.
//! - A list item that cannot be read (no `id`, an ID outside 9–12 digits) is
//!   skipped and counted in the page's `skipped`, so one odd record cannot
//!   stall a full sync; the page itself must still be an object.
//! - Tokens must be non-empty strings: a token response without one is an
//!   error, never an empty credential.
//! - Error texts name the field and what was wrong, never the value.
//!
//! Pure: parsing takes the body bytes.

use std::time::Duration;

use rectoken_domain::meeting_id::MeetingId;
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::error::describe_json_error;

/// Unit of a join token's `expire_in`. UNCONFIRMED (docs/zoom.md §7): the
/// only example is `"expire_in": 120` and a third-party note of "about 120
/// seconds"; docs/design.md decides seconds.
pub const JOIN_TOKEN_EXPIRE_IN_UNIT: Duration = Duration::from_secs(1);
/// `expire_in` assumed when a join-token answer lacks it: Zoom's example
/// value (docs/zoom.md §7). Tokens are minted right before use and never
/// cached, so the value only informs the bot.
pub const DEFAULT_JOIN_TOKEN_EXPIRE_IN: u64 = 120;

/// Which meetings `GET /users/{userId}/meetings` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListType {
    /// `scheduled` (Zoom's default): unexpired scheduled meetings, live
    /// meetings and recurring meetings. What a full sync walks.
    Scheduled,
    /// `upcoming`: meetings not yet over, including live ones.
    Upcoming,
}

impl ListType {
    /// The `type` query value.
    pub const fn as_str(self) -> &'static str {
        match self {
            ListType::Scheduled => "scheduled",
            ListType::Upcoming => "upcoming",
        }
    }
}

/// Which token `GET /users/{userId}/token` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserTokenKind {
    /// `onbehalf`: an OBF token, to join a meeting outside the app's account
    /// on behalf of a user who is in it (scope `user:read:token`).
    OnBehalf,
    /// `zak`: the user's Zoom Access Key (scope `user:read:zak`).
    Zak,
}

impl UserTokenKind {
    /// The `type` query value.
    pub const fn as_str(self) -> &'static str {
        match self {
            UserTokenKind::OnBehalf => "onbehalf",
            UserTokenKind::Zak => "zak",
        }
    }
}

/// The token endpoint's answer.
///
/// `Debug` shows `[REDACTED]` for both tokens (they are `SecretString`s).
#[derive(Clone, Debug)]
pub struct TokenSet {
    /// Bearer token for `/v2`; lives [`expires_in`](Self::expires_in) seconds.
    pub access_token: SecretString,
    /// The new refresh token. Zoom rotates on every refresh: the one just
    /// used is dead now, so persist this one before using the access token.
    pub refresh_token: SecretString,
    /// Seconds the access token lives (Zoom: 3600).
    pub expires_in: u64,
    /// Granted scopes.
    pub scope: Vec<String>,
}

impl TokenSet {
    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.iter().any(|s| s == scope)
    }
}

/// A join token: `{token, expire_in}`.
///
/// `Debug` shows `[REDACTED]` for the token.
#[derive(Clone, Debug)]
pub struct JoinToken {
    /// The token for the SDK's `app_privilege_token`.
    pub token: SecretString,
    /// Lifetime in [`JOIN_TOKEN_EXPIRE_IN_UNIT`] (seconds; UNCONFIRMED).
    pub expire_in: u64,
}

impl JoinToken {
    /// `expire_in` as a duration.
    pub fn lifetime(&self) -> Duration {
        JOIN_TOKEN_EXPIRE_IN_UNIT.saturating_mul(u32::try_from(self.expire_in).unwrap_or(u32::MAX))
    }
}

/// A user as `GET /users/{userId}` (and `/users/me`) returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoomUser {
    /// User ID.
    pub id: String,
    /// Account that owns the user: the key credentials are stored under.
    pub account_id: String,
    /// Email.
    pub email: Option<String>,
    /// Personal meeting ID (a number on the wire); `None` when absent or 0.
    pub pmi: Option<MeetingId>,
    /// Whether the user's instant meetings use the PMI.
    pub use_pmi: Option<bool>,
    /// 1 basic, 2 licensed, …
    pub user_type: Option<i64>,
    /// `active`, `inactive`, `pending`.
    pub status: Option<String>,
    /// `"0"` owner, `"1"` admin, `"2"` member, or a custom role ID.
    pub role_id: Option<String>,
    /// The vanity name of the user's personal link `zoom.us/my/NAME`:
    /// `vanity_name` when Zoom sends it, else read from `vanity_url` or a
    /// `/my/` `personal_meeting_url` (docs/zoom.md "Personal links").
    pub vanity_name: Option<String>,
}

/// A user as an item of `GET /users` (which has no `account_id`: it is the
/// token's account).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSummary {
    /// User ID.
    pub id: String,
    /// Email.
    pub email: Option<String>,
    /// Personal meeting ID; `None` when absent or 0.
    pub pmi: Option<MeetingId>,
    /// 1 basic, 2 licensed, …
    pub user_type: Option<i64>,
    /// `active`, `inactive`, `pending`.
    pub status: Option<String>,
}

/// One page of `GET /users`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsersPage {
    /// The users read.
    pub users: Vec<UserSummary>,
    /// Cursor of the next page; `None` when this is the last (Zoom sends
    /// `""` or nothing).
    pub next_page_token: Option<String>,
    /// Zoom's `total_records`, when sent.
    pub total_records: Option<u64>,
    /// Items that could not be read and were left out.
    pub skipped: usize,
}

/// A meeting as `GET /meetings/{id}` or a list item returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoomMeeting {
    /// Meeting number (or the PMI, for a PMI meeting).
    pub id: MeetingId,
    /// Instance UUID.
    pub uuid: Option<String>,
    /// The host, who owns the meeting.
    pub host_id: String,
    /// Topic.
    pub topic: Option<String>,
    /// 1 instant, 2 scheduled, 3/8 recurring, 4 PMI (UNCONFIRMED beyond 2, 4, 8).
    pub meeting_type: Option<i64>,
    /// The host's PMI (a string on the wire), present when the meeting uses it.
    pub pmi: Option<MeetingId>,
    /// Start time as Zoom wrote it (RFC 3339), for scheduled meetings.
    pub start_time: Option<String>,
}

/// One page of `GET /users/{userId}/meetings`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeetingsPage {
    /// The meetings read.
    pub meetings: Vec<ZoomMeeting>,
    /// Cursor of the next page; `None` when this is the last.
    pub next_page_token: Option<String>,
    /// Zoom's `total_records`, when sent.
    pub total_records: Option<u64>,
    /// Items that could not be read and were left out.
    pub skipped: usize,
}

// ---- reading ------------------------------------------------------------

type Obj = Map<String, Value>;

fn object(body: &[u8]) -> Result<Obj, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err("the body is not a JSON object".to_owned()),
        Err(e) => Err(describe_json_error(&e)),
    }
}

/// A string field; `None` when absent, null, empty or not a string.
fn text(o: &Obj, key: &str) -> Option<String> {
    o.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A string or number field as text (Zoom's `role_id` has been seen as both).
fn text_or_number(o: &Obj, key: &str) -> Option<String> {
    match o.get(key)? {
        Value::Number(n) => Some(n.to_string()),
        v => v.as_str().filter(|s| !s.is_empty()).map(str::to_owned),
    }
}

/// A non-negative integer field, as a number or a numeric string.
fn uint(o: &Obj, key: &str) -> Option<u64> {
    match o.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn int(o: &Obj, key: &str) -> Option<i64> {
    match o.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn required(o: &Obj, key: &str) -> Result<String, String> {
    text(o, key).ok_or_else(|| format!("`{key}` is missing, empty or not a string"))
}

/// A PMI in either wire form; `None` when absent, null, 0, empty or not a
/// valid meeting number.
pub(crate) fn pmi(v: Option<&Value>) -> Option<MeetingId> {
    match v? {
        Value::Number(n) => n.as_u64().and_then(|n| MeetingId::new(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A meeting number in either wire form (strict: `None` if invalid).
fn meeting_id(v: Option<&Value>) -> Option<MeetingId> {
    pmi(v)
}

/// A paging cursor: `""` or absent means "no more pages".
fn next_token(o: &Obj) -> Option<String> {
    text(o, "next_page_token")
}

pub(crate) fn parse_token_set(body: &[u8]) -> Result<TokenSet, String> {
    let o = object(body)?;
    let access_token = required(&o, "access_token")?;
    let refresh_token = required(&o, "refresh_token")?;
    let expires_in =
        uint(&o, "expires_in").ok_or("`expires_in` is missing or not a non-negative integer")?;
    let scope = o
        .get("scope")
        .and_then(Value::as_str)
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(TokenSet {
        access_token: access_token.into(),
        refresh_token: refresh_token.into(),
        expires_in,
        scope,
    })
}

pub(crate) fn parse_user(body: &[u8]) -> Result<ZoomUser, String> {
    let o = object(body)?;
    Ok(ZoomUser {
        id: required(&o, "id")?,
        account_id: required(&o, "account_id")?,
        email: text(&o, "email"),
        pmi: pmi(o.get("pmi")),
        use_pmi: o.get("use_pmi").and_then(Value::as_bool),
        user_type: int(&o, "type"),
        status: text(&o, "status"),
        role_id: text_or_number(&o, "role_id"),
        vanity_name: text(&o, "vanity_name")
            .or_else(|| {
                text(&o, "vanity_url")
                    .and_then(|u| rectoken_domain::meeting_id::personal_link_name(&u))
            })
            .or_else(|| {
                text(&o, "personal_meeting_url")
                    .and_then(|u| rectoken_domain::meeting_id::personal_link_name(&u))
            }),
    })
}

fn user_summary(v: &Value) -> Option<UserSummary> {
    let o = v.as_object()?;
    Some(UserSummary {
        id: text(o, "id")?,
        email: text(o, "email"),
        pmi: pmi(o.get("pmi")),
        user_type: int(o, "type"),
        status: text(o, "status"),
    })
}

fn items<'a>(o: &'a Obj, key: &str) -> Result<&'a [Value], String> {
    match o.get(key) {
        // Zoom omits an empty list on some endpoints.
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(format!("`{key}` is not an array")),
    }
}

pub(crate) fn parse_users_page(body: &[u8]) -> Result<UsersPage, String> {
    let o = object(body)?;
    let raw = items(&o, "users")?;
    let users: Vec<UserSummary> = raw.iter().filter_map(user_summary).collect();
    Ok(UsersPage {
        skipped: raw.len() - users.len(),
        users,
        next_page_token: next_token(&o),
        total_records: uint(&o, "total_records"),
    })
}

fn meeting(o: &Obj) -> Result<ZoomMeeting, String> {
    Ok(ZoomMeeting {
        id: meeting_id(o.get("id")).ok_or("`id` is missing or not a 9 to 12 digit number")?,
        uuid: text(o, "uuid"),
        host_id: required(o, "host_id")?,
        topic: text(o, "topic"),
        meeting_type: int(o, "type"),
        pmi: pmi(o.get("pmi")),
        start_time: text(o, "start_time"),
    })
}

pub(crate) fn parse_meeting(body: &[u8]) -> Result<ZoomMeeting, String> {
    meeting(&object(body)?)
}

pub(crate) fn parse_meetings_page(body: &[u8]) -> Result<MeetingsPage, String> {
    let o = object(body)?;
    let raw = items(&o, "meetings")?;
    let meetings: Vec<ZoomMeeting> = raw
        .iter()
        .filter_map(|v| v.as_object().and_then(|m| meeting(m).ok()))
        .collect();
    Ok(MeetingsPage {
        skipped: raw.len() - meetings.len(),
        meetings,
        next_page_token: next_token(&o),
        total_records: uint(&o, "total_records"),
    })
}

pub(crate) fn parse_join_token(body: &[u8]) -> Result<JoinToken, String> {
    let o = object(body)?;
    let token = required(&o, "token")?;
    let expire_in = match o.get("expire_in") {
        None | Some(Value::Null) => DEFAULT_JOIN_TOKEN_EXPIRE_IN,
        Some(_) => uint(&o, "expire_in").ok_or("`expire_in` is not a non-negative integer")?,
    };
    Ok(JoinToken {
        token: token.into(),
        expire_in,
    })
}

pub(crate) fn parse_user_token(body: &[u8]) -> Result<SecretString, String> {
    let o = object(body)?;
    Ok(required(&o, "token")?.into())
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;
    use serde_json::json;

    use super::*;

    fn mid(n: u64) -> MeetingId {
        MeetingId::new(n).unwrap()
    }

    fn bytes(v: &Value) -> Vec<u8> {
        serde_json::to_vec(v).unwrap()
    }

    #[test]
    fn pmi_in_every_form() {
        let cases = [
            (json!(5_551_112_222u64), Some(mid(5_551_112_222))),
            (json!("5551112222"), Some(mid(5_551_112_222))),
            (json!("555 111 2222"), Some(mid(5_551_112_222))),
            (json!(0), None),
            (json!("0"), None),
            (json!(""), None),
            (json!(null), None),
            (json!(12345), None),
            (json!(-5_551_112_222i64), None),
            (json!(5.5e9), None),
            (json!("abc"), None),
            (json!(true), None),
            (json!([5_551_112_222u64]), None),
        ];
        for (v, want) in cases {
            assert_eq!(pmi(Some(&v)), want, "{v}");
        }
        assert_eq!(pmi(None), None);
    }

    #[test]
    fn token_set() {
        // docs/zoom.md §4 example.
        let body = json!({"access_token":"eyJ.at","token_type":"bearer","refresh_token":"eyJ.NEW",
            "expires_in":3600,
            "scope":"meeting:read:local_recording_token:admin meeting:read:list_meetings:admin user:read:list_users:admin"});
        let t = parse_token_set(&bytes(&body)).unwrap();
        assert_eq!(t.access_token.expose_secret(), "eyJ.at");
        assert_eq!(t.refresh_token.expose_secret(), "eyJ.NEW");
        assert_eq!(t.expires_in, 3600);
        assert_eq!(t.scope.len(), 3);
        assert!(t.has_scope("user:read:list_users:admin"));
        assert!(!t.has_scope("user:read:list_users"));
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("eyJ"), "{dbg}");
        assert!(dbg.contains("REDACTED") && dbg.contains("3600"), "{dbg}");

        let no_scope = json!({"access_token":"a","refresh_token":"r","expires_in":"3600"});
        let t = parse_token_set(&bytes(&no_scope)).unwrap();
        assert!(t.scope.is_empty());
        assert_eq!(t.expires_in, 3600);
    }

    #[test]
    fn token_set_refusals_name_the_field_not_the_value() {
        let cases = [
            (
                json!({"refresh_token":"SECRET_R","expires_in":1}),
                "`access_token`",
            ),
            (
                json!({"access_token":"","refresh_token":"SECRET_R","expires_in":1}),
                "`access_token`",
            ),
            (
                json!({"access_token":"SECRET_A","expires_in":1}),
                "`refresh_token`",
            ),
            (
                json!({"access_token":"SECRET_A","refresh_token":7,"expires_in":1}),
                "`refresh_token`",
            ),
            (
                json!({"access_token":"SECRET_A","refresh_token":"SECRET_R"}),
                "`expires_in`",
            ),
            (
                json!({"access_token":"SECRET_A","refresh_token":"SECRET_R","expires_in":"SECRET_X"}),
                "`expires_in`",
            ),
            (
                json!({"access_token":"SECRET_A","refresh_token":"SECRET_R","expires_in":-1}),
                "`expires_in`",
            ),
            (json!(["SECRET_A"]), "not a JSON object"),
        ];
        for (v, want) in cases {
            let e = parse_token_set(&bytes(&v)).unwrap_err();
            assert!(e.contains(want), "{v}: {e}");
            assert!(!e.contains("SECRET"), "{e}");
        }
        let e = parse_token_set(b"{\"access_token\":\"SECRET_A\"").unwrap_err();
        assert!(
            e.starts_with("truncated JSON") && !e.contains("SECRET"),
            "{e}"
        );
        assert!(parse_token_set(b"").is_err());
    }

    #[test]
    fn user() {
        let body = json!({"id":"z8yAAAAA8bbbQ","account_id":"AbCdEfGhIjKlMn","account_number":10000001,
            "email":"jill@example.com","type":2,"pmi":5551112222u64,"use_pmi":false,"status":"active",
            "role_id":"0","timezone":"UTC"});
        let u = parse_user(&bytes(&body)).unwrap();
        assert_eq!(
            u,
            ZoomUser {
                id: "z8yAAAAA8bbbQ".into(),
                account_id: "AbCdEfGhIjKlMn".into(),
                email: Some("jill@example.com".into()),
                pmi: Some(mid(5_551_112_222)),
                use_pmi: Some(false),
                user_type: Some(2),
                status: Some("active".into()),
                role_id: Some("0".into()),
                vanity_name: None,
            }
        );
        // The personal link's name, from whichever field Zoom gives.
        for (field, value) in [
            ("vanity_name", "jillsmith"),
            ("vanity_url", "https://zoom.us/my/jillsmith"),
            (
                "personal_meeting_url",
                "https://us02web.zoom.us/my/jillsmith",
            ),
        ] {
            let body = json!({"id":"u","account_id":"a", field: value});
            assert_eq!(
                parse_user(&bytes(&body)).unwrap().vanity_name.as_deref(),
                Some("jillsmith"),
                "{field}"
            );
        }
        let j_link = json!({"id":"u","account_id":"a","personal_meeting_url":"https://zoom.us/j/5551112222","vanity_url":""});
        assert_eq!(parse_user(&bytes(&j_link)).unwrap().vanity_name, None);
        let minimal = json!({"id":"u","account_id":"a","role_id":2,"pmi":0});
        let u = parse_user(&bytes(&minimal)).unwrap();
        assert_eq!(u.pmi, None);
        assert_eq!(u.role_id.as_deref(), Some("2"));
        assert_eq!(u.email, None);
        for bad in [
            json!({"id":"u"}),
            json!({"account_id":"a"}),
            json!({"id":1,"account_id":"a"}),
        ] {
            assert!(parse_user(&bytes(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn users_page() {
        // docs/zoom.md §5 example, plus items that cannot be read.
        let body = json!({"page_size":300,"total_records":4,"next_page_token":"",
            "users":[{"id":"z8yAAAAA8bbbQ","email":"jill@example.com","type":2,"pmi":5551112222u64,"status":"active","timezone":"UTC"},
                     {"id":"uLobbbbbbbb_qQsQ","email":"bob@example.com","type":1,"pmi":5559876543u64,"status":"active"},
                     {"email":"no-id@example.com"},
                     "not an object"]});
        let p = parse_users_page(&bytes(&body)).unwrap();
        assert_eq!(p.users.len(), 2);
        assert_eq!(p.skipped, 2);
        assert_eq!(p.next_page_token, None);
        assert_eq!(p.total_records, Some(4));
        assert_eq!(p.users[1].pmi, Some(mid(5_559_876_543)));
        assert_eq!(p.users[1].user_type, Some(1));

        let more = json!({"next_page_token":"abc","users":[]});
        let p = parse_users_page(&bytes(&more)).unwrap();
        assert_eq!(p.next_page_token.as_deref(), Some("abc"));
        assert_eq!(p.total_records, None);

        let absent = json!({});
        let p = parse_users_page(&bytes(&absent)).unwrap();
        assert!(p.users.is_empty() && p.next_page_token.is_none() && p.skipped == 0);

        assert!(parse_users_page(&bytes(&json!({"users":{}}))).is_err());
        assert!(parse_users_page(b"<html>").is_err());
    }

    #[test]
    fn meetings_page() {
        // docs/zoom.md §6 example, plus a PMI meeting and unreadable items.
        let body = json!({"page_size":300,"total_records":4,"next_page_token":"n1",
            "meetings":[{"id":85123456789u64,"uuid":"4444AAAiAAAAAiAiAiiAii==","host_id":"z8yAAAAA8bbbQ",
               "topic":"Weekly sync","type":8,"start_time":"2026-03-01T15:00:00Z","duration":30,
               "timezone":"UTC","created_at":"2026-02-01T10:00:00Z","join_url":"https://zoom.us/j/85123456789"},
              {"id":85123456790u64,"host_id":"h","type":2,"pmi":"5551112222"},
              {"id":12,"host_id":"h"},
              {"id":85123456791u64}]});
        let p = parse_meetings_page(&bytes(&body)).unwrap();
        assert_eq!(p.skipped, 2);
        assert_eq!(p.next_page_token.as_deref(), Some("n1"));
        assert_eq!(
            p.meetings[0],
            ZoomMeeting {
                id: mid(85_123_456_789),
                uuid: Some("4444AAAiAAAAAiAiAiiAii==".into()),
                host_id: "z8yAAAAA8bbbQ".into(),
                topic: Some("Weekly sync".into()),
                meeting_type: Some(8),
                pmi: None,
                start_time: Some("2026-03-01T15:00:00Z".into()),
            }
        );
        assert_eq!(p.meetings[1].pmi, Some(mid(5_551_112_222)));
        assert_eq!(p.meetings[1].uuid, None);
    }

    #[test]
    fn meeting() {
        let body =
            json!({"id":"85123456789","uuid":"u==","host_id":"h","type":4,"pmi":"5551112222"});
        let m = parse_meeting(&bytes(&body)).unwrap();
        assert_eq!(m.id, mid(85_123_456_789));
        assert_eq!(m.meeting_type, Some(4));
        assert_eq!(m.pmi, Some(mid(5_551_112_222)));
        for bad in [
            json!({"host_id":"h"}),
            json!({"id":85123456789u64}),
            json!({"id":1,"host_id":"h"}),
        ] {
            assert!(parse_meeting(&bytes(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn join_token() {
        let t = parse_join_token(br#"{"token":"2njt50mj","expire_in":120}"#).unwrap();
        assert_eq!(t.token.expose_secret(), "2njt50mj");
        assert_eq!(t.expire_in, 120);
        assert_eq!(t.lifetime(), Duration::from_secs(120));
        assert!(!format!("{t:?}").contains("2njt50mj"));
        let t = parse_join_token(br#"{"token":"x"}"#).unwrap();
        assert_eq!(t.expire_in, DEFAULT_JOIN_TOKEN_EXPIRE_IN);
        let t = parse_join_token(br#"{"token":"x","expire_in":"90"}"#).unwrap();
        assert_eq!(t.expire_in, 90);
        let t = parse_join_token(br#"{"token":"x","expire_in":18446744073709551615}"#).unwrap();
        assert_eq!(t.lifetime(), Duration::from_secs(u64::from(u32::MAX)));
        for bad in [
            &br#"{"expire_in":120}"#[..],
            br#"{"token":"","expire_in":120}"#,
            br#"{"token":"SECRET","expire_in":"soon"}"#,
            br#"{"token":"SECRET","expire_in":-1}"#,
        ] {
            let e = parse_join_token(bad).unwrap_err();
            assert!(!e.contains("SECRET"), "{e}");
        }
    }

    #[test]
    fn user_token() {
        let t = parse_user_token(br#"{"token":"obf"}"#).unwrap();
        assert_eq!(t.expose_secret(), "obf");
        assert!(parse_user_token(br#"{"token":null}"#).is_err());
        assert!(parse_user_token(b"{}").is_err());
    }

    #[test]
    fn query_names() {
        assert_eq!(ListType::Scheduled.as_str(), "scheduled");
        assert_eq!(ListType::Upcoming.as_str(), "upcoming");
        assert_eq!(UserTokenKind::OnBehalf.as_str(), "onbehalf");
        assert_eq!(UserTokenKind::Zak.as_str(), "zak");
    }
}
