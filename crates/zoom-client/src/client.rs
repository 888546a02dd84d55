//! [`ZoomClient`]: the I/O half. Each method builds its URL (pure, in
//! [`crate::urls`]), sends one request, and hands the answer to the pure
//! readers ([`crate::model`]) or classifiers ([`crate::error`]).
//!
//! The client never retries and never refreshes on its own: rate limits are
//! shared per Zoom account by every worker (a Redis limiter), and refresh
//! tokens rotate (one refresh per account at a time, under a lock), so both
//! decisions belong to the caller, which has that context. What the client
//! guarantees is that each failure arrives as a variant saying what to do.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rectoken_domain::join::TokenKind;
use rectoken_domain::meeting_id::MeetingId;
use reqwest::header::{ACCEPT, HeaderMap, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::config::ZoomConfig;
use crate::endpoint::Endpoint;
use crate::error::{ApiError, ConfigError, OAuthError, ResponseMeta, classify_api, classify_oauth};
use crate::model::{
    JoinToken, ListType, MeetingsPage, TokenSet, UserTokenKind, UsersPage, ZoomMeeting, ZoomUser,
    parse_join_token, parse_meeting, parse_meetings_page, parse_token_set, parse_user,
    parse_user_token, parse_users_page,
};
use crate::urls::{self, PathTemplate};

/// Longest time spent connecting (TCP and TLS), within the whole-request
/// timeout: a dead address fails fast while a slow answer still has time.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle pooled connection to Zoom is kept.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Name of the request-latency histogram (labels `endpoint`, `status`).
pub const METRIC_REQUEST_SECONDS: &str = "rectoken_zoom_request_seconds";
/// Name of the request counter (labels `endpoint`, `outcome`).
pub const METRIC_REQUESTS_TOTAL: &str = "rectoken_zoom_requests_total";
/// The `status` label of a request that got no HTTP answer.
pub const STATUS_NONE: &str = "none";

/// A client of Zoom's OAuth and REST APIs for one OAuth app.
///
/// One pooled `reqwest::Client` (rustls, timeouts, no redirects) behind an
/// `Arc`: clone it freely, share it between tasks. Access tokens are passed
/// per call, because one client serves every connected account.
#[derive(Clone)]
pub struct ZoomClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api: Url,
    oauth: Url,
    token_url: Url,
    client_id: String,
    client_secret: SecretString,
    recording: PathTemplate,
    /// The settings it was built from (for clients of further apps, which
    /// start from the default app's).
    config: ZoomConfig,
}

impl fmt::Debug for ZoomClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZoomClient")
            .field("api_url", &self.inner.api.as_str())
            .field("oauth_url", &self.inner.oauth.as_str())
            .field("client_id", &self.inner.client_id)
            .field("client_secret", &"<redacted>")
            .field("recording_token_path", &self.inner.recording)
            .finish()
    }
}

/// An HTTP answer, whatever its status.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn meta(&self) -> ResponseMeta<'_> {
        let header = |name: &str| self.headers.get(name).and_then(|v| v.to_str().ok());
        ResponseMeta {
            status: self.status,
            retry_after: header(RETRY_AFTER.as_str()),
            category: header("x-ratelimit-category"),
            limit_type: header("x-ratelimit-type"),
        }
    }
}

