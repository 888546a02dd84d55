//! `/_sim/*`: the control and inspection API (JSON), twin of the methods of
//! [`Sim`]. Unauthenticated: bind the simulator to a loopback address.
//!
//! Calls that fire a webhook answer `{"value":…,"dispatch":{…}}` at once;
//! with `?wait=true` they answer only when every delivery has an outcome
//! (capped by `timeout_ms`, default 60000) and add `"deliveries":[…]`.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Result, SimError};
use crate::events::Event;
use crate::faults::{Behaviour, Endpoint};
use crate::generate::GenerateSpec;
use crate::ratelimit::Plan;
use crate::sim::{DeleteMeeting, NewAccount, NewMeeting, NewUser, OAuthSettings, Sim, WithEvent};
use crate::store::UserPatch;
use crate::webhook::{DeliveryRecord, EventDispatch, WebhookSettings};

pub(super) fn routes() -> Router<Sim> {
    Router::new()
        .route("/health", get(|| async { Json(json!({"ok": true})) }))
        .route("/accounts", post(create_account))
        .route("/accounts/{id}", get(get_account).patch(patch_account))
        .route("/accounts/{id}/users", post(create_user))
        .route("/accounts/{id}/deauthorize", post(deauthorize))
        .route("/users/{id}", get(get_user).patch(patch_user))
        .route("/users/{id}/meetings", post(create_meeting))
        .route("/meetings/{id}", get(get_meeting).delete(delete_meeting))
        .route("/events", post(send_event))
        .route(
            "/faults",
            get(get_faults).put(put_faults).delete(reset_faults),
        )
        .route("/stats", get(get_stats).delete(reset_stats))
        .route("/tokens/{token}", get(get_token))
        .route("/tokens/{token}/admission", get(get_admission))
        .route(
            "/meetings/{id}/participants/{user}",
            put(join_meeting).delete(leave_meeting),
        )
        .route("/webhooks", get(list_deliveries))
        .route(
            "/webhooks/settings",
            get(get_webhook_settings).put(put_webhook_settings),
        )
        .route("/webhooks/targets", put(put_targets))
        .route("/webhooks/{id}", get(get_delivery))
        .route("/oauth", get(get_oauth).put(put_oauth))
        .route(
            "/grants",
            get(|State(sim): State<Sim>| async move { Json(sim.grants()) }),
        )
        .route("/clock/advance", post(advance_clock))
        .route("/generate", post(generate))
        .route("/seed/demo", post(seed_demo))
}

/// `?wait=true&timeout_ms=…`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WaitQuery {
    wait: bool,
    timeout_ms: Option<u64>,
}

#[derive(Serialize)]
struct Fired<T> {
    value: T,
    dispatch: EventDispatch,
    #[serde(skip_serializing_if = "Option::is_none")]
    deliveries: Option<Vec<DeliveryRecord>>,
}

async fn maybe_wait(sim: &Sim, ids: &[u64], w: &WaitQuery) -> Option<Vec<DeliveryRecord>> {
    if !w.wait {
        return None;
    }
    let cap = Duration::from_millis(w.timeout_ms.unwrap_or(60_000));
    Some(
        match tokio::time::timeout(cap, sim.wait_deliveries(ids)).await {
            Ok(r) => r,
            Err(_) => ids.iter().filter_map(|id| sim.delivery(*id)).collect(),
        },
    )
}

