//! `GET /oauth/authorize` and `POST /oauth/token` (docs/zoom.md §4).

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;

use super::{injected_latency, injected_response};
use crate::Sim;
use crate::auth::{CodeChallenge, NewGrant, OAuthError};
use crate::faults::Endpoint;

pub(super) fn routes() -> Router<Sim> {
    Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
}

fn page(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

fn finish(sim: &Sim, resp: Response) -> Response {
    let status = resp.status().as_u16();
    sim.with_stats(|s| s.finish(None, status));
    resp
}

async fn authorize(State(sim): State<Sim>, Query(q): Query<HashMap<String, String>>) -> Response {
    sim.with_stats(|s| s.request(Endpoint::OauthAuthorize.as_str()));
    injected_latency(&sim, Endpoint::OauthAuthorize).await;
    if let Some(r) = injected_response(
        &sim,
        Endpoint::OauthAuthorize,
        sim.roll(Endpoint::OauthAuthorize),
        0,
    ) {
        return finish(&sim, r);
    }
    finish(&sim, authorize_inner(&sim, &q))
}

fn authorize_inner(sim: &Sim, q: &HashMap<String, String>) -> Response {
    let cfg = sim.config();
    let client_id = q.get("client_id").map(String::as_str).unwrap_or_default();
    if !ct_eq(client_id, &cfg.client_id) {
        return page(StatusCode::BAD_REQUEST, "Invalid client_id. (4700)".into());
    }
    if q.get("response_type").map(String::as_str) != Some("code") {
        return page(
            StatusCode::BAD_REQUEST,
            "Unsupported response_type: only `code` is supported.".into(),
        );
    }
    let Some(redirect_uri) = q.get("redirect_uri") else {
        return page(
            StatusCode::BAD_REQUEST,
            "Missing redirect_uri. (4700)".into(),
        );
    };
    let Ok(mut target) = url::Url::parse(redirect_uri) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Invalid redirect_uri. (4700)".into(),
        );
    };
    let state = q.get("state");
    let now = sim.now_ms();
    let mut st = sim.state();
    let st = &mut *st;
    if st.oauth.decline {
        let mut pairs = target.query_pairs_mut();
        pairs.append_pair("error", "access_denied");
        if let Some(s) = state {
            pairs.append_pair("state", s);
        }
        drop(pairs);
        return redirect(&target);
    }
    let user = match &st.oauth.authorize_user {
        Some(id) => st.store.user(id),
        None => st.store.first_owner(),
    };
    let Some(user) = user else {
        return page(
            StatusCode::BAD_REQUEST,
            "The simulator has no Zoom user to consent as: create an account and a user first (POST /_sim/accounts, /_sim/accounts/{id}/users) or seed the demo.".into(),
        );
    };
    let grant = NewGrant {
        account_id: user.account_id.clone(),
        user_id: user.id.clone(),
        kind: cfg.app_kind,
        scopes: st
            .oauth
            .scopes
            .clone()
            .unwrap_or_else(|| cfg.granted_scopes()),
    };
    let code = format!("sim_code_{}", st.rng.id(32));
    let expires = now.saturating_add(cfg.auth_code_ttl_secs.saturating_mul(1000));
    st.auth
        .issue_code(code.clone(), grant, redirect_uri.clone(), expires);
    if let Some(challenge) = q.get("code_challenge").filter(|c| !c.is_empty()) {
        let challenge = match q.get("code_challenge_method").map(String::as_str) {
            Some("S256") => CodeChallenge::S256(challenge.clone()),
            _ => CodeChallenge::Plain(challenge.clone()),
        };
        st.auth.set_challenge(&code, challenge);
    }
    {
        let mut pairs = target.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(s) = state {
            pairs.append_pair("state", s);
        }
    }
    tracing::info!(account = %user.account_id, user = %user.id, "authorize: consented");
    redirect(&target)
}

fn redirect(target: &url::Url) -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, target.as_str().to_owned())],
    )
        .into_response()
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Client credentials from `Authorization: Basic` or the form.
fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<(String, String)> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
        })
        .and_then(|b64| STANDARD.decode(b64).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|s| {
            let (id, secret) = s.split_once(':')?;
            Some((id.to_owned(), secret.to_owned()))
        });
    basic.or_else(|| {
        Some((
            form.get("client_id")?.clone(),
            form.get("client_secret")?.clone(),
        ))
    })
}

fn oauth_error(e: &OAuthError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        e.body(),
    )
        .into_response()
}

async fn token(
    State(sim): State<Sim>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.with_stats(|s| s.request(Endpoint::OauthToken.as_str()));
    injected_latency(&sim, Endpoint::OauthToken).await;
    if let Some(r) = injected_response(
        &sim,
        Endpoint::OauthToken,
        sim.roll(Endpoint::OauthToken),
        0,
    ) {
        return finish(&sim, r);
    }
    // Zoom's older docs pass the parameters in the query string; accept
    // both, the form body winning.
    let mut form = query;
    form.extend(url::form_urlencoded::parse(&body).into_owned());
    let resp = match token_inner(&sim, &headers, &form) {
        Ok(mut t) => {
            t.api_url = sim.base_url().unwrap_or_default();
            sim.with_stats(|s| s.oauth_tokens_issued += 1);
            (
                StatusCode::OK,
                [(header::CACHE_CONTROL, "no-store")],
                axum::Json(t),
            )
                .into_response()
        }
        Err(OAuthError::InvalidRefreshToken) => {
            tracing::info!("token endpoint refused a dead refresh token");
            let (status, body) = sim.oauth_settings().dead_refresh_token.answer();
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
        Err(e) => {
            tracing::info!(error = ?e, "token endpoint refused");
            oauth_error(&e)
        }
    };
    finish(&sim, resp)
}

fn token_inner(
    sim: &Sim,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<crate::auth::TokenResponse, OAuthError> {
    let cfg = sim.config();
    let (id, secret) = client_credentials(headers, form).ok_or(OAuthError::MissingClient)?;
    // Both compared, so the time taken does not tell which was wrong.
    let ok = ct_eq(&id, &cfg.client_id) & ct_eq(&secret, &cfg.client_secret);
    if !ok {
        return Err(OAuthError::InvalidClient);
    }
    let grant_type = form
        .get("grant_type")
        .ok_or(OAuthError::MissingParam("grant_type"))?;
    let now = sim.now_ms();
    let life = sim.lifetimes();
    let mut st = sim.state();
    let st = &mut *st;
    let rng = &mut st.rng;
    let mut mint = |p: &str| format!("sim_{p}_{}", rng.id(40));
    match grant_type.as_str() {
        "authorization_code" => {
            let code = form.get("code").ok_or(OAuthError::MissingParam("code"))?;
            let redirect = form.get("redirect_uri").map(String::as_str);
            let verifier = form.get("code_verifier").map(String::as_str);
            st.auth
                .exchange_code_pkce(code, redirect, verifier, now, life, &mut mint)
        }
        "refresh_token" => {
            let token = form
                .get("refresh_token")
                .ok_or(OAuthError::MissingParam("refresh_token"))?;
            let t = st.auth.refresh(token, now, life, &mut mint)?;
            sim.with_stats(|s| s.oauth_refreshes += 1);
            Ok(t)
        }
        _ => Err(OAuthError::UnsupportedGrantType),
    }
}
