//! The token worker role (`rectoken token-worker`): consumes join requests
//! from `rectoken.join` and answers each on its `reply_to` with freshly
//! minted Zoom join tokens (docs/design.md, "Join request and reply").
//!
//! For each request:
//! 1. Decode with [`rectoken_domain::join::decode_join_request`] (every URL
//!    form). Malformed: an `invalid_request` reply when there is a
//!    `reply_to`, else the dead-letter queue. Past its deadline (default 30 s
//!    after receipt): acked, no reply, counted `expired`. Valid but without
//!    `reply_to`: dead-lettered ("no reply_to"): nobody could read a token.
//! 2. Find the owner: the meeting map, then the PMI map; on a miss, when at
//!    most [`TokenOptions::probe_max_accounts`] accounts are connected, ask
//!    each (`GET /meetings/{id}`) in parallel; the first that owns it is
//!    recorded (source `probe`). Nobody: `not_found`.
//! 3. Mint every asked kind in parallel through
//!    [`rectoken_vault::ZoomAccess::call`] (shared rate budget, one refresh
//!    on 401, 429/5xx retries until the deadline). Tokens are never cached
//!    and never logged. `onbehalf` and `zak` for a named sender
//!    (`on_behalf_of`) go through the sender's own connection instead, found
//!    without the meeting map (so external meetings work); see [`kinds`].
//!    The reply is `ok` when any kind was minted, with `token_errors` for
//!    the rest.
//! 4. Publish the reply (default exchange, routing key = `reply_to`,
//!    `correlation_id` copied, transient, confirmed), then ack. An
//!    unroutable reply means the requester is gone: ack, counted
//!    `requester_gone`. A broker that cannot take the reply: retry.
//!
//! Zoom's 404 (3001/300) for a mapped meeting removes the stale mapping and
//! answers `not_found`. When Redis fails the request is retried rather than
//! answered with a guess.
//!
//! # Wiring
//! ```no_run
//! # async fn wire(bus: std::sync::Arc<dyn rectoken_bus::Bus>, store: std::sync::Arc<dyn rectoken_store::Store>,
//! #   access: rectoken_vault::ZoomAccess, zoom: rectoken_zoom::ZoomClient) {
//! use rectoken_token::{TokenDeps, TokenOptions, run};
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! run(TokenDeps { bus, store, access, zoom }, TokenOptions::default(), shutdown).await;
//! # }
//! ```
//!
//! # Layout
//! - [`classify`]: pure decisions (errors → reply status and message, map
//!   keys, deadlines), unit-tested.
//! - [`kinds`]: pure per-kind decisions (which kinds go through the owner or
//!   the sender, refusals, per-kind errors and reasons), unit-tested.
//! - [`worker`]: [`TokenWorker`], the handler; [`TokenWorker::answer`] is the
//!   core that tests call directly.
//! - [`mint_watch`]: when an account's mints keep failing
//!   (`account.mints_failing`).
//! - [`telemetry`]: metric names.
//!
//! The test bed on the Zoom simulator (`rectoken_tests::harness`) and the
//! join benchmarks (`rectoken-bench`) live outside this crate, so it
//! depends only on what the role runs with.

pub mod accounts;
pub mod classify;
pub mod kinds;
pub mod mint_watch;
pub mod recent;
pub mod telemetry;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use rectoken_bus::Bus;
use rectoken_runtime::consumer::{self, ConsumerOptions, RetryPolicy};
use rectoken_store::Store;
use rectoken_vault::ZoomAccess;
use rectoken_zoom::ZoomClient;
use tokio_util::sync::CancellationToken;

pub use worker::{TokenWorker, Transient};

/// What the token worker needs.
#[derive(Clone)]
pub struct TokenDeps {
    /// The broker: requests come from its `rectoken.join`, replies go out
    /// through it.
    pub bus: Arc<dyn Bus>,
    /// The meeting/PMI map and account records.
    pub store: Arc<dyn Store>,
    /// Zoom calls per account (vault, rate budget, retries).
    pub access: ZoomAccess,
    /// The Zoom client (its config holds the recording-token path).
    pub zoom: ZoomClient,
}

/// Tunables of the token worker.
#[derive(Debug, Clone)]
pub struct TokenOptions {
    /// Requests worked on at once (also the prefetch). Each mostly waits on
    /// Zoom, so many fit one process.
    pub concurrency: usize,
    /// Probe the connected accounts for an unmapped meeting only when there
    /// are at most this many (each probe costs one request per account).
    pub probe_max_accounts: usize,
    /// Retries of a request whose reply could not be published or whose
    /// store lookups failed.
    pub retry: RetryPolicy,
    /// Whether the `zak` kind may be minted (`RECTOKEN_ALLOW_ZAK`): a ZAK
    /// lets the bot act as the sender, so it is off unless an operator
    /// turns it on.
    pub allow_zak: bool,
    /// Where each answered request is recorded for the operator console
    /// (none: not recorded).
    pub join_log: Option<recent::JoinRecorder>,
}

impl Default for TokenOptions {
    /// 64 at once, probing up to 10 accounts, no ZAKs, and retries that fit well
    /// inside a bot's 30 s default deadline (4 attempts, 200 ms to 2 s).
    fn default() -> Self {
        Self {
            concurrency: 64,
            probe_max_accounts: 10,
            retry: RetryPolicy {
                attempts: 4,
                min_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(2),
            },
            allow_zak: false,
            join_log: None,
        }
    }
}

/// Consume `rectoken.join` until `shutdown`, then finish the requests in
/// flight and return.
///
/// Dropping the future instead (aborting its task) is a crash without
/// drain: requests in flight stop at once, publish nothing, and go back to
/// the queue for another worker.
pub async fn run(deps: TokenDeps, options: TokenOptions, shutdown: CancellationToken) {
    let killed = CancellationToken::new();
    let _kill_on_drop = killed.clone().drop_guard();
    let stop = shutdown.child_token();
    let _stop_on_drop = stop.clone().drop_guard();
    let bus = deps.bus.clone();
    let consumer_options = ConsumerOptions {
        queue: bus.topology().join_queue(),
        concurrency: options.concurrency.max(1),
        retry: options.retry.clone(),
    };
    let worker = Arc::new(TokenWorker::with_kill_switch(deps, options, killed));
    consumer::run(bus, worker, consumer_options, stop).await;
}
