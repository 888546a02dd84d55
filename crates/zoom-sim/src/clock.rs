//! The simulator's clock.
//!
//! Expiry (authorization codes, access and refresh tokens), meeting-list
//! filters and token `minted_at` read [`Clock::now_ms`], which is the wall
//! clock at start plus monotonic elapsed time plus a test-controlled offset.
//! [`Clock::advance`] moves it forward so tests can expire a token without
//! sleeping. Webhook timestamps deliberately use the real wall clock
//! ([`wall_ms`]) so a receiver's replay window keeps working after a test
//! advanced the simulator's clock; rate limiting uses [`std::time::Instant`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::macros::format_description;

/// A monotonic Unix-milliseconds clock that tests can move forward.
#[derive(Debug)]
pub struct Clock {
    base_instant: Instant,
    base_unix_ms: u64,
    offset_ms: AtomicU64,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A clock reading the wall time now.
    #[must_use]
    pub fn new() -> Self {
        Self {
            base_instant: Instant::now(),
            base_unix_ms: wall_ms(),
            offset_ms: AtomicU64::new(0),
        }
    }

    /// Simulated time in Unix milliseconds.
    #[must_use]
    pub fn now_ms(&self) -> u64 {
        let elapsed = u64::try_from(self.base_instant.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.base_unix_ms
            .saturating_add(elapsed)
            .saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves simulated time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        // Saturating, so an absurd advance cannot wrap time backwards.
        let _ = self
            .offset_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add(ms))
            });
    }
}

/// The real wall clock in Unix milliseconds (0 if the system clock is before 1970).
#[must_use]
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn datetime(ms: u64) -> OffsetDateTime {
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2026-03-01T15:00:00Z`: Zoom's format for `start_time` and `created_at`.
#[must_use]
pub fn rfc3339_secs(ms: u64) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    datetime(ms).format(&fmt).unwrap_or_default()
}

/// `2026-03-01T13:52:28.632Z`: Zoom's format for `deauthorization_time`.
#[must_use]
pub fn rfc3339_millis(ms: u64) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    datetime(ms).format(&fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_zoom() {
        assert_eq!(rfc3339_secs(1_772_377_200_000), "2026-03-01T15:00:00Z");
        assert_eq!(
            rfc3339_millis(1_772_373_148_632),
            "2026-03-01T13:52:28.632Z"
        );
    }

    #[test]
    fn advance_moves_forward() {
        let c = Clock::new();
        let before = c.now_ms();
        c.advance(Duration::from_secs(3600));
        assert!(c.now_ms() >= before + 3_600_000);
    }
}
