//! `/v2/*`: Zoom's REST endpoints (docs/zoom.md §5–§8).
//!
//! Every request runs the same gate, in this order: count it; sleep the
//! injected latency; check the bearer token (401/124); apply the account's
//! per-second limit (429); draw an injected fault (500/503/429); check the
//! scopes (4711); then the handler, which checks ownership (404/3001,
//! 404/1001) under the state lock.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{
    JOIN_TOKEN_EXPIRE_IN_SECS, MISSING_SCOPE_STATUS, RATE_LIMIT_HEADERS_ON_SUCCESS, ZAK_TTL_SECS,
    injected_latency, injected_response, rate_headers, too_many, zoom_error,
};
use crate::auth::Grant;
use crate::clock::rfc3339_secs;
use crate::config::AppKind;
use crate::events::meeting_object;
use crate::faults::Endpoint;
use crate::model::{Meeting, Resolved, User};
use crate::paging::{self, PagingError};
use crate::ratelimit::{Decision, Label};
use crate::sim::{Sim, TokenKind, TokenRecord};
use crate::stats::bump;
use crate::store::{ListType, Store};

type Q = Query<HashMap<String, String>>;

/// Zoom's answer to an expired `next_page_token`: 400, code 300.
/// UNCONFIRMED beyond the 15-minute lifetime (issue 14): the code is the
/// one Zoom uses for invalid fields, the text names the token.
pub const EXPIRED_PAGE_TOKEN_MESSAGE: &str = "The next page token is invalid or expired.";

pub(super) fn routes() -> Router<Sim> {
    Router::new()
        .route("/users", get(list_users))
        .route("/users/{user_id}", get(get_user))
        .route("/users/{user_id}/meetings", get(list_meetings))
        .route("/users/{user_id}/token", get(user_token))
        .route("/meetings/{meeting_id}", get(get_meeting))
        .route("/meetings/{meeting_id}/jointoken/{kind}", get(join_token))
        .fallback(|| async { zoom_error(StatusCode::NOT_FOUND, 404, "Not Found") })
}

/// Expected refusals of the handlers, turned into Zoom's bodies in one place.
#[derive(Debug)]
enum Refusal {
    /// 400/300 naming a query field.
    InvalidField(&'static str),
    /// 400/300 for a non-numeric meeting ID.
    BadMeetingId,
    /// 404/1001.
    UserNotFound(String),
    /// 404/3001.
    MeetingNotFound(String),
    /// 400/300 for an expired `next_page_token`.
    ExpiredPageToken,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::InvalidField(f) => invalid_field(f),
            Self::BadMeetingId => zoom_error(StatusCode::BAD_REQUEST, 300, "Invalid meeting ID."),
            Self::UserNotFound(id) => user_not_found(&id),
            Self::MeetingNotFound(id) => meeting_not_found(&id),
            Self::ExpiredPageToken => {
                zoom_error(StatusCode::BAD_REQUEST, 300, EXPIRED_PAGE_TOKEN_MESSAGE)
            }
        }
    }
}

fn invalid_token() -> Response {
    zoom_error(StatusCode::UNAUTHORIZED, 124, "Invalid access token.")
}

fn invalid_field(field: &str) -> Response {
    zoom_error(
        StatusCode::BAD_REQUEST,
        300,
        format!("Invalid field: {field}."),
    )
}

fn meeting_not_found(id: &str) -> Response {
    zoom_error(
        StatusCode::NOT_FOUND,
        3001,
        format!("Meeting does not exist: {id}."),
    )
}

fn user_not_found(id: &str) -> Response {
    zoom_error(
        StatusCode::NOT_FOUND,
        1001,
        format!("User does not exist: {id}."),
    )
}

/// The granular scope an endpoint checks (docs/zoom.md "Scopes per call").
///
/// A user-managed app's grant passes with the plain scope or its `:admin`
/// variant. An admin-managed (account-level) app reaches other users' data
/// only with the `:admin` variant; the plain one covers only calls about
/// the authorizing user itself (`own`, e.g. `GET /users/me`).
#[derive(Clone, Debug)]
struct Need {
    base: String,
    own: bool,
}

