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
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use rectoken_bus::OutgoingMessage;
use rectoken_domain::jobs::{JOB_HEADER, SyncJob, connection_id};
use rectoken_domain::{connect_link, oauth_state};
use rectoken_store::{AccountRecord, AccountStatus};
use rectoken_zoom::scopes::{self, ScopeReport};
use rectoken_zoom::{ApiError as ZoomApiError, OAuthError};
use subtle::ConstantTimeEq;

use crate::apps::DEFAULT_APP;
use crate::error::{ApiError, page_html};
use crate::services::Services;
use crate::state::IngressState;
use rectoken_domain::clock::now_ms;

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    (status, Html(page_html(title, body))).into_response()
}

/// Walk the connect flow from `start_url` (`…/zoom/oauth/authorize`, with a
/// `link` or not) as a browser would: follow the redirects to Zoom (or the
/// simulator, which consents at once) and back, carrying the state cookie.
/// Returns the final status and page. For `rectoken dev` and tests.
pub async fn follow_connect_flow(start_url: &str) -> Result<(u16, String), String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| e.to_string())?;
    let mut url = start_url.to_owned();
    let mut cookies: Vec<String> = Vec::new();
    for _ in 0..5 {
        let mut request = http.get(&url);
        if !cookies.is_empty() {
            request = request.header(header::COOKIE, cookies.join("; "));
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        for set in response.headers().get_all(header::SET_COOKIE) {
            if let Some(pair) = set.to_str().ok().and_then(|v| v.split(';').next()) {
                let name = pair.split('=').next().unwrap_or("");
                cookies.retain(|c| c.split('=').next() != Some(name));
                cookies.push(pair.trim().to_owned());
            }
        }
        let status = response.status();
        if status.is_redirection() {
            let next = response
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or("a redirect without a Location")?;
            url = url::Url::parse(&url)
                .and_then(|base| base.join(next))
                .map_err(|e| e.to_string())?
                .into();
            continue;
        }
        let text = response.text().await.unwrap_or_default();
        return Ok((status.as_u16(), text));
    }
    Err("too many redirects".into())
}

/// A connect link as [`issue_connect_link`] made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedLink {
    /// `{PUBLIC_URL}/zoom/oauth/authorize?link=…`.
    pub url: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
}

/// Issue a one-time connect link valid for `ttl_secs` from `now` (Unix
/// seconds). Nothing is stored until it is used: the link is signed with
/// the state key and carries its expiry; the store marks its nonce used
/// when an account connects through it. The admin API and the operator
/// console both call this.
pub fn issue_connect_link(services: &Services, now: i64, ttl_secs: i64) -> IssuedLink {
    issue_connect_link_for(services, DEFAULT_APP, now, ttl_secs)
}

/// [`issue_connect_link`] for the Zoom app `app` (of the apps file): the
/// link starts that app's consent flow (`&app=NAME`), e.g. a ZoomGov app's.
pub fn issue_connect_link_for(
    services: &Services,
    app: &str,
    now: i64,
    ttl_secs: i64,
) -> IssuedLink {
    let ttl = ttl_secs.clamp(1, connect_link::MAX_TTL_SECS);
    let expires = now.saturating_add(ttl);
    let token = connect_link::issue(&services.state_key, expires, rand::random());
    let expires_at = time::OffsetDateTime::from_unix_timestamp(expires)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let app_param = if app == DEFAULT_APP {
        String::new()
    } else {
        format!("&{APP_PARAM}={app}")
    };
    IssuedLink {
        url: format!(
            "{}/zoom/oauth/authorize?{}={token}{app_param}",
            services.public_url.trim_end_matches('/'),
            connect_link::LINK_PARAM
        ),
        expires_at,
    }
}

/// The query parameter of `GET /zoom/oauth/authorize` naming the Zoom app
/// (of the apps file) to connect through; absent: the default app.
pub const APP_PARAM: &str = "app";

