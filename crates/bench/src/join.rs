//! The join benchmark: join requests through real RabbitMQ to in-process
//! token workers, which look up Redis and mint at the Zoom simulator with
//! a constant injected latency on the join-token endpoint.
//!
//! For each worker count (default 1, then 2) it runs two phases:
//! - **rate**: open loop at a fixed rate (default 500/s). Request `i` is
//!   due at `i / rate`; its latency runs from that due time to the reply,
//!   so a stall is charged to every request queued behind it. The
//!   overhead is that latency minus the simulator's injected latency: what
//!   rectoken (broker, Redis, worker, HTTP) adds to Zoom's own time.
//! - **saturate**: closed loop with a fixed number of requests
//!   outstanding, for the highest throughput the workers reach.
//!
//! First, as a floor, the same rate phase runs against a bare echo
//! consumer (consume, publish a fixed reply confirmed, ack: no Redis, no
//! Zoom): what the broker and the client cost by themselves.
//!
//! Every process of the deployment runs here in one: the simulator, the
//! workers (each on its own broker connection, as separate processes
//! would be) and the requesting client; RabbitMQ and Redis are real.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::StreamExt;
use rectoken_bus::{Bus, OutgoingMessage};
use rectoken_domain::join::{JoinReply, JoinStatus};
use rectoken_domain::meeting_id::MeetingId;
use rectoken_vault::ZoomLimits;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use rectoken_tests::harness::Harness;
use rectoken_token::{TokenOptions, run};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// RabbitMQ URL.
    pub amqp_url: String,
    /// Redis URL.
    pub redis_url: String,
    /// Requests per second of the rate phase.
    pub rate: f64,
    /// Measured length of each phase.
    pub duration: Duration,
    /// Unmeasured lead-in of each phase.
    pub warmup: Duration,
    /// Latency injected into the simulator's join-token endpoint.
    pub zoom_latency: Duration,
    /// Connected accounts the meetings are spread over (Zoom's limits are
    /// per account: Business+ allows 80 join tokens a second each).
    pub accounts: usize,
    /// Worker counts to run, in order.
    pub workers: Vec<usize>,
    /// Each worker's concurrency ([`TokenOptions::concurrency`]).
    pub concurrency: usize,
    /// Requests outstanding in the saturate phase; 0 skips it.
    pub saturate: usize,
}

impl BenchOptions {
    /// Defaults: 500/s for 10 s after 2 s of warm-up, 20 ms at Zoom, 50
    /// accounts, 1 then 2 workers of concurrency 32, 256 outstanding when
    /// saturating.
    pub fn new(amqp_url: impl Into<String>, redis_url: impl Into<String>) -> Self {
        Self {
            amqp_url: amqp_url.into(),
            redis_url: redis_url.into(),
            rate: 500.0,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            zoom_latency: Duration::from_millis(20),
            accounts: 50,
            workers: vec![1, 2],
            concurrency: 32,
            saturate: 256,
        }
    }
}

/// How a phase loads the workers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Open loop at this many requests per second.
    Rate(f64),
    /// Closed loop with this many requests outstanding.
    Saturate(usize),
    /// Open loop at this rate against the bare echo consumer (no worker).
    Echo(f64),
}

impl fmt::Display for Load {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Load::Rate(r) => write!(f, "rate {r:.0}/s"),
            Load::Saturate(n) => write!(f, "saturate {n}"),
            Load::Echo(r) => write!(f, "echo {r:.0}/s"),
        }
    }
}

/// The results of one phase.
#[derive(Debug, Clone)]
pub struct PhaseReport {
    /// Workers running (0 for the echo floor).
    pub workers: usize,
    /// The load.
    pub load: Load,
    /// Requests measured (due or sent within the measured window).
    pub measured: usize,
    /// Of those, `ok` replies.
    pub ok: usize,
    /// Of those, failures (non-`ok` reply, timeout, bus error).
    pub failed: usize,
    /// Replies per second received within the measured window.
    pub throughput: f64,
    /// End-to-end latency percentiles (p50, p90, p99, max).
    pub latency: Percentiles,
    /// The simulator's injected latency, subtracted for the overhead
    /// (zero for the echo floor, which calls no Zoom).
    pub zoom_latency: Duration,
}

