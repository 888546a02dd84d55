//! The admin API: account status and actions, and the meeting/PMI map.
//! JSON only; every route needs `Authorization: Bearer {RECTOKEN_ADMIN_TOKEN}`
//! (compared in constant time) and is 404 while no admin token is set.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rectoken_domain::connect_link;
use rectoken_domain::meeting_id::MeetingId;
use rectoken_store::{AccountRecord, MapKey, MapKind, Mapping};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::oauth::enqueue_full_sync;
use crate::services::{Services, bearer, secret_matches};
use crate::state::IngressState;

/// Largest page of `GET /admin/meetings`.
pub const MAX_PAGE: usize = 1000;
/// Default page of `GET /admin/meetings`.
pub const DEFAULT_PAGE: usize = 100;

/// Middleware: 404 while the admin API is off, 401 without the right token.
pub async fn require_admin(
    State(state): State<IngressState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state.services.as_ref().and_then(|s| s.admin_token.as_ref()) else {
        return ApiError::admin_off().into_response();
    };
    match bearer(request.headers()) {
        Some(token) if secret_matches(token, expected) => next.run(request).await,
        _ => {
            metrics::counter!("rectoken_admin_unauthorized_total").increment(1);
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or wrong admin bearer token",
            )
            .into_response()
        }
    }
}

fn account_json(
    rec: &AccountRecord,
    mappings: Option<u64>,
    creds: Option<&rectoken_store::StoredCredentials>,
) -> Value {
    let report = rectoken_zoom::scopes::assess(&rec.scopes, rec.kind == "user");
    json!({
        "account_id": rec.account_id,
        "app": rec.app,
        "kind": rec.kind,
        "user_id": rec.user_id,
        "status": rec.status,
        "connected_at_ms": rec.connected_at_ms,
        "scopes": rec.scopes,
        // What the granted scopes leave out (rectoken_zoom::scopes): core
        // calls that will fail, and optional token kinds unavailable, each
        // with the scope that would enable it.
        "missing_scopes": report.missing_required.iter().map(|m| json!({
            "scope": m.scope, "call": m.call, "purpose": m.purpose,
        })).collect::<Vec<_>>(),
        "unavailable_features": report.unavailable_features().iter().map(|(f, scope)| json!({
            "feature": f.as_str(), "scope": scope,
        })).collect::<Vec<_>>(),
        "last_error": rec.last_error,
        "sync": rec.sync,
        "mappings": mappings,
        // Times only: tokens never leave the vault.
        "credentials": creds.map(|c| json!({
            "refreshed_at_ms": c.refreshed_at_ms,
            "access_expires_at_ms": c.access_expires_at_ms,
            "key_id": c.sealed.key_id,
        })),
    })
}

/// `GET /admin/accounts`.
pub async fn list_accounts(State(state): State<IngressState>) -> Result<Response, ApiError> {
    let services = state.admin()?;
    let accounts = services.store.list_accounts().await?;
    let mut out = Vec::with_capacity(accounts.len());
    for rec in &accounts {
        let count = services.store.count_mappings(&rec.account_id).await.ok();
        out.push(account_json(rec, count, None));
    }
    Ok(Json(json!({ "accounts": out })).into_response())
}

/// `GET /admin/accounts/{id}`.
pub async fn get_account(
    State(state): State<IngressState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let services = state.admin()?;
    let rec = known_account(services, &id).await?;
    let count = services.store.count_mappings(&id).await.ok();
    let creds = services.store.credentials(&id).await.ok().flatten();
    Ok(Json(account_json(&rec, count, creds.as_ref())).into_response())
}

