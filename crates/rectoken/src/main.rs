//! `rectoken`: one binary, one role per subcommand.
//!
//! # Layout
//! - `accounts`: export and import of accounts (backups).
//! - `durability`: the start-up check that Redis keeps credentials.
//! - `config`: the flags and environment variables of docs/design.md.
//! - `core`: the bus, store, Zoom client and vault every role builds.
//! - `dev`: every role in one process, optionally with the simulator.
//! - `ingress`: wires the ingress role (bus, Redis check, router).
//! - `workers`: the sync and token worker roles.
//! - `signals`: SIGTERM / Ctrl-C to a cancellation token.
//!
//! `anyhow` lives only here, at the edge; the library crates have their own
//! error enums.

mod account_events;
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
    // `serve` logs the address it listens on.
    let sim = zoom_sim::Sim::new(config);
    sim.serve(listener, shutdown)
        .await
        .context("simulator server failed")
}

#[cfg(test)]
mod readme_config_tests {
    //! README.md's configuration tables against the `clap` definitions, so
    //! the two cannot disagree: every environment variable and every flag
    //! without one is in a table, in exactly one row, with the subcommands
    //! that read it and its default.

    use std::collections::{BTreeMap, BTreeSet};

    use clap::CommandFactory;

    use super::Cli;

    /// What the definitions say about one setting.
    #[derive(Debug, Default)]
    struct Setting {
        read_by: BTreeSet<String>,
        defaults: BTreeSet<String>,
    }

    /// Every setting of every (sub)command, keyed by variable name (or by
    /// `--flag` for a flag without a variable).
    fn definitions() -> BTreeMap<String, Setting> {
        let mut cmd = Cli::command();
        cmd.build();
        let mut out: BTreeMap<String, Setting> = BTreeMap::new();
        fn walk(cmd: &clap::Command, path: &str, out: &mut BTreeMap<String, Setting>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" || arg.is_positional() {
                    continue;
                }
                let key = match (arg.get_env(), arg.get_long()) {
                    (Some(env), _) => env.to_string_lossy().into_owned(),
                    (None, Some(long)) => format!("--{long}"),
                    (None, None) => continue,
                };
                let setting = out.entry(key).or_default();
                if !path.is_empty() {
                    setting.read_by.insert(path.to_owned());
                }
                let is_switch = matches!(arg.get_action(), clap::ArgAction::SetTrue);
                if !is_switch {
                    for d in arg.get_default_values() {
                        setting.defaults.insert(d.to_string_lossy().into_owned());
                    }
                }
            }
            for sub in cmd.get_subcommands() {
                let name = sub.get_name();
                if name == "help" {
                    continue;
                }
                // Nested subcommands (`accounts export`) count as their parent.
                let child = if path.is_empty() {
                    name.to_owned()
                } else {
                    path.to_owned()
                };
                walk(sub, &child, out);
            }
        }
        walk(&cmd, "", &mut out);
        out
    }

    /// One row of a README settings table.
    #[derive(Debug)]
    struct Row {
        cells: Vec<String>,
        line: usize,
    }

    /// The rows of every table whose header starts with `variable` or
    /// `flag`, keyed by each backticked name in the first cell.
    fn readme_rows() -> BTreeMap<String, Vec<Row>> {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
                .expect("README.md at the workspace root");
        let mut rows: BTreeMap<String, Vec<Row>> = BTreeMap::new();
        let mut in_table = false;
        for (i, line) in readme.lines().enumerate() {
            let t = line.trim();
            if !t.starts_with('|') {
                in_table = false;
                continue;
            }
            let cells: Vec<String> = t
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_owned())
                .collect();
            if !in_table {
                in_table = matches!(cells.first().map(String::as_str), Some("variable" | "flag"));
                continue;
            }
            if cells.first().is_some_and(|c| c.starts_with("---")) {
                continue;
            }
            let first = cells.first().cloned().unwrap_or_default();
            for name in first.split('`').skip(1).step_by(2) {
                rows.entry(name.to_owned()).or_default().push(Row {
                    cells: cells.clone(),
                    line: i + 1,
                });
            }
        }
        rows
    }

    /// The names of every subcommand.
    fn subcommands() -> BTreeSet<String> {
        Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .filter(|n| n != "help")
            .collect()
    }

    fn backticked(cell: &str) -> BTreeSet<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_setting_is_in_the_readme_with_who_reads_it_and_its_default() {
        let defs = definitions();
        let rows = readme_rows();
        let mut problems = Vec::new();
        for (name, def) in &defs {
            let Some(found) = rows.get(name) else {
                problems.push(format!(
                    "{name} (read by {:?}) is missing from README.md's settings tables",
                    def.read_by
                ));
                continue;
            };
            if found.len() > 1 {
                let lines: Vec<usize> = found.iter().map(|r| r.line).collect();
                problems.push(format!("{name} is in several rows: lines {lines:?}"));
                continue;
            }
            let row = &found[0];
            let read_by = row.cells.get(3).map(|c| backticked(c)).unwrap_or_default();
            let expected = def.read_by.clone();
            let listed: BTreeSet<String> = if row
                .cells
                .get(3)
                .is_some_and(|c| c.contains("every subcommand"))
            {
                subcommands()
            } else {
                read_by
            };
            if listed != expected {
                problems.push(format!(
                    "README.md line {}: {name} is read by {expected:?}, the table says {listed:?}",
                    row.line
                ));
            }
            let default_cell = row.cells.get(2).cloned().unwrap_or_default();
            for d in &def.defaults {
                let shown = if d.is_empty() {
                    default_cell == "empty"
                } else {
                    default_cell.contains(&format!("`{d}`"))
                };
                if !shown {
                    problems.push(format!(
                        "README.md line {}: {name} defaults to `{d}`, the table says {default_cell:?}",
                        row.line
                    ));
                }
            }
        }
        for (name, found) in &rows {
            if !defs.contains_key(name) {
                problems.push(format!(
                    "README.md line {}: {name} is in a settings table but no subcommand reads it",
                    found[0].line
                ));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
