//! The benchmark's results and their printed table.

use std::fmt;
use std::time::Duration;

use crate::cpu::CpuUsage;
use crate::measure::{Summary, ratio};

/// The targets: ingress throughput at least this share of raw
/// confirmed publishes…
pub const TARGET_RATIO: f64 = 0.8;
/// …and ingress p99 under this…
pub const TARGET_P99: Duration = Duration::from_millis(50);
/// …at this offered rate.
pub const TARGET_RATE: u32 = 1000;

/// An offered rate counts as reached when at least this share of it was
/// achieved and every scheduled request was sent.
const RATE_REACHED_SHARE: f64 = 0.95;

/// Results of one phase (ingress or raw).
#[derive(Debug, Clone)]
pub struct PhaseReport {
    /// `ingress` or `raw`.
    pub name: &'static str,
    /// Measured requests that completed (answered or failed).
    pub requests: u64,
    /// Of those, the ones that failed (non-200, transport error, nack).
    pub errors: u64,
    /// Open loop only: measured requests that were due but never sent
    /// because the run stopped first (the load generator fell behind).
    pub unsent: u64,
    /// Successful completions per second over the measured span.
    pub throughput: f64,
    /// From the window start to the last measured completion.
    pub span: Duration,
    /// Latencies of the successful requests.
    pub latency: Summary,
    /// CPU use during the measured window.
    pub cpu: Option<CpuUsage>,
    /// The first few distinct error messages.
    pub first_errors: Vec<String>,
}

impl PhaseReport {
    /// Successful requests.
    pub fn ok(&self) -> u64 {
        self.requests - self.errors
    }

    /// Whether an offered `rate` was reached.
    pub fn reached(&self, rate: u32) -> bool {
        self.unsent == 0 && self.throughput >= f64::from(rate) * RATE_REACHED_SHARE
    }
}

/// Results of `rectoken bench webhooks`.
#[derive(Debug, Clone)]
pub struct WebhookBenchReport {
    /// `std::thread::available_parallelism`.
    pub cores: usize,
    /// Connections (ingress) and in-flight publishes (raw).
    pub concurrency: usize,
    /// In-process ingresses the ingress phase spread its load over.
    pub ingresses: usize,
    /// Offered rate, or `None` for closed loop.
    pub rate: Option<u32>,
    /// Unmeasured time at the start of each phase.
    pub warmup: Duration,
    /// Measured time of each phase.
    pub duration: Duration,
    /// Size of one webhook body.
    pub body_bytes: usize,
    /// Broker host and port (never credentials).
    pub broker: String,
    /// The prefix of the exchange and queues used (deleted at the end).
    pub queue_prefix: String,
    /// Webhooks through the in-process ingress over loopback HTTP.
    pub ingress: PhaseReport,
    /// The same messages published straight through lapin.
    pub raw: PhaseReport,
    /// Problems deleting the bench exchange and queues, if any.
    pub cleanup_error: Option<String>,
}

impl WebhookBenchReport {
    /// Ingress throughput ÷ raw throughput.
    pub fn throughput_ratio(&self) -> Option<f64> {
        ratio(self.ingress.throughput, self.raw.throughput)
    }

    /// Ingress p99 ÷ raw p99.
    pub fn p99_ratio(&self) -> Option<f64> {
        ratio(
            self.ingress.latency.p99.as_secs_f64(),
            self.raw.latency.p99.as_secs_f64(),
        )
    }

