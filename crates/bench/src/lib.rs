//! Benchmarks of rectoken against the real broker (and, for the workers,
//! the real Redis and the in-process Zoom simulator).
//!
//! - [`run_webhook_bench`] (this module): the webhook ingress.
//! - [`full_sync`]: a full sync of a generated account, and webhook events
//!   through the sync worker.
//! - [`join`]: join requests through the token worker.
//! - [`top_of_hour`]: the burst of join requests on the hour, with Zoom's
//!   per-account limits on.
//!
//! Each has a command-line runner in `examples/` (`--help` lists its
//! options). The role crates do not carry these: the benches and the
//! rigs they share with the tests (`rectoken_tests::harness`,
//! `rectoken_tests::sync_rig`) live here and in the `tests` package.
//!
//! [`run_webhook_bench`] measures the webhook ingress: it starts the ingress
//! in-process exactly as `rectoken ingress` does (RabbitMQ bus with
//! publisher confirms, the production router) and drives signed
//! `meeting.created` webhooks at it over loopback HTTP/1.1 from
//! `concurrency` keep-alive connections; then, in the same run, it publishes
//! the same kind of messages straight through lapin on one confirm-mode
//! channel at the same concurrency and rate. The ratio of the two
//! throughputs is what the ingress costs over the broker itself.
//!
//! # Layout
//! - [`measure`]: pure measurement math: percentiles, the open-loop
//!   schedule, the measured window, throughput.
//! - [`body`]: the webhook bodies.
//! - [`cpu`]: CPU shares from `/proc` (process vs. whole machine).
//! - [`report`]: the results and their table ([`WebhookBenchReport`]'s
//!   `Display`).
//!
//! # Load model
//! With `--rate R` the load is open loop: request `i` is due at `i / R`
//! seconds whether or not earlier ones have finished, and its latency is
//! measured from that due time, so a stalled server is charged for the
//! requests queued behind the stall (no coordinated omission). Without a
//! rate the load is closed loop: each of the `concurrency` workers sends
//! its next request as soon as the previous one is answered.
//!
//! The example `webhook_bench` runs it from the command line:
//! `cargo run --release -p rectoken-bench --example webhook_bench -- --amqp-url amqp://… --rate 1000`.

pub mod body;
pub mod cpu;
pub mod full_sync;
pub mod join;
pub mod measure;
pub mod report;
pub mod top_of_hour;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions, QueueDeleteOptions,
    QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use rectoken_bus::nodes::BrokerNodes;
use rectoken_bus::rabbit::{RabbitBus, RabbitOptions, declare_topology};
use rectoken_bus::topology::APP_HEADER;
use rectoken_bus::{Bus, Topology};
use rectoken_domain::event::webhook_message_id;
use rectoken_ingress::apps::DEFAULT_APP;
use rectoken_ingress::{App, AppKind, Apps, Ingress, IngressState, router};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cpu::{CpuSample, CpuUsage};
use crate::measure::{Schedule, Summary, Window, throughput};
pub use crate::report::{PhaseReport, WebhookBenchReport};

/// The webhook secret of the benchmark's app.
const WEBHOOK_SECRET: &str = "bench-webhook-secret";
/// How long to wait for the broker before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A request or publish not answered within this counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Open loop: how long after the last due time the run may go on sending
/// requests that are late; whatever is still unsent then is `unsent`.
const LATE_GRACE: Duration = Duration::from_secs(5);
/// Raw-phase request numbers start here, so raw bodies (and message IDs)
/// differ from the ingress phase's.
const RAW_NUMBERING: u64 = 1 << 32;
/// How many distinct error messages a phase keeps.
const KEPT_ERRORS: usize = 3;

/// Options of `rectoken bench webhooks`.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookBenchOptions {
    /// RabbitMQ to benchmark against, e.g. amqp://guest:guest@127.0.0.1:5672/%2f,
    /// or a cluster's comma-separated node URLs (ingress N starts on node
    /// N of the list; the raw phase uses the first node).
    #[arg(long, env = "RECTOKEN_AMQP_URL")]
    pub amqp_url: String,

    /// In-process ingresses, each with its own broker connection; the
    /// load is spread over them round-robin.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub ingresses: u16,

    /// Concurrent HTTP connections (ingress phase) and in-flight confirmed
    /// publishes (raw phase).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,

    /// Fixed offered rate in webhooks/s (open loop, latency measured from the
    /// scheduled send time); omit to run closed loop as fast as possible.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: Option<u32>,

    /// Measured time of each phase: seconds, or with a unit (500ms, 10s, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Unmeasured warm-up before each phase's measured time.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// Prefix of the exchange and queues the run declares and deletes at the
    /// end; unique per run by default.
    #[arg(long, default_value_t = default_queue_prefix())]
    pub queue_prefix: String,
}