impl Need {
    fn of(base: impl Into<String>) -> Option<Self> {
        Some(Self {
            base: base.into(),
            own: false,
        })
    }

    fn own(base: impl Into<String>, own: bool) -> Option<Self> {
        Some(Self {
            base: base.into(),
            own,
        })
    }

    /// The scopes that satisfy this need for `grant`.
    fn accepted(&self, grant: &Grant) -> Vec<String> {
        let admin = format!("{}:admin", self.base);
        if grant.kind == AppKind::User || self.own {
            vec![self.base.clone(), admin]
        } else {
            vec![admin]
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Runs the gate, then `handler`, and counts the outcome.
async fn serve(
    sim: &Sim,
    endpoint: Endpoint,
    headers: &HeaderMap,
    need: Option<Need>,
    handler: impl FnOnce(&Sim, &Grant) -> Response,
) -> Response {
    sim.with_stats(|s| s.request(endpoint.as_str()));
    injected_latency(sim, endpoint).await;
    let (resp, account) = gate(sim, endpoint, headers, need, handler);
    let status = resp.status().as_u16();
    sim.with_stats(|s| s.finish(account.as_deref(), status));
    resp
}

fn gate(
    sim: &Sim,
    endpoint: Endpoint,
    headers: &HeaderMap,
    need: Option<Need>,
    handler: impl FnOnce(&Sim, &Grant) -> Response,
) -> (Response, Option<String>) {
    let now = sim.now_ms();
    let grant = bearer(headers).and_then(|t| sim.state().auth.access(t, now).cloned());
    let Some(grant) = grant else {
        return (invalid_token(), None);
    };
    let account = Some(grant.account_id.clone());
    let label = endpoint.label().unwrap_or(Label::Light);
    let (limit, remaining) = match sim.rate_check(&grant.account_id, label) {
        Decision::Reject {
            limit,
            retry_after_secs,
        } => {
            sim.with_stats(|s| {
                s.rate_limited += 1;
                bump(&mut s.rate_limited_by_account, grant.account_id.clone());
            });
            return (too_many(label, limit, retry_after_secs), account);
        }
        Decision::Admit { limit, remaining } => (limit, remaining),
    };
    if let Some(r) = injected_response(sim, endpoint, sim.roll(endpoint), limit) {
        return (r, account);
    }
    let accepted = need.map(|n| n.accepted(&grant)).unwrap_or_default();
    let mut resp = if !accepted.is_empty() && !accepted.iter().any(|s| grant.scopes.contains(s)) {
        sim.with_stats(|s| s.missing_scope += 1);
        zoom_error(
            MISSING_SCOPE_STATUS,
            4711,
            format!(
                "Invalid access token, does not contain scopes:[{}].",
                accepted.join(", ")
            ),
        )
    } else {
        handler(sim, &grant)
    };
    if RATE_LIMIT_HEADERS_ON_SUCCESS {
        rate_headers(&mut resp, label, limit, remaining, None);
    }
    (resp, account)
}

/// The user `key` (`me`, an ID or an email) if this grant may see it.
fn visible_user<'a>(store: &'a Store, grant: &Grant, key: &str) -> Result<&'a User, Refusal> {
    let user = if key == "me" {
        store.user(&grant.user_id)
    } else {
        store.user_by_id_or_email(key)
    };
    match user {
        Some(u)
            if u.account_id == grant.account_id
                && (grant.kind == AppKind::Account || u.id == grant.user_id) =>
        {
            Ok(u)
        }
        _ => Err(Refusal::UserNotFound(key.to_owned())),
    }
}

/// The meeting or PMI `raw` if this grant may see it.
fn visible_meeting<'a>(
    store: &'a Store,
    grant: &Grant,
    raw: &str,
) -> Result<Resolved<'a>, Refusal> {
    let Ok(number) = raw.parse::<u64>() else {
        return Err(Refusal::BadMeetingId);
    };
    match store.resolve(number) {
        Some(r)
            if r.account_id() == grant.account_id
                && (grant.kind == AppKind::Account || r.host_id() == grant.user_id) =>
        {
            Ok(r)
        }
        _ => Err(Refusal::MeetingNotFound(raw.to_owned())),
    }
}

