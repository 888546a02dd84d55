//! The sync benchmark, and the rig it shares with the end-to-end tests: an
//! in-process Zoom simulator, the real RabbitMQ and Redis under a unique
//! prefix, a vault, and accounts connected through the simulator's OAuth
//! code flow exactly as the ingress would.
//!
//! [`full_sync_bench`] measures two things:
//! 1. a full sync of a generated account (Business+ limits, rectoken's
//!    limiter at `fraction` of them) by `workers` in-process sync workers:
//!    wall time, Zoom calls, 429s, and the ratio of the wall time to the
//!    time the calls need at Zoom's Medium limit (1.0 = the physical
//!    limit; the limiter's own margin puts the floor near 1/`fraction`);
//! 2. webhook throughput: `events` `meeting.created` events queued first,
//!    then drained by the workers.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt};
use rectoken_bus::topology::APP_HEADER;
use rectoken_bus::{Bus, OutgoingMessage, Topology};
use rectoken_store::{AccountRecord, AccountStatus, Store, SyncState, SyncStatus};
use rectoken_vault::{Keyring, Plan, Vault, VaultOptions, ZoomAccess, ZoomLimits};
use rectoken_zoom::{ZoomClient, ZoomConfig};
use secrecy::{SecretBox, SecretString};
use tokio_util::sync::CancellationToken;
use zoom_sim::{GenerateSpec, OAuthSettings, Sim, SimConfig};

use crate::{SyncDeps, SyncOptions, full_sync_message};

/// OAuth client ID of the rig's app.
pub const CLIENT_ID: &str = "rectoken-sync-client";
/// Its client secret.
pub const CLIENT_SECRET: &str = "rectoken-sync-client-secret";
/// Its webhook secret.
pub const WEBHOOK_SECRET: &str = "rectoken-sync-webhook-secret";
/// The redirect URI of the connect flow (never contacted).
pub const REDIRECT: &str = "http://127.0.0.1:1/zoom/oauth/callback";
/// Zoom's Business+ Medium limit, requests per second (docs/zoom.md §8).
pub const BUSINESS_MEDIUM_PER_SECOND: f64 = 60.0;

fn now_ms() -> i64 {
    crate::worker::now_ms()
}

/// The proof-of-origin keys of every rig (a fixed test key).
pub fn rig_origin_keys() -> rectoken_domain::origin::OriginKeys {
    rectoken_domain::origin::OriginKeys::new(&[0x42; 32], None)
}

/// A simulator, the bus and store under one prefix, and a vault.
#[derive(Clone)]
pub struct Rig {
    /// The simulator.
    pub sim: Sim,
    /// A client of the simulator as the app.
    pub zoom: ZoomClient,
    /// The bus (declared topology under `prefix`), signing what it
    /// publishes to the sync queues as a rectoken role does.
    pub bus: Arc<dyn Bus>,
    /// The same connection without signing: what a party without the key
    /// publishes.
    pub unsigned_bus: Arc<dyn Bus>,
    /// The store (keys under `prefix`).
    pub store: Arc<dyn Store>,
    /// Calls for accounts within `limits`.
    pub access: ZoomAccess,
    /// The prefix of queues and keys.
    pub prefix: String,
}

impl Rig {
    /// Start a simulator with `sim_config` (its client ID and secrets are
    /// replaced by the rig's), connect to RabbitMQ and Redis under
    /// `prefix`, and build a vault with a random key.
    pub async fn start(
        amqp_url: &str,
        redis_url: &str,
        prefix: &str,
        mut sim_config: SimConfig,
        limits: ZoomLimits,
    ) -> anyhow::Result<Self> {
        sim_config.client_id = CLIENT_ID.into();
        sim_config.client_secret = CLIENT_SECRET.into();
        sim_config.webhook_secret = WEBHOOK_SECRET.into();
        let (sim, _addr) = Sim::spawn(sim_config)
            .await
            .context("spawn the simulator")?;
        let zoom = client_for(&sim)?;
        // Signed as a role's bus is, so the worker accepts what the rig
        // publishes.
        let unsigned_bus = rectoken_bus::connect(amqp_url, Topology::new(prefix))?;
        let bus =
            rectoken_runtime::origin::SigningBus::wrap(unsigned_bus.clone(), rig_origin_keys());
        tokio::time::timeout(Duration::from_secs(20), bus.wait_connected())
            .await
            .context("RabbitMQ did not connect within 20 s")?;
        let store = rectoken_store::connect(redis_url, prefix)?;
        store.ping().await.context("Redis")?;
        let key = SecretBox::new(Box::new(rand::random::<[u8; 32]>()));
        let vault = Vault::new(
            store.clone(),
            Arc::new(Keyring::new(&key, &[])),
            zoom.clone(),
            VaultOptions::default(),
        );
        Ok(Self {
            sim,
            zoom,
            bus,
            unsigned_bus,
            store,
            access: ZoomAccess::new(vault, limits),
            prefix: prefix.to_owned(),
        })
    }

    /// The vault.
    pub fn vault(&self) -> &Vault {
        self.access.vault()
    }

