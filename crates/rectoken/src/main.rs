//! `rectoken`: one binary, one role per subcommand.
//!
//! # Layout
//! - `accounts`: export and import of accounts (backups).
//! - `durability`: the start-up check that Redis keeps credentials.
//! - `config`: the flags and environment variables of DESIGN.md.
//! - `core`: the bus, store, Zoom client and vault every role builds.
//! - `dev`: every role in one process, optionally with the simulator.
//! - `ingress`: wires the ingress role (bus, Redis check, router).
//! - `workers`: the sync and token worker roles.
//! - `signals`: SIGTERM / Ctrl-C to a cancellation token.
//!
//! `anyhow` lives only here, at the edge; the library crates have their own
//! error enums.

mod accounts;
mod config;
mod core;
mod dev;
mod durability;
mod ingress;
mod signals;
mod workers;

use clap::{Parser, Subcommand};

use crate::config::{IngressArgs, LogArgs, SyncWorkerArgs, TokenWorkerArgs};

/// rectoken: Zoom recording join tokens for meeting bots, without the
/// recording prompt.
///
/// A Zoom account admin connects an account-level OAuth app once; rectoken
/// keeps a live map of every meeting ID and PMI in that account to its owner
/// (from webhooks and periodic syncs) and answers each bot's join request
/// with a fresh recording join token. Each role below scales out by running
/// more copies.
#[derive(Debug, Parser)]
#[command(name = "rectoken", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    log: LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// HTTP server: Zoom webhooks, health, readiness and metrics.
    ///
    /// Verifies each webhook's signature, answers Zoom's URL validation,
    /// publishes every other event to RabbitMQ with publisher confirms, and
    /// answers 200 only after the broker confirmed (503 otherwise, so Zoom
    /// retries).
    Ingress(IngressArgs),
    /// Webhook-event and sync-job consumer; also schedules periodic resyncs
    /// and token keep-alive refreshes (one instance at a time holds the
    /// schedule).
    ///
    /// Keeps the meeting and PMI map in Redis with versioned writes, so late
    /// or repeated events never overwrite newer state. Serves `/healthz`,
    /// `/readyz` and `/metrics` on `--metrics-addr`.
    SyncWorker(SyncWorkerArgs),
    /// Join-request consumer: answers each request on `rectoken.join` with
    /// freshly minted tokens.
    ///
    /// Serves `/healthz`, `/readyz` and `/metrics` on `--metrics-addr`.
    TokenWorker(TokenWorkerArgs),
    /// The Zoom simulator on its own, for tests, demos and benchmarks.
    ///
    /// Serves `/oauth/*` and `/v2/*` like Zoom for the app named by the
    /// `ZOOM_*` variables, plus a control API under `/_sim/`. Point rectoken
    /// at it with `ZOOM_OAUTH_URL=http://ADDR/oauth` and
    /// `ZOOM_API_URL=http://ADDR/v2`.
    Sim(zoom_sim::SimConfig),
    /// Every role in one process, for trying rectoken on a laptop.
    ///
    /// With no `RECTOKEN_AMQP_URL` / `RECTOKEN_REDIS_URL` it uses in-process
    /// backends; `--sim` also starts the Zoom simulator seeded with a demo
    /// account whose webhooks come to this ingress.
    Dev(dev::DevArgs),
    /// Back up or restore every account's state and credentials (still
    /// encrypted).
    Accounts(accounts::AccountsArgs),
    /// Send one join request and print the reply as JSON; exit 0 only for
    /// `ok`.
    ///
    /// Over RabbitMQ when `RECTOKEN_AMQP_URL` is set, else `POST /join` at
    /// `--url` with `RECTOKEN_JOIN_KEY`.
    Join(rectoken_client::cli::JoinArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let log_format = cli.log.format();
    if let Err(e) = rectoken_telemetry::init_logging(&cli.log.log, cli.log.format()) {
        eprintln!("error: {e}");
        return std::process::ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Command::Join(args) = cli.command {
        return match runtime.block_on(rectoken_client::cli::execute(args)) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::ExitCode::from(2)
            }
        };
    }
    let result = runtime.block_on(async move {
        let shutdown = signals::shutdown_token();
        match cli.command {
            Command::Ingress(args) => ingress::run(args, shutdown).await,
            Command::SyncWorker(args) => workers::run_sync(args, shutdown).await,
            Command::TokenWorker(args) => workers::run_token(args, shutdown).await,
            Command::Sim(config) => run_sim(config, shutdown).await,
            Command::Dev(args) => dev::run(args, shutdown).await,
            Command::Accounts(args) => accounts::run(args).await,
            Command::Join(_) => Ok(()),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Once: as a log record for JSON logs (a log shipper reads
            // nothing else), as a plain line for a person otherwise.
            if matches!(log_format, rectoken_telemetry::LogFormat::Json) {
                tracing::error!(error = format!("{e:#}"), "exiting");
            } else {
                eprintln!("error: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run_sim(
    config: zoom_sim::SimConfig,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let addr = config.addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let sim = zoom_sim::Sim::new(config);
    tracing::info!(addr = %listener.local_addr()?, "Zoom simulator listening");
    sim.serve(listener, shutdown)
        .await
        .context("simulator server failed")
}
