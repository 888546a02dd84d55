//! rectoken's client of Zoom's OAuth and REST APIs: the authorization-code
//! flow and refresh for an account-level app, users and meetings for the
//! meeting→account map, and the join tokens bots need (docs/zoom.md §4–§8).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rectoken_domain::join::TokenKind;
//! use rectoken_zoom::{ZoomClient, ZoomConfig};
//! use secrecy::SecretString;
//!
//! let zoom = ZoomClient::new(ZoomConfig::new("client-id", SecretString::from("secret")))?;
//! let tokens = zoom.exchange_code("code-from-callback", "https://rt.example.com/zoom/oauth/callback").await?;
//! let me = zoom.me(&tokens.access_token).await?; // me.account_id keys the credentials
//! let token = zoom
//!     .join_token(&tokens.access_token, "85012345678".parse()?, TokenKind::LocalRecording, true)
//!     .await?;
//! # let _ = (me, token); Ok(()) }
//! ```
//!
//! What callers decide (the client never retries or refreshes by itself):
//! - [`ApiError::Unauthorized`]: refresh once (under the account's lock),
//!   retry once.
//! - [`OAuthError::is_permanent`]: the account is disconnected.
//! - [`ApiError::is_retryable`] / [`OAuthError::is_retryable`]: back off,
//!   honouring `retry_after()` when Zoom gave one, else exponentially.
//! - [`ApiError::NotFound`] / [`ApiError::MissingScope`]: final answers.
//!
//! Nothing secret is ever logged: requests log at `debug` with method, path
//! template, status and latency only; tokens are [`secrecy::SecretString`]s
//! whose `Debug` is redacted; error texts never quote a token. Every request
//! records `rectoken_zoom_request_seconds{endpoint,status}` and
//! `rectoken_zoom_requests_total{endpoint,outcome}`.
//!
//! # Layout
//!
//! Pure, unit-tested, no I/O:
//! - [`config`]: [`ZoomConfig`] and the defaults of docs/design.md.
//! - [`endpoint`]: [`Endpoint`] names and templates, [`RateLabel`]s.
//! - [`urls`]: every request URL; the recording-token path template.
//! - [`scopes`]: which granular scope each call needs, and what a grant lacks.
//! - [`retry_after`]: [`parse_retry_after`] (seconds, HTTP-date, ISO 8601).
//! - [`error`]: [`OAuthError`], [`ApiError`] and their classification from
//!   status, headers and body.
//! - [`model`]: returned types and tolerant body readers (PMIs as numbers
//!   or strings, paging cursors).
//!
//! - [`apps`]: the deployment's Zoom apps ([`apps::App`], [`apps::Apps`],
//!   the apps file, [`apps::Cloud`]).
//!
//! With I/O:
//! - [`client`]: [`ZoomClient`], one pooled `reqwest` client.
//! - [`clients`]: [`ZoomClients`], one client per app, by app name.
//!
//! Tests in `tests/` run the client against the Zoom simulator (`zoom-sim`).

pub mod apps;
pub mod client;
pub mod clients;
pub mod config;
pub mod endpoint;
pub mod error;
pub mod model;
pub mod retry_after;
pub mod scopes;
pub mod urls;

pub use client::ZoomClient;
pub use clients::ZoomClients;
pub use config::ZoomConfig;
pub use endpoint::{Endpoint, RateLabel};
pub use error::{ApiError, ConfigError, OAuthError};
pub use model::{
    JoinToken, ListType, MeetingsPage, TokenSet, UserSummary, UserTokenKind, UsersPage,
    ZoomMeeting, ZoomUser,
};
pub use retry_after::parse_retry_after;