impl WebhookBenchOptions {
    /// The defaults of the command line, for `amqp_url`.
    pub fn new(amqp_url: impl Into<String>) -> Self {
        Self {
            amqp_url: amqp_url.into(),
            ingresses: 1,
            concurrency: 64,
            rate: None,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            queue_prefix: default_queue_prefix(),
        }
    }

    fn window(&self) -> Window {
        Window {
            warmup: self.warmup,
            duration: self.duration,
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.concurrency >= 1, "concurrency must be at least 1");
        anyhow::ensure!(self.rate != Some(0), "rate must be at least 1 webhook/s");
        anyhow::ensure!(!self.duration.is_zero(), "duration must be more than 0");
        anyhow::ensure!(
            !self.queue_prefix.is_empty(),
            "queue prefix must not be empty: the run deletes the queues it used"
        );
        Ok(())
    }
}

/// `bench-<pid>-<unix millis>.`: unique per run on one broker.
pub fn default_queue_prefix() -> String {
    format!("bench-{}-{}.", std::process::id(), unix_millis())
}

/// Parse `10`, `10s`, `500ms`, `1.5s` or `2m` into a duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 10s or 500ms"))?;
    let secs = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        other => return Err(format!("unknown unit {other:?}: use ms, s or m")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?}: {e}"))
}

/// Host and port of an AMQP URL, without credentials, for the report.
pub fn broker_display(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_owned()
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// An error with its causes, on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Run the webhook benchmark: the ingress phase, then the raw phase, then
/// delete the exchange and queues the run used (also when a phase failed).
pub async fn run_webhook_bench(opts: WebhookBenchOptions) -> anyhow::Result<WebhookBenchReport> {
    opts.validate()?;
    let topology = Topology::new(opts.queue_prefix.clone());
    let phases = async {
        let ingress = ingress_phase(&opts, &topology)
            .await
            .context("ingress phase")?;
        let raw = raw_phase(&opts, &topology).await.context("raw phase")?;
        anyhow::Ok((ingress, raw))
    }
    .await;
    let cleanup = delete_topology(&first_node(&opts.amqp_url), &topology).await;
    let (ingress, raw) = phases?;
    Ok(WebhookBenchReport {
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        concurrency: usize::from(opts.concurrency),
        ingresses: usize::from(opts.ingresses),
        rate: opts.rate,
        warmup: opts.warmup,
        duration: opts.duration,
        body_bytes: body::meeting_created(0, unix_millis()).len(),
        broker: broker_display(&opts.amqp_url),
        queue_prefix: opts.queue_prefix.clone(),
        ingress,
        raw,
        cleanup_error: cleanup.err().map(|e| format!("{e:#}")),
    })
}

/// The first node of an AMQP URL list (the raw phase and the clean-up).
fn first_node(amqp_url: &str) -> String {
    BrokerNodes::parse(amqp_url).map_or_else(|_| amqp_url.to_owned(), |n| n.urls()[0].clone())
}

/// Ingress phase: the production ingress in-process, driven over loopback.
async fn ingress_phase(
    opts: &WebhookBenchOptions,
    topology: &Topology,
) -> anyhow::Result<PhaseReport> {
    let nodes = BrokerNodes::parse(&opts.amqp_url)?;
    let shutdown = CancellationToken::new();
    let (mut buses, mut servers, mut urls) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..usize::from(opts.ingresses) {
        // Ingress i starts on node i of the list (then the others, in order).
        let rotated: Vec<String> = nodes
            .order_from(i)
            .map(|n| nodes.urls()[n].clone())
            .collect();
        let bus = Arc::new(RabbitBus::start(
            &rotated.join(","),
            topology.clone(),
            RabbitOptions::default(),
        ));
        buses.push(bus.clone());
        if tokio::time::timeout(CONNECT_TIMEOUT, bus.wait_connected())
            .await
            .is_err()
        {
            for bus in &buses {
                bus.close().await;
            }
            anyhow::bail!(
                "RabbitMQ at {} not reachable (or topology not declared) within {CONNECT_TIMEOUT:?}",
                nodes.describe()
            );
        }
        let app = App::new(
            "",
            "bench-client",
            "bench-client-secret".into(),
            WEBHOOK_SECRET.into(),
            AppKind::Account,
        );
        let state = IngressState::new(bus, Apps::single(app), vec![]);
        let ingress = Ingress::bind(SocketAddr::from(([127, 0, 0, 1], 0)), router(state)).await?;
        urls.push(format!("http://{}/zoom/webhook", ingress.local_addr()?));
        servers.push(tokio::spawn(ingress.run(shutdown.clone())));
    }
    let urls: Arc<[String]> = urls.into();

    let concurrency = usize::from(opts.concurrency);
    let client = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let send = move |n: u64| {
        let client = client.clone();
        let urls = urls.clone();
        async move {
            #[allow(clippy::cast_possible_truncation)] // n % len < len
            let url = &urls[(n % urls.len() as u64) as usize];
            let event_ts_ms = unix_millis();
            let body = body::meeting_created(n, event_ts_ms);
            let timestamp = (event_ts_ms / 1000).to_string();
            let signature = rectoken_domain::webhook::sign(
                WEBHOOK_SECRET.as_bytes(),
                &timestamp,
                body.as_bytes(),
            );
            let response = client
                .post(url)
                .header("content-type", "application/json")
                .header("x-zm-request-timestamp", timestamp)
                .header("x-zm-signature", signature)
                .body(body)
                .send()
                .await
                .map_err(|e| chain(&e))?;
            let status = response.status();
            // Read the body so the connection goes back to the pool.
            let answer = response.bytes().await.map_err(|e| chain(&e))?;
            if status == reqwest::StatusCode::OK {
                Ok(())
            } else {
                Err(format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&answer[..answer.len().min(200)])
                ))
            }
        }
    };
    let outcome = drive(concurrency, opts.rate, opts.window(), send).await;

    shutdown.cancel();
    for server in servers {
        match tokio::time::timeout(Duration::from_secs(10), server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => eprintln!("warning: ingress server ended with {e}"),
            Ok(Err(e)) => eprintln!("warning: ingress server task failed: {e}"),
            Err(_) => eprintln!("warning: ingress server did not drain within 10 s"),
        }
    }
    for bus in buses {
        bus.close().await;
    }
    Ok(outcome.into_report("ingress", opts))
}

