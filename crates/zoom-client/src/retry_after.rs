//! `Retry-After` parsing (docs/zoom.md §8, docs/design.md "Where Zoom's
//! documentation is silent").
//!
//! Zoom sends `Retry-After` in more than one shape: whole seconds on
//! per-second limits, and for daily limits an ISO 8601 timestamp of the
//! reset (`2020-05-31T00:00:00Z`), which is not the HTTP-date RFC 9110 asks
//! for. Some 429s carry none at all. So every shape is accepted, and an
//! absent or unreadable value is `None`: the caller falls back to its own
//! exponential backoff.
//!
//! Pure: the current time is a parameter.

use std::time::{Duration, SystemTime};

use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Date, OffsetDateTime, PrimitiveDateTime};

/// Parses a `Retry-After` value into the wait it asks for, measured from
/// `now`.
///
/// Accepted, after trimming surrounding whitespace:
/// - delay-seconds: ASCII digits only (`"2"`, `"120"`);
/// - an HTTP-date in any of the three forms of RFC 9110 §5.6.7
///   (`"Sun, 31 May 2020 00:00:00 GMT"`, the obsolete RFC 850 and asctime
///   forms), via `httpdate`;
/// - an RFC 3339 / ISO 8601 date-time (`"2020-05-31T00:00:00Z"`, with any
///   offset or fractional seconds), as Zoom's daily-limit 429 sends; one
///   without an offset is read as UTC, as Zoom's limits reset at 00:00 UTC;
/// - an ISO 8601 calendar date alone (`"2020-05-31"`), read as its midnight
///   UTC.
///
/// A date at or before `now` gives [`Duration::ZERO`] (retry at once).
/// A wait longer than [`MAX_RETRY_AFTER`] is cut to it: Zoom's longest
/// limit is daily, so a larger value is a fault, and honouring it would
/// block an account for years (or overflow an `Instant`).
/// Anything else (empty, negative, fractional seconds, a number too large
/// for `u64`, free text) gives `None`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    parse_unclamped(value.trim(), now).map(|wait| wait.min(MAX_RETRY_AFTER))
}

/// The longest wait a `Retry-After` can impose: Zoom's daily limits reset at
/// 00:00 UTC, so no honest value exceeds 24 hours; one hour of margin.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(25 * 3600);

fn parse_unclamped(value: &str, now: SystemTime) -> Option<Duration> {
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = parse_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn parse_date(value: &str) -> Option<SystemTime> {
    if let Ok(t) = httpdate::parse_http_date(value) {
        return Some(t);
    }
    if let Ok(t) = OffsetDateTime::parse(value, &Rfc3339) {
        return Some(t.into());
    }
    if let Ok(t) = OffsetDateTime::parse(value, &Iso8601::DEFAULT) {
        return Some(t.into());
    }
    if let Ok(t) = PrimitiveDateTime::parse(value, &Iso8601::DEFAULT) {
        return Some(t.assume_utc().into());
    }
    if let Ok(d) = Date::parse(value, &Iso8601::DEFAULT) {
        return Some(d.midnight().assume_utc().into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2020-05-30T23:00:00Z, one hour before Zoom's documented reset example.
    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_590_879_600)
    }

    fn secs(n: u64) -> Option<Duration> {
        Some(Duration::from_secs(n))
    }

    #[test]
    fn delay_seconds() {
        for (input, want) in [
            ("0", secs(0)),
            ("1", secs(1)),
            ("120", secs(120)),
            ("  7 ", secs(7)),
            ("007", secs(7)),
            ("90000", secs(90_000)),
        ] {
            assert_eq!(parse_retry_after(input, now()), want, "{input:?}");
        }
    }

    #[test]
    fn absurd_waits_are_cut_to_the_longest_honest_one() {
        for input in [
            "90001",
            "999999999",
            "18446744073709551615",
            "2999-01-01T00:00:00Z",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            assert_eq!(
                parse_retry_after(input, now()),
                Some(MAX_RETRY_AFTER),
                "{input:?}"
            );
        }
    }

    #[test]
    fn dates_in_every_shape() {
        let hour = secs(3600);
        for input in [
            // Zoom's daily-limit example (docs/zoom.md §8).
            "2020-05-31T00:00:00Z",
            "2020-05-31T00:00:00.000Z",
            "2020-05-31T02:00:00+02:00",
            "2020-05-30T20:00:00-04:00",
            "2020-05-31t00:00:00z",
            // No offset: read as UTC.
            "2020-05-31T00:00:00",
            // A date alone: its midnight UTC.
            "2020-05-31",
            // RFC 9110 IMF-fixdate and the two obsolete forms.
            "Sun, 31 May 2020 00:00:00 GMT",
            "Sunday, 31-May-20 00:00:00 GMT",
            "Sun May 31 00:00:00 2020",
        ] {
            assert_eq!(parse_retry_after(input, now()), hour, "{input:?}");
        }
    }

    #[test]
    fn past_or_present_dates_mean_now() {
        for input in [
            "2020-05-30T23:00:00Z",
            "2020-05-30T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "Sat, 30 May 2020 22:59:59 GMT",
        ] {
            assert_eq!(
                parse_retry_after(input, now()),
                Some(Duration::ZERO),
                "{input:?}"
            );
        }
    }

    #[test]
    fn sub_second_precision_is_kept() {
        assert_eq!(
            parse_retry_after("2020-05-30T23:00:01.5Z", now()),
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn garbage_is_none() {
        for input in [
            "",
            "   ",
            "-1",
            "+5",
            "1.5",
            "1e3",
            "5 s",
            "soon",
            "18446744073709551616",
            "2020-13-01T00:00:00Z",
            "2020-05-31T25:00:00Z",
            "31/05/2020",
            "Sun, 31 May 2020",
            "\u{0660}",
        ] {
            assert_eq!(parse_retry_after(input, now()), None, "{input:?}");
        }
    }
}