/// The Zoom client of `app` and whether the app is user-level, or the page
/// that says the deployment has no such app.
fn app_client(
    state: &IngressState,
    services: &Services,
    app: &str,
) -> Result<(rectoken_zoom::ZoomClient, bool), ApiError> {
    let client = services.vault.clients().get(app).cloned();
    let user_level = if app == DEFAULT_APP {
        services.user_level
    } else {
        state
            .apps
            .get(app)
            .is_some_and(|a| a.kind == crate::apps::AppKind::User)
    };
    match client {
        Some(c) => Ok((c, user_level)),
        None => Err(ApiError::page(
            StatusCode::BAD_REQUEST,
            "Unknown Zoom app",
            format!(
                "This rectoken has no Zoom app named {app:?}. Ask your rectoken operator for a new link."
            ),
        )),
    }
}

/// The store lock that marks a connect link used (held until the link
/// would have expired anyway).
fn link_lock(nonce: &str) -> String {
    format!("connect-link:{nonce}")
}

/// The store lock that marks an OAuth state used.
fn state_lock(nonce: &str) -> String {
    format!("oauth-state:{nonce}")
}

/// The cookie that binds `state` to the browser that started the flow:
/// `__Host-` (Secure, Path=/, no Domain) behind HTTPS; a plain name on
/// `http://` (dev on loopback), where browsers refuse `__Host-` cookies.
/// SameSite=Lax: Zoom's redirect back is a top-level GET from another site,
/// which Strict would strip.
fn state_cookie_name(services: &Services) -> &'static str {
    if services.public_url.starts_with("https://") {
        "__Host-rectoken_oauth"
    } else {
        "rectoken_oauth"
    }
}

