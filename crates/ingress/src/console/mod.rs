//! The operator console: `GET /console`, server-rendered HTML.
//!
//! Every figure on its pages is read from the store, the recent-joins log
//! or the broker at request time; nothing is cached or made up. The pages
//! work without JavaScript (plain forms, a `<meta refresh>` while a sync
//! runs) and by keyboard (native controls, a visible focus ring, a skip
//! link).
//!
//! # Security
//! - Off (404) whenever the admin API is off (no `RECTOKEN_ADMIN_TOKEN`).
//! - Sign-in with the admin token gives a signed session cookie
//!   ([`session`]): `__Host-`, `HttpOnly`, `Secure`, `SameSite=Strict`,
//!   8 hours. The admin token is never in the cookie.
//! - Every POST carries the session's CSRF token (form field `csrf`) and
//!   is refused (403) without it, before anything happens.
//! - Every value is escaped by the templates ([maud]); the pages' CSP
//!   allows nothing but their own stylesheet and forms.
//!
//! # Layout
//! - [`session`]: session cookies and CSRF tokens (pure).
//! - [`chart`]: the inline SVG charts (pure).
//! - [`dlq`]: inspecting and redriving dead-letter queues.
//! - [`pages`]: the templates.
//! - this file: the routes and handlers.

pub mod chart;
pub mod dlq;
pub mod pages;
pub mod session;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::Markup;
use rectoken_bus::Topology;
use rectoken_domain::meeting_id::parse_meeting_ref;
use rectoken_store::{JoinFilter, JoinLog, MapKey};
use secrecy::ExposeSecret;

use crate::services::{Services, secret_matches};
use crate::state::IngressState;

/// Account events shown on each account card (newest first).
const ACCOUNT_EVENTS_SHOWN: usize = 5;

/// The console pages' Content-Security-Policy: their own stylesheet,
/// forms to themselves, nothing else (no scripts at all).
pub const CONSOLE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// How many joins the joins page lists at most.
pub const JOINS_SHOWN: usize = 300;

const STYLE: &str = include_str!("console.css");

/// What the console needs beyond the rest of the ingress state
/// ([`IngressState::console`]).
#[derive(Clone, Default)]
pub struct ConsoleOptions {
    /// The recent-joins log (none: the joins page says it is not kept).
    pub joins: Option<Arc<dyn JoinLog>>,
    /// `rectoken dev --sim` only: the sign-in page offers a one-click
    /// sign-in with the (public) dev admin token.
    pub dev_signin: bool,
}

/// The console's routes; [`crate::router`] merges them in, under the
/// ingress's request guard (concurrency limit, timeout, security headers).
pub fn router() -> Router<IngressState> {
    Router::new()
        .route("/console", get(accounts_page))
        .route("/console/console.css", get(stylesheet))
        .route("/console/signin", post(sign_in))
        .route("/console/signout", post(sign_out))
        .route("/console/lookup", get(lookup_page))
        .route("/console/lookup/mint", post(test_mint))
        .route("/console/joins", get(joins_page))
        .route("/console/queues", get(queues_page))
        .route("/console/queues/inspect", post(inspect_dlq))
        .route("/console/queues/redrive", post(redrive_dlq))
        .route("/console/invite", post(invite))
        .route("/console/accounts/{id}/resync", post(resync))
        .route("/console/accounts/{id}/disconnect", post(disconnect))
        .route_layer(axum::middleware::from_fn(console_headers))
}

/// The console's own CSP (the ingress's HTML pages allow no stylesheet
/// or forms); set before `harden` fills in the rest.
async fn console_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CONSOLE_CSP));
    response
}

