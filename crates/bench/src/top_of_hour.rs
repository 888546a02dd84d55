//! The top-of-the-hour benchmark (issue 17): meetings start on the hour,
//! so bots ask for join tokens in a burst. `requests` join requests
//! (default 10,000) arrive within `duration` (default 60 s), front-loaded
//! ([`plan::due_offsets`]), for meetings of `accounts` connected accounts
//! (default 1,000) whose sizes follow a Zipf skew ([`plan::account_shares`]),
//! through the real RabbitMQ to `workers` in-process token workers that
//! look up the real Redis and mint at the in-process Zoom simulator.
//!
//! The simulator enforces Zoom's per-account limits (Business+: 80 join
//! tokens a second per account, a sliding one-second window, docs/zoom.md
//! §8) and answers every join-token call after `zoom_latency` (default
//! 200 ms: Zoom publishes no latency figure; 200 ms is our assumption for
//! a REST call from a cloud region to Zoom's API, TLS connection reused).
//! rectoken's own limiter runs as in production (Business+ at
//! [`DEFAULT_RATE_FRACTION`], unless `rate_fraction` says otherwise).
//!
//! Each request carries a `deadline` `deadline` after it was due (default
//! 30 s, a bot's default), and its latency runs from its due time to its
//! reply (open loop: a stall is charged to every request behind it). The
//! report says how many were answered `ok` by their deadline, the latency
//! percentiles, the 429s Zoom gave and which accounts got them. Target:
//! every request `ok` in time, zero 429s.
//!
//! Every process runs here in one: the simulator, the workers (each on its
//! own broker connection, as separate processes would be) and the
//! requesting clients. The example `top_of_hour` runs it.

pub mod plan;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::{StreamExt, TryStreamExt};
use rectoken_bus::{Bus, OutgoingMessage};
use rectoken_domain::join::{JoinReply, JoinStatus};
use rectoken_domain::meeting_id::MeetingId;
use rectoken_store::MapKey;
use rectoken_tests::harness::Harness;
use rectoken_token::{TokenOptions, run};
pub use rectoken_vault::DEFAULT_RATE_FRACTION;
use rectoken_vault::{Plan, ZoomLimits};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::measure::Summary;
use plan::{Outcome, account_shares, due_offsets, outcome, request_accounts};

/// How long after its deadline the client still waits for a reply, so a
/// late `ok` is counted as late rather than as missing.
const LATE_GRACE: Duration = Duration::from_secs(5);
/// Zoom's join-token limit per account and second on Business+
/// (docs/zoom.md §8; the simulator's Light label).
const ZOOM_JOIN_TOKEN_LIMIT: u32 = 80;

/// What to run.
#[derive(Debug, Clone)]
pub struct TopOfHourOptions {
    /// RabbitMQ URL, or a comma-separated list of a cluster's nodes.
    pub amqp_url: String,
    /// Redis URL (`redis://…` or `redis+cluster://…`).
    pub redis_url: String,
    /// Join requests in the burst.
    pub requests: usize,
    /// The window they arrive in.
    pub duration: Duration,
    /// Front-loading of the arrivals ([`plan::due_offsets`]; 1 = even).
    pub shape: f64,
    /// Connected accounts.
    pub accounts: usize,
    /// Skew of the requests over the accounts ([`plan::account_shares`];
    /// 0 = even).
    pub zipf: f64,
    /// In-process token workers.
    pub workers: usize,
    /// Each worker's concurrency ([`TokenOptions::concurrency`]).
    pub concurrency: usize,
    /// Client connections the requests are spread over.
    pub clients: usize,
    /// The simulator's join-token latency.
    pub zoom_latency: Duration,
    /// Each request's deadline, after its due time.
    pub deadline: Duration,
    /// Seed of the request order.
    pub seed: u64,
    /// Share of Zoom's Business+ limits the workers use
    /// (`RECTOKEN_ZOOM_RATE_FRACTION`; the default is the service's).
    pub rate_fraction: f64,
}

