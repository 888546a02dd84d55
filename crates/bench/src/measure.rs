//! Pure measurement code: latency summaries (exact percentiles over a sorted
//! `Vec`), the open-loop send schedule, the measured window and throughput.
//!
//! Why a sorted `Vec` and not a histogram: a run records at most a few
//! hundred thousand samples (8 bytes each), so exact percentiles cost nothing
//! and need no extra dependency.

use std::time::Duration;

/// Percentiles of one phase's latencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest sample.
    pub max: Duration,
    /// Arithmetic mean.
    pub mean: Duration,
}

impl Summary {
    /// Summarise `samples` (any order). All zero when empty.
    pub fn from_samples(mut samples: Vec<Duration>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let total: Duration = samples.iter().sum();
        let count = samples.len() as u64;
        Self {
            count,
            p50: percentile(&samples, 50.0),
            p90: percentile(&samples, 90.0),
            p99: percentile(&samples, 99.0),
            max: samples[samples.len() - 1],
            mean: total / u32::try_from(count).unwrap_or(u32::MAX),
        }
    }
}

/// The nearest-rank percentile `p` (0–100] of `sorted` (ascending): the
/// smallest sample such that at least `p`% of the samples are ≤ it.
/// `Duration::ZERO` for an empty slice.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let n = sorted.len();
    // rank = ceil(p/100 · n), 1-based, clamped to [1, n].
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// A fixed offered rate: request `i` is due `i / rate` seconds after the
/// start, whether or not earlier requests have finished (open loop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    rate_per_sec: u32,
}

impl Schedule {
    /// A schedule of `rate_per_sec` requests per second (at least 1).
    pub fn new(rate_per_sec: u32) -> Self {
        Self {
            rate_per_sec: rate_per_sec.max(1),
        }
    }

    /// The offered rate.
    pub fn rate(&self) -> u32 {
        self.rate_per_sec
    }

    /// When request `i` is due, as an offset from the start. Exact integer
    /// math, so there is no drift over long runs.
    pub fn offset(&self, i: u64) -> Duration {
        let nanos = u128::from(i) * 1_000_000_000 / u128::from(self.rate_per_sec);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// How many requests are due strictly before `offset`: the number of `i`
    /// with `self.offset(i) < offset`.
    pub fn due_before(&self, offset: Duration) -> u64 {
        // offset(i) < t  ⇔  floor(i·1e9/r) < t_ns  ⇔  i·1e9 < t_ns·r (t_ns
        // integral)  ⇔  i < t_ns·r/1e9, so the count is ceil(t_ns·r/1e9).
        let scaled = offset.as_nanos() * u128::from(self.rate_per_sec);
        let count = scaled.div_ceil(1_000_000_000);
        u64::try_from(count).unwrap_or(u64::MAX)
    }
}

/// The measured part of a phase: requests due (open loop) or started
/// (closed loop) in `[warmup, warmup + duration)` count; the warm-up before
/// it and anything after do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Unmeasured time at the start.
    pub warmup: Duration,
    /// Measured time after it.
    pub duration: Duration,
}

impl Window {
    /// Offset at which sending stops.
    pub fn end(&self) -> Duration {
        self.warmup + self.duration
    }

    /// Whether a request due or started at `offset` is measured.
    pub fn contains(&self, offset: Duration) -> bool {
        offset >= self.warmup && offset < self.end()
    }

    /// How many requests of `schedule` fall in the window.
    pub fn scheduled(&self, schedule: &Schedule) -> u64 {
        schedule.due_before(self.end()) - schedule.due_before(self.warmup)
    }

    /// The span over which measured completions are spread: from the window
    /// start to the last measured completion, and at least the window.
    pub fn span(&self, last_completion: Option<Duration>) -> Duration {
        let tail = last_completion
            .map(|t| t.saturating_sub(self.warmup))
            .unwrap_or_default();
        tail.max(self.duration)
    }
}

/// Completions per second over `span`; 0 for an empty span.
pub fn throughput(completed: u64, span: Duration) -> f64 {
    let secs = span.as_secs_f64();
    if secs <= 0.0 {
        0.0
    } else {
        completed as f64 / secs
    }
}