impl PhaseReport {
    /// p50 minus the simulator's latency.
    pub fn overhead_p50(&self) -> Duration {
        self.latency.p50.saturating_sub(self.zoom_latency)
    }

    /// p99 minus the simulator's latency.
    pub fn overhead_p99(&self) -> Duration {
        self.latency.p99.saturating_sub(self.zoom_latency)
    }
}

/// Latency percentiles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Percentiles {
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest.
    pub max: Duration,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (sorted in place).
    pub fn of(samples: &mut [Duration]) -> Self {
        samples.sort_unstable();
        let rank = |p: f64| -> Duration {
            if samples.is_empty() {
                return Duration::ZERO;
            }
            let n = samples.len();
            let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            samples[i]
        };
        Self {
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

/// The whole benchmark's results.
#[derive(Debug, Clone)]
pub struct Report {
    /// What ran.
    pub options: BenchOptions,
    /// One entry per worker count and load.
    pub phases: Vec<PhaseReport>,
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(
            f,
            "join bench: Zoom join-token latency {} ms, {} accounts, worker concurrency {}, \
             {:.0} s measured after {:.0} s warm-up per phase",
            ms(o.zoom_latency),
            o.accounts,
            o.concurrency,
            o.duration.as_secs_f64(),
            o.warmup.as_secs_f64()
        )?;
        writeln!(
            f,
            "{:>7}  {:<14} {:>7} {:>7} {:>6} {:>10}  {:>8} {:>8} {:>8} {:>8}  {:>9} {:>9}",
            "workers",
            "load",
            "reqs",
            "ok",
            "failed",
            "req/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "ovh p50",
            "ovh p99"
        )?;
        for p in &self.phases {
            let workers = if p.workers == 0 {
                "-".to_owned()
            } else {
                p.workers.to_string()
            };
            writeln!(
                f,
                "{:>7}  {:<14} {:>7} {:>7} {:>6} {:>10.1}  {:>8} {:>8} {:>8} {:>8}  {:>9} {:>9}",
                workers,
                p.load.to_string(),
                p.measured,
                p.ok,
                p.failed,
                p.throughput,
                ms(p.latency.p50),
                ms(p.latency.p90),
                ms(p.latency.p99),
                ms(p.latency.max),
                ms(p.overhead_p50()),
                ms(p.overhead_p99()),
            )?;
        }
        if self.phases.iter().any(|p| matches!(p.load, Load::Echo(_))) {
            writeln!(
                f,
                "echo: the broker floor (consume, confirmed reply, ack; no Redis, no Zoom, no worker): \
                 its overhead columns are the whole round trip"
            )?;
        }
        let rates: Vec<&PhaseReport> = self
            .phases
            .iter()
            .filter(|p| matches!(p.load, Load::Saturate(_)))
            .collect();
        if let [one, .., last] = rates.as_slice()
            && one.throughput > 0.0
        {
            writeln!(
                f,
                "saturated throughput: {} worker(s) {:.0}/s, {} worker(s) {:.0}/s (x{:.2})",
                one.workers,
                one.throughput,
                last.workers,
                last.throughput,
                last.throughput / one.throughput
            )?;
        }
        Ok(())
    }
}

/// One answered (or failed) request.
struct Sample {
    /// When it was due (rate) or sent (saturate).
    start: Instant,
    /// When its reply arrived.
    done: Instant,
    ok: bool,
}

async fn one_request(bus: &dyn Bus, queue: &str, meeting: MeetingId, n: u64) -> bool {
    let body = serde_json::json!({
        "request_id": format!("bench-{n}"),
        "meeting_id": meeting.to_string(),
    })
    .to_string();
    let message = OutgoingMessage::json("", queue, body, format!("bench-{n}"));
    match bus.request(message, Duration::from_secs(15)).await {
        Ok(bytes) => serde_json::from_slice::<JoinReply>(&bytes)
            .map(|r| r.status() == JoinStatus::Ok)
            .unwrap_or(false),
        Err(_) => false,
    }
}

fn summarize(
    workers: usize,
    load: Load,
    samples: &[Sample],
    window: (Instant, Instant),
    zoom_latency: Duration,
) -> PhaseReport {
    let (from, to) = window;
    let measured: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.start >= from && s.start < to)
        .collect();
    let ok = measured.iter().filter(|s| s.ok).count();
    let mut latencies: Vec<Duration> = measured.iter().map(|s| s.done - s.start).collect();
    let answered_in_window = samples
        .iter()
        .filter(|s| s.done >= from && s.done < to)
        .count();
    let secs = (to - from).as_secs_f64().max(1e-9);
    PhaseReport {
        workers,
        load,
        measured: measured.len(),
        ok,
        failed: measured.len() - ok,
        throughput: answered_in_window as f64 / secs,
        latency: Percentiles::of(&mut latencies),
        zoom_latency,
    }
}