impl TopOfHourOptions {
    /// Issue 17's scenario: 10,000 requests in 60 s (shape 2), 1,000
    /// accounts (Zipf 1), 4 workers of concurrency 64, 4 clients, 200 ms
    /// at Zoom, 30 s deadlines.
    pub fn new(amqp_url: impl Into<String>, redis_url: impl Into<String>) -> Self {
        Self {
            amqp_url: amqp_url.into(),
            redis_url: redis_url.into(),
            requests: 10_000,
            duration: Duration::from_secs(60),
            shape: 2.0,
            accounts: 1_000,
            zipf: 1.0,
            workers: 4,
            concurrency: 64,
            clients: 4,
            zoom_latency: Duration::from_millis(200),
            deadline: Duration::from_secs(30),
            seed: 1,
            rate_fraction: DEFAULT_RATE_FRACTION,
        }
    }
}

/// What the run measured.
#[derive(Debug, Clone)]
pub struct TopOfHourReport {
    /// What ran.
    pub options: TopOfHourOptions,
    /// Time to connect the accounts and map their meetings (not measured
    /// load, shown so a slow setup is not mistaken for the burst).
    pub setup: Duration,
    /// Requests sent.
    pub sent: usize,
    /// `ok` by the deadline.
    pub ok_in_time: usize,
    /// `ok` after the deadline.
    pub ok_late: usize,
    /// Other replies, by status.
    pub refused: BTreeMap<String, usize>,
    /// No reply (or a client error) within deadline + grace.
    pub no_answer: usize,
    /// Due time to reply, over every answered request.
    pub latency: Summary,
    /// The same for the account with the most requests.
    pub busiest: (usize, Summary),
    /// How late the client sent its latest request (a client falling
    /// behind its schedule would flatter the latency).
    pub max_send_lag: Duration,
    /// Join-token calls the simulator served (429s included).
    pub zoom_calls: u64,
    /// 429s from the simulator's per-account limiter.
    pub zoom_429: u64,
    /// Accounts that got a 429, with how many (largest first, at most 5).
    pub accounts_429: Vec<(String, u64)>,
    /// How many accounts got a 429 at all.
    pub accounts_over_limit: usize,
}

impl TopOfHourReport {
    /// Issue 17's target: every request `ok` by its deadline, no 429.
    pub fn target_met(&self) -> bool {
        self.ok_in_time == self.sent && self.zoom_429 == 0
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e3)
}

fn pct(n: usize, of: usize) -> f64 {
    n as f64 * 100.0 / of.max(1) as f64
}

impl fmt::Display for TopOfHourReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(
            f,
            "top of the hour: {} join requests in {:.0} s (shape {}), {} accounts (zipf {}), \
             {} token worker(s) x concurrency {}, {} client(s), Zoom join-token latency {} ms, \
             deadline {:.0} s, rate fraction {}",
            o.requests,
            o.duration.as_secs_f64(),
            o.shape,
            o.accounts,
            o.zipf,
            o.workers,
            o.concurrency,
            o.clients,
            ms(o.zoom_latency),
            o.deadline.as_secs_f64(),
            o.rate_fraction
        )?;
        writeln!(
            f,
            "  setup (connect accounts, map meetings) {:.1} s; client's largest send lag {} ms",
            self.setup.as_secs_f64(),
            ms(self.max_send_lag)
        )?;
        writeln!(
            f,
            "  ok before deadline   {} / {} ({:.2} %)",
            self.ok_in_time,
            self.sent,
            pct(self.ok_in_time, self.sent)
        )?;
        writeln!(f, "  ok after deadline    {}", self.ok_late)?;
        let refused: usize = self.refused.values().sum();
        writeln!(f, "  other replies        {refused} {:?}", self.refused)?;
        writeln!(f, "  no reply             {}", self.no_answer)?;
        let l = &self.latency;
        writeln!(
            f,
            "  latency (due -> reply) p50 {} ms  p90 {} ms  p99 {} ms  max {} ms",
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.max)
        )?;
        let (n, b) = &self.busiest;
        writeln!(
            f,
            "  busiest account ({n} requests) p50 {} ms  p90 {} ms  p99 {} ms  max {} ms",
            ms(b.p50),
            ms(b.p90),
            ms(b.p99),
            ms(b.max)
        )?;
        writeln!(
            f,
            "  Zoom join-token calls {}, 429s {} (limit {ZOOM_JOIN_TOKEN_LIMIT}/s per account)",
            self.zoom_calls, self.zoom_429
        )?;
        writeln!(
            f,
            "  accounts over Zoom's limit {} {:?}",
            self.accounts_over_limit, self.accounts_429
        )?;
        writeln!(
            f,
            "  target (all ok before deadline, zero 429s): {}",
            if self.target_met() { "met" } else { "MISSED" }
        )
    }
}

