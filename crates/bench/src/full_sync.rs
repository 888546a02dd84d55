//! The sync benchmark, on the rig the sync worker's end-to-end tests use
//! (`rectoken_tests::sync_rig`): an in-process Zoom simulator, the real
//! RabbitMQ and Redis under a unique prefix, a vault, and accounts
//! connected through the simulator's OAuth code flow exactly as the
//! ingress would.
//!
//! [`full_sync_bench`] measures two things:
//! 1. a full sync of a generated account (Business+ limits, rectoken's
//!    limiter at `fraction` of them) by `workers` in-process sync workers:
//!    wall time, Zoom calls, 429s, and the ratio of the wall time to the
//!    time the calls need at Zoom's Medium limit (1.0 = the physical
//!    limit; the limiter's own margin puts the floor near 1/`fraction`);
//! 2. webhook throughput: `events` `meeting.created` events queued first,
//!    then drained by the workers.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt};
use rectoken_store::SyncState;
use rectoken_sync::SyncOptions;
use rectoken_tests::sync_rig::{CLIENT_ID, CLIENT_SECRET, Rig, WEBHOOK_SECRET};
use rectoken_tests::{delete_topology, now_ms};
use rectoken_vault::{Plan, ZoomLimits};
use zoom_sim::{GenerateSpec, SimConfig};

/// Zoom's Business+ Medium limit, requests per second (docs/zoom.md §8).
pub const BUSINESS_MEDIUM_PER_SECOND: f64 = 60.0;

/// Options of [`full_sync_bench`].
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// RabbitMQ URL.
    pub amqp_url: String,
    /// Redis URL.
    pub redis_url: String,
    /// Users of the generated account.
    pub users: usize,
    /// Meetings per user.
    pub meetings_per_user: usize,
    /// In-process sync workers.
    pub workers: usize,
    /// Concurrency of each worker.
    pub concurrency: usize,
    /// The limiter's share of Zoom's limits.
    pub fraction: f64,
    /// `meeting.created` events for the throughput phase (0: skip it).
    pub events: usize,
    /// Workers draining the events (1 measures one worker's throughput).
    pub event_workers: usize,
    /// Generator seed.
    pub seed: u64,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            amqp_url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            redis_url: "redis://127.0.0.1:6379/".into(),
            users: 10_000,
            meetings_per_user: 10,
            workers: 4,
            concurrency: 16,
            fraction: 0.95,
            events: 20_000,
            event_workers: 1,
            seed: 7,
        }
    }
}

/// What [`full_sync_bench`] measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// The options.
    pub options: BenchOptions,
    /// Time from publishing the `full_sync` job to seeing it completed.
    pub wall: Duration,
    /// Zoom REST calls the simulator served during the sync.
    pub calls: u64,
    /// Calls by endpoint.
    pub calls_by_endpoint: BTreeMap<String, u64>,
    /// 429 answers the simulator gave.
    pub rate_limited: u64,
    /// `wall ÷ (calls ÷ 60/s)`.
    pub ratio: f64,
    /// Live mappings after the sync, and how many were expected.
    pub mappings: (u64, u64),
    /// Events processed and the time they took, when measured.
    pub events: Option<(usize, Duration)>,
}

impl Report {
    /// Webhook events per second, over all workers.
    pub fn events_per_second(&self) -> Option<f64> {
        self.events
            .map(|(n, d)| n as f64 / d.as_secs_f64().max(1e-9))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(
            f,
            "full sync: {} users x {} meetings, {} workers x concurrency {}, limiter at {:.0}% of Business+",
            o.users,
            o.meetings_per_user,
            o.workers,
            o.concurrency,
            o.fraction * 100.0
        )?;
        writeln!(f, "  wall time        {:.1} s", self.wall.as_secs_f64())?;
        writeln!(
            f,
            "  Zoom calls       {} {:?}",
            self.calls, self.calls_by_endpoint
        )?;
        writeln!(f, "  429s             {}", self.rate_limited)?;
        let sustained = ZoomLimits::for_plan(Plan::BusinessPlus, o.fraction)
            .medium
            .per_second;
        writeln!(
            f,
            "  ratio            {:.3}  (wall / (calls / {BUSINESS_MEDIUM_PER_SECOND}/s); 1.0 = Zoom's limit; the limiter sustains {sustained}/s, a floor of {:.3})",
            self.ratio,
            BUSINESS_MEDIUM_PER_SECOND / sustained
        )?;
        writeln!(
            f,
            "  mappings         {} (expected {})",
            self.mappings.0, self.mappings.1
        )?;
        if let (Some((n, d)), Some(rate)) = (self.events, self.events_per_second()) {
            writeln!(
                f,
                "webhook events: {n} meeting.created in {:.2} s = {rate:.0}/s over {} worker(s) = {:.0}/s per worker",
                d.as_secs_f64(),
                o.event_workers,
                rate / o.event_workers.max(1) as f64
            )?;
        }
        Ok(())
    }
}