fn user_json(u: &User, store: &Store) -> Value {
    let account_number = store.account(&u.account_id).map_or(0, |a| a.account_number);
    json!({
        "id": u.id,
        "first_name": u.first_name,
        "last_name": u.last_name,
        "display_name": u.display_name(),
        "email": u.email,
        "type": u.user_type,
        "role_name": match u.role_id.as_str() { "0" => "Owner", "1" => "Admin", _ => "Member" },
        "pmi": u.pmi,
        "use_pmi": u.use_pmi,
        "personal_meeting_url": format!("https://zoom.us/j/{}", u.pmi),
        "vanity_url": u.vanity_name.as_ref().map(|n| format!("https://zoom.us/my/{n}")).unwrap_or_default(),
        "timezone": u.timezone,
        "verified": 1,
        "dept": "",
        "created_at": rfc3339_secs(u.created_ms),
        "user_created_at": rfc3339_secs(u.created_ms),
        "last_login_time": rfc3339_secs(u.created_ms),
        "last_client_version": "6.0.0.0000(mac)",
        "pic_url": "",
        "language": "en-US",
        "phone_number": "",
        "status": u.status,
        "role_id": u.role_id,
        "account_id": u.account_id,
        "account_number": account_number,
        "cluster": "us05",
    })
}

fn user_list_item(u: &User) -> Value {
    json!({
        "id": u.id,
        "first_name": u.first_name,
        "last_name": u.last_name,
        "display_name": u.display_name(),
        "email": u.email,
        "type": u.user_type,
        "pmi": u.pmi,
        "timezone": u.timezone,
        "verified": 1,
        "dept": "",
        "created_at": rfc3339_secs(u.created_ms),
        "user_created_at": rfc3339_secs(u.created_ms),
        "last_login_time": rfc3339_secs(u.created_ms),
        "last_client_version": "6.0.0.0000(mac)",
        "language": "en-US",
        "status": u.status,
        "role_id": u.role_id,
    })
}

fn meeting_list_item(m: &Meeting, host_pmi: u64) -> Value {
    let mut v = json!({
        "uuid": m.uuid,
        "id": m.id,
        "host_id": m.host_id,
        "topic": m.topic,
        "type": m.meeting_type,
        "duration": m.duration,
        "timezone": m.timezone,
        "created_at": rfc3339_secs(m.created_ms),
        "join_url": m.join_url(),
        "agenda": m.agenda,
    });
    if let Some(o) = v.as_object_mut() {
        if let Some(s) = m.start_ms {
            o.insert("start_time".into(), json!(rfc3339_secs(s)));
        }
        // Zoom returns `pmi` (a string) only when the meeting was scheduled
        // with the PMI.
        if m.use_pmi {
            o.insert("pmi".into(), json!(host_pmi.to_string()));
        }
    }
    v
}

