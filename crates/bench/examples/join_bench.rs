//! `join_bench`: runs [`rectoken_bench::join::join_bench`] and
//! prints its table.
//!
//! `cargo run --release -p rectoken-bench --example join_bench -- \
//!   --amqp-url amqp://guest:guest@127.0.0.1:5673/%2f --redis-url redis://127.0.0.1:6380/`

use std::time::Duration;

use clap::Parser;
use rectoken_bench::join::{BenchOptions, join_bench};

/// Join requests through real RabbitMQ and Redis to in-process token
/// workers minting at the Zoom simulator.
#[derive(Debug, Parser)]
struct Args {
    /// RabbitMQ URL.
    #[arg(long, env = "RECTOKEN_TEST_AMQP_URL")]
    amqp_url: String,
    /// Redis URL.
    #[arg(long, env = "RECTOKEN_TEST_REDIS_URL")]
    redis_url: String,
    /// Requests per second of the fixed-rate phase.
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// Measured seconds per phase.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up seconds per phase.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Latency injected into the simulator's join-token endpoint, ms.
    #[arg(long, default_value_t = 20)]
    zoom_latency_ms: u64,
    /// Connected accounts the meetings are spread over.
    #[arg(long, default_value_t = 50)]
    accounts: usize,
    /// Worker counts to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    workers: Vec<usize>,
    /// Concurrency of each worker.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Requests outstanding in the saturate phase (0 skips it).
    #[arg(long, default_value_t = 256)]
    saturate: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut o = BenchOptions::new(args.amqp_url, args.redis_url);
    o.rate = args.rate;
    o.duration = Duration::from_secs_f64(args.duration);
    o.warmup = Duration::from_secs_f64(args.warmup);
    o.zoom_latency = Duration::from_millis(args.zoom_latency_ms);
    o.accounts = args.accounts;
    o.workers = args.workers;
    o.concurrency = args.concurrency;
    o.saturate = args.saturate;
    let report = join_bench(o).await?;
    print!("{report}");
    Ok(())
}