fn state_cookie(services: &Services, value: &str, max_age: i64) -> String {
    let secure = if services.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        state_cookie_name(services)
    )
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `GET /zoom/oauth/authorize[?link=…]`: redirect the admin to Zoom's
/// consent page, with a state bound to this browser (cookie) and a PKCE
/// challenge. Without a valid, unused connect link it works only when
/// open connect is on.
pub async fn authorize(
    State(state): State<IngressState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let services = match state.oauth() {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let now = (state.now)();
    let link = match params.get(connect_link::LINK_PARAM) {
        Some(token) => match connect_link::verify(&services.state_key, token, now) {
            Ok(link) => {
                // Not consumed here (a mail scanner opening the link must
                // not burn it): only checked, and consumed by the callback.
                match services
                    .store
                    .try_lock(&link_lock(&link.nonce), Duration::from_secs(5))
                    .await
                {
                    Ok(Some(lease)) => {
                        let _ = services.store.unlock(&lease).await;
                    }
                    Ok(None) => {
                        return ApiError::page(
                            StatusCode::GONE,
                            "Connect link already used",
                            "An account was connected through this link already. Ask your rectoken operator for a new one.",
                        ).into_response();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not check a connect link");
                        return ApiError::page(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "Please try again",
                            "rectoken could not check the link right now.",
                        )
                        .into_response();
                    }
                }
                Some(link.nonce)
            }
            Err(e) => {
                return ApiError::page(
                    StatusCode::BAD_REQUEST,
                    "Invalid connect link",
                    e.to_string(),
                )
                .into_response();
            }
        },
        None if state.open_connect => None,
        None => {
            return ApiError::page(
                StatusCode::FORBIDDEN,
                "Connect link required",
                "This rectoken connects Zoom accounts only through a connect link from its operator.",
            ).into_response();
        }
    };
    let app = params
        .get(APP_PARAM)
        .map(String::as_str)
        .unwrap_or(DEFAULT_APP);
    let zoom = match app_client(&state, services, app) {
        Ok((zoom, _)) => zoom,
        Err(e) => return e.into_response(),
    };
    let nonce: [u8; 16] = rand::random();
    let nonce_hex = hex_encode(&nonce);
    let signed =
        oauth_state::issue_with_link(&services.state_key, app, now, nonce, link.as_deref());
    let challenge =
        oauth_state::pkce_challenge(&oauth_state::pkce_verifier(&services.state_key, &nonce_hex));
    let location = zoom.authorize_url_with_challenge(&services.redirect_uri(), &signed, &challenge);
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (
                header::SET_COOKIE,
                state_cookie(services, &nonce_hex, oauth_state::STATE_TTL_SECS),
            ),
        ],
    )
        .into_response()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `GET /zoom/oauth/callback?code&state` (or `?error&state` when the admin
/// declined).
///
/// The state must verify, match this browser's cookie and not have been
/// used; the code is then exchanged with the PKCE verifier.
pub async fn callback(
    State(state): State<IngressState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let services = match state.oauth() {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let verified = oauth_state::verify(
        &services.state_key,
        params.get("state").map(String::as_str),
        (state.now)(),
    );
    if let Some(error) = params.get("error") {
        metrics::counter!("rectoken_oauth_callbacks_total", "outcome" => "declined").increment(1);
        tracing::info!(outcome = "declined", "OAuth authorization declined");
        return ApiError::page(
            StatusCode::BAD_REQUEST,
            "Zoom account not connected",
            format!(
                "Zoom reported: {error}. Nothing was stored. Start again from the authorize link if this was a mistake."
            ),
        ).into_response();
    }
    let verified = match verified {
        Ok(v) => v,
        Err(e) => {
            metrics::counter!("rectoken_oauth_callbacks_total", "outcome" => "bad_state")
                .increment(1);
            return ApiError::page(
                StatusCode::BAD_REQUEST,
                "Zoom account not connected",
                format!("{e}. Nothing was stored."),
            )
            .into_response();
        }
    };
    let bound = cookie(&headers, state_cookie_name(services))
        .is_some_and(|c| bool::from(c.as_bytes().ct_eq(verified.nonce.as_bytes())));
    if !bound {
        metrics::counter!("rectoken_oauth_callbacks_total", "outcome" => "bad_state").increment(1);
        return ApiError::page(
            StatusCode::BAD_REQUEST,
            "Zoom account not connected",
            "This authorization was not started in this browser (or its cookie expired). Nothing was stored; start again from the link.",
        ).into_response();
    }
    let Some(code) = params.get("code").filter(|c| !c.is_empty()) else {
        return ApiError::page(
            StatusCode::BAD_REQUEST,
            "Zoom account not connected",
            "The callback carries no authorization code.",
        )
        .into_response();
    };
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "could not mark an OAuth state used");
        ApiError::page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Zoom account not connected",
            "rectoken could not check the authorization right now; please start again.",
        )
        .into_response()
    };
    // Single use: a replayed callback URL (history, logs, a proxy) does
    // nothing.
    let ttl = Duration::from_secs(oauth_state::STATE_TTL_SECS.unsigned_abs() + 60);
    match services
        .store
        .try_lock(&state_lock(&verified.nonce), ttl)
        .await
    {
        Ok(Some(_held_until_it_expires)) => {}
        Ok(None) => {
            metrics::counter!("rectoken_oauth_callbacks_total", "outcome" => "bad_state")
                .increment(1);
            return ApiError::page(
                StatusCode::BAD_REQUEST,
                "Zoom account not connected",
                "This authorization was used already. Nothing more was stored.",
            )
            .into_response();
        }
        Err(e) => return unavailable(&e),
    }
    // The link, if any, is consumed now; released again if the connect
    // fails, so the admin can retry with the same link.
    let link_lease = match &verified.link {
        None => None,
        Some(nonce) => {
            let ttl = Duration::from_secs(connect_link::MAX_TTL_SECS.unsigned_abs());
            match services.store.try_lock(&link_lock(nonce), ttl).await {
                Ok(Some(lease)) => Some(lease),
                Ok(None) => {
                    return ApiError::page(
                        StatusCode::GONE,
                        "Connect link already used",
                        "An account was connected through this link already. Ask your rectoken operator for a new one.",
                    ).into_response();
                }
                Err(e) => return unavailable(&e),
            }
        }
    };
    let verifier = oauth_state::pkce_verifier(&services.state_key, &verified.nonce);
    let mut response = match connect(&state, &verified.app, code, &verifier).await {
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
        Err(refusal) => {
            metrics::counter!("rectoken_oauth_callbacks_total", "outcome" => "failed").increment(1);
            if let Some(lease) = &link_lease {
                let _ = services.store.unlock(lease).await;
            }
            refusal
                .into_page("Zoom account not connected")
                .into_response()
        }
    };
    if let Ok(clear) = HeaderValue::from_str(&state_cookie(services, "", 0)) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