/// `a / b`, or `None` when `b` is zero or either is not finite.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    let r = a / b;
    (b != 0.0 && r.is_finite()).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_of_one_to_hundred() {
        // 1..=100 ms in reverse order: nearest rank gives the value itself.
        let samples: Vec<Duration> = (1..=100).rev().map(ms).collect();
        let s = Summary::from_samples(samples);
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, ms(50));
        assert_eq!(s.p90, ms(90));
        assert_eq!(s.p99, ms(99));
        assert_eq!(s.max, ms(100));
        assert_eq!(s.mean, Duration::from_micros(50_500));
    }

    #[test]
    fn percentiles_of_small_and_skewed_sets() {
        assert_eq!(Summary::from_samples(vec![]), Summary::default());
        let one = Summary::from_samples(vec![ms(7)]);
        assert_eq!((one.p50, one.p99, one.max), (ms(7), ms(7), ms(7)));
        // 98 fast, 2 slow: p99 sees the slow tail, p90 does not.
        let mut v = vec![ms(1); 98];
        v.extend([ms(40), ms(80)]);
        let s = Summary::from_samples(v);
        assert_eq!((s.p50, s.p90, s.p99, s.max), (ms(1), ms(1), ms(40), ms(80)));
        // Ten samples: p50 is the 5th, p90 the 9th, p99 the 10th.
        let sorted: Vec<Duration> = (1..=10).map(ms).collect();
        assert_eq!(percentile(&sorted, 50.0), ms(5));
        assert_eq!(percentile(&sorted, 90.0), ms(9));
        assert_eq!(percentile(&sorted, 99.0), ms(10));
        assert_eq!(percentile(&sorted, 0.0), ms(1));
        assert_eq!(percentile(&sorted, 100.0), ms(10));
    }

    #[test]
    fn schedule_offsets_are_exact() {
        let s = Schedule::new(1000);
        assert_eq!(s.offset(0), Duration::ZERO);
        assert_eq!(s.offset(1), ms(1));
        assert_eq!(s.offset(10_000), Duration::from_secs(10));
        // A rate that does not divide a second: no drift after a long run.
        let s = Schedule::new(3);
        assert_eq!(s.offset(1), Duration::from_nanos(333_333_333));
        assert_eq!(s.offset(3 * 3600), Duration::from_secs(3600));
        assert_eq!(Schedule::new(0).rate(), 1);
    }

    #[test]
    fn schedule_counts_due_requests() {
        let s = Schedule::new(1000);
        assert_eq!(s.due_before(Duration::ZERO), 0);
        // offset(0) = 0 < 1 ns.
        assert_eq!(s.due_before(Duration::from_nanos(1)), 1);
        assert_eq!(s.due_before(ms(1)), 1);
        assert_eq!(s.due_before(ms(1) + Duration::from_nanos(1)), 2);
        assert_eq!(s.due_before(Duration::from_secs(12)), 12_000);
        // Agrees with offset() by brute force on an awkward rate.
        let s = Schedule::new(7);
        for t_ms in 0..3000 {
            let t = ms(t_ms);
            let brute = (0..100).filter(|&i| s.offset(i) < t).count() as u64;
            assert_eq!(s.due_before(t), brute, "t = {t:?}");
        }
    }

    #[test]
    fn window_selects_measured_requests() {
        let w = Window {
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(10),
        };
        assert!(!w.contains(ms(1999)));
        assert!(w.contains(ms(2000)));
        assert!(w.contains(ms(11_999)));
        assert!(!w.contains(ms(12_000)));
        assert_eq!(w.scheduled(&Schedule::new(1000)), 10_000);
        assert_eq!(w.scheduled(&Schedule::new(3)), 30);
        // The span is the window unless completions ran past it.
        assert_eq!(w.span(None), Duration::from_secs(10));
        assert_eq!(w.span(Some(ms(11_000))), Duration::from_secs(10));
        assert_eq!(w.span(Some(ms(14_000))), Duration::from_secs(12));
    }

    #[test]
    fn throughput_and_ratio() {
        assert_eq!(throughput(10_000, Duration::from_secs(10)), 1000.0);
        assert_eq!(throughput(5, Duration::ZERO), 0.0);
        assert_eq!(ratio(800.0, 1000.0), Some(0.8));
        assert_eq!(ratio(1.0, 0.0), None);
    }
}
