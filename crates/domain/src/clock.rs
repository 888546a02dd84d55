//! The system clock, read in the units the store and the wire use.
//!
//! The one place rectoken reads wall-clock time as a number. Pure code takes
//! the time as a parameter (so tests can move it); the I/O edges call these.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before 1970;
/// saturating far in the future).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Seconds since the Unix epoch, as [`now_ms`].
pub fn now_secs() -> i64 {
    now_ms() / 1000
}

/// Microseconds since the Unix epoch, as [`now_ms`].
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_agree() {
        let (s, ms, us) = (now_secs(), now_ms(), now_us());
        // 2026 or later, and each unit within a second of the others.
        assert!(s > 1_767_225_600, "{s}");
        assert!((ms / 1000 - s).abs() <= 1);
        assert!((us / 1_000_000 - s).abs() <= 1);
    }
}
