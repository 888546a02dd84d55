//! Full-sync and webhook-throughput benchmark against the in-process Zoom
//! simulator and real RabbitMQ and Redis:
//!
//! ```text
//! scripts/services start all && eval "$(scripts/services env)"
//! cargo run --release -p rectoken-bench --example full_sync_bench -- \
//!     --users 10000 --meetings-per-user 10 --workers 4
//! ```

use clap::Parser;
use rectoken_bench::full_sync::{BenchOptions, full_sync_bench};

#[derive(Parser, Debug)]
#[command(about = "Full sync of a generated account through rectoken sync workers")]
struct Args {
    /// RabbitMQ URL.
    #[arg(long, env = "RECTOKEN_TEST_AMQP_URL")]
    amqp_url: String,
    /// Redis URL.
    #[arg(long, env = "RECTOKEN_TEST_REDIS_URL")]
    redis_url: String,
    /// Users of the generated account.
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Meetings per user.
    #[arg(long, default_value_t = 10)]
    meetings_per_user: usize,
    /// In-process sync workers.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Concurrency of each worker.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// The limiter's share of Zoom's limits.
    #[arg(long, default_value_t = 0.95)]
    fraction: f64,
    /// meeting.created events for the throughput phase (0 skips it).
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Workers draining the events (1 measures one worker's throughput).
    #[arg(long, default_value_t = 1)]
    event_workers: usize,
    /// Generator seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RECTOKEN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let a = Args::parse();
    let report = full_sync_bench(BenchOptions {
        amqp_url: a.amqp_url,
        redis_url: a.redis_url,
        users: a.users,
        meetings_per_user: a.meetings_per_user,
        workers: a.workers,
        concurrency: a.concurrency,
        fraction: a.fraction,
        events: a.events,
        event_workers: a.event_workers,
        seed: a.seed,
    })
    .await?;
    print!("{report}");
    Ok(())
}
