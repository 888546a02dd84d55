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
use rectoken_zoom::scopes::{self, ScopeReport};
use rectoken_zoom::{ApiError, OAuthError};

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
        Ok((account_id, report)) => {
            metrics::counter!("rectoken_oauth_callbacks_total", "outcome" => "connected")
                .increment(1);
            let mut text = format!(
                "Account {account_id} is connected. rectoken is syncing its meetings now; bots can ask for join tokens for them."
            );
            if !report.is_complete() {
                text = format!(
                    "Account {account_id} is connected, but the authorization lacks scopes rectoken needs: {}. \
                     Add them to the Zoom app (Scopes) and connect again; until then {}.",
                    report.missing_scopes().join(", "),
                    report
                        .missing_required
                        .iter()
                        .map(|m| format!("{} fails ({})", m.call, m.purpose))
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
            let optional = report.unavailable_features();
            if !optional.is_empty() {
                text.push_str(&format!(
                    " Token kinds not available with this authorization: {}.",
                    optional
                        .iter()
                        .map(|(f, scope)| format!("{} (needs {scope})", f.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            page(StatusCode::OK, "Zoom account connected", &text)
        }
        Err((status, message)) => {
            metrics::counter!("rectoken_oauth_callbacks_total", "outcome" => "failed").increment(1);
            page(status, "Zoom account not connected", &message)
        }
    }
}

/// The callback page's answer to a failed code exchange, by what Zoom's
/// answer means (`OAuthError`'s classification).
fn exchange_failure(e: &OAuthError, redirect_uri: &str) -> (StatusCode, String) {
    match e {
        OAuthError::InvalidGrant(d) => (
            StatusCode::BAD_REQUEST,
            format!(
                "Zoom refused the authorization code ({d}): codes work once and live 5 minutes. \
                 Nothing was stored; start again from the authorize link."
            ),
        ),
        OAuthError::InvalidClient(d) => (
            StatusCode::BAD_GATEWAY,
            format!(
                "Zoom refused rectoken's app credentials ({d}). Nothing was stored; the operator \
                 must check ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET and that the app is enabled."
            ),
        ),
        OAuthError::Misconfigured(d) => (
            StatusCode::BAD_GATEWAY,
            format!(
                "Zoom refused the app's OAuth configuration ({d}). Nothing was stored; the app's \
                 OAuth Redirect URL must be exactly {redirect_uri} (RECTOKEN_PUBLIC_URL)."
            ),
        ),
        e if e.is_retryable() => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Zoom's token endpoint failed ({e}). Nothing was stored; please try again."),
        ),
        e => (
            StatusCode::BAD_GATEWAY,
            format!(
                "Zoom did not accept the authorization: {e}. Nothing was stored; please try again."
            ),
        ),
    }
}

async fn connect(
    state: &IngressState,
    code: &str,
) -> Result<(String, ScopeReport), (StatusCode, String)> {
    let Some(services) = state.services.as_ref() else {
        return Err((StatusCode::NOT_FOUND, "OAuth is not configured".into()));
    };
    let redirect_uri = services.redirect_uri();
    let tokens = services
        .zoom
        .exchange_code(code, &redirect_uri)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, outcome = e.outcome(), "OAuth code exchange failed");
            exchange_failure(&e, &redirect_uri)
        })?;
    // The granted scopes, against the calls rectoken makes: a missing one
    // is named now, not discovered later as a failing sync or join.
    let report = scopes::assess(&tokens.scope, services.user_level);
    if !report.summary().is_empty() {
        tracing::warn!(
            granted = %tokens.scope.join(" "),
            scopes = %report.summary(),
            "the Zoom authorization lacks scopes"
        );
    }
    let me = services.zoom.me(&tokens.access_token).await.map_err(|e| {
        tracing::warn!(error = %e, "GET /users/me failed after the code exchange");
        match &e {
            ApiError::MissingScope { message } => {
                // The scope rectoken's table asks for; Zoom's message (which
                // may list every variant) when the table has none.
                let named = match scopes::scope_for("GET /users/me", services.user_level) {
                    Some(s) => vec![s.to_owned()],
                    None => scopes::scopes_in_message(message),
                };
                (
                    StatusCode::BAD_REQUEST,
                    format!(
                        "The authorization lacks the scope {} that rectoken needs to read which \
                         account this is (GET /users/me). Nothing was stored; add it to the Zoom \
                         app's scopes and connect again.",
                        named.join(", ")
                    ),
                )
            }
            _ => (StatusCode::BAD_GATEWAY, format!("Zoom did not tell us which account this is: {e}. Nothing was stored; please try again.")),
        }
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
    tracing::info!(
        account_id = %id,
        outcome = "connected",
        missing_scopes = %report.missing_scopes().join(" "),
        "Zoom account connected"
    );
    if let Err(e) = enqueue_full_sync(state, &id, "connect").await {
        // Stored anyway; the scheduler syncs it on its next round.
        tracing::warn!(account_id = %id, error = %e, "could not enqueue the first sync");
    }
    Ok((id, report))
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