impl ZoomClient {
    /// Checks the configuration (URLs, the recording-token template, the
    /// timeout) and builds the HTTP client.
    pub fn new(cfg: ZoomConfig) -> Result<Self, ConfigError> {
        let api = urls::base_url("api_url", &cfg.api_url)?;
        let oauth = urls::base_url("oauth_url", &cfg.oauth_url)?;
        let recording = PathTemplate::parse(&cfg.recording_token_path)?;
        if cfg.client_id.trim().is_empty() {
            return Err(ConfigError::EmptyClientId);
        }
        if cfg.timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(CONNECT_TIMEOUT))
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            // Zoom's API does not redirect; following one would send the
            // bearer token wherever a compromised answer points.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("rectoken/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::Http(e.to_string()))?;
        let token_url = urls::token_url(&oauth);
        let config = cfg.clone();
        Ok(ZoomClient {
            inner: Arc::new(Inner {
                http,
                api,
                oauth,
                token_url,
                client_id: cfg.client_id,
                client_secret: cfg.client_secret,
                recording,
                config,
            }),
        })
    }

    /// The settings this client was built from (`Debug` redacts the
    /// secret).
    pub fn config(&self) -> &ZoomConfig {
        &self.inner.config
    }

    /// The REST base this client calls (`ZOOM_API_URL`): tells which Zoom
    /// cloud the deployment's app lives in (`api.zoomgov.com` for ZoomGov).
    pub fn api_base(&self) -> &str {
        self.inner.api.as_str()
    }

    // ---- OAuth --------------------------------------------------------

    /// Where to send the admin to authorize the app:
    /// `{oauth_url}/authorize?response_type=code&client_id=…&redirect_uri=…&state=…`.
    /// Zoom redirects back to `redirect_uri` with `code` and `state`.
    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> String {
        urls::authorize_url(
            &self.inner.oauth,
            &self.inner.client_id,
            redirect_uri,
            state,
        )
        .into()
    }

    /// [`ZoomClient::authorize_url`] with a PKCE challenge
    /// (`code_challenge=…&code_challenge_method=S256`, RFC 7636): the code
    /// it yields is redeemed only with the matching verifier
    /// ([`ZoomClient::exchange_code_with_verifier`]).
    pub fn authorize_url_with_challenge(
        &self,
        redirect_uri: &str,
        state: &str,
        code_challenge: &str,
    ) -> String {
        let mut url = urls::authorize_url(
            &self.inner.oauth,
            &self.inner.client_id,
            redirect_uri,
            state,
        );
        url.query_pairs_mut()
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    /// [`ZoomClient::exchange_code`] for a code whose authorize request
    /// carried a PKCE challenge: sends `code_verifier` too.
    pub async fn exchange_code_with_verifier(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenSet, OAuthError> {
        self.token_request(
            Endpoint::OAuthCode,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", code_verifier),
            ],
        )
        .await
    }

    /// Exchanges an authorization code (it lives 5 minutes, single use) for
    /// tokens. `redirect_uri` must equal the one of the authorize request.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<TokenSet, OAuthError> {
        self.token_request(
            Endpoint::OAuthCode,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
            ],
        )
        .await
    }

    /// Refreshes: returns a new access token and a **new** refresh token;
    /// `refresh_token` is dead from now on, whatever happens to the answer.
    /// Persist the new refresh token before anything else, and run at most
    /// one refresh per account at a time.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, OAuthError> {
        self.token_request(
            Endpoint::OAuthRefresh,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose_secret()),
            ],
        )
        .await
    }

    async fn token_request(
        &self,
        endpoint: Endpoint,
        form: &[(&str, &str)],
    ) -> Result<TokenSet, OAuthError> {
        let started = Instant::now();
        let request = self
            .inner
            .http
            .post(self.inner.token_url.clone())
            .basic_auth(
                &self.inner.client_id,
                Some(self.inner.client_secret.expose_secret()),
            )
            .header(ACCEPT, "application/json")
            .form(form);
        let (status, result) = match send(request).await {
            Err(e) => (None, Err(OAuthError::Transient(e))),
            Ok(a) if a.is_success() => (
                Some(a.status),
                parse_token_set(&a.body).map_err(|d| OAuthError::Unexpected {
                    status: a.status,
                    detail: format!("the token response is unreadable: {d}"),
                }),
            ),
            Ok(a) => (
                Some(a.status),
                Err(classify_oauth(a.meta(), &a.body, SystemTime::now())),
            ),
        };
        let outcome = result.as_ref().map_or_else(OAuthError::outcome, |_| "ok");
        observe(endpoint, status, outcome, started.elapsed());
        result
    }

    // ---- REST ---------------------------------------------------------

    /// `GET /users/me`: the authorizing user, with the `account_id` that
    /// credentials are stored under and the user's PMI.
    pub async fn me(&self, access: &SecretString) -> Result<ZoomUser, ApiError> {
        self.get_user(access, "me").await
    }

    /// `GET /users/{userId}` (an ID, an email, or `me`).
    ///
    /// Here and in every method taking a `user_id`: `""`, `.` and `..` are
    /// refused with [`ApiError::InvalidRequest`] without a request, as they
    /// would address another endpoint.
    pub async fn get_user(
        &self,
        access: &SecretString,
        user_id: &str,
    ) -> Result<ZoomUser, ApiError> {
        let url = urls::get_user_url(&self.inner.api, user_id)?;
        self.get(Endpoint::GetUser, url, access, parse_user).await
    }

    /// `GET /users?status=active`: one page of the account's active users.
    /// Pass the previous page's `next_page_token` (`None` for the first);
    /// `page_size` is clamped to 1..=300.
    pub async fn list_users(
        &self,
        access: &SecretString,
        page_token: Option<&str>,
        page_size: u32,
    ) -> Result<UsersPage, ApiError> {
        let url = urls::list_users_url(&self.inner.api, page_token, page_size);
        self.get(Endpoint::ListUsers, url, access, parse_users_page)
            .await
    }

    /// `GET /users/{userId}/meetings?type=…`: one page of a user's meetings.
    /// The list never holds instant or PMI meetings: take the PMI from the
    /// user.
    pub async fn list_meetings(
        &self,
        access: &SecretString,
        user_id: &str,
        kind: ListType,
        page_token: Option<&str>,
        page_size: u32,
    ) -> Result<MeetingsPage, ApiError> {
        let url = urls::list_meetings_url(&self.inner.api, user_id, kind, page_token, page_size)?;
        self.get(Endpoint::ListMeetings, url, access, parse_meetings_page)
            .await
    }

    /// `GET /meetings/{meetingId}` (a meeting number or a PMI): its host and
    /// type. 404 (3001) when it does not exist or is not visible to the grant.
    pub async fn get_meeting(
        &self,
        access: &SecretString,
        id: MeetingId,
    ) -> Result<ZoomMeeting, ApiError> {
        let url = urls::get_meeting_url(&self.inner.api, id);
        self.get(Endpoint::GetMeeting, url, access, parse_meeting)
            .await
    }

    /// Mints a join token for a meeting: `local_recording` from the
    /// configured recording-token path, `local_archiving` and
    /// `live_streaming` from `/meetings/{id}/jointoken/{kind}`, with
    /// `bypass_waiting_room=true` when asked. Mint right before the bot
    /// joins; never cache (it lives about two minutes).
    ///
    /// [`TokenKind::OnBehalf`] is refused with
    /// [`ApiError::InvalidRequest`], without a request: it is a user token,
    /// see [`ZoomClient::user_token`].
    pub async fn join_token(
        &self,
        access: &SecretString,
        id: MeetingId,
        kind: TokenKind,
        bypass_waiting_room: bool,
    ) -> Result<JoinToken, ApiError> {
        let url = urls::join_token_url(
            &self.inner.api,
            &self.inner.recording,
            id,
            kind,
            bypass_waiting_room,
        )?;
        self.get(Endpoint::JoinToken, url, access, parse_join_token)
            .await
    }

    /// `GET /users/{userId}/token?type=…[&meeting_id=…]`: an on-behalf (OBF)
    /// token for joining a meeting outside the account (give the meeting),
    /// or the user's ZAK.
    pub async fn user_token(
        &self,
        access: &SecretString,
        user_id: &str,
        kind: UserTokenKind,
        meeting_id: Option<MeetingId>,
    ) -> Result<SecretString, ApiError> {
        let url = urls::user_token_url(&self.inner.api, user_id, kind, meeting_id)?;
        self.get(Endpoint::UserToken, url, access, parse_user_token)
            .await
    }

    async fn get<T>(
        &self,
        endpoint: Endpoint,
        url: Url,
        access: &SecretString,
        parse: fn(&[u8]) -> Result<T, String>,
    ) -> Result<T, ApiError> {
        let started = Instant::now();
        let request = self
            .inner
            .http
            .get(url)
            .bearer_auth(access.expose_secret())
            .header(ACCEPT, "application/json");
        let (status, result) = match send(request).await {
            Err(e) => (None, Err(ApiError::Transport(e))),
            Ok(a) if a.is_success() => (
                Some(a.status),
                parse(&a.body).map_err(ApiError::BadResponse),
            ),
            Ok(a) => (
                Some(a.status),
                Err(classify_api(a.meta(), &a.body, SystemTime::now())),
            ),
        };
        let outcome = result.as_ref().map_or_else(ApiError::outcome, |_| "ok");
        observe(endpoint, status, outcome, started.elapsed());
        result
    }
}