/// One request's result.
struct Sample {
    account: usize,
    due: Duration,
    sent_lag: Duration,
    /// Whether it was `ok` (and the status otherwise), and when it came.
    reply: Option<(JoinStatus, Duration)>,
}

/// Run the benchmark (see the module docs).
pub async fn run_top_of_hour(o: TopOfHourOptions) -> anyhow::Result<TopOfHourReport> {
    anyhow::ensure!(o.requests > 0, "--requests must be at least 1");
    anyhow::ensure!(o.accounts > 0, "--accounts must be at least 1");
    anyhow::ensure!(o.workers > 0, "--workers must be at least 1");
    anyhow::ensure!(o.clients > 0, "--clients must be at least 1");
    anyhow::ensure!(!o.duration.is_zero(), "--duration must be positive");
    let prefix = format!(
        "bench-top-{}-{}.",
        std::process::id(),
        OffsetDateTime::now_utc().unix_timestamp()
    );
    let h = Harness::start(
        &o.amqp_url,
        &o.redis_url,
        &prefix,
        |_| {},
        ZoomLimits::for_plan(Plan::BusinessPlus, o.rate_fraction),
    )
    .await?;
    let result = run_on(&h, &o).await;
    // The run's accounts, credentials, limiter state and mappings all live
    // under its own prefix.
    h.delete_everything(&o.redis_url).await;
    result
}

async fn run_on(h: &Harness, o: &TopOfHourOptions) -> anyhow::Result<TopOfHourReport> {
    let setup_started = Instant::now();
    let shares = account_shares(o.requests, o.accounts, o.zipf);
    let mut accounts = Vec::with_capacity(o.accounts);
    for (k, &share) in shares.iter().enumerate() {
        let account = h
            .connect_account(share.max(1), None)
            .await
            .with_context(|| format!("connect account {k}"))?;
        accounts.push(account);
    }
    futures_util::stream::iter(accounts.iter().flat_map(|a| {
        a.meetings
            .iter()
            .map(move |&m| h.map(MapKey::meeting(m), &a.account_id, &a.owner_id))
    }))
    .buffer_unordered(64)
    .try_collect::<Vec<()>>()
    .await
    .context("map the meetings")?;
    let setup = setup_started.elapsed();

    h.set_join_token_latency(o.zoom_latency)?;
    let shutdown = CancellationToken::new();
    let mut running = Vec::new();
    let mut buses = Vec::new();
    for w in 0..o.workers {
        let bus = h.bus(&format!("top-of-hour-worker-{w}")).await?;
        buses.push(bus.clone());
        let options = TokenOptions {
            concurrency: o.concurrency,
            ..TokenOptions::default()
        };
        running.push(tokio::spawn(run(h.deps(bus), options, shutdown.clone())));
    }
    let mut clients = Vec::new();
    for c in 0..o.clients {
        clients.push(h.bus(&format!("top-of-hour-client-{c}")).await?);
    }
    let queue: Arc<str> = h.topology.join_queue().into();
    // One request end to end first (consumers subscribed, connections
    // warm), on the smallest account; its call is not counted below.
    let probe = accounts.last().and_then(|a| a.meetings.first().copied());
    let probe = probe.context("no meeting to probe")?;
    let warm = one_request(clients[0].as_ref(), &queue, probe, "warm-up", o.deadline).await;
    anyhow::ensure!(
        matches!(warm, Some((JoinStatus::Ok, _))),
        "the warm-up join request was not answered ok: {warm:?}"
    );
    h.sim.reset_stats();

    let samples = burst(o, &accounts, &clients, &queue).await;

    let stats = h.sim.stats();
    shutdown.cancel();
    for task in running {
        let _ = task.await;
    }
    for bus in buses.into_iter().chain(clients) {
        bus.close().await;
    }
    Ok(summarize(o, setup, &shares, &samples, &stats))
}

