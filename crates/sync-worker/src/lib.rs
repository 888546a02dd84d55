//! The sync worker of rectoken (`rectoken sync-worker`): keeps, in the
//! store, meeting ID → (account, host) and PMI → (account, user).
//!
//! It consumes `rectoken.sync` with the runtime's consumer loop. A body
//! with a `job` field is a [`SyncJob`](rectoken_domain::jobs::SyncJob);
//! anything else is a Zoom webhook event. Every write is the store's
//! versioned compare-and-set, so events may arrive late, twice, or on many
//! workers at once: the newest version wins and a stale or duplicate write
//! is a success. Each worker also competes for the scheduler lease; the
//! holder schedules periodic resyncs and the token keep-alive.
//!
//! # Decisions
//!
//! - Events of accounts with no record (never connected, or deauthorized)
//!   are skipped (`unknown_account`): no token could be minted for them,
//!   and the connect-time full sync maps their meetings anyway.
//! - An event without any time is versioned by its receipt time (see
//!   [`plan::plan_event`]).
//! - A full sync versions each meeting by the time its page was requested
//!   and each PMI by the sync's start, so a webhook reporting a later
//!   change always wins; the prune then removes only what the sync did not
//!   see *and* no webhook touched since the start.
//! - Progress is counted at least once: a `sync_user` redelivered after its
//!   count can complete a sync one user early; the late user's job still
//!   writes (and so restores anything the early prune removed).
//! - An unknown app in `x-rectoken-app` dead-letters the event (with the
//!   reason) rather than guessing its connection ID.
//!
//! # Layout
//! - [`plan`]: pure decisions (message kinds, event → store operations,
//!   sync and schedule rules, failure classes), unit-tested.
//! - [`worker`]: [`SyncHandler`], the consumer step; events.
//! - [`sync`]: `full_sync` and `sync_user` jobs.
//! - [`scheduler`]: the lease-holding periodic checks.
//!
//! The test rig (`rectoken_tests::sync_rig`) and the full-sync benchmark
//! (`rectoken-bench`) live outside this crate, so it depends only on what
//! the role runs with.

pub mod plan;
pub mod scheduler;
pub mod sync;
pub mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rectoken_bus::Bus;
use rectoken_domain::origin::OriginKeys;
use rectoken_runtime::RetryPolicy;
use rectoken_runtime::consumer::{self, ConsumerOptions};
use rectoken_runtime::origin::VerifyOrigin;
use rectoken_store::Store;
use rectoken_vault::ZoomAccess;
use tokio_util::sync::CancellationToken;

pub use scheduler::{SchedulerDeps, SchedulerSettings, run_scheduler};
pub use sync::{full_sync_message, job_message};
pub use worker::{HandlerSettings, SyncHandler};

/// How a sync worker runs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Messages handled at once (also the prefetch), per queue: the sync
    /// queue (events, full syncs) and the sync-users queue each get this many.
    pub concurrency: usize,
    /// How often the scheduler (when holding the lease) checks accounts.
    pub check_interval: Duration,
    /// Resync an account whose last sync finished longer ago than this.
    pub resync_interval: Duration,
    /// Refresh credentials last refreshed longer ago than this.
    pub keepalive_interval: Duration,
    /// TTL of the scheduler lease (renewed every third of it).
    pub scheduler_lease_ttl: Duration,
    /// Retries of transient failures (Redis, Zoom) before the DLQ.
    pub retry: RetryPolicy,
    /// Whether this worker competes for the scheduler lease at all.
    pub scheduler: bool,
    /// An in-progress sync older than this (or 100 ms per user, if longer)
    /// counts as stuck: a new one may supersede it.
    pub sync_stale_after: Duration,
    /// Deadline of one Zoom call, rate-limit waits included.
    pub zoom_deadline: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            concurrency: 16,
            check_interval: Duration::from_secs(60),
            resync_interval: Duration::from_secs(24 * 3600),
            keepalive_interval: Duration::from_secs(7 * 24 * 3600),
            scheduler_lease_ttl: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            scheduler: true,
            sync_stale_after: Duration::from_secs(3600),
            zoom_deadline: Duration::from_secs(120),
        }
    }
}

impl SyncOptions {
    /// The handler's part of the options.
    pub fn handler_settings(&self) -> HandlerSettings {
        HandlerSettings {
            zoom_deadline: self.zoom_deadline,
            stale_floor: self.sync_stale_after,
            ..HandlerSettings::default()
        }
    }

    /// The scheduler's part of the options.
    pub fn scheduler_settings(&self) -> SchedulerSettings {
        SchedulerSettings {
            check_interval: self.check_interval,
            resync_interval: self.resync_interval,
            keepalive_interval: self.keepalive_interval,
            lease_ttl: self.scheduler_lease_ttl,
            stale_floor: self.sync_stale_after,
        }
    }
}

/// What a sync worker works with.
#[derive(Clone)]
pub struct SyncDeps {
    /// The bus (`rectoken.sync`, `rectoken.sync.users` and their DLQs; jobs
    /// are published there).
    pub bus: Arc<dyn Bus>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// Rate-limited Zoom calls for accounts (holds the vault).
    pub access: ZoomAccess,
    /// Configured Zoom apps: name → user-level (`true`) or account-level.
    /// Messages without `x-rectoken-app` belong to `"default"`.
    pub apps: HashMap<String, bool>,
    /// The keys of the messages' proof of origin: messages on the sync
    /// queues whose `x-rectoken-origin` does not verify are dead-lettered.
    /// `deps.bus` should be a [`rectoken_runtime::origin::SigningBus`] with
    /// the same keys, so the jobs this worker publishes verify.
    pub origin: OriginKeys,
}

/// Run a sync worker until `shutdown`: the consumers of `rectoken.sync`
/// and `rectoken.sync.users`, and the scheduler. On shutdown the consumer stops taking messages and
/// finishes those in flight; the scheduler releases its lease. Returns when
/// both have stopped.
pub async fn run(deps: SyncDeps, options: SyncOptions, shutdown: CancellationToken) {
    // Only what a rectoken role signed reaches the handler: a party that
    // can publish to the sync queues without the key (a bot given too much
    // broker permission, a stray script) gets its messages dead-lettered.
    let handler: Arc<dyn rectoken_runtime::Handler> = Arc::new(VerifyOrigin::new(
        SyncHandler::new(
            deps.bus.clone(),
            deps.store.clone(),
            deps.access.clone(),
            deps.apps.clone(),
            options.handler_settings(),
        ),
        deps.origin.clone(),
    ));
    // Two consumers sharing one handler: webhook events and full-sync jobs,
    // and a full sync's per-user jobs. Each has its own prefetch, so events
    // are never stuck behind user jobs that wait for Zoom's rate limit.
    let consumer_of = |queue: String| {
        consumer::run(
            deps.bus.clone(),
            handler.clone(),
            ConsumerOptions {
                queue,
                concurrency: options.concurrency,
                retry: options.retry.clone(),
            },
            shutdown.clone(),
        )
    };
    let consumers = futures_util::future::join(
        consumer_of(deps.bus.topology().sync_queue()),
        consumer_of(deps.bus.topology().sync_users_queue()),
    );
    let scheduler = async {
        if options.scheduler {
            run_scheduler(
                SchedulerDeps {
                    bus: deps.bus.clone(),
                    store: deps.store.clone(),
                    vault: deps.access.vault().clone(),
                },
                options.scheduler_settings(),
                shutdown.clone(),
            )
            .await;
        }
    };
    tokio::join!(consumers, scheduler);
}