async fn rate_phase(
    bus: Arc<dyn Bus>,
    queue: Arc<str>,
    meetings: Arc<Vec<MeetingId>>,
    o: &BenchOptions,
) -> (Vec<Sample>, (Instant, Instant)) {
    let total = ((o.warmup + o.duration).as_secs_f64() * o.rate).ceil() as u64;
    let start = Instant::now() + Duration::from_millis(20);
    let window = (start + o.warmup, start + o.warmup + o.duration);
    let (tx, mut rx) = mpsc::unbounded_channel();
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / o.rate);
        tokio::time::sleep_until(due).await;
        let (bus, queue, tx) = (bus.clone(), queue.clone(), tx.clone());
        let meeting = meetings[i as usize % meetings.len()];
        tokio::spawn(async move {
            let ok = one_request(bus.as_ref(), &queue, meeting, i).await;
            let _ = tx.send(Sample {
                start: due,
                done: Instant::now(),
                ok,
            });
        });
    }
    drop(tx);
    let mut samples = Vec::with_capacity(total as usize);
    while let Some(s) = rx.recv().await {
        samples.push(s);
    }
    (samples, window)
}

async fn saturate_phase(
    bus: Arc<dyn Bus>,
    queue: Arc<str>,
    meetings: Arc<Vec<MeetingId>>,
    outstanding: usize,
    o: &BenchOptions,
) -> (Vec<Sample>, (Instant, Instant)) {
    let start = Instant::now();
    let window = (start + o.warmup, start + o.warmup + o.duration);
    let end = window.1;
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..outstanding {
        let (bus, queue, meetings) = (bus.clone(), queue.clone(), meetings.clone());
        tasks.spawn(async move {
            let mut samples = Vec::new();
            let mut n = lane as u64;
            while Instant::now() < end {
                let meeting = meetings[n as usize % meetings.len()];
                let sent = Instant::now();
                let ok = one_request(bus.as_ref(), &queue, meeting, 1_000_000_000 + n).await;
                samples.push(Sample {
                    start: sent,
                    done: Instant::now(),
                    ok,
                });
                n += outstanding as u64;
            }
            samples
        });
    }
    let mut samples = Vec::new();
    while let Some(lane) = tasks.join_next().await {
        samples.extend(lane.unwrap_or_default());
    }
    (samples, window)
}