/// Raw phase: the same messages through lapin on one confirm-mode channel.
async fn raw_phase(opts: &WebhookBenchOptions, topology: &Topology) -> anyhow::Result<PhaseReport> {
    let connection = Connection::connect(
        &first_node(&opts.amqp_url),
        ConnectionProperties::default().with_connection_name("rectoken-bench-raw".into()),
    )
    .await
    .context("connecting to RabbitMQ")?;
    let channel = connection.create_channel().await?;
    declare_topology(&channel, topology).await?;
    // Start from empty queues, as the ingress phase did.
    for queue in topology.work_queues() {
        channel
            .queue_purge(queue.as_str().into(), QueuePurgeOptions::default())
            .await?;
    }
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;

    let exchange: Arc<str> = topology.events_exchange().into();
    let publisher = channel.clone();
    let send = move |n: u64| {
        let channel = publisher.clone();
        let exchange = exchange.clone();
        async move {
            let body = body::meeting_created(RAW_NUMBERING + n, unix_millis());
            // Exactly what the ingress publishes: same properties, header,
            // mandatory flag and message ID.
            let mut headers = FieldTable::default();
            headers.insert(APP_HEADER.into(), AMQPValue::LongString(DEFAULT_APP.into()));
            let properties = BasicProperties::default()
                .with_content_type("application/json".into())
                .with_message_id(webhook_message_id(DEFAULT_APP, body.as_bytes()).into())
                .with_delivery_mode(2)
                .with_headers(headers);
            let confirmed = tokio::time::timeout(REQUEST_TIMEOUT, async {
                channel
                    .basic_publish(
                        exchange.as_ref().into(),
                        body::EVENT.into(),
                        BasicPublishOptions {
                            mandatory: true,
                            ..BasicPublishOptions::default()
                        },
                        body.as_bytes(),
                        properties,
                    )
                    .await?
                    .await
            })
            .await;
            match confirmed {
                Err(_) => Err(format!("no confirm within {REQUEST_TIMEOUT:?}")),
                Ok(Err(e)) => Err(chain(&e)),
                Ok(Ok(confirmation)) if confirmation.is_nack() => {
                    Err("broker nacked the publish".to_owned())
                }
                Ok(Ok(confirmation)) => match confirmation.take_message() {
                    Some(returned) => Err(format!("unroutable: {}", returned.reply_text)),
                    None => Ok(()),
                },
            }
        }
    };
    let outcome = drive(
        usize::from(opts.concurrency),
        opts.rate,
        opts.window(),
        send,
    )
    .await;
    let _ = channel.close(200, "bench done".into()).await;
    let _ = connection.close(200, "bench done".into()).await;
    Ok(outcome.into_report("raw", opts))
}

