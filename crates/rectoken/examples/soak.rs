//! Soak run (issue #8): the real stack as processes (1 ingress, 2 sync
//! workers, 2 token workers, a Redis of its own with AOF, the test
//! RabbitMQ under a unique prefix, the Zoom simulator in this process)
//! under a steady rate of signed webhooks and AMQP join requests for N
//! minutes. It samples every role's RSS (VmRSS) and the queue depths at
//! the start, every 30 s and at the end, and prints per-minute join and
//! webhook latency percentiles. Loopback only; it stops by itself.
//!
//! ```text
//! scripts/services start all && eval "$(scripts/services env)"
//! cargo run --release -p rectoken --example soak -- --minutes 3 --rate 50
//! ```
//!
//! Flags: `--minutes M` (default 3), `--rate R` webhooks per second and
//! join requests per second (default 50), `--bin PATH` (default: the
//! `rectoken` binary of the same profile, built first with `cargo build`),
//! `--amqp-url URL` (default `$RECTOKEN_TEST_AMQP_URL`, else
//! `amqp://guest:guest@127.0.0.1:5673/%2f`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/faults/stack.rs"]
mod stack;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rectoken_bus::Topology;
use stack::{Driver, Joiner, Stack, StackOptions, lock, percentile, rss_kb};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use zoom_sim::DeliveryState;

const SAMPLE_EVERY: Duration = Duration::from_secs(30);
const JOIN_DEADLINE: Duration = Duration::from_secs(30);

