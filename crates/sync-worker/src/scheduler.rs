//! The periodic work of the sync workers, run by exactly one of them at a
//! time: every sync worker runs [`run_scheduler`], which competes for the
//! store lease [`SCHEDULER_LOCK`]; the holder renews it every third of its
//! TTL and runs the checks every `check_interval`; a holder that loses the
//! lease (a stall past the TTL, Redis unreachable for longer than the TTL)
//! stops checking at once and competes again.
//!
//! The checks, per connected account:
//! - a full sync when the last one finished more than `resync_interval`
//!   ago, never ran, or has been stuck in progress (see
//!   [`plan::stale_after`]);
//! - the token keep-alive (issue #4): credentials last refreshed more than
//!   `keepalive_interval` ago are refreshed now, so an idle account's
//!   refresh token never lapses;
//! - and the `rectoken_dlq_depth{queue}` gauge of every dead-letter queue.

use std::sync::Arc;
use std::time::Duration;

use rectoken_bus::{Bus, Topology};
use rectoken_store::{AccountStatus, Lease, Store};
use rectoken_vault::Vault;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::plan;
use crate::sync::full_sync_message;
use crate::worker::now_ms;

/// The store lock whose holder schedules.
pub const SCHEDULER_LOCK: &str = "scheduler";
/// Metric: ready messages in each dead-letter queue.
pub const METRIC_DLQ_DEPTH: &str = "rectoken_dlq_depth";

/// Tunables of the scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// How often the holder runs the checks.
    pub check_interval: Duration,
    /// Resync an account whose last sync finished longer ago than this.
    pub resync_interval: Duration,
    /// Refresh credentials last refreshed longer ago than this.
    pub keepalive_interval: Duration,
    /// TTL of the scheduler lease.
    pub lease_ttl: Duration,
    /// Floor of the time after which an in-progress sync counts as stuck.
    pub stale_floor: Duration,
}

/// What the scheduler needs.
#[derive(Clone)]
pub struct SchedulerDeps {
    /// Where full-sync jobs go.
    pub bus: Arc<dyn Bus>,
    /// Accounts, credentials, the lease.
    pub store: Arc<dyn Store>,
    /// For the keep-alive refresh.
    pub vault: Vault,
}

struct Held {
    lease: Lease,
    renewed: Instant,
    stop: CancellationToken,
    checks: tokio::task::JoinHandle<()>,
}

impl Held {
    async fn release(self, store: &dyn Store) {
        self.stop.cancel();
        let _ = self.checks.await;
        if let Err(e) = store.unlock(&self.lease).await {
            tracing::warn!(error = %e, "could not release the scheduler lease; it expires by itself");
        }
    }
}

/// Compete for the scheduler lease until `shutdown`; while holding it, run
/// the checks. Releases the lease on the way out.
pub async fn run_scheduler(
    deps: SchedulerDeps,
    settings: SchedulerSettings,
    shutdown: CancellationToken,
) {
    let ttl = settings.lease_ttl.max(Duration::from_millis(30));
    let mut tick = tokio::time::interval(ttl / 3);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut held: Option<Held> = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        held = match held.take() {
            Some(mut h) => match deps.store.renew_lock(&h.lease, ttl).await {
                Ok(true) => {
                    h.renewed = Instant::now();
                    Some(h)
                }
                Ok(false) => {
                    tracing::warn!("lost the scheduler lease; no longer scheduling");
                    h.stop.cancel();
                    None
                }
                // Unknown: keep going while the lease would still be ours.
                Err(e) if h.renewed.elapsed() < ttl => {
                    tracing::warn!(error = %e, "could not renew the scheduler lease; retrying");
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler lease not renewed within its TTL; no longer scheduling");
                    h.stop.cancel();
                    None
                }
            },
            None => match deps.store.try_lock(SCHEDULER_LOCK, ttl).await {
                Ok(Some(lease)) => {
                    tracing::info!(fence = lease.fence, "holding the scheduler lease");
                    let stop = shutdown.child_token();
                    let checks =
                        tokio::spawn(check_loop(deps.clone(), settings.clone(), stop.clone()));
                    Some(Held {
                        lease,
                        renewed: Instant::now(),
                        stop,
                        checks,
                    })
                }
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "could not try the scheduler lease");
                    None
                }
            },
        };
    }
    if let Some(h) = held {
        h.release(deps.store.as_ref()).await;
    }
    tracing::info!("scheduler stopped");
}

async fn check_loop(deps: SchedulerDeps, settings: SchedulerSettings, stop: CancellationToken) {
    let mut every = tokio::time::interval(settings.check_interval.max(Duration::from_millis(10)));
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = run_checks(&deps, &settings) => {}
        }
    }
}

/// One round of checks (public for tests and the admin API).
pub async fn run_checks(deps: &SchedulerDeps, settings: &SchedulerSettings) {
    let now = now_ms();
    let topology = deps.bus.topology().clone();
    match deps.store.list_accounts().await {
        Err(e) => tracing::warn!(error = %e, "scheduler: cannot list accounts"),
        Ok(accounts) => {
            for record in accounts
                .iter()
                .filter(|r| r.status == AccountStatus::Connected)
            {
                let account_id = record.account_id.as_str();
                if let Some(why) = plan::sync_due(
                    &record.sync,
                    now,
                    settings.resync_interval,
                    settings.stale_floor,
                ) {
                    let message =
                        full_sync_message(&topology.sync_queue(), account_id, "schedule", now);
                    match deps.bus.publish(message).await {
                        Ok(()) => tracing::info!(account_id, why, "full sync scheduled"),
                        Err(e) => {
                            tracing::warn!(account_id, error = %e, "could not schedule a full sync")
                        }
                    }
                }
                keepalive(deps, settings, account_id, now).await;
            }
        }
    }
    for queue in topology.work_queues() {
        let dlq = Topology::dlq(&queue);
        match deps.bus.queue_depth(&dlq).await {
            Ok(depth) => metrics::gauge!(METRIC_DLQ_DEPTH, "queue" => dlq).set(f64::from(depth)),
            Err(e) => {
                tracing::debug!(queue = %dlq, error = %e, "cannot read the dead-letter queue depth")
            }
        }
    }
}

async fn keepalive(deps: &SchedulerDeps, settings: &SchedulerSettings, account_id: &str, now: i64) {
    let creds = match deps.store.credentials(account_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(account_id, error = %e, "keep-alive: cannot read credentials");
            return;
        }
    };
    if !plan::keepalive_due(creds.refreshed_at_ms, now, settings.keepalive_interval) {
        return;
    }
    match deps.vault.refresh_now(account_id).await {
        Ok(()) => tracing::info!(account_id, "keep-alive: credentials refreshed"),
        Err(e) => tracing::warn!(account_id, error = %e, "keep-alive refresh failed"),
    }
}
