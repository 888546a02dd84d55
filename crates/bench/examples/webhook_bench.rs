//! `webhook_bench`: run the webhook ingress benchmark from the command line.
//!
//! ```text
//! cargo run --release -p rectoken-bench --example webhook_bench -- \
//!     --amqp-url amqp://guest:guest@127.0.0.1:5673/%2f --rate 1000 --duration 10
//! ```

use clap::Parser;
use rectoken_bench::{WebhookBenchOptions, run_webhook_bench};

/// Drive signed webhooks at an in-process ingress over loopback and compare
/// with raw confirmed publishes through lapin on the same broker.
#[derive(Parser)]
#[command(name = "rectoken-bench", version)]
struct Cli {
    #[command(flatten)]
    webhooks: WebhookBenchOptions,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let report = run_webhook_bench(cli.webhooks).await?;
    print!("{report}");
    Ok(())
}