/// The callback page's answer to a failed code exchange, by what Zoom's
/// answer means (`OAuthError`'s classification).
fn exchange_failure(e: &OAuthError, redirect_uri: &str) -> ApiError {
    match e {
        OAuthError::InvalidGrant(d) => ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "Zoom refused the authorization code ({d}): codes work once and live 5 minutes. \
                 Nothing was stored; start again from the authorize link."
            ),
        ),
        OAuthError::InvalidClient(d) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "Zoom refused rectoken's app credentials ({d}). Nothing was stored; the operator \
                 must check ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET and that the app is enabled."
            ),
        ),
        OAuthError::Misconfigured(d) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "Zoom refused the app's OAuth configuration ({d}). Nothing was stored; the app's \
                 OAuth Redirect URL must be exactly {redirect_uri} (RECTOKEN_PUBLIC_URL)."
            ),
        ),
        e if e.is_retryable() => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Zoom's token endpoint failed ({e}). Nothing was stored; please try again."),
        ),
        e => ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "Zoom did not accept the authorization: {e}. Nothing was stored; please try again."
            ),
        ),
    }
}

async fn connect(
    state: &IngressState,
    app: &str,
    code: &str,
    code_verifier: &str,
) -> Result<(String, ScopeReport), ApiError> {
    let Some(services) = state.services.as_ref() else {
        return Err(ApiError::oauth_off());
    };
    let (zoom, user_level) = app_client(state, services, app)?;
    let redirect_uri = services.redirect_uri();
    let tokens = zoom
        .exchange_code_with_verifier(code, &redirect_uri, code_verifier)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, outcome = e.outcome(), "OAuth code exchange failed");
            exchange_failure(&e, &redirect_uri)
        })?;
    // The granted scopes, against the calls rectoken makes: a missing one
    // is named now, not discovered later as a failing sync or join.
    let report = scopes::assess(&tokens.scope, user_level);
    // A missing required scope breaks syncs or joins: a warning. Optional
    // token kinds the grant does not cover are only worth knowing.
    if !report.is_complete() {
        tracing::warn!(
            granted = %tokens.scope.join(" "),
            scopes = %report.summary(),
            "the Zoom authorization lacks scopes"
        );
    } else if !report.summary().is_empty() {
        tracing::info!(
            scopes = %report.summary(),
            "the Zoom authorization covers every required scope; some optional token kinds are unavailable"
        );
    }
    let me = zoom.me(&tokens.access_token).await.map_err(|e| {
        tracing::warn!(error = %e, "GET /users/me failed after the code exchange");
        match &e {
            ZoomApiError::MissingScope { message } => {
                // The scope rectoken's table asks for; Zoom's message (which
                // may list every variant) when the table has none.
                let named = match scopes::scope_for("GET /users/me", user_level) {
                    Some(s) => vec![s.to_owned()],
                    None => scopes::scopes_in_message(message),
                };
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "The authorization lacks the scope {} that rectoken needs to read which \
                         account this is (GET /users/me). Nothing was stored; add it to the Zoom \
                         app's scopes and connect again.",
                        named.join(", ")
                    ),
                )
            }
            _ => ApiError::new(StatusCode::BAD_GATEWAY, format!("Zoom did not tell us which account this is: {e}. Nothing was stored; please try again.")),
        }
    })?;
    let id = connection_id(user_level, &me.account_id, &me.id);
    let now = now_ms();
    let internal = |e: &dyn std::fmt::Display| {
        tracing::error!(account_id = %id, error = %e, "could not store the connection");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "rectoken could not store the credentials right now; please try again.",
        )
    };
    let previous = services
        .store
        .account(&id)
        .await
        .map_err(|e| internal(&e))?;
    let record = AccountRecord {
        account_id: id.clone(),
        app: app.to_owned(),
        kind: if user_level {
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
