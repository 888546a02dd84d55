//! `top_of_hour`: the top-of-the-hour burst of join requests (issue 17);
//! see [`rectoken_bench::top_of_hour`].
//!
//! ```text
//! eval "$(scripts/services env)"
//! cargo run --release -p rectoken-bench --example top_of_hour               # one node
//! cargo run --release -p rectoken-bench --example top_of_hour -- \
//!     --amqp-url "$RECTOKEN_TEST_AMQP_CLUSTER_URL" --redis-url "$RECTOKEN_TEST_REDIS_HA_URL"
//! ```
//!
//! Exits 0 when the run completed, whether or not the target was met (the
//! last line says which), so a missed target is reported, not hidden by a
//! failed command.

use std::time::Duration;

use clap::Parser;
use rectoken_bench::top_of_hour::{TopOfHourOptions, run_top_of_hour};

/// 10,000 join requests in 60 s over 1,000 accounts through real RabbitMQ
/// and Redis to in-process token workers minting at the Zoom simulator,
/// whose per-account rate limits are on.
#[derive(Debug, Parser)]
#[command(name = "top_of_hour")]
struct Args {
    /// RabbitMQ URL, or a comma-separated list of a cluster's nodes
    /// (RECTOKEN_TEST_AMQP_CLUSTER_URL).
    #[arg(long, env = "RECTOKEN_TEST_AMQP_URL")]
    amqp_url: String,
    /// Redis URL: one Redis, or `redis+cluster://…` (RECTOKEN_TEST_REDIS_HA_URL).
    #[arg(long, env = "RECTOKEN_TEST_REDIS_URL")]
    redis_url: String,
    /// Join requests in the burst.
    #[arg(long, default_value_t = 10_000)]
    requests: usize,
    /// Seconds the requests arrive within.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Front-loading of the arrivals: request i is due at duration x (i/n)^shape
    /// (1 = even; 2 = 29 % in the first 5 s of 60).
    #[arg(long, default_value_t = 2.0)]
    shape: f64,
    /// Connected accounts the meetings belong to.
    #[arg(long, default_value_t = 1_000)]
    accounts: usize,
    /// Skew of the requests over the accounts: account k gets a share
    /// proportional to 1/(k+1)^zipf (0 = even; 1 = the largest of 1,000 has 13 %).
    #[arg(long, default_value_t = 1.0)]
    zipf: f64,
    /// In-process token workers, each on its own broker connection.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Concurrency of each token worker.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Client connections the requests are spread over.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// The simulator's join-token latency, ms (Zoom publishes none; 200 is
    /// our assumption for a call from a cloud region).
    #[arg(long, default_value_t = 200)]
    zoom_latency_ms: u64,
    /// Each request's deadline, seconds after it is due (a bot's default: 30).
    #[arg(long, default_value_t = 30.0)]
    deadline: f64,
    /// Seed of the request order.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of Zoom's per-second limits the workers use, as
    /// RECTOKEN_ZOOM_RATE_FRACTION does in the service.
    #[arg(long, default_value_t = rectoken_bench::top_of_hour::DEFAULT_RATE_FRACTION)]
    zoom_rate_fraction: f64,
}

fn seconds(name: &str, s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| anyhow::anyhow!("--{name} {s} is not a duration"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RECTOKEN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error,lapin=off")),
        )
        .with_writer(std::io::stderr)
        .init();
    let a = Args::parse();
    let mut o = TopOfHourOptions::new(a.amqp_url, a.redis_url);
    o.requests = a.requests;
    o.duration = seconds("duration", a.duration)?;
    o.shape = a.shape;
    o.accounts = a.accounts;
    o.zipf = a.zipf;
    o.workers = a.workers;
    o.concurrency = a.concurrency;
    o.clients = a.clients;
    o.zoom_latency = Duration::from_millis(a.zoom_latency_ms);
    o.deadline = seconds("deadline", a.deadline)?;
    o.seed = a.seed;
    anyhow::ensure!(
        a.zoom_rate_fraction > 0.0 && a.zoom_rate_fraction <= 1.0,
        "--zoom-rate-fraction must be more than 0 and at most 1"
    );
    o.rate_fraction = a.zoom_rate_fraction;
    let report = run_top_of_hour(o).await?;
    print!("{report}");
    Ok(())
}