fn meeting_json(r: &Resolved<'_>, store: &Store) -> Value {
    match r {
        Resolved::Meeting(m) => {
            let host = store.user(&m.host_id);
            let mut o = meeting_object(m, host.map_or(0, |h| h.pmi));
            o.insert("host_email".into(), json!(host.map(|h| h.email.clone())));
            o.insert("assistant_id".into(), json!(""));
            o.insert("status".into(), json!("waiting"));
            o.insert("agenda".into(), json!(m.agenda));
            o.insert("created_at".into(), json!(rfc3339_secs(m.created_ms)));
            o.insert("pre_schedule".into(), json!(false));
            Value::Object(o)
        }
        Resolved::Pmi(u) => json!({
            "uuid": format!("pmi{}AAAAAAAAAA==", u.pmi),
            "id": u.pmi,
            "host_id": u.id,
            "host_email": u.email,
            "topic": format!("{}'s Personal Meeting Room", u.display_name()),
            "type": crate::model::meeting_type::PMI,
            "status": "waiting",
            "timezone": u.timezone,
            "agenda": "",
            "created_at": rfc3339_secs(u.created_ms),
            "join_url": format!("https://zoom.us/j/{}", u.pmi),
            "pmi": u.pmi.to_string(),
            "settings": {"use_pmi": true, "alternative_hosts": "", "join_before_host": false, "jbh_time": 0},
            "pre_schedule": false,
        }),
    }
}

fn paging_error(e: &PagingError) -> Refusal {
    match e {
        PagingError::BadPageSize => Refusal::InvalidField("page_size"),
        PagingError::BadToken => Refusal::InvalidField("next_page_token"),
        PagingError::Expired => Refusal::ExpiredPageToken,
    }
}

fn parse_paging(
    sim: &Sim,
    q: &HashMap<String, String>,
    scope: u64,
) -> Result<(usize, Option<u64>), Refusal> {
    let size =
        paging::page_size(q.get("page_size").map(String::as_str)).map_err(|e| paging_error(&e))?;
    let after = paging::decode(
        q.get("next_page_token").map(String::as_str),
        scope,
        sim.now_ms(),
        sim.page_token_ttl_ms(),
    )
    .map_err(|e| paging_error(&e))?;
    Ok((size, after))
}

async fn get_user(
    State(sim): State<Sim>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(
        &sim,
        Endpoint::GetUser,
        &headers,
        Need::own("user:read:user", user_id == "me"),
        |sim, grant| {
            let st = sim.state();
            match visible_user(&st.store, grant, &user_id) {
                Ok(u) => Json(user_json(u, &st.store)).into_response(),
                Err(r) => r.into_response(),
            }
        },
    )
    .await
}

async fn list_users(State(sim): State<Sim>, Query(q): Q, headers: HeaderMap) -> Response {
    // Only an `:admin` scope exists for listing users (docs/zoom.md §5).
    let need = Some(Need {
        base: "user:read:list_users".into(),
        own: false,
    });
    serve(&sim, Endpoint::ListUsers, &headers, need, |sim, grant| {
        let status = q.get("status").map_or("active", String::as_str);
        if !matches!(status, "active" | "inactive" | "pending") {
            return invalid_field("status");
        }
        let only = (grant.kind == AppKind::User).then_some(grant.user_id.as_str());
        let scope = paging::fingerprint(&["users", &grant.account_id, status, only.unwrap_or("")]);
        let (size, after) = match parse_paging(sim, &q, scope) {
            Ok(p) => p,
            Err(r) => return r.into_response(),
        };
        let st = sim.state();
        let page = if let Some(uid) = only {
            let users = st
                .store
                .user(uid)
                .filter(|u| u.status == status)
                .map(|u| (u.seq, u));
            paging::paginate(users, after, size)
        } else {
            st.store.list_users(&grant.account_id, status, after, size)
        };
        let users: Vec<Value> = page.items.iter().map(|u| user_list_item(u)).collect();
        Json(json!({
            "page_count": page.page_count(size),
            "page_number": 1,
            "page_size": size,
            "total_records": page.total,
            "next_page_token": page.next_after.map(|k| paging::encode(scope, k, sim.now_ms())).unwrap_or_default(),
            "users": users,
        }))
        .into_response()
    })
    .await
}