struct Args {
    minutes: f64,
    rate: u64,
    bin: Option<PathBuf>,
    amqp_url: String,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        minutes: 3.0,
        rate: 50,
        bin: None,
        amqp_url: std::env::var("RECTOKEN_TEST_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5673/%2f".into()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--minutes" => args.minutes = value()?.parse().context("--minutes")?,
            "--rate" => args.rate = value()?.parse().context("--rate")?,
            "--bin" => args.bin = Some(value()?.into()),
            "--amqp-url" => args.amqp_url = value()?,
            "-h" | "--help" => {
                println!(
                    "soak [--minutes M] [--rate R] [--bin PATH] [--amqp-url URL]\n\
                     R webhooks/s and R join requests/s for M minutes against the real stack"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if !(args.minutes > 0.0 && args.minutes <= 120.0 && (1..=1000).contains(&args.rate)) {
        bail!("--minutes must be in (0, 120] and --rate in 1..=1000");
    }
    Ok(args)
}

/// The `rectoken` binary of this example's profile, built first.
fn binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(|examples| examples.parent())
        .context("cannot locate the target directory")?;
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "-p", "rectoken", "--bin", "rectoken"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if release {
        build.arg("--release");
    }
    let status = build.status().context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of the rectoken binary failed");
    }
    let bin = profile_dir.join("rectoken");
    if !bin.exists() {
        bail!("{} not found", bin.display());
    }
    Ok(bin)
}

struct Sample {
    /// `None`: the final sample, after the drain.
    at: Option<Duration>,
    rss_kb: Vec<(String, Option<u64>)>,
    depths: Vec<(String, Option<u32>)>,
}

async fn sample(stack: &Stack, t0: Instant) -> Sample {
    let mut rss = Vec::new();
    for (name, _, pid) in stack.pids() {
        rss.push((name, rss_kb(pid)));
    }
    let redis_pid = lock(&stack.redis).pid();
    rss.push(("redis".into(), redis_pid.and_then(rss_kb)));
    let topo: Topology = stack.topology().clone();
    let mut depths = Vec::new();
    for (label, q) in [
        ("sync", topo.sync_queue()),
        ("sync.users", topo.sync_users_queue()),
        ("join", topo.join_queue()),
        ("sync.dlq", Topology::dlq(&topo.sync_queue())),
        ("sync.users.dlq", Topology::dlq(&topo.sync_users_queue())),
        ("join.dlq", Topology::dlq(&topo.join_queue())),
    ] {
        depths.push((label.to_owned(), stack.depth(&q).await));
    }
    Sample {
        at: Some(t0.elapsed()),
        rss_kb: rss,
        depths,
    }
}

fn when(at: Option<Duration>) -> String {
    at.map_or_else(|| "end".into(), |d| format!("{:.0}s", d.as_secs_f64()))
}

fn mb(kb: Option<u64>) -> String {
    #[allow(clippy::cast_precision_loss)]
    kb.map_or_else(|| "-".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let bin = match &args.bin {
        Some(b) => b.clone(),
        None => binary()?,
    };
    let dir = stack::ScratchDir::new("soak")?;
    let prefix = format!(
        "soak-{}-{}.",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
    );
    println!(
        "soak: {} min at {} webhooks/s + {} joins/s; binary {}; logs in {}",
        args.minutes,
        args.rate,
        args.rate,
        bin.display(),
        dir.path.display()
    );
    let stack = Arc::new(
        Stack::start(StackOptions {
            bin,
            amqp_url: args.amqp_url.clone(),
            redis_url: None,
            prefix: prefix.clone(),
            dir: dir.path.clone(),
            webhook_retry_scale: 0.002,
            access_token_ttl_secs: 3600,
            users: 20,
            meetings_per_user: 5,
            seed: 8,
            log_filter: "info,lapin=warn".into(),
        })
        .await?,
    );
    let result = soak(&stack, &args).await;
    stack.cleanup(&[format!("{prefix}test.replies")]).await;
    if result.is_err() {
        eprintln!("{}", stack.log_tails(20));
    }
    result
}

#[allow(clippy::too_many_lines)]
async fn soak(stack: &Arc<Stack>, args: &Args) -> anyhow::Result<()> {
    stack.connect_account().await?;
    stack.wait_synced(Duration::from_secs(120)).await?;
    let joiner = Joiner::start(stack).await?;
    let driver = Arc::new(Driver::new(stack, 8));
    let stop = CancellationToken::new();
    let sends = TaskTracker::new();
    let run_for = Duration::from_secs_f64(args.minutes * 60.0);
    let t0 = Instant::now();
    let wall0_ms = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis(),
    )?;
    let period = Duration::from_secs_f64(1.0 / f64::from(u32::try_from(args.rate)?));
    let hooks = {
        let (driver, stop) = (driver.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            while !stop.is_cancelled() {
                tick.tick().await;
                driver.tick();
            }
        })
    };
    let joins = {
        let (driver, joiner, stop, sends) =
            (driver.clone(), joiner.clone(), stop.clone(), sends.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            while !stop.is_cancelled() {
                tick.tick().await;
                if let Some(m) = driver.target() {
                    let joiner = joiner.clone();
                    sends.spawn(async move { joiner.send(m, JOIN_DEADLINE).await });
                }
            }
        })
    };

    let mut samples = vec![sample(stack, t0).await];
    let mut next = t0 + SAMPLE_EVERY;
    while t0.elapsed() < run_for {
        let until = next.min(t0 + run_for);
        tokio::time::sleep_until(until.into()).await;
        if Instant::now() >= next {
            samples.push(sample(stack, t0).await);
            let s = samples.last().unwrap();
            println!(
                "  +{:>4.0}s  rss MB {}  depths {}",
                t0.elapsed().as_secs_f64(),
                s.rss_kb
                    .iter()
                    .map(|(n, k)| format!("{n}={}", mb(*k)))
                    .collect::<Vec<_>>()
                    .join(" "),
                s.depths
                    .iter()
                    .map(|(n, d)| format!("{n}={}", d.map_or("-".into(), |d| d.to_string())))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            next += SAMPLE_EVERY;
        }
    }
    stop.cancel();
    let _ = tokio::join!(hooks, joins);
    sends.close();
    let _ = tokio::time::timeout(Duration::from_secs(30), sends.wait()).await;
    let traffic = t0.elapsed();
    // Drain: Zoom's retries end, the last requests are answered.
    let ids: Vec<u64> = stack.sim.deliveries().iter().map(|d| d.id).collect();
    let _ = tokio::time::timeout(Duration::from_secs(60), stack.sim.wait_deliveries(&ids)).await;
    rectoken_tests::eventually(JOIN_DEADLINE + Duration::from_secs(5), || async {
        let log = lock(&joiner.log);
        log.requests
            .iter()
            .all(|(id, r)| !matches!(r.published, Some(Ok(()))) || log.replies.contains_key(id))
    })
    .await;
    let mut last = sample(stack, t0).await;
    last.at = None;
    samples.push(last);
    joiner.stop();
    let exits = stack.unexpected_exits();

    // ---- tables
    println!("\nRSS (MB, VmRSS) per role");
    let names: Vec<String> = samples[0].rss_kb.iter().map(|(n, _)| n.clone()).collect();
    println!(
        "| t | {} |\n|---|{}",
        names.join(" | "),
        "---|".repeat(names.len())
    );
    for s in &samples {
        println!(
            "| {} | {} |",
            when(s.at),
            s.rss_kb
                .iter()
                .map(|(_, k)| mb(*k))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    println!("\nQueue depths");
    // The header from the samples' own labels, so it always fits the rows.
    let labels: Vec<&str> = samples
        .first()
        .map(|s| s.depths.iter().map(|(l, _)| l.as_str()).collect())
        .unwrap_or_default();
    println!(
        "| t | {} |\n|---|{}",
        labels.join(" | "),
        "---|".repeat(labels.len())
    );
    for s in &samples {
        println!(
            "| {} | {} |",
            when(s.at),
            s.depths
                .iter()
                .map(|(_, d)| d.map_or("-".into(), |d| d.to_string()))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }

    // Joins per minute (by send time).
    #[derive(Default)]
    struct Minute {
        sent: u64,
        confirmed: u64,
        answered: u64,
        ok: u64,
        other: BTreeMap<String, u64>,
        latencies: Vec<f64>,
        dups: u64,
    }
    // The last ticks may fall a hair past the end: count them in the last minute.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let last_minute = (args.minutes.ceil() as u64).saturating_sub(1);
    let mut minutes: BTreeMap<u64, Minute> = BTreeMap::new();
    {
        let log = lock(&joiner.log);
        for (id, r) in &log.requests {
            let m = minutes
                .entry((r.sent.saturating_duration_since(t0).as_secs() / 60).min(last_minute))
                .or_default();
            m.sent += 1;
            if matches!(r.published, Some(Ok(()))) {
                m.confirmed += 1;
            }
            if let Some(replies) = log.replies.get(id) {
                m.answered += 1;
                m.dups += replies.len().saturating_sub(1) as u64;
                let first = &replies[0];
                m.latencies.push((first.at - r.sent).as_secs_f64() * 1e3);
                match first.body["status"].as_str() {
                    Some("ok") => m.ok += 1,
                    s => *m.other.entry(s.unwrap_or("?").to_owned()).or_insert(0) += 1,
                }
            }
        }
    }
    println!("\nJoin requests per minute (latency: publish to reply, ms)");
    println!(
        "| minute | sent | confirmed | answered | ok | other | dup | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for (i, m) in &mut minutes {
        m.latencies.sort_by(f64::total_cmp);
        println!(
            "| {} | {} | {} | {} | {} | {:?} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            i + 1,
            m.sent,
            m.confirmed,
            m.answered,
            m.ok,
            m.other,
            m.dups,
            percentile(&m.latencies, 50.0),
            percentile(&m.latencies, 90.0),
            percentile(&m.latencies, 99.0),
            m.latencies.last().copied().unwrap_or(f64::NAN),
        );
    }

    // Webhooks per minute (by first attempt): the ingress's answer time.
    let mut hook_minutes: BTreeMap<u64, (u64, u64, u64, Vec<f64>)> = BTreeMap::new();
    for d in stack.sim.deliveries() {
        let Some(first) = d.attempts.first() else {
            continue;
        };
        let e = hook_minutes
            .entry((first.sent_at_ms.saturating_sub(wall0_ms) / 60_000).min(last_minute))
            .or_default();
        e.0 += 1;
        if d.state == DeliveryState::Delivered {
            e.1 += 1;
        }
        if d.attempts.len() > 1 {
            e.2 += 1;
        }
        #[allow(clippy::cast_precision_loss)]
        e.3.push(first.elapsed_ms as f64);
    }
    println!("\nWebhooks per minute (ingress answer time of the first attempt, ms)");
    println!(
        "| minute | fired | 200 | retried | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|---|---|"
    );
    for (i, (n, ok, retried, lat)) in &mut hook_minutes {
        lat.sort_by(f64::total_cmp);
        println!(
            "| {} | {n} | {ok} | {retried} | {:.0} | {:.0} | {:.0} | {:.0} |",
            i + 1,
            percentile(lat, 50.0),
            percentile(lat, 90.0),
            percentile(lat, 99.0),
            lat.last().copied().unwrap_or(f64::NAN),
        );
    }
    let stats = stack.sim.stats();
    let fired = lock(&driver.fired).clone();
    let account = stack.admin_account().await.ok();
    println!(
        "\nsoak: {:.0}s of traffic; events {fired:?}; simulator: {} requests, {} tokens minted, {} rate-limited 429; \
         account mappings {}; processes exited on their own: {exits:?}",
        traffic.as_secs_f64(),
        stats.requests,
        stats.tokens_minted,
        stats.rate_limited,
        account.map_or_else(|| "?".into(), |a| a["mappings"].to_string()),
    );
    let driver_errors = lock(&driver.errors).clone();
    if !exits.is_empty() || !driver_errors.is_empty() {
        bail!("processes exited {exits:?}; simulator refused {driver_errors:?}");
    }
    Ok(())
}