/// Run the benchmark (see the module documentation).
pub async fn full_sync_bench(opts: BenchOptions) -> anyhow::Result<Report> {
    let prefix = format!("bench-{}-{:x}.", std::process::id(), now_ms());
    let mut cfg = SimConfig::for_tests(CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET);
    cfg.seed = Some(opts.seed);
    let rig = Rig::start(
        &opts.amqp_url,
        &opts.redis_url,
        &prefix,
        cfg,
        ZoomLimits::for_plan(Plan::BusinessPlus, opts.fraction),
    )
    .await?;
    let generated = rig.sim.generate(&GenerateSpec {
        account_id: None,
        users: opts.users,
        meetings_per_user: opts.meetings_per_user,
        seed: opts.seed,
        plan: zoom_sim::Plan::Business,
    })?;
    let owner = generated
        .owner_id
        .clone()
        .context("generated account has no users")?;
    let account = rig.connect_account(&owner).await?;
    let options = SyncOptions {
        concurrency: opts.concurrency,
        scheduler: false,
        ..SyncOptions::default()
    };

    // 1. Full sync.
    let workers = rig.spawn_workers(opts.workers, &options);
    rig.sim.reset_stats();
    let started = Instant::now();
    rig.request_full_sync(&account, "bench").await?;
    let status = rig
        .wait_sync_done(&account, Duration::from_secs(3600))
        .await?;
    let wall = started.elapsed();
    if status.state != SyncState::Completed {
        bail!("the sync failed: {:?}", status.last_error);
    }
    let stats = rig.sim.stats();
    let mappings = rig.store.count_mappings(&account).await?;
    let expected = (opts.users * (opts.meetings_per_user + 1)) as u64;
    workers.stop().await;
    let ratio = wall.as_secs_f64() / (stats.requests as f64 / BUSINESS_MEDIUM_PER_SECOND);

    // 2. Webhook throughput: queue the events first, then drain them.
    let events = if opts.events > 0 {
        let host = owner.clone();
        let base = 70_000_000_000u64; // below the generator's 81e9.. range
        let bodies: Vec<String> = (0..opts.events as u64)
            .map(|i| {
                format!(
                    r#"{{"event":"meeting.created","event_ts":{ts},"payload":{{"account_id":"{account}","operator_id":"{host}","object":{{"id":{id},"uuid":"u{i}==","host_id":"{host}","topic":"bench","type":2}}}}}}"#,
                    ts = now_ms(),
                    id = base + i,
                )
            })
            .collect();
        futures_util::stream::iter(bodies.iter().map(|b| rig.publish_event(b)))
            .buffer_unordered(128)
            .try_collect::<Vec<()>>()
            .await?;
        let target = mappings + opts.events as u64;
        let workers = rig.spawn_workers(opts.event_workers.max(1), &options);
        let t0 = Instant::now();
        loop {
            if rig.store.count_mappings(&account).await? >= target {
                break;
            }
            if t0.elapsed() > Duration::from_secs(600) {
                bail!("events were not processed within 600 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = t0.elapsed();
        workers.stop().await;
        Some((opts.events, took))
    } else {
        None
    };
    let report = Report {
        options: opts.clone(),
        wall,
        calls: stats.requests,
        calls_by_endpoint: stats.by_endpoint.clone(),
        rate_limited: stats.served_429,
        ratio,
        mappings: (mappings, expected),
        events,
    };
    cleanup(&rig, &opts.amqp_url).await;
    Ok(report)
}

/// Best-effort removal of the bench's account state, mappings and queues.
async fn cleanup(rig: &Rig, amqp_url: &str) {
    if let Ok(accounts) = rig.store.list_accounts().await {
        for a in accounts {
            let _ = rig.store.purge_account_mappings(&a.account_id).await;
            let _ = rig.store.delete_account(&a.account_id).await;
        }
    }
    let topology = rig.bus.topology().clone();
    rig.bus.close().await;
    delete_topology(amqp_url, &topology).await;
}