/// Delete the run's queues (work queues and DLQs) and exchange.
async fn delete_topology(url: &str, topology: &Topology) -> anyhow::Result<()> {
    let connection = Connection::connect(
        url,
        ConnectionProperties::default().with_connection_name("rectoken-bench-cleanup".into()),
    )
    .await
    .context("connecting to RabbitMQ to delete the bench queues")?;
    let channel = connection.create_channel().await?;
    let mut queues = Vec::new();
    for queue in topology.work_queues() {
        queues.push(Topology::dlq(&queue));
        queues.push(queue);
    }
    let mut result = Ok(());
    for queue in &queues {
        if let Err(e) = channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await
        {
            result = Err(anyhow::anyhow!("deleting queue {queue}: {e}"));
            break;
        }
    }
    if result.is_ok() {
        let exchange = topology.events_exchange();
        result = channel
            .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
            .await
            .with_context(|| format!("deleting exchange {exchange}"));
    }
    let _ = connection.close(200, "bench cleanup".into()).await;
    result
}

/// What one phase's workers measured.
#[derive(Debug, Default)]
struct Outcome {
    latencies: Vec<Duration>,
    errors: u64,
    first_errors: Vec<String>,
    /// Offset of the last measured completion from the phase start.
    last_completion: Option<Duration>,
    cpu: Option<CpuUsage>,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        for e in other.first_errors {
            self.keep_error(e);
        }
        self.last_completion = self.last_completion.max(other.last_completion);
    }

    fn keep_error(&mut self, e: String) {
        if self.first_errors.len() < KEPT_ERRORS && !self.first_errors.contains(&e) {
            self.first_errors.push(e);
        }
    }

    fn into_report(self, name: &'static str, opts: &WebhookBenchOptions) -> PhaseReport {
        let window = opts.window();
        let ok = self.latencies.len() as u64;
        let requests = ok + self.errors;
        let unsent = opts
            .rate
            .map(|r| window.scheduled(&Schedule::new(r)).saturating_sub(requests))
            .unwrap_or(0);
        let span = window.span(self.last_completion);
        PhaseReport {
            name,
            requests,
            errors: self.errors,
            unsent,
            throughput: throughput(ok, span),
            span,
            latency: Summary::from_samples(self.latencies),
            cpu: self.cpu,
            first_errors: self.first_errors,
        }
    }
}