    /// Dependencies of a sync worker on this rig (every app account-level).
    pub fn deps(&self) -> SyncDeps {
        SyncDeps {
            bus: self.bus.clone(),
            store: self.store.clone(),
            access: self.access.clone(),
            apps: HashMap::from([("default".to_owned(), false)]),
            origin: rig_origin_keys(),
        }
    }

    /// Connect the account of simulator user `user_id` like the ingress's
    /// OAuth callback: authorize as that user, exchange the code, read
    /// `/users/me`, store the sealed tokens and the account record.
    /// Returns the account ID.
    pub async fn connect_account(&self, user_id: &str) -> anyhow::Result<String> {
        self.sim.set_oauth_settings(OAuthSettings {
            authorize_user: Some(user_id.to_owned()),
            ..self.sim.oauth_settings()
        });
        let code = authorize_code(&self.zoom).await?;
        let tokens = self.zoom.exchange_code(&code, REDIRECT).await?;
        let me = self.zoom.me(&tokens.access_token).await?;
        let account_id = me.account_id.clone();
        self.vault().save(&account_id, &tokens).await?;
        self.store
            .upsert_account(&AccountRecord {
                account_id: account_id.clone(),
                app: "default".into(),
                kind: "account".into(),
                user_id: Some(me.id),
                status: AccountStatus::Connected,
                connected_at_ms: now_ms(),
                scopes: tokens.scope.clone(),
                last_error: None,
                sync: SyncStatus::default(),
            })
            .await?;
        Ok(account_id)
    }

    /// Start `n` sync workers; cancel the token to stop them.
    pub fn spawn_workers(&self, n: usize, options: &SyncOptions) -> Workers {
        let shutdown = CancellationToken::new();
        let handles = (0..n)
            .map(|_| tokio::spawn(crate::run(self.deps(), options.clone(), shutdown.clone())))
            .collect();
        Workers { shutdown, handles }
    }

    /// Ask for a full sync of `account_id` now.
    pub async fn request_full_sync(&self, account_id: &str, reason: &str) -> anyhow::Result<()> {
        let queue = self.bus.topology().sync_queue();
        self.bus
            .publish(full_sync_message(&queue, account_id, reason, now_ms()))
            .await?;
        Ok(())
    }

    /// Publish a webhook event body as the ingress does (events exchange,
    /// routing key = event name, app header).
    pub async fn publish_event(&self, body: &str) -> anyhow::Result<()> {
        let env = rectoken_domain::event::Envelope::parse(body.as_bytes())?;
        let message = OutgoingMessage::json(
            self.bus.topology().events_exchange(),
            env.event.clone(),
            body.as_bytes().to_vec(),
            rectoken_domain::event::webhook_message_id("default", body.as_bytes()),
        )
        .with_header(APP_HEADER, "default");
        self.bus.publish(message).await?;
        Ok(())
    }

    /// Wait until the account's current sync is no longer in progress (and
    /// has started), polling every 50 ms; its final status.
    pub async fn wait_sync_done(
        &self,
        account_id: &str,
        limit: Duration,
    ) -> anyhow::Result<SyncStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(rec) = self.store.account(account_id).await?
                && matches!(rec.sync.state, SyncState::Completed | SyncState::Failed)
            {
                return Ok(rec.sync);
            }
            if Instant::now() >= deadline {
                bail!("the sync of {account_id} did not finish within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Running workers.
pub struct Workers {
    /// Cancels every worker.
    pub shutdown: CancellationToken,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Workers {
    /// Stop the workers and wait until they drained.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for h in self.handles {
            let _ = h.await;
        }
    }
}

/// A client of `sim` as the rig's app.
pub fn client_for(sim: &Sim) -> anyhow::Result<ZoomClient> {
    let mut cfg = ZoomConfig::new(CLIENT_ID, SecretString::from(CLIENT_SECRET));
    cfg.api_url = sim.api_url().context("the simulator is not serving")?;
    cfg.oauth_url = sim.oauth_url().context("the simulator is not serving")?;
    Ok(ZoomClient::new(cfg)?)
}

/// Follow the authorize URL with redirects off and take the `code` from
/// the redirect back to [`REDIRECT`].
pub async fn authorize_code(zoom: &ZoomClient) -> anyhow::Result<String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let resp = http
        .get(zoom.authorize_url(REDIRECT, "bench-state"))
        .send()
        .await?;
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .context("authorize did not redirect")?
        .to_str()?;
    let url = url::Url::parse(location)?;
    url.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .with_context(|| format!("no code in the redirect (status {})", resp.status()))
}

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
    delete_queues(amqp_url, &topology).await;
}

/// Delete a topology's queues and exchange (best effort).
pub async fn delete_queues(amqp_url: &str, topology: &Topology) {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let Ok(conn) =
        lapin::Connection::connect(amqp_url, lapin::ConnectionProperties::default()).await
    else {
        return;
    };
    if let Ok(channel) = conn.create_channel().await {
        for queue in topology.work_queues() {
            for name in [Topology::dlq(&queue), queue] {
                let _ = channel
                    .queue_delete(name.into(), QueueDeleteOptions::default())
                    .await;
            }
        }
        let _ = channel
            .exchange_delete(
                topology.events_exchange().into(),
                ExchangeDeleteOptions::default(),
            )
            .await;
    }
    let _ = conn.close(200, "bye".into()).await;
}