/// Send every request at its due time; collect the results.
async fn burst(
    o: &TopOfHourOptions,
    accounts: &[rectoken_tests::harness::ConnectedAccount],
    clients: &[Arc<dyn Bus>],
    queue: &Arc<str>,
) -> Vec<Sample> {
    let due = due_offsets(o.requests, o.duration, o.shape);
    let order = request_accounts(&account_shares(o.requests, o.accounts, o.zipf), o.seed);
    let mut next_meeting = vec![0usize; accounts.len()];
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (&account, &offset)) in order.iter().zip(&due).enumerate() {
        let meetings = &accounts[account].meetings;
        let meeting = meetings[next_meeting[account] % meetings.len()];
        next_meeting[account] += 1;
        tokio::time::sleep_until(start + offset).await;
        let sent_lag = start.elapsed().saturating_sub(offset);
        let bus = clients[i % clients.len()].clone();
        let (queue, deadline) = (queue.clone(), o.deadline);
        tasks.spawn(async move {
            let reply = one_request(bus.as_ref(), &queue, meeting, &format!("top-{i}"), deadline)
                .await
                .map(|(status, _)| (status, start.elapsed()));
            Sample {
                account,
                due: offset,
                sent_lag,
                reply,
            }
        });
    }
    let mut samples = Vec::with_capacity(o.requests);
    while let Some(s) = tasks.join_next().await {
        if let Ok(s) = s {
            samples.push(s);
        }
    }
    samples
}

/// One join request with a `deadline` from now; its reply's status, or
/// `None` when none came within the deadline and [`LATE_GRACE`].
async fn one_request(
    bus: &dyn Bus,
    queue: &str,
    meeting: MeetingId,
    id: &str,
    deadline: Duration,
) -> Option<(JoinStatus, Duration)> {
    let sent = Instant::now();
    let until = OffsetDateTime::now_utc() + deadline;
    let body = serde_json::json!({
        "request_id": id,
        "meeting_id": meeting.to_string(),
        "deadline": until.format(&Rfc3339).ok()?,
    })
    .to_string();
    let message = OutgoingMessage::json("", queue, body, id.to_owned());
    let bytes = bus.request(message, deadline + LATE_GRACE).await.ok()?;
    let reply: JoinReply = serde_json::from_slice(&bytes).ok()?;
    Some((reply.status(), sent.elapsed()))
}

fn summarize(
    o: &TopOfHourOptions,
    setup: Duration,
    shares: &[usize],
    samples: &[Sample],
    stats: &zoom_sim::stats::Stats,
) -> TopOfHourReport {
    let mut ok_in_time = 0;
    let mut ok_late = 0;
    let mut no_answer = 0;
    let mut refused = BTreeMap::new();
    for s in samples {
        let reply = s.reply.map(|(st, at)| (st == JoinStatus::Ok, at));
        match outcome(reply, s.due, o.deadline) {
            Outcome::OkInTime => ok_in_time += 1,
            Outcome::OkLate => ok_late += 1,
            Outcome::NoAnswer => no_answer += 1,
            Outcome::Refused => {
                if let Some((status, _)) = s.reply {
                    *refused.entry(status.to_string()).or_insert(0) += 1;
                }
            }
        }
    }
    let latency_of = |filter: &dyn Fn(&Sample) -> bool| {
        Summary::from_samples(
            samples
                .iter()
                .filter(|s| filter(s))
                .filter_map(|s| s.reply.map(|(_, at)| at.saturating_sub(s.due)))
                .collect(),
        )
    };
    let busiest = shares
        .iter()
        .enumerate()
        .max_by_key(|&(k, &n)| (n, std::cmp::Reverse(k)))
        .map_or(0, |(k, _)| k);
    let mut accounts_429: Vec<(String, u64)> = stats
        .rate_limited_by_account
        .iter()
        .map(|(a, &n)| (a.clone(), n))
        .collect();
    accounts_429.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let accounts_over_limit = accounts_429.len();
    accounts_429.truncate(5);
    TopOfHourReport {
        options: o.clone(),
        setup,
        sent: samples.len(),
        ok_in_time,
        ok_late,
        refused,
        no_answer,
        latency: latency_of(&|_| true),
        busiest: (
            shares.get(busiest).copied().unwrap_or(0),
            latency_of(&|s| s.account == busiest),
        ),
        max_send_lag: samples.iter().map(|s| s.sent_lag).max().unwrap_or_default(),
        zoom_calls: stats.by_endpoint.get("join_token").copied().unwrap_or(0),
        zoom_429: stats.rate_limited,
        accounts_429,
        accounts_over_limit,
    }
}
