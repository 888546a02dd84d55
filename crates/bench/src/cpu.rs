//! Where the CPU went during a phase: this process (client and, in the
//! ingress phase, the server) versus the whole machine (which includes the
//! broker). Linux only (`/proc`); elsewhere the figures are absent.
//!
//! Both files count in the same unit (USER_HZ ticks), so shares need no
//! clock-rate constant.

/// One reading of the machine's and this process's CPU counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuSample {
    /// Ticks of all CPUs together, busy or idle.
    pub machine_total: u64,
    /// Ticks of all CPUs together that were not idle or waiting on I/O.
    pub machine_busy: u64,
    /// User plus system ticks of this process.
    pub process: u64,
}

/// CPU use between two samples, as shares of the whole machine's capacity
/// (1.0 = every core busy).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUsage {
    /// Share used by this process.
    pub process: f64,
    /// Share used by everything (this process, the broker, the rest).
    pub machine: f64,
}

impl CpuSample {
    /// Read `/proc/stat` and `/proc/self/stat`; `None` where unavailable.
    pub fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        let (machine_total, machine_busy) = parse_proc_stat(&stat)?;
        Some(Self {
            machine_total,
            machine_busy,
            process: parse_process_stat(&own)?,
        })
    }

    /// Usage from `self` (earlier) to `later`.
    pub fn usage_until(&self, later: &CpuSample) -> Option<CpuUsage> {
        let total = later.machine_total.checked_sub(self.machine_total)?;
        if total == 0 {
            return None;
        }
        let busy = later.machine_busy.saturating_sub(self.machine_busy);
        let process = later.process.saturating_sub(self.process);
        Some(CpuUsage {
            process: process as f64 / total as f64,
            machine: busy as f64 / total as f64,
        })
    }
}

/// `(total, busy)` ticks from the aggregate `cpu` line of `/proc/stat`.
pub fn parse_proc_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]:
    // guest time is already inside user, so only the first eight add up.
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some((total, total.saturating_sub(idle)))
}

/// User plus system ticks (fields 14 and 15) from `/proc/self/stat`.
pub fn parse_process_stat(text: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses itself: count fields from the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state), so field n is at index n - 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat() {
        let text = "cpu  100 5 50 800 20 3 2 0 7 0\ncpu0 50 2 25 400 10 1 1 0 0 0\nintr 1\n";
        // total = 100+5+50+800+20+3+2+0 = 980, idle = 800+20.
        assert_eq!(parse_proc_stat(text), Some((980, 160)));
        assert_eq!(parse_proc_stat("intr 1\n"), None);
    }

    #[test]
    fn parses_process_stat_with_odd_names() {
        let text = "1234 (rectoken (x) y) S 1 1234 1234 0 -1 4194560 500 0 0 0 \
                    170 30 0 0 20 0 9 0 100 1000 200";
        assert_eq!(parse_process_stat(text), Some(200));
        assert_eq!(parse_process_stat("garbage"), None);
    }

    #[test]
    fn usage_is_a_share_of_the_machine() {
        let a = CpuSample {
            machine_total: 1000,
            machine_busy: 100,
            process: 50,
        };
        let b = CpuSample {
            machine_total: 1400,
            machine_busy: 400,
            process: 150,
        };
        let u = a.usage_until(&b).expect("usage");
        assert_eq!((u.process, u.machine), (0.25, 0.75));
        assert_eq!(a.usage_until(&a), None);
    }

    #[test]
    fn reads_this_machine_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(CpuSample::now().is_some());
        }
    }
}