    /// Whether the targets hold for this run (ratio and p99; the
    /// rate part only means something when `rate` is [`TARGET_RATE`]).
    pub fn targets_met(&self) -> bool {
        self.throughput_ratio().is_some_and(|r| r >= TARGET_RATIO)
            && self.ingress.latency.p99 < TARGET_P99
            && self.ingress.errors == 0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

impl fmt::Display for WebhookBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "rectoken webhook ingress benchmark")?;
        writeln!(
            f,
            "machine: {} cores (available_parallelism), shared by load generator, ingress and broker",
            self.cores
        )?;
        writeln!(
            f,
            "broker:  {} (exchange and queues prefixed {:?}, deleted at the end)",
            self.broker, self.queue_prefix
        )?;
        let mode = match self.rate {
            Some(r) => {
                format!("open loop, {r} webhooks/s offered; latency from the scheduled send time")
            }
            None => "closed loop, as fast as possible; latency from the actual send time".into(),
        };
        writeln!(f, "load:    {mode}")?;
        writeln!(
            f,
            "         {} connections / in-flight publishes ({} ingress(es)), warm-up {:.1} s, measured {:.1} s per phase, {} B meeting.created bodies",
            self.concurrency,
            self.ingresses,
            self.warmup.as_secs_f64(),
            self.duration.as_secs_f64(),
            self.body_bytes
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<8} {:>9} {:>7} {:>7} {:>13} {:>8} {:>8} {:>8} {:>8}   {:>16}",
            "phase",
            "requests",
            "errors",
            "unsent",
            "throughput/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "cpu proc/machine"
        )?;
        for p in [&self.ingress, &self.raw] {
            let cpu = p.cpu.map_or_else(
                || "n/a".to_owned(),
                |c| format!("{:.0}% / {:.0}%", c.process * 100.0, c.machine * 100.0),
            );
            writeln!(
                f,
                "{:<8} {:>9} {:>7} {:>7} {:>13.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2}   {:>16}",
                p.name,
                p.requests,
                p.errors,
                p.unsent,
                p.throughput,
                ms(p.latency.p50),
                ms(p.latency.p90),
                ms(p.latency.p99),
                ms(p.latency.max),
                cpu
            )?;
        }
        writeln!(f)?;
        let fmt_ratio = |r: Option<f64>| r.map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}"));
        let tr = self.throughput_ratio();
        writeln!(
            f,
            "ingress ÷ raw: throughput {} (target ≥ {TARGET_RATIO:.1}: {}), p99 {} ({:.2} ms ÷ {:.2} ms)",
            fmt_ratio(tr),
            verdict(tr.is_some_and(|r| r >= TARGET_RATIO)),
            fmt_ratio(self.p99_ratio()),
            ms(self.ingress.latency.p99),
            ms(self.raw.latency.p99),
        )?;
        writeln!(
            f,
            "ingress p99 {:.2} ms (target < {} ms: {}){}",
            ms(self.ingress.latency.p99),
            TARGET_P99.as_millis(),
            verdict(self.ingress.latency.p99 < TARGET_P99),
            match self.rate {
                Some(TARGET_RATE) => String::new(),
                _ => format!(" [the target is stated at {TARGET_RATE} webhooks/s]"),
            }
        )?;
        if let Some(rate) = self.rate {
            for p in [&self.ingress, &self.raw] {
                if !p.reached(rate) {
                    writeln!(
                        f,
                        "note: {} did not reach the offered {rate}/s: {:.1}/s achieved, {} due requests never sent",
                        p.name, p.throughput, p.unsent
                    )?;
                }
            }
        }
        for p in [&self.ingress, &self.raw] {
            for e in &p.first_errors {
                writeln!(f, "error ({}): {e}", p.name)?;
            }
        }
        if let Some(e) = &self.cleanup_error {
            writeln!(f, "warning: cleanup incomplete: {e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(name: &'static str, throughput: f64, p99_ms: u64, unsent: u64) -> PhaseReport {
        PhaseReport {
            name,
            requests: 10_000,
            errors: 0,
            unsent,
            throughput,
            span: Duration::from_secs(10),
            latency: Summary {
                count: 10_000,
                p50: Duration::from_millis(1),
                p90: Duration::from_millis(2),
                p99: Duration::from_millis(p99_ms),
                max: Duration::from_millis(p99_ms * 2),
                mean: Duration::from_millis(1),
            },
            cpu: Some(CpuUsage {
                process: 0.4,
                machine: 0.9,
            }),
            first_errors: vec![],
        }
    }

    fn report(ingress: PhaseReport, raw: PhaseReport) -> WebhookBenchReport {
        WebhookBenchReport {
            cores: 2,
            concurrency: 64,
            ingresses: 1,
            rate: Some(1000),
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(10),
            body_bytes: 612,
            broker: "127.0.0.1:5673".into(),
            queue_prefix: "bench-1-2.".into(),
            ingress,
            raw,
            cleanup_error: None,
        }
    }

    #[test]
    fn table_shows_phases_ratios_and_verdicts() {
        let r = report(phase("ingress", 999.0, 4, 0), phase("raw", 1000.0, 2, 0));
        assert_eq!(r.throughput_ratio(), Some(0.999));
        assert_eq!(r.p99_ratio(), Some(2.0));
        assert!(r.targets_met());
        let text = r.to_string();
        for needle in [
            "2 cores",
            "ingress ",
            "raw ",
            "throughput 1.00 (target ≥ 0.8: met)",
            "p99 2.00 (4.00 ms ÷ 2.00 ms)",
            "target < 50 ms: met",
            "40% / 90%",
        ] {
            assert!(text.contains(needle), "{needle:?} missing in\n{text}");
        }
        assert!(!text.contains("did not reach"), "{text}");
    }

    #[test]
    fn table_flags_missed_targets_and_unreached_rates() {
        let r = report(phase("ingress", 600.0, 80, 300), phase("raw", 1000.0, 3, 0));
        assert!(!r.targets_met());
        let text = r.to_string();
        assert!(text.contains("target ≥ 0.8: MISSED"), "{text}");
        assert!(text.contains("target < 50 ms: MISSED"), "{text}");
        assert!(
            text.contains("ingress did not reach the offered 1000/s: 600.0/s achieved, 300"),
            "{text}"
        );
    }
}