/// Sends and reads the whole body. `Err` is a transport failure, described
/// without the URL (queries carry cursors and meeting IDs; nothing secret,
/// but logs should not collect them).
async fn send(request: reqwest::RequestBuilder) -> Result<Answer, String> {
    let response = request.send().await.map_err(describe_transport)?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(describe_transport)?;
    Ok(Answer {
        status,
        headers,
        body: body.to_vec(),
    })
}

fn describe_transport(e: reqwest::Error) -> String {
    let e = e.without_url();
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "could not read the answer"
    } else {
        "request failed"
    };
    let mut out = what.to_owned();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Records the request's metrics and its debug line: method, path template,
/// status, latency, outcome; never a URL, header or body.
fn observe(endpoint: Endpoint, status: Option<u16>, outcome: &'static str, latency: Duration) {
    let status_label = status.map_or_else(|| STATUS_NONE.to_owned(), |s| s.to_string());
    metrics::histogram!(
        METRIC_REQUEST_SECONDS,
        "endpoint" => endpoint.as_str(),
        "status" => status_label.clone(),
    )
    .record(latency.as_secs_f64());
    metrics::counter!(
        METRIC_REQUESTS_TOTAL,
        "endpoint" => endpoint.as_str(),
        "outcome" => outcome,
    )
    .increment(1);
    tracing::debug!(
        method = endpoint.method(),
        path = endpoint.path_template(),
        status = %status_label,
        latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
        outcome,
        "zoom request"
    );
}
