//! The rectoken ingress: the HTTP front door for Zoom.
//!
//! # Layout
//! - [`apps`]: the Zoom apps whose webhooks we accept (the default app from
//!   `ZOOM_*` variables plus an optional TOML file of further apps).
//! - [`webhook`]: `POST /zoom/webhook[/{app}]`: verify, answer URL
//!   validation, publish with confirms, answer 200 only after the confirm.
//! - [`oauth`]: the OAuth connect flow (authorize, callback).
//! - [`admin`]: the admin API (accounts, meeting map), bearer-protected.
//! - [`join`]: `POST /join` and `GET /zoom/join-token` through the queue.
//! - [`callbacks`]: attendee's `POST /attendee/zoom-tokens` and Recall.ai's
//!   `GET /zoom/obf-token` and `GET /zoom/zak`, with their signatures.
//! - [`console`]: the operator console (`GET /console`), HTML pages
//!   behind a session cookie.
//! - [`hardening`]: HTTP limits (timeouts, concurrency) and security
//!   headers.
//! - [`services`]: what those three share (store, vault, Zoom client, keys).
//! - [`state`]: [`IngressState`], what every handler receives, and which
//!   optional parts are on.
//! - [`error`]: [`ApiError`], the one refusal type of every handler (JSON,
//!   plain text or an HTML page, by caller).
//! - [`server`]: [`router`] and [`Ingress`], which binds first and serves
//!   until the shutdown token fires, draining in-flight requests.
//!
//! Modules point one way: handlers use `state`, `services` and `error`;
//! `server` uses the handlers; nothing imports `server` back.
//!
//! The ingress holds no state of its own: every instance is interchangeable.

pub mod admin;
pub mod apps;
pub mod callbacks;
pub mod console;
pub mod error;
pub mod hardening;
pub mod join;
pub mod oauth;
pub mod server;
pub mod services;
pub mod state;
pub mod webhook;

pub use apps::{App, AppKind, Apps};
pub use error::ApiError;
pub use hardening::HttpLimits;
pub use rectoken_runtime::HealthCheck;
pub use server::{Ingress, router};
pub use services::Services;
pub use state::IngressState;