/// The floor: answers every request with a fixed `ok`-shaped reply at
/// once, the way the worker publishes (default exchange, correlation ID,
/// transient, confirmed), then acks.
async fn echo_consumer(
    bus: Arc<dyn Bus>,
    queue: Arc<str>,
    prefetch: usize,
    stop: CancellationToken,
) {
    let Ok(mut deliveries) = bus
        .consume(&queue, u16::try_from(prefetch).unwrap_or(u16::MAX))
        .await
    else {
        return;
    };
    let reply = serde_json::json!({
        "request_id": "", "status": "ok", "meeting_id": "85012345678",
        "account_id": "a", "host_id": "h",
        "tokens": { "local_recording": { "token": "t", "expires_at": "2026-11-29T10:02:00Z" } },
    })
    .to_string();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let delivery = tokio::select! {
            d = deliveries.next() => d,
            () = stop.cancelled() => break,
        };
        let Some(delivery) = delivery else { break };
        let (bus, reply) = (bus.clone(), reply.clone());
        tasks.spawn(async move {
            if let Some(to) = delivery.reply_to.clone() {
                let mut m = OutgoingMessage::json("", to, reply, "echo").transient();
                m.correlation_id = delivery.correlation_id.clone();
                let _ = bus.publish(m).await;
            }
            let _ = delivery.ack().await;
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// Runs the benchmark (see the module docs).
pub async fn join_bench(options: BenchOptions) -> anyhow::Result<Report> {
    anyhow::ensure!(options.rate > 0.0, "rate must be positive");
    anyhow::ensure!(options.accounts > 0, "at least one account");
    let prefix = format!(
        "bench-join-{}-{}.",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp()
    );
    let h = Harness::start(
        &options.amqp_url,
        &options.redis_url,
        &prefix,
        |_| {},
        ZoomLimits::default(),
    )
    .await?;
    let result = bench_on(&h, &options).await;
    // The run's accounts, credentials, limiter state and mappings all live
    // under its own prefix.
    h.delete_everything(&options.redis_url).await;
    result.map(|phases| Report { options, phases })
}

async fn bench_on(h: &Harness, o: &BenchOptions) -> anyhow::Result<Vec<PhaseReport>> {
    let mut meetings = Vec::with_capacity(o.accounts);
    for _ in 0..o.accounts {
        let account = h
            .connect_account(1, None)
            .await
            .context("connect an account")?;
        h.map_all(&account).await?;
        meetings.extend(account.meetings.iter().copied());
    }
    let meetings = Arc::new(meetings);
    h.set_join_token_latency(o.zoom_latency)?;
    let client = h.bus("join-bench-client").await?;
    let queue: Arc<str> = h.topology.join_queue().into();
    let mut phases = Vec::new();
    {
        let bus = h.bus("join-bench-echo").await?;
        let stop = CancellationToken::new();
        let echo = tokio::spawn(echo_consumer(
            bus.clone(),
            queue.clone(),
            o.concurrency,
            stop.clone(),
        ));
        anyhow::ensure!(
            one_request(client.as_ref(), &queue, meetings[0], u64::MAX - 1).await,
            "the echo consumer did not answer"
        );
        let (samples, window) =
            rate_phase(client.clone(), queue.clone(), meetings.clone(), o).await;
        phases.push(summarize(
            0,
            Load::Echo(o.rate),
            &samples,
            window,
            Duration::ZERO,
        ));
        stop.cancel();
        let _ = echo.await;
        bus.close().await;
    }
    for &workers in &o.workers {
        let shutdown = CancellationToken::new();
        let mut running = Vec::new();
        let mut buses = Vec::new();
        for w in 0..workers {
            let bus = h.bus(&format!("join-bench-worker-{w}")).await?;
            buses.push(bus.clone());
            let options = TokenOptions {
                concurrency: o.concurrency,
                ..TokenOptions::default()
            };
            running.push(tokio::spawn(run(h.deps(bus), options, shutdown.clone())));
        }
        // One request end to end before measuring: consumers subscribed,
        // connections and tokens warm.
        anyhow::ensure!(
            one_request(client.as_ref(), &queue, meetings[0], u64::MAX).await,
            "the first join request failed"
        );
        let (samples, window) =
            rate_phase(client.clone(), queue.clone(), meetings.clone(), o).await;
        phases.push(summarize(
            workers,
            Load::Rate(o.rate),
            &samples,
            window,
            o.zoom_latency,
        ));
        if o.saturate > 0 {
            let (samples, window) = saturate_phase(
                client.clone(),
                queue.clone(),
                meetings.clone(),
                o.saturate,
                o,
            )
            .await;
            phases.push(summarize(
                workers,
                Load::Saturate(o.saturate),
                &samples,
                window,
                o.zoom_latency,
            ));
        }
        shutdown.cancel();
        for task in running {
            let _ = task.await;
        }
        for bus in buses {
            bus.close().await;
        }
    }
    client.close().await;
    Ok(phases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let p = Percentiles::of(&mut v);
        assert_eq!(p.p50, Duration::from_millis(50));
        assert_eq!(p.p90, Duration::from_millis(90));
        assert_eq!(p.p99, Duration::from_millis(99));
        assert_eq!(p.max, Duration::from_millis(100));
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
        let mut one = [Duration::from_millis(7)];
        assert_eq!(Percentiles::of(&mut one).p99, Duration::from_millis(7));
    }
}
