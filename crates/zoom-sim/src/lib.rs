//! A faithful simulator of Zoom's OAuth and REST APIs and of its webhook
//! sender, for rectoken's tests, demos and benchmarks (Zoom cannot be reached
//! from here). Every behaviour follows `docs/zoom.md`; where that says
//! UNCONFIRMED, the choice is one named constant whose doc comment says so:
//!
//! | point | constant |
//! |---|---|
//! | refresh-token lifetime | [`auth::REFRESH_TOKEN_TTL_MS`] (90 days) |
//! | body of a rotated/invalid refresh token | [`auth::INVALID_REFRESH_TOKEN_BODY`] (400, `invalid_grant`, "Invalid Token!") |
//! | HTTP status of 4711 (missing scope) | [`http::MISSING_SCOPE_STATUS`] (400) |
//! | `expire_in` unit of join tokens | [`http::JOIN_TOKEN_EXPIRE_IN_SECS`] (120 s) |
//! | `X-RateLimit-Type` value | [`http::RATE_LIMIT_TYPE_QPS`] (`QPS`) |
//! | rate headers on non-429 answers | [`http::RATE_LIMIT_HEADERS_ON_SUCCESS`] (yes) |
//! | labels of jointoken, `/users`, `/users/{id}`, `/users/{id}/token` | [`faults::LABEL_JOIN_TOKEN`], [`faults::LABEL_LIST_USERS`], [`faults::LABEL_GET_USER`], [`faults::LABEL_USER_TOKEN`] (Light, Medium, Light, Light) |
//! | `operation` of `meeting.created` / `meeting.deleted` | [`events::MEETING_CREATED_OPERATION`], [`events::MEETING_DELETED_OPERATION_ALL`] |
//! | top-level `event_ts` in `app_deauthorized` | [`events::APP_DEAUTHORIZED_TOP_LEVEL_EVENT_TS`] (both places) |
//! | meeting `type` numbers | [`model::meeting_type`] |
//! | page size above 300 | [`paging::MAX_PAGE_SIZE`] (clamped to 300) |
//! | `next_page_token` lifetime and its expiry answer | [`paging::PAGE_TOKEN_TTL_MS`] (15 min, [`Sim::set_page_token_ttl`]), 400/300 "The next page token is invalid or expired." (`http/api.rs`) |
//! | timestamp of a retried webhook | [`webhook::RetryTimestamps`] (`fresh` by default, `keep_first` in simulated time) |
//! | dead refresh token's answer | [`auth::DeadTokenAnswer`] (400 `invalid_grant` by default; 401 and `invalid_request` variants) |
//!
//! Scopes: the default grant is exactly rectoken's README list
//! ([`AppKind::default_scopes`]); every `/v2` endpoint checks its scope
//! (an account-level grant needs the `:admin` variant except for its own
//! user) and answers 4711. Join tokens check the host's
//! [`model::UserSettings`] (3000, 3161).
//!
//! # Use
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use zoom_sim::{Sim, SimConfig};
//! let (sim, addr) = Sim::spawn(SimConfig::for_tests("cid", "csecret", "whsecret")).await?;
//! sim.seed_demo().expect("empty simulator");
//! // Point the client at http://{addr}/oauth and http://{addr}/v2 …
//! # let _ = addr; Ok(()) }
//! ```
//!
//! `rectoken sim` flattens [`SimConfig`] into its arguments and calls
//! [`Sim::serve`]. Tests use [`Sim::spawn`], drive data through the control
//! methods of [`Sim`] (or the `/_sim/` HTTP API, see [`http`]), and wait for
//! webhook outcomes with [`WithEvent::wait`] / [`Sim::wait_deliveries`]
//! instead of sleeping. [`Sim::advance_clock`] expires codes and tokens.
//!
//! # Layout
//!
//! Pure parts, unit-tested, no I/O:
//! - [`config`]: [`SimConfig`] (clap flags and env), [`AppKind`].
//! - [`clock`]: the simulated clock tests can move forward; Zoom's time formats.
//! - [`rng`]: seedable SplitMix64 behind every random choice.
//! - [`model`]: accounts, users, meetings.
//! - [`store`]: the data and its invariants (unique numbers, PMIs), lists.
//! - [`paging`]: `page_size`, the opaque `next_page_token`, page cutting.
//! - [`ratelimit`]: plans, labels, the sliding-window limiter.
//! - [`auth`]: codes, grants, token rotation, OAuth error bodies.
//! - [`faults`]: endpoints, their labels, injected latency and faults.
//! - [`events`]: webhook event bodies; [`signing`]: `x-zm-signature`.
//! - [`generate`]: large deterministic accounts and the demo seed.
//! - [`admission`]: whether a bot presenting a token gets into a meeting
//!   (OBF only while its user is in the meeting).
//!
//! With I/O:
//! - [`webhook`]: the sender (spawned deliveries, retries, records).
//! - [`sim`]: [`Sim`], the shared handle and its control methods.
//! - [`http`]: axum handlers for `/oauth`, `/v2` and `/_sim`.
//! - [`serve`]: `Sim::router`, `serve` and `spawn` (apart from [`sim`], so the
//!   model never imports its HTTP face).
//!
//! # Control API (`/_sim/`, JSON, unauthenticated)
//!
//! | route | does |
//! |---|---|
//! | `POST /_sim/accounts` | create an account `{id?, plan?}` |
//! | `GET`/`PATCH /_sim/accounts/{id}` | read; change `{plan}` |
//! | `POST /_sim/accounts/{id}/users` | create a user `{id?, email?, first_name?, last_name?, pmi?, role_id?, type?, status?}` |
//! | `POST /_sim/accounts/{id}/deauthorize` | `{user_id?}`: revoke grants, fire `app_deauthorized` |
//! | `GET`/`PATCH /_sim/users/{id}` | read; change `{pmi?, use_pmi?, email?, …, operator_id?}`, fire `user.updated` |
//! | `POST /_sim/users/{id}/meetings` | create `{id?, topic?, type?, start_time?, duration?, occurrences?, use_pmi?, operator_id?}`, fire `meeting.created` |
//! | `GET`/`DELETE /_sim/meetings/{id}` | read; delete (`?occurrence_ids=a,b&operator_id=`), fire `meeting.deleted` |
//! | `POST /_sim/events` | send any `{event, event_ts?, payload}` |
//! | `GET`/`PUT`/`DELETE /_sim/faults` | injected latency and fault rates per endpoint |
//! | `GET`/`DELETE /_sim/stats` | counters; reset |
//! | `GET /_sim/tokens/{token}` | a minted token's meeting, kind, account, user, `minted_at`, `expires_at_ms` |
//! | `GET /_sim/tokens/{token}/admission?meeting_id=` | whether a bot presenting it gets in now: `{admitted, verdict, meeting_id, token}` |
//! | `PUT`/`DELETE /_sim/meetings/{id}/participants/{user}` | put a user (ID or email) into a meeting or take them out (204) |
//! | `GET /_sim/webhooks`, `GET /_sim/webhooks/{id}` | deliveries and their attempts |
//! | `GET`/`PUT /_sim/webhooks/settings`, `PUT /_sim/webhooks/targets` | targets, retry scale, timeout, `retry_timestamps` (`fresh`/`keep_first`), `delay_secs` |
//! | `GET`/`PUT /_sim/oauth`, `GET /_sim/grants` | consenting user, decline mode, scopes, `dead_refresh_token`; grants |
//! | `POST /_sim/clock/advance` | `{seconds}` |
//! | `POST /_sim/generate`, `POST /_sim/seed/demo` | bulk data |
//!
//! Every call that fires a webhook takes `?wait=true` (and `timeout_ms`) to
//! answer only once the deliveries have an outcome.

pub mod admission;
pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod events;
pub mod faults;
pub mod generate;
pub mod http;
pub mod model;
pub mod paging;
pub mod ratelimit;
pub mod rng;
pub mod serve;
pub mod signing;
pub mod sim;
pub mod stats;
pub mod store;
pub mod webhook;

pub use admission::{Admission, Verdict as AdmissionVerdict};
pub use auth::{DeadTokenAnswer, Grant};
pub use config::{AppKind, SimConfig};
pub use error::{Result, SimError};
pub use events::Event;
pub use faults::{Behaviour, Endpoint, ZoomRefusal};
pub use generate::{DEMO_ACCOUNT_ID, DEMO_ADMIN_USER_ID, GenerateSpec};
pub use model::{Account, Meeting, Occurrence, User};
pub use ratelimit::{Label, Plan};
pub use sim::{
    DeleteMeeting, GeneratedSummary, NewAccount, NewMeeting, NewUser, OAuthSettings, Sim,
    TokenKind, TokenRecord, WithEvent,
};
pub use stats::Stats;
pub use store::UserPatch;
pub use webhook::{DeliveryRecord, DeliveryState, EventDispatch, RetryTimestamps, WebhookSettings};