/// `POST /admin/connect-links`: a one-time, expiring link for a
/// customer's Zoom admin, `{"url", "expires_at"}` (201). An optional JSON
/// body `{"expires_in": seconds, "app": "NAME"}` sets its life (default 7
/// days, at most 30) and the Zoom app of the apps file it connects through
/// (default: the `ZOOM_*` app).
pub async fn create_connect_link(
    State(state): State<IngressState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let services = state.admin()?;
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        ConnectLinkRequest::default()
    } else {
        serde_json::from_slice::<ConnectLinkRequest>(&body).map_err(|_| bad_link_request())?
    };
    let ttl = match request.expires_in {
        None => connect_link::DEFAULT_TTL_SECS,
        Some(s) if (1..=connect_link::MAX_TTL_SECS).contains(&s) => s,
        Some(_) => return Err(bad_link_request()),
    };
    let app = request.app.as_deref().unwrap_or(crate::apps::DEFAULT_APP);
    if services.vault.clients().get(app).is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "no Zoom app named {app:?} (ZOOM_* is \"default\"; others come from RECTOKEN_APPS_FILE)"
            ),
        ));
    }
    let link = crate::oauth::issue_connect_link_for(services, app, (state.now)(), ttl);
    tracing::info!(expires_at = %link.expires_at, app, "connect link issued");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "url": link.url, "expires_at": link.expires_at })),
    )
        .into_response())
}

/// The optional body of `POST /admin/connect-links`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectLinkRequest {
    /// Seconds the link lives.
    expires_in: Option<i64>,
    /// The Zoom app to connect through.
    app: Option<String>,
}

fn bad_link_request() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        format!(
            "the body is optional; if given, {{\"expires_in\": seconds}} with 1 to {} seconds \
             and/or {{\"app\": \"NAME\"}}",
            connect_link::MAX_TTL_SECS
        ),
    )
}

/// `POST /admin/accounts/{id}/resync`: enqueue a full sync.
pub async fn resync(
    State(state): State<IngressState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let services = state.admin()?;
    known_account(services, &id).await?;
    match enqueue_full_sync(&state, &id, "admin").await {
        Ok(()) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"account_id": id, "sync": "enqueued"})),
        )
            .into_response()),
        Err(e) => {
            tracing::warn!(account_id = %id, error = %e, "could not enqueue a resync");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "could not enqueue the sync; try again",
            ))
        }
    }
}

/// `DELETE /admin/accounts/{id}`: forget the account, its credentials and
/// its mappings.
pub async fn delete_account(
    State(state): State<IngressState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let services = state.admin()?;
    known_account(services, &id).await?;
    let removed = services.forget_account(&id).await?;
    tracing::info!(account_id = %id, removed, "account deleted by admin");
    Ok(
        Json(json!({"account_id": id, "deleted": true, "mappings_removed": removed}))
            .into_response(),
    )
}

/// The account's record, or 404 when there is none.
async fn known_account(services: &Services, id: &str) -> Result<AccountRecord, ApiError> {
    services
        .store
        .account(id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no account {id}")))
}

fn mapping_json(key: MapKey, m: &Mapping) -> Value {
    json!({
        "id": key.id.to_string(),
        "kind": match key.kind { MapKind::Meeting => "meeting", MapKind::Pmi => "pmi" },
        "account_id": m.account_id,
        "host_id": m.owner_id,
        "source": m.source,
        "version_ms": m.version_ms,
        "written_at_ms": m.written_at_ms,
    })
}

/// `GET /admin/meetings?account_id=&cursor=&limit=`.
pub async fn list_meetings(
    State(state): State<IngressState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let services = state.admin()?;
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_PAGE,
        Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("limit must be 1..={MAX_PAGE}"),
            ));
        }
    };
    let account = q
        .get("account_id")
        .map(String::as_str)
        .filter(|a| !a.is_empty());
    let cursor = q
        .get("cursor")
        .map(String::as_str)
        .filter(|c| !c.is_empty());
    let (items, next) = services.store.list_mappings(account, cursor, limit).await?;
    Ok(Json(json!({
        "meetings": items.iter().map(|(k, m)| mapping_json(*k, m)).collect::<Vec<_>>(),
        "next_cursor": next,
    }))
    .into_response())
}

/// `GET /admin/meetings/{id}`: a meeting ID or a PMI.
pub async fn get_meeting(
    State(state): State<IngressState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let services = state.admin()?;
    let Ok(id) = id.parse::<MeetingId>() else {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "not a meeting ID"));
    };
    for key in [MapKey::meeting(id), MapKey::pmi(id)] {
        if let Some(m) = services.store.get_mapping(key).await? {
            return Ok(Json(mapping_json(key, &m)).into_response());
        }
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        format!("meeting {id} is not mapped"),
    ))
}
