//! Zoom's per-account, per-label rate limits (docs/zoom.md §8), kept pure.
//!
//! # Algorithm
//!
//! A sliding-window log per (account, label): a request arriving at time `t`
//! (milliseconds on a monotonic clock) is admitted if and only if fewer than
//! `L` requests of that account and label were admitted in the half-open
//! window `(t − 1000 ms, t]`; refused requests are not recorded. So no
//! 1-second interval ever holds more than `L` admitted requests, and `N`
//! requests need at least `⌈N / L⌉ − 1` seconds: a benchmark can take
//! `N / L` seconds as the physical minimum. A refusal answers 429 with
//! `Retry-After` = the whole seconds until the oldest admitted request leaves
//! the window, rounded up (always 1 for a 1-second window).
//!
//! Every token of the account shares the window, as Zoom's limits are per
//! account. Daily caps of Heavy endpoints are not simulated (none of the
//! endpoints served is Heavy).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Width of the sliding window.
pub const WINDOW_MS: u64 = 1000;

/// Zoom plan of an account, which fixes its limits.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    /// Pro.
    Pro,
    /// Business+ (Business, Education, Enterprise, Partners).
    #[default]
    Business,
}

/// Zoom's rate-limit label of an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Label {
    /// Single-resource reads and writes.
    Light,
    /// Multi-resource reads (lists).
    Medium,
    /// Reports and dashboards.
    Heavy,
}

impl Label {
    /// The value of the `X-RateLimit-Category` header.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Light => "Light",
            Self::Medium => "Medium",
            Self::Heavy => "Heavy",
        }
    }
}

/// Requests per second allowed for `label` on `plan` (docs/zoom.md §8 table).
#[must_use]
pub fn per_second_limit(plan: Plan, label: Label) -> u32 {
    match (plan, label) {
        (Plan::Pro, Label::Light) => 30,
        (Plan::Pro, Label::Medium) => 20,
        (Plan::Pro, Label::Heavy) => 10,
        (Plan::Business, Label::Light) => 80,
        (Plan::Business, Label::Medium) => 60,
        (Plan::Business, Label::Heavy) => 40,
    }
}

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admitted; `remaining` more requests fit in the current window.
    Admit {
        /// The per-second limit.
        limit: u32,
        /// Requests still admissible in the window after this one.
        remaining: u32,
    },
    /// Refused with 429.
    Reject {
        /// The per-second limit.
        limit: u32,
        /// Whole seconds until a request would be admitted (≥ 1).
        retry_after_secs: u64,
    },
}

/// The log of admitted requests of one (account, label).
#[derive(Debug, Default, Clone)]
pub struct SlidingWindow {
    admitted: VecDeque<u64>,
}

impl SlidingWindow {
    /// Decides on a request at `now_ms` under `limit` and records it if admitted.
    pub fn check(&mut self, now_ms: u64, limit: u32) -> Decision {
        while self
            .admitted
            .front()
            .is_some_and(|&t| t + WINDOW_MS <= now_ms)
        {
            self.admitted.pop_front();
        }
        let used = u32::try_from(self.admitted.len()).unwrap_or(u32::MAX);
        if used < limit {
            self.admitted.push_back(now_ms);
            Decision::Admit {
                limit,
                remaining: limit - used - 1,
            }
        } else {
            let oldest = self.admitted.front().copied().unwrap_or(now_ms);
            let wait_ms = (oldest + WINDOW_MS).saturating_sub(now_ms);
            Decision::Reject {
                limit,
                retry_after_secs: wait_ms.div_ceil(1000).max(1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_match_zoom_table() {
        assert_eq!(per_second_limit(Plan::Pro, Label::Light), 30);
        assert_eq!(per_second_limit(Plan::Pro, Label::Medium), 20);
        assert_eq!(per_second_limit(Plan::Business, Label::Light), 80);
        assert_eq!(per_second_limit(Plan::Business, Label::Medium), 60);
    }

    #[test]
    fn admits_limit_then_rejects_until_window_slides() {
        let mut w = SlidingWindow::default();
        for i in 0..3 {
            assert_eq!(
                w.check(100 + i, 3),
                Decision::Admit {
                    limit: 3,
                    remaining: u32::try_from(2 - i).unwrap()
                }
            );
        }
        assert_eq!(
            w.check(500, 3),
            Decision::Reject {
                limit: 3,
                retry_after_secs: 1
            }
        );
        // The request at 100 leaves the window at exactly 1100.
        assert!(matches!(w.check(1099, 3), Decision::Reject { .. }));
        assert!(matches!(w.check(1100, 3), Decision::Admit { .. }));
        assert!(matches!(w.check(1100, 3), Decision::Reject { .. }));
    }

    #[test]
    fn no_window_ever_exceeds_limit() {
        let mut w = SlidingWindow::default();
        let mut admitted = Vec::new();
        for t in 0..5000u64 {
            if matches!(w.check(t, 7), Decision::Admit { .. }) {
                admitted.push(t);
            }
        }
        for (i, &t) in admitted.iter().enumerate() {
            let in_window = admitted[i..].iter().take_while(|&&u| u < t + 1000).count();
            assert!(in_window <= 7);
        }
        // 5 s of steady pressure admits exactly 5 windows' worth.
        assert_eq!(admitted.len(), 35);
    }
}