async fn fired<T: Serialize>(sim: &Sim, r: Result<WithEvent<T>>, w: &WaitQuery) -> Response {
    match r {
        Ok(we) => {
            let deliveries = maybe_wait(sim, &we.dispatch.deliveries, w).await;
            let body = Fired {
                value: we.value,
                dispatch: we.dispatch,
                deliveries,
            };
            (StatusCode::OK, Json(body)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

fn created<T: Serialize>(r: Result<T>) -> Response {
    match r {
        Ok(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn found<T: Serialize>(v: Option<T>, kind: &'static str, id: &str) -> Response {
    match v {
        Some(v) => Json(v).into_response(),
        None => SimError::not_found(kind, id).into_response(),
    }
}

fn parse_meeting_id(raw: &str) -> Result<u64> {
    raw.parse()
        .map_err(|_| SimError::InvalidInput(format!("meeting id {raw:?} is not a number")))
}

async fn create_account(State(sim): State<Sim>, body: Option<Json<NewAccount>>) -> Response {
    created(sim.create_account(body.map(|b| b.0).unwrap_or_default()))
}

async fn get_account(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    let users = sim.state().store.user_count(&id);
    found(
        sim.account(&id)
            .map(|a| json!({"account": a, "users": users})),
        "account",
        &id,
    )
}

#[derive(Deserialize)]
struct AccountPatch {
    plan: Plan,
}

async fn patch_account(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    Json(p): Json<AccountPatch>,
) -> Response {
    match sim.set_plan(&id, p.plan) {
        Ok(()) => found(sim.account(&id), "account", &id),
        Err(e) => e.into_response(),
    }
}

async fn create_user(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    body: Option<Json<NewUser>>,
) -> Response {
    created(sim.create_user(&id, body.map(|b| b.0).unwrap_or_default()))
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct DeauthorizeBody {
    user_id: Option<String>,
}

async fn deauthorize(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    Query(w): Query<WaitQuery>,
    body: Option<Json<DeauthorizeBody>>,
) -> Response {
    let body = body.map(|b| b.0).unwrap_or_default();
    let r = sim.deauthorize(&id, body.user_id.as_deref());
    fired(&sim, r, &w).await
}

async fn get_user(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    found(sim.user(&id), "user", &id)
}

async fn patch_user(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    Query(w): Query<WaitQuery>,
    Json(patch): Json<UserPatch>,
) -> Response {
    let r = sim.update_user(&id, patch);
    fired(&sim, r, &w).await
}

async fn create_meeting(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    Query(w): Query<WaitQuery>,
    body: Option<Json<NewMeeting>>,
) -> Response {
    let r = sim.create_meeting(&id, body.map(|b| b.0).unwrap_or_default());
    fired(&sim, r, &w).await
}

async fn get_meeting(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    match parse_meeting_id(&id) {
        Ok(n) => found(sim.meeting(n), "meeting", &id),
        Err(e) => e.into_response(),
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct DeleteQuery {
    /// Comma-separated occurrence IDs.
    occurrence_ids: Option<String>,
    operator_id: Option<String>,
    wait: bool,
    timeout_ms: Option<u64>,
}

async fn delete_meeting(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Response {
    let n = match parse_meeting_id(&id) {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    let opts = DeleteMeeting {
        occurrence_ids: q.occurrence_ids.map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        }),
        operator_id: q.operator_id,
    };
    let w = WaitQuery {
        wait: q.wait,
        timeout_ms: q.timeout_ms,
    };
    let r = sim.delete_meeting(n, opts);
    fired(&sim, r, &w).await
}

async fn send_event(
    State(sim): State<Sim>,
    Query(w): Query<WaitQuery>,
    Json(event): Json<Event>,
) -> Response {
    let dispatch = sim.send_event(event);
    let deliveries = maybe_wait(&sim, &dispatch.deliveries, &w).await;
    Json(json!({"dispatch": dispatch, "deliveries": deliveries})).into_response()
}

/// `PUT /_sim/faults`: `{"endpoint": "join_token" | null, "latency_ms": …,
/// "error_500": …, "error_503": …, "rate_limited": …, "refusal":
/// "invalid_meeting_id" | "oauth_only" | "meeting_gone" | null}`; no
/// endpoint = all.
#[derive(Deserialize)]
struct FaultRequest {
    #[serde(default)]
    endpoint: Option<Endpoint>,
    #[serde(flatten)]
    behaviour: Behaviour,
}

async fn get_faults(State(sim): State<Sim>) -> Response {
    Json(sim.behaviours()).into_response()
}

async fn put_faults(State(sim): State<Sim>, Json(req): Json<FaultRequest>) -> Response {
    match sim.set_behaviour(req.endpoint, req.behaviour) {
        Ok(()) => Json(sim.behaviours()).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn reset_faults(State(sim): State<Sim>) -> Response {
    sim.reset_behaviours();
    StatusCode::NO_CONTENT.into_response()
}

async fn get_stats(State(sim): State<Sim>) -> Response {
    Json(sim.stats()).into_response()
}

async fn reset_stats(State(sim): State<Sim>) -> Response {
    sim.reset_stats();
    StatusCode::NO_CONTENT.into_response()
}

async fn get_token(State(sim): State<Sim>, Path(token): Path<String>) -> Response {
    match sim.token(&token) {
        Some(t) => Json(t).into_response(),
        // The token itself is not echoed back.
        None => SimError::not_found("token", "(given)").into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AdmissionQuery {
    meeting_id: Option<String>,
}

async fn get_admission(
    State(sim): State<Sim>,
    Path(token): Path<String>,
    Query(q): Query<AdmissionQuery>,
) -> Response {
    let meeting = match q.meeting_id.as_deref().map(parse_meeting_id).transpose() {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    Json(sim.admission(&token, meeting)).into_response()
}

async fn set_presence(sim: &Sim, meeting: &str, user: &str, present: bool) -> Response {
    let result = parse_meeting_id(meeting).and_then(|m| sim.set_in_meeting(m, user, present));
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn join_meeting(
    State(sim): State<Sim>,
    Path((id, user)): Path<(String, String)>,
) -> Response {
    set_presence(&sim, &id, &user, true).await
}

async fn leave_meeting(
    State(sim): State<Sim>,
    Path((id, user)): Path<(String, String)>,
) -> Response {
    set_presence(&sim, &id, &user, false).await
}

async fn list_deliveries(State(sim): State<Sim>) -> Response {
    Json(sim.deliveries()).into_response()
}

async fn get_delivery(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    let d = id.parse::<u64>().ok().and_then(|n| sim.delivery(n));
    found(d, "delivery", &id)
}

async fn get_webhook_settings(State(sim): State<Sim>) -> Response {
    Json(sim.webhook_settings()).into_response()
}

async fn put_webhook_settings(State(sim): State<Sim>, Json(s): Json<WebhookSettings>) -> Response {
    if !(s.retry_scale.is_finite() && s.retry_scale >= 0.0) {
        return SimError::InvalidInput("retry_scale must be a finite number >= 0".into())
            .into_response();
    }
    sim.set_webhook_settings(s);
    Json(sim.webhook_settings()).into_response()
}

#[derive(Deserialize)]
struct Targets {
    urls: Vec<String>,
}

async fn put_targets(State(sim): State<Sim>, Json(t): Json<Targets>) -> Response {
    sim.set_webhook_urls(t.urls);
    Json(sim.webhook_settings()).into_response()
}

async fn get_oauth(State(sim): State<Sim>) -> Response {
    Json(sim.oauth_settings()).into_response()
}

async fn put_oauth(State(sim): State<Sim>, Json(s): Json<OAuthSettings>) -> Response {
    sim.set_oauth_settings(s);
    Json(sim.oauth_settings()).into_response()
}

#[derive(Deserialize)]
struct Advance {
    seconds: u64,
}

async fn advance_clock(State(sim): State<Sim>, Json(a): Json<Advance>) -> Response {
    sim.advance_clock(Duration::from_secs(a.seconds));
    Json(json!({"now_ms": sim.now_ms()})).into_response()
}

async fn generate(State(sim): State<Sim>, Json(spec): Json<GenerateSpec>) -> Response {
    created(sim.generate(&spec))
}

async fn seed_demo(State(sim): State<Sim>) -> Response {
    created(sim.seed_demo())
}