/// Run `send(n)` for n = 0, 1, 2, … from `concurrency` workers, open loop at
/// `rate` or closed loop without one, for `window.end()`; measure what falls
/// in the window.
async fn drive<F, Fut>(concurrency: usize, rate: Option<u32>, window: Window, send: F) -> Outcome
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let start = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let schedule = rate.map(Schedule::new);
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(start + window.warmup).await;
        let first = CpuSample::now();
        tokio::time::sleep_until(start + window.end()).await;
        let last = CpuSample::now();
        first.zip(last).and_then(|(a, b)| a.usage_until(&b))
    });
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let next = next.clone();
            let send = send.clone();
            tokio::spawn(async move {
                let mut mine = Outcome::default();
                loop {
                    let (n, due, offset) = match schedule {
                        Some(schedule) => {
                            let n = next.fetch_add(1, Ordering::Relaxed);
                            let offset = schedule.offset(n);
                            if offset >= window.end() || start.elapsed() > window.end() + LATE_GRACE
                            {
                                break;
                            }
                            let due = start + offset;
                            tokio::time::sleep_until(due).await;
                            (n, due, offset)
                        }
                        None => {
                            let now = Instant::now();
                            let offset = now - start;
                            if offset >= window.end() {
                                break;
                            }
                            (next.fetch_add(1, Ordering::Relaxed), now, offset)
                        }
                    };
                    let result = send(n).await;
                    let done = Instant::now();
                    if !window.contains(offset) {
                        continue;
                    }
                    mine.last_completion = mine.last_completion.max(Some(done - start));
                    match result {
                        Ok(()) => mine.latencies.push(done - due),
                        Err(e) => {
                            mine.errors += 1;
                            mine.keep_error(e);
                        }
                    }
                }
                mine
            })
        })
        .collect();
    let mut total = Outcome::default();
    for worker in workers {
        match worker.await {
            Ok(outcome) => total.merge(outcome),
            Err(e) => total.keep_error(format!("worker panicked: {e}")),
        }
    }
    total.cpu = cpu.await.ok().flatten();
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        opts: WebhookBenchOptions,
    }

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn command_line_defaults_and_flags() {
        let cli = Cli::try_parse_from(["bench", "--amqp-url", "amqp://h:1/%2f"]).expect("parse");
        let o = cli.opts;
        assert_eq!(o.amqp_url, "amqp://h:1/%2f");
        assert_eq!(o.concurrency, 64);
        assert_eq!(o.rate, None);
        assert_eq!(o.duration, Duration::from_secs(10));
        assert_eq!(o.warmup, Duration::from_secs(2));
        assert!(o.queue_prefix.starts_with("bench-") && o.queue_prefix.ends_with('.'));
        let cli = Cli::try_parse_from([
            "bench",
            "--amqp-url",
            "amqp://h",
            "--rate",
            "1000",
            "--duration",
            "10",
            "--concurrency",
            "8",
            "--queue-prefix",
            "x.",
        ])
        .expect("parse");
        assert_eq!(cli.opts.rate, Some(1000));
        assert_eq!(cli.opts.concurrency, 8);
        assert_eq!(cli.opts.queue_prefix, "x.");
        assert!(Cli::try_parse_from(["bench", "--amqp-url", "a", "--rate", "0"]).is_err());
        assert!(Cli::try_parse_from(["bench", "--amqp-url", "a", "--concurrency", "0"]).is_err());
    }

    #[test]
    fn broker_display_hides_credentials() {
        assert_eq!(
            broker_display("amqp://guest:guest@127.0.0.1:5673/%2f"),
            "127.0.0.1:5673"
        );
        assert_eq!(broker_display("amqps://rabbit.internal"), "rabbit.internal");
        assert_eq!(broker_display("amqp://u:p@w@h:1/v"), "h:1");
    }

    #[tokio::test(start_paused = true)]
    async fn open_loop_driver_sends_on_schedule() {
        let window = Window {
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(500),
        };
        // 100/s for 600 ms: requests 0..60 are due; 50 fall in the window.
        let outcome = drive(4, Some(100), window, |n| async move {
            tokio::time::sleep(Duration::from_millis(3)).await;
            if n % 25 == 13 {
                Err("boom".to_owned())
            } else {
                Ok(())
            }
        })
        .await;
        // In the window: n = 10..60; failures n = 13, 38.
        assert_eq!(outcome.errors, 2);
        assert_eq!(outcome.latencies.len(), 48);
        assert_eq!(outcome.first_errors, vec!["boom".to_owned()]);
        // Paused clock: every request takes exactly 3 ms from its due time.
        assert!(
            outcome
                .latencies
                .iter()
                .all(|l| *l == Duration::from_millis(3))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn open_loop_charges_queueing_to_latency() {
        let window = Window {
            warmup: Duration::ZERO,
            duration: Duration::from_millis(100),
        };
        // One worker, due every 10 ms, each request takes 20 ms: the
        // backlog grows and latency from the due time grows with it.
        let outcome = drive(1, Some(100), window, |_| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(())
        })
        .await;
        assert_eq!(outcome.latencies.len(), 10);
        assert_eq!(outcome.latencies[0], Duration::from_millis(20));
        assert_eq!(outcome.latencies[9], Duration::from_millis(110));
    }

    #[tokio::test(start_paused = true)]
    async fn closed_loop_driver_runs_back_to_back() {
        let window = Window {
            warmup: Duration::from_millis(10),
            duration: Duration::from_millis(100),
        };
        let outcome = drive(2, None, window, |_| async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(())
        })
        .await;
        // Two workers, 5 ms each: starts at 10, 15, …, 105 ms are measured.
        assert_eq!(outcome.latencies.len(), 40);
        assert_eq!(outcome.errors, 0);
    }
}