async fn list_meetings(
    State(sim): State<Sim>,
    Path(user_id): Path<String>,
    Query(q): Q,
    headers: HeaderMap,
) -> Response {
    serve(
        &sim,
        Endpoint::ListMeetings,
        &headers,
        Need::own("meeting:read:list_meetings", user_id == "me"),
        |sim, grant| {
            let raw_type = q.get("type").map(String::as_str);
            let Some(kind) = ListType::parse(raw_type) else {
                return invalid_field("type");
            };
            let now = sim.now_ms();
            let st = sim.state();
            let user = match visible_user(&st.store, grant, &user_id) {
                Ok(u) => u,
                Err(r) => return r.into_response(),
            };
            let scope = paging::fingerprint(&["meetings", &user.id, &format!("{kind:?}")]);
            let (size, after) = match parse_paging(sim, &q, scope) {
                Ok(p) => p,
                Err(r) => return r.into_response(),
            };
            let page = st.store.list_meetings(&user.id, kind, now, after, size);
            let meetings: Vec<Value> = page
                .items
                .iter()
                .map(|m| meeting_list_item(m, user.pmi))
                .collect();
            Json(json!({
                "page_count": page.page_count(size),
                "page_number": 1,
                "page_size": size,
                "total_records": page.total,
                "next_page_token": page.next_after.map(|k| paging::encode(scope, k, sim.now_ms())).unwrap_or_default(),
                "meetings": meetings,
            }))
            .into_response()
        },
    )
    .await
}

