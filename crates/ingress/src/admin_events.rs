//! `GET /admin/accounts/{id}/events`: the account's last events, newest
//! first, from the bounded history every role records them in
//! (`rectoken_store::AccountEventLog`). The history outlives the account's
//! record, so a deauthorized account still shows why it went.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rectoken_store::account_events::EVENTS_KEPT;
use serde_json::json;

use crate::error::ApiError;
use crate::state::IngressState;

/// `GET /admin/accounts/{id}/events`: `{"account_id", "events": [...]}`,
/// each event as published (`id`, `type`, `timestamp`, `account_id`,
/// `app`, `data`). An account with no events has an empty list.
/// `?limit=` (1 to 50, default 50) keeps the newest that many.
pub async fn account_events(
    State(state): State<IngressState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let services = state.admin()?;
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => EVENTS_KEPT,
        Some(Ok(n)) if (1..=EVENTS_KEPT).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("limit must be 1..={EVENTS_KEPT}"),
            ));
        }
    };
    let events = match services.vault.events().log() {
        Some(log) => log.recent(&id, limit).await?,
        None => Vec::new(),
    };
    Ok(Json(json!({ "account_id": id, "events": events })).into_response())
}