/// Why a request gets no page: small, so the checks' `Result`s stay
/// small; rendered by `From<Refusal> for Response`.
enum Refusal {
    /// The console is off: 404.
    Off,
    /// Not signed in (a GET): the sign-in page, 401.
    SignIn {
        /// Whether to offer the dev one-click sign-in.
        dev: bool,
    },
    /// A POST without a session or its CSRF token: 403, nothing done.
    Forbidden(&'static str),
}

impl From<Refusal> for Response {
    fn from(r: Refusal) -> Response {
        match r {
            Refusal::Off => not_found(),
            Refusal::SignIn { dev } => html(StatusCode::UNAUTHORIZED, pages::sign_in(dev, None)),
            Refusal::Forbidden(why) => html(StatusCode::FORBIDDEN, pages::refused(why)),
        }
    }
}

/// The signed-in operator, or the response to give instead.
struct Operator {
    csrf: String,
}

impl IngressState {
    /// The services with the admin token, or 404 (console off).
    fn console_services(&self) -> Result<(&Arc<Services>, [u8; 32]), Refusal> {
        match self.services.as_ref() {
            Some(s) => match s.admin_token.as_ref() {
                Some(t) => Ok((s, session::session_key(&s.state_key, t.expose_secret()))),
                None => Err(Refusal::Off),
            },
            None => Err(Refusal::Off),
        }
    }

    /// The operator of a GET: signed in, or the sign-in page.
    fn console_viewer(&self, headers: &axum::http::HeaderMap) -> Result<Operator, Refusal> {
        let (_, key) = self.console_services()?;
        let now = (self.now)();
        match session::from_headers(headers).and_then(|v| session::verify(&key, v, now)) {
            Some(s) => Ok(Operator { csrf: s.csrf(&key) }),
            None => Err(Refusal::SignIn {
                dev: self.console.dev_signin,
            }),
        }
    }