async fn get_meeting(
    State(sim): State<Sim>,
    Path(meeting_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(
        &sim,
        Endpoint::GetMeeting,
        &headers,
        Need::of("meeting:read:meeting"),
        |sim, grant| {
            let st = sim.state();
            match visible_meeting(&st.store, grant, &meeting_id) {
                Ok(r) => Json(meeting_json(&r, &st.store)).into_response(),
                Err(r) => r.into_response(),
            }
        },
    )
    .await
}

fn parse_bool(raw: Option<&String>) -> Result<Option<bool>, ()> {
    match raw.map(|s| s.to_ascii_lowercase()).as_deref() {
        None | Some("") => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(_) => Err(()),
    }
}

async fn join_token(
    State(sim): State<Sim>,
    Path((meeting_id, kind)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
) -> Response {
    let kind = TokenKind::join_kind(&kind);
    let need = kind.and_then(|k| Need::of(format!("meeting:read:{}_token", k.as_str())));
    serve(&sim, Endpoint::JoinToken, &headers, need, |sim, grant| {
        let Some(kind) = kind else {
            return zoom_error(StatusCode::NOT_FOUND, 404, "Not Found");
        };
        let Ok(bypass) = parse_bool(q.get("bypass_waiting_room")) else {
            return invalid_field("bypass_waiting_room");
        };
        let now = sim.now_ms();
        let mut st = sim.state();
        let st = &mut *st;
        if let Ok(r) = visible_meeting(&st.store, grant, &meeting_id)
            && let Some(refusal) = host_refusal(&st.store, r.host_id(), kind)
        {
            return refusal;
        }
        let (number, host, account) = match visible_meeting(&st.store, grant, &meeting_id) {
            Ok(r) => (
                match &r {
                    Resolved::Meeting(m) => m.id,
                    Resolved::Pmi(u) => u.pmi,
                },
                r.host_id().to_owned(),
                r.account_id().to_owned(),
            ),
            Err(r) => return r.into_response(),
        };
        let token = format!("sim_{}_{}", kind.as_str(), st.rng.id(32));
        Sim::record_token(
            st,
            TokenRecord {
                token: token.clone(),
                kind,
                meeting_id: Some(number),
                account_id: account,
                user_id: host,
                grant_user_id: grant.user_id.clone(),
                minted_at: Sim::minted_at(now),
                minted_at_ms: now,
                expires_at_ms: Some(now + JOIN_TOKEN_EXPIRE_IN_SECS * 1000),
                bypass_waiting_room: Some(bypass.unwrap_or(false)),
            },
        );
        sim.with_stats(|s| s.minted(kind.as_str()));
        Json(json!({ "token": token, "expire_in": JOIN_TOKEN_EXPIRE_IN_SECS })).into_response()
    })
    .await
}

/// Zoom's refusal of a join token because of the host's settings
/// (docs/zoom.md §7, "Errors seen in the wild"): 400/3161 when the host may
/// not host meetings, 400/3000 when the setting the token kind needs is
/// off.
fn host_refusal(store: &Store, host_id: &str, kind: TokenKind) -> Option<Response> {
    let settings = store.user(host_id)?.settings;
    if !settings.host_allowed {
        return Some(zoom_error(
            StatusCode::BAD_REQUEST,
            3161,
            "Meeting hosting and scheduling are not allowed for this user.",
        ));
    }
    let (on, setting) = match kind {
        TokenKind::LocalArchiving => (settings.archiving, "Archive meetings and webinars"),
        TokenKind::LiveStreaming => (settings.live_streaming, "Allow livestreaming of meetings"),
        _ => (settings.local_recording, "Local Recording"),
    };
    (!on).then(|| {
        zoom_error(
            StatusCode::BAD_REQUEST,
            3000,
            format!(
                "Not allowed to start {}. Please turn on the \"{setting}\" setting in the web portal.",
                match kind {
                    TokenKind::LocalArchiving => "archiving",
                    TokenKind::LiveStreaming => "live streaming",
                    _ => "local recording",
                }
            ),
        )
    })
}

async fn user_token(
    State(sim): State<Sim>,
    Path(user_id): Path<String>,
    Query(q): Q,
    headers: HeaderMap,
) -> Response {
    let kind = match q.get("type").map(String::as_str) {
        Some("zak") => Some(TokenKind::Zak),
        Some("onbehalf") => Some(TokenKind::Onbehalf),
        _ => None,
    };
    let own = user_id == "me";
    let need = match kind {
        Some(TokenKind::Zak) => Need::own("user:read:zak", own),
        Some(_) => Need::own("user:read:token", own),
        None => None,
    };
    serve(&sim, Endpoint::UserToken, &headers, need, |sim, grant| {
        let Some(kind) = kind else {
            return invalid_field("type");
        };
        // An on-behalf token is for joining meetings *outside* the account,
        // so the meeting is not checked for ownership, only for existence
        // (below, after the user).
        let meeting_id = match (kind, q.get("meeting_id")) {
            (TokenKind::Onbehalf, None) => {
                return zoom_error(
                    StatusCode::BAD_REQUEST,
                    300,
                    "meeting_id is required for type onbehalf.",
                );
            }
            (_, Some(raw)) => match raw.parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => return invalid_field("meeting_id"),
            },
            (_, None) => None,
        };
        let now = sim.now_ms();
        let mut st = sim.state();
        let st = &mut *st;
        let (uid, account) = match visible_user(&st.store, grant, &user_id) {
            Ok(u) => (u.id.clone(), u.account_id.clone()),
            Err(r) => return r.into_response(),
        };
        // The meeting may be in any account (that is the point of OBF),
        // but it must exist: Zoom answers 3001 for an unknown number.
        if kind == TokenKind::Onbehalf
            && let Some(n) = meeting_id
            && st.store.resolve(n).is_none()
        {
            return meeting_not_found(&n.to_string());
        }
        let token = format!("sim_{}_{}", kind.as_str(), st.rng.id(32));
        Sim::record_token(
            st,
            TokenRecord {
                token: token.clone(),
                kind,
                meeting_id,
                account_id: account,
                user_id: uid,
                grant_user_id: grant.user_id.clone(),
                minted_at: Sim::minted_at(now),
                minted_at_ms: now,
                expires_at_ms: (kind == TokenKind::Zak).then_some(now + ZAK_TTL_SECS * 1000),
                bypass_waiting_room: None,
            },
        );
        sim.with_stats(|s| s.minted(kind.as_str()));
        Json(json!({ "token": token })).into_response()
    })
    .await
}
