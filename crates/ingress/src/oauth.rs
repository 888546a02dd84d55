//! The OAuth connect flow: `GET /zoom/oauth/authorize` and
//! `GET /zoom/oauth/callback`.
//!
//! The callback rejects a missing, forged or expired `state` before any
//! I/O; then it exchanges the code, reads `/users/me` for the account ID,
//! stores the credentials sealed, records the account as connected
//! (replacing an earlier connection of the same account, never duplicating
//! it), enqueues a full sync and answers a short HTML page that says what
//! happened, errors included.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use rectoken_bus::OutgoingMessage;
use rectoken_domain::jobs::{JOB_HEADER, SyncJob, connection_id};
use rectoken_domain::oauth_state;
use rectoken_store::{AccountRecord, AccountStatus};

use crate::apps::DEFAULT_APP;
use crate::server::IngressState;
use crate::services::now_ms;

/// Escape text for HTML (Zoom's `error` parameter is attacker-controlled).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t} · rectoken</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\"><h1>{t}</h1><p>{b}</p></body></html>",
        t = escape_html(title),
        b = escape_html(body)
    );
    (status, Html(html)).into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "OAuth is not configured on this ingress",
    )
        .into_response()
}

/// `GET /zoom/oauth/authorize`: redirect the admin to Zoom's consent page.
pub async fn authorize(State(state): State<IngressState>) -> Response {
    let Some(services) = state.services.as_ref() else {
        return not_found();
    };
    let nonce: [u8; 16] = rand::random();
    let signed = oauth_state::issue(&services.state_key, DEFAULT_APP, (state.now)(), nonce);
    let location = services
        .zoom
        .authorize_url(&services.redirect_uri(), &signed);
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response()
}

/// `GET /zoom/oauth/callback?code&state` (or `?error&state` when the admin
/// declined).
pub async fn callback(
    State(state): State<IngressState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some(services) = state.services.as_ref() else {
        return not_found();
    };
    let verified = oauth_state::verify(
        &services.state_key,
        params.get("state").map(String::as_str),
        (state.now)(),
    );
    if let Some(error) = params.get("error") {
        metrics::counter!("rectoken_oauth_callbacks_total", "outcome" => "declined").increment(1);
        tracing::info!(outcome = "declined", "OAuth authorization declined");
        return page(
            StatusCode::BAD_REQUEST,
            "Zoom account not connected",
            &format!(
                "Zoom reported: {error}. Nothing was stored. Start again from the authorize link if this was a mistake."
            ),
        );
    }
    if let Err(e) = verified {
        metrics::counter!("rectoken_oauth_callbacks_total", "outcome" => "bad_state").increment(1);
        return page(
            StatusCode::BAD_REQUEST,
            "Zoom account not connected",
            &format!("{e}. Nothing was stored."),
        );
    }
    let Some(code) = params.get("code").filter(|c| !c.is_empty()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Zoom account not connected",
            "The callback carries no authorization code.",
        );
    };
    match connect(&state, code).await {
        Ok(account_id) => {
            metrics::counter!("rectoken_oauth_callbacks_total", "outcome" => "connected")
                .increment(1);
            page(
                StatusCode::OK,
                "Zoom account connected",
                &format!(
                    "Account {account_id} is connected. rectoken is syncing its meetings now; bots can ask for join tokens for them."
                ),
            )
        }
        Err((status, message)) => {
            metrics::counter!("rectoken_oauth_callbacks_total", "outcome" => "failed").increment(1);
            page(status, "Zoom account not connected", &message)
        }
    }
}

async fn connect(state: &IngressState, code: &str) -> Result<String, (StatusCode, String)> {
    let Some(services) = state.services.as_ref() else {
        return Err((StatusCode::NOT_FOUND, "OAuth is not configured".into()));
    };
    let tokens = services
        .zoom
        .exchange_code(code, &services.redirect_uri())
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "OAuth code exchange failed");
            (StatusCode::BAD_GATEWAY, format!("Zoom did not accept the authorization: {e}. Nothing was stored; please try again."))
        })?;
    let me = services.zoom.me(&tokens.access_token).await.map_err(|e| {
        tracing::warn!(error = %e, "GET /users/me failed after the code exchange");
        (StatusCode::BAD_GATEWAY, format!("Zoom did not tell us which account this is: {e}. Nothing was stored; please try again."))
    })?;
    let id = connection_id(services.user_level, &me.account_id, &me.id);
    let now = now_ms();
    let internal = |e: &dyn std::fmt::Display| {
        tracing::error!(account_id = %id, error = %e, "could not store the connection");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "rectoken could not store the credentials right now; please try again.".to_owned(),
        )
    };
    let previous = services
        .store
        .account(&id)
        .await
        .map_err(|e| internal(&e))?;
    let record = AccountRecord {
        account_id: id.clone(),
        app: DEFAULT_APP.to_owned(),
        kind: if services.user_level {
            "user".into()
        } else {
            "account".into()
        },
        user_id: Some(me.id.clone()),
        status: AccountStatus::Connected,
        connected_at_ms: now,
        scopes: tokens.scope.clone(),
        last_error: None,
        // A re-connect keeps the sync history.
        sync: previous.map(|p| p.sync).unwrap_or_default(),
    };
    // Credentials first: an account record never points at missing ones.
    services
        .vault
        .save(&id, &tokens)
        .await
        .map_err(|e| internal(&e))?;
    services
        .store
        .upsert_account(&record)
        .await
        .map_err(|e| internal(&e))?;
    tracing::info!(account_id = %id, outcome = "connected", "Zoom account connected");
    if let Err(e) = enqueue_full_sync(state, &id, "connect").await {
        // Stored anyway; the scheduler syncs it on its next round.
        tracing::warn!(account_id = %id, error = %e, "could not enqueue the first sync");
    }
    Ok(id)
}

/// Publish a full-sync job for an account.
pub async fn enqueue_full_sync(
    state: &IngressState,
    account_id: &str,
    reason: &str,
) -> Result<(), rectoken_bus::BusError> {
    let job = SyncJob::FullSync {
        account_id: account_id.to_owned(),
        reason: reason.to_owned(),
        requested_at_ms: now_ms(),
    };
    let body = serde_json::to_vec(&job).unwrap_or_default();
    let message = OutgoingMessage::json(
        "",
        state.bus.topology().sync_queue(),
        body,
        job.message_id(),
    )
    .with_header(JOB_HEADER, "full_sync");
    state.bus.publish(message).await
}

#[cfg(test)]
mod tests {
    use super::escape_html;

    #[test]
    fn html_escaping() {
        assert_eq!(
            escape_html("<script>a&b</script>\"'"),
            "&lt;script&gt;a&amp;b&lt;/script&gt;&quot;&#39;"
        );
        assert_eq!(escape_html("a\r\nb"), "ab");
    }
}