    /// The operator of a POST: signed in and carrying the CSRF token, or
    /// 403 with nothing done.
    fn console_actor(
        &self,
        headers: &axum::http::HeaderMap,
        csrf: Option<&str>,
    ) -> Result<Operator, Refusal> {
        let (_, key) = self.console_services()?;
        let now = (self.now)();
        let Some(s) = session::from_headers(headers).and_then(|v| session::verify(&key, v, now))
        else {
            return Err(Refusal::Forbidden(
                "You are not signed in (or your session expired).",
            ));
        };
        if !s.csrf_matches(&key, csrf.unwrap_or_default()) {
            metrics::counter!("rectoken_console_csrf_refused_total").increment(1);
            return Err(Refusal::Forbidden(
                "This form had no valid CSRF token, so nothing was done. Reload the page and try again.",
            ));
        }
        Ok(Operator { csrf: s.csrf(&key) })
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

fn html(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

fn unwrap_or_response(r: Result<Response, Response>) -> Response {
    r.unwrap_or_else(|e| e)
}

/// `GET /console/console.css`.
async fn stylesheet(State(state): State<IngressState>) -> Response {
    if let Err(r) = state.console_services() {
        return r.into();
    }
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        STYLE,
    )
        .into_response()
}

/// `POST /console/signin`: `token` (the admin token), or `dev=1` when the
/// dev one-click sign-in is on.
async fn sign_in(
    State(state): State<IngressState>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (services, key) = match state.console_services() {
        Ok(s) => s,
        Err(r) => return r.into(),
    };
    let ok = match (form.get("token"), form.get("dev")) {
        (Some(t), _) if !t.is_empty() => services
            .admin_token
            .as_ref()
            .is_some_and(|expected| secret_matches(t.trim(), expected)),
        (_, Some(d)) => d == "1" && state.console.dev_signin,
        _ => false,
    };
    if !ok {
        metrics::counter!("rectoken_admin_unauthorized_total").increment(1);
        return html(
            StatusCode::UNAUTHORIZED,
            pages::sign_in(
                state.console.dev_signin,
                Some("That is not the admin token."),
            ),
        );
    }
    let value = session::issue(&key, (state.now)(), rand::random());
    tracing::info!("console sign-in");
    let mut r = Redirect::to("/console").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie(&value)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `POST /console/signout`.
async fn sign_out(
    State(state): State<IngressState>,
    headers: axum::http::HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = state.console_actor(&headers, form.get("csrf").map(String::as_str)) {
        return r.into();
    }
    let mut r = Redirect::to("/console").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&session::clear_cookie()).unwrap_or(HeaderValue::from_static("")),
    );
    r
}

/// `GET /console`: the accounts.
async fn accounts_page(
    State(state): State<IngressState>,
    headers: axum::http::HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    unwrap_or_response(
        async {
            let op = state.console_viewer(&headers)?;
            let (services, _) = state.console_services()?;
            let accounts = services
                .store
                .list_accounts()
                .await
                .map_err(|e| unavailable(&op, &e))?;
            let mut rows = Vec::with_capacity(accounts.len());
            for rec in accounts {
                let mappings = services.store.count_mappings(&rec.account_id).await.ok();
                let creds = services
                    .store
                    .credentials(&rec.account_id)
                    .await
                    .ok()
                    .flatten();
                let events = match services.vault.events().log() {
                    Some(log) => log
                        .recent(&rec.account_id, ACCOUNT_EVENTS_SHOWN)
                        .await
                        .unwrap_or_default(),
                    None => Vec::new(),
                };
                rows.push(pages::AccountView {
                    events,
                    refreshed_at_ms: creds.as_ref().map(|c| c.refreshed_at_ms),
                    access_expires_at_ms: creds.as_ref().map(|c| c.access_expires_at_ms),
                    mappings,
                    rec,
                });
            }
            let invite = q.get("invite").zip(q.get("expires"));
            let notice = q.get("notice").map(String::as_str);
            Ok(html(
                StatusCode::OK,
                pages::accounts(
                    &op.csrf,
                    &rows,
                    &pages::Invite {
                        apps: services
                            .vault
                            .clients()
                            .apps()
                            .map(|(name, cloud)| (name.to_owned(), cloud.as_str()))
                            .collect(),
                        issued: invite,
                    },
                    notice,
                    now_ms(),
                ),
            ))
        }
        .await,
    )
}

fn unavailable(op: &Operator, e: &dyn std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "console: store unavailable");
    html(
        StatusCode::SERVICE_UNAVAILABLE,
        pages::unavailable(
            &op.csrf,
            "The store (Redis) is unavailable; reload to try again.",
        ),
    )
}

fn now_ms() -> i64 {
    rectoken_domain::clock::now_ms()
}

/// `POST /console/invite`: a one-time connect link (as
/// `POST /admin/connect-links`), shown on the accounts page.
async fn invite(
    State(state): State<IngressState>,
    headers: axum::http::HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = state.console_actor(&headers, form.get("csrf").map(String::as_str)) {
        return r.into();
    }
    let Ok((services, _)) = state.console_services() else {
        return not_found();
    };
    // The form offers the deployment's apps (a ZoomGov customer connects
    // through the gov app); without a choice, the default app.
    let app = form
        .get("app")
        .map(String::as_str)
        .filter(|a| !a.is_empty())
        .unwrap_or(crate::apps::DEFAULT_APP);
    if services.vault.clients().get(app).is_none() {
        return see_accounts(&[("notice", &format!("There is no Zoom app named {app:?}."))]);
    }
    let link = crate::oauth::issue_connect_link_for(
        services,
        app,
        (state.now)(),
        rectoken_domain::connect_link::DEFAULT_TTL_SECS,
    );
    tracing::info!(expires_at = %link.expires_at, app, "connect link issued from the console");
    see_accounts(&[("invite", &link.url), ("expires", &link.expires_at)])
}

/// A 303 to the accounts page with these query parameters.
fn see_accounts(params: &[(&str, &str)]) -> Response {
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    Redirect::to(&format!("/console?{query}")).into_response()
}

/// `POST /console/accounts/{id}/resync`.
async fn resync(
    State(state): State<IngressState>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let op = match state.console_actor(&headers, form.get("csrf").map(String::as_str)) {
        Ok(op) => op,
        Err(r) => return r.into(),
    };
    let Ok((services, _)) = state.console_services() else {
        return not_found();
    };
    match services.store.account(&id).await {
        Ok(Some(_)) => {}
        Ok(None) => return see_accounts(&[("notice", &format!("There is no account {id}."))]),
        Err(e) => return unavailable(&op, &e),
    }
    match crate::oauth::enqueue_full_sync(&state, &id, "console").await {
        Ok(()) => see_accounts(&[("notice", &format!("A full sync of {id} is queued."))]),
        Err(e) => {
            tracing::warn!(account_id = %id, error = %e, "console: could not enqueue a resync");
            see_accounts(&[(
                "notice",
                "The queue is unavailable; the sync was not queued. Try again.",
            )])
        }
    }
}

/// `POST /console/accounts/{id}/disconnect`: as `DELETE /admin/accounts/{id}`.
async fn disconnect(
    State(state): State<IngressState>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let op = match state.console_actor(&headers, form.get("csrf").map(String::as_str)) {
        Ok(op) => op,
        Err(r) => return r.into(),
    };
    let Ok((services, _)) = state.console_services() else {
        return not_found();
    };
    match services.store.account(&id).await {
        Ok(Some(_)) => {}
        Ok(None) => return see_accounts(&[("notice", &format!("There is no account {id}."))]),
        Err(e) => return unavailable(&op, &e),
    }
    match services.forget_account(&id).await {
        Ok(removed) => {
            tracing::info!(account_id = %id, removed, "account disconnected from the console");
            see_accounts(&[(
                "notice",
                &format!(
                    "{id} is disconnected: its credentials and {removed} mappings are removed."
                ),
            )])
        }
        Err(e) => unavailable(&op, &e),
    }
}

/// `GET /console/lookup?q=`: how rectoken reads a meeting reference and
/// who owns it.
async fn lookup_page(
    State(state): State<IngressState>,
    headers: axum::http::HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    unwrap_or_response(
        async {
            let op = state.console_viewer(&headers)?;
            let input = q.get("q").map(String::as_str).unwrap_or_default();
            let result = lookup(&state, &op, input).await?;
            Ok(html(
                StatusCode::OK,
                pages::lookup(&op.csrf, input, result.as_ref(), None),
            ))
        }
        .await,
    )
}

async fn lookup(
    state: &IngressState,
    op: &Operator,
    input: &str,
) -> Result<Option<pages::Lookup>, Response> {
    if input.trim().is_empty() {
        return Ok(None);
    }
    let (services, _) = state.console_services()?;
    let parsed = match parse_meeting_ref(input) {
        Ok(r) => r,
        Err(e) => return Ok(Some(pages::Lookup::Unparsed(e.to_string()))),
    };
    let mut owner = None;
    for key in [MapKey::meeting(parsed.id), MapKey::pmi(parsed.id)] {
        match services.store.get_mapping(key).await {
            Ok(Some(m)) => {
                let account = services.store.account(&m.account_id).await.ok().flatten();
                owner = Some(Box::new((key, m, account)));
                break;
            }
            Ok(None) => {}
            Err(e) => return Err(unavailable(op, &e)),
        }
    }
    // The last join for this meeting answers "why did this bot not
    // record?" on the same page.
    let last_join = match state.console.joins.as_ref() {
        Some(log) => {
            let filter = JoinFilter {
                meeting_id: Some(parsed.id.to_string()),
                ..JoinFilter::default()
            };
            log.recent(&filter, 1)
                .await
                .map_err(|e| unavailable(op, &e))?
                .pop()
                .map(Box::new)
        }
        None => None,
    };
    Ok(Some(pages::Lookup::Parsed {
        id: parsed.id.to_string(),
        webinar: parsed.kind == rectoken_domain::meeting_id::MeetingKind::Webinar,
        has_password: parsed.password.is_some(),
        owner,
        last_join,
    }))
}

/// `POST /console/lookup/mint`: a test join request through the queue, as
/// a bot would send; the page shows which kinds were minted, never the
/// tokens.
async fn test_mint(
    State(state): State<IngressState>,
    headers: axum::http::HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let op = match state.console_actor(&headers, form.get("csrf").map(String::as_str)) {
        Ok(op) => op,
        Err(r) => return r.into(),
    };
    let input = form.get("q").map(String::as_str).unwrap_or_default();
    let request_id = format!("console-{}", crate::join::hex_id());
    let body = serde_json::json!({
        "request_id": request_id,
        "meeting_url": input.trim(),
        "tokens": ["local_recording"],
    });
    let mint = match crate::join::ask(
        &state,
        bytes::Bytes::from(body.to_string()),
        std::time::Duration::from_secs(10),
    )
    .await
    {
        Ok(reply) => pages::Mint::Reply(Box::new(reply)),
        // Whatever the join module's refusal type, its HTTP status says
        // what went wrong (503 queue down, 504 no worker answered).
        Err(refusal) => pages::Mint::Failed(refusal.into_response().status().as_u16()),
    };
    // Read after the reply, so the page shows the map as the worker left
    // it (a probe may have added the meeting). The worker records the
    // join just after replying, so "Last join" may still be the one
    // before; the mint section above is this one.
    let found = match lookup(&state, &op, input).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    html(
        StatusCode::OK,
        pages::lookup(&op.csrf, input, found.as_ref(), Some(&mint)),
    )
}

/// `GET /console/joins?status=&account=&meeting=`.
async fn joins_page(
    State(state): State<IngressState>,
    headers: axum::http::HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    unwrap_or_response(
        async {
            let op = state.console_viewer(&headers)?;
            let pick = |k: &str| {
                q.get(k)
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
            };
            let filter = JoinFilter {
                status: pick("status"),
                account_id: pick("account"),
                meeting_id: pick("meeting"),
            };
            let Some(log) = state.console.joins.as_ref() else {
                return Ok(html(
                    StatusCode::OK,
                    pages::joins(&op.csrf, &filter, None, &[]),
                ));
            };
            let shown = log
                .recent(&filter, JOINS_SHOWN)
                .await
                .map_err(|e| unavailable(&op, &e))?;
            let all = log
                .recent(&JoinFilter::default(), usize::MAX)
                .await
                .map_err(|e| unavailable(&op, &e))?;
            let counts = chart::per_minute(&all, now_ms());
            Ok(html(
                StatusCode::OK,
                pages::joins(&op.csrf, &filter, Some(&counts), &shown),
            ))
        }
        .await,
    )
}

/// Ready messages and consumers of every work queue and its dead-letter
/// queue (a passive declare each).
async fn queue_rows(state: &IngressState) -> Vec<pages::QueueRow> {
    let topology = state.bus.topology();
    let mut rows = Vec::new();
    for queue in topology.work_queues() {
        for (name, dlq_of) in [
            (queue.clone(), None),
            (Topology::dlq(&queue), Some(queue.clone())),
        ] {
            let stats = state
                .bus
                .queue_stats(&name)
                .await
                .map_err(|e| e.to_string());
            rows.push(pages::QueueRow {
                name,
                dlq_of,
                stats,
            });
        }
    }
    rows
}

/// `GET /console/queues`.
async fn queues_page(
    State(state): State<IngressState>,
    headers: axum::http::HeaderMap,
) -> Response {
    let op = match state.console_viewer(&headers) {
        Ok(op) => op,
        Err(r) => return r.into(),
    };
    let rows = queue_rows(&state).await;
    html(StatusCode::OK, pages::queues(&op.csrf, &rows, None))
}

/// `POST /console/queues/inspect` (`queue`: a dead-letter queue).
async fn inspect_dlq(
    State(state): State<IngressState>,
    headers: axum::http::HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    walk_dlq(state, headers, form, false).await
}

/// `POST /console/queues/redrive` (`queue`: a dead-letter queue).
async fn redrive_dlq(
    State(state): State<IngressState>,
    headers: axum::http::HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    walk_dlq(state, headers, form, true).await
}

async fn walk_dlq(
    state: IngressState,
    headers: axum::http::HeaderMap,
    form: HashMap<String, String>,
    redrive: bool,
) -> Response {
    let op = match state.console_actor(&headers, form.get("csrf").map(String::as_str)) {
        Ok(op) => op,
        Err(r) => return r.into(),
    };
    // Only this topology's dead-letter queues: the name comes from a form.
    let asked = form.get("queue").map(String::as_str).unwrap_or_default();
    let Some(work) = state
        .bus
        .topology()
        .work_queues()
        .into_iter()
        .find(|q| Topology::dlq(q) == asked)
    else {
        return html(
            StatusCode::BAD_REQUEST,
            pages::unavailable(
                &op.csrf,
                "That is not one of rectoken's dead-letter queues.",
            ),
        );
    };
    let result = dlq::walk(state.bus.as_ref(), asked, redrive.then_some(work.as_str())).await;
    if let Ok(w) = &result {
        tracing::info!(
            queue = asked,
            redrive,
            visited = w.visited,
            moved = w.moved,
            "dead-letter queue walked from the console"
        );
    }
    let rows = queue_rows(&state).await;
    let outcome = pages::DlqOutcome {
        queue: asked,
        work: &work,
        redrive,
        result: result.map_err(|e| e.to_string()),
    };
    html(
        StatusCode::OK,
        pages::queues(&op.csrf, &rows, Some(&outcome)),
    )
}

#[cfg(test)]
mod tests;
