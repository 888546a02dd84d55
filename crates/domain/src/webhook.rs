//! Zoom webhook signing: verification of `x-zm-signature` and the
//! `endpoint.url_validation` challenge answer.
//!
//! Zoom signs `v0:{x-zm-request-timestamp}:{raw body}` with HMAC-SHA256 keyed
//! with the app's webhook *secret token* and sends `v0=<lowercase hex>`.
//! Verification runs over the exact raw bytes, before any JSON parsing, so an
//! unsigned request never reaches the parser.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How far ahead of our clock `x-zm-request-timestamp` may be (clock skew).
///
/// Zoom publishes no replay window (docs/zoom.md §2, UNCONFIRMED); 5 minutes
/// is the common recommendation, and docs/design.md fixes it for the future side.
pub const REPLAY_WINDOW_SECS: i64 = 5 * 60;

/// Default of how old `x-zm-request-timestamp` may be
/// (`RECTOKEN_WEBHOOK_MAX_AGE`): 2 hours. Zoom retries a failed delivery
/// about 5, 25 and 85 minutes after the first attempt [Zoom blog "webhook
/// delays"], and whether a retry carries a new timestamp is undocumented:
/// if it keeps the first one, a 5-minute window would refuse every retry.
/// 2 hours covers the last retry with room for Zoom's own delays. Replays
/// within the window are harmless: every write is versioned by `event_ts`.
pub const DEFAULT_MAX_AGE_SECS: i64 = 2 * 3600;

/// The accepted range of `x-zm-request-timestamp` around our clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Oldest accepted, seconds before now.
    pub max_age_secs: i64,
    /// Furthest accepted, seconds after now.
    pub max_ahead_secs: i64,
}

impl Window {
    /// 2 hours back, 5 minutes ahead.
    pub const DEFAULT: Window = Window {
        max_age_secs: DEFAULT_MAX_AGE_SECS,
        max_ahead_secs: REPLAY_WINDOW_SECS,
    };

    /// `max_age` back, 5 minutes ahead.
    pub fn with_max_age(max_age: std::time::Duration) -> Self {
        Window {
            max_age_secs: i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
            max_ahead_secs: REPLAY_WINDOW_SECS,
        }
    }

    /// Whether a request `skew_secs` away from now (request minus now) is
    /// inside.
    pub fn contains(&self, skew_secs: i64) -> bool {
        skew_secs <= self.max_ahead_secs && skew_secs >= self.max_age_secs.saturating_neg()
    }
}

impl Default for Window {
    fn default() -> Self {
        Window::DEFAULT
    }
}

/// Why a duration setting is unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a duration: use a number with a unit, e.g. 2h, 90m, 300s or 1h30m (a bare number is seconds)"
)]
pub struct DurationError(pub String);

/// Parse a duration the way `RECTOKEN_WEBHOOK_MAX_AGE` takes it: one or
/// more `<number><unit>` parts with units `d`, `h`, `m`, `s` (also `ms`,
/// and the words `sec`, `min`, `hour`, `day` with optional plural), or a
/// bare number of seconds. `2h`, `90m`, `300s`, `1h30m`, `7200`.
pub fn parse_duration(raw: &str) -> Result<std::time::Duration, DurationError> {
    let bad = || DurationError(raw.to_owned());
    let text = raw.trim();
    if text.is_empty() {
        return Err(bad());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map(std::time::Duration::from_secs)
            .map_err(|_| bad());
    }
    let mut total_ms: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = rest[digits..].trim_start();
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = rest[..unit_len].to_ascii_lowercase();
        rest = &rest[unit_len..];
        let ms_per: u64 = match unit.as_str() {
            "ms" => 1,
            "s" | "sec" | "secs" | "second" | "seconds" => 1000,
            "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            _ => return Err(bad()),
        };
        total_ms = n
            .checked_mul(ms_per)
            .and_then(|v| total_ms.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(std::time::Duration::from_millis(total_ms))
}

/// Timestamps at or above this value are read as Unix milliseconds rather than
/// seconds. Zoom sends seconds (UNCONFIRMED); 10^11 seconds is the year 5138,
/// while 10^11 milliseconds is 1973, so the two ranges cannot be confused.
pub const MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// The signature scheme prefix Zoom uses today.
const SCHEME_PREFIX: &str = "v0=";

/// Why a webhook request failed verification. Every variant maps to HTTP 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The `x-zm-signature` header is absent.
    #[error("missing x-zm-signature header")]
    MissingSignature,
    /// The `x-zm-request-timestamp` header is absent.
    #[error("missing x-zm-request-timestamp header")]
    MissingTimestamp,
    /// The timestamp header is not an integer.
    #[error("x-zm-request-timestamp is not an integer")]
    MalformedTimestamp,
    /// The timestamp is outside the accepted [`Window`].
    #[error(
        "x-zm-request-timestamp is {skew_secs} s away from now (accepted: {max_age_secs} s back to {max_ahead_secs} s ahead)"
    )]
    StaleTimestamp {
        /// Request time minus our time, in seconds.
        skew_secs: i64,
        /// The window's `max_age_secs`.
        max_age_secs: i64,
        /// The window's `max_ahead_secs`.
        max_ahead_secs: i64,
    },
    /// The signature header is not `v0=` followed by 64 hex digits.
    #[error("x-zm-signature is not of the form v0=<64 hex digits>")]
    MalformedSignature,
    /// The signature does not match the body under the secret.
    #[error("x-zm-signature does not match the request body")]
    BadSignature,
    /// The configured secret is empty: anyone could sign with it, so
    /// nothing verifies.
    #[error("the webhook secret is empty; nothing verifies")]
    EmptySecret,
}

/// Parse `x-zm-request-timestamp` into Unix seconds (milliseconds accepted).
pub fn parse_timestamp(raw: &str) -> Result<i64, VerifyError> {
    let value: i64 = raw
        .trim()
        .parse()
        .map_err(|_| VerifyError::MalformedTimestamp)?;
    if value < 0 {
        return Err(VerifyError::MalformedTimestamp);
    }
    Ok(if value >= MILLIS_THRESHOLD {
        value / 1000
    } else {
        value
    })
}

/// Compute the `x-zm-signature` value Zoom would send for this body.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mac = mac_for(secret, timestamp, body);
    format!(
        "{SCHEME_PREFIX}{}",
        hex::encode(mac.finalize().into_bytes())
    )
}

fn mac_for(secret: &[u8], timestamp: &str, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail; the fallback keeps
    // the function total without an unwrap.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => HmacSha256::new(&Default::default()),
    };
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

/// Verify a webhook request with the [`Window::DEFAULT`] window.
pub fn verify(
    secret: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now_unix_secs: i64,
) -> Result<(), VerifyError> {
    verify_within(
        secret,
        timestamp_header,
        signature_header,
        body,
        now_unix_secs,
        Window::DEFAULT,
    )
}

/// Verify a webhook request: timestamp within `window`, then the signature
/// in constant time.
///
/// `now_unix_secs` is passed in so the check stays pure and testable.
pub fn verify_within(
    secret: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now_unix_secs: i64,
    window: Window,
) -> Result<(), VerifyError> {
    // An empty key is public knowledge: a forger signs with it too.
    if secret.is_empty() {
        return Err(VerifyError::EmptySecret);
    }
    let signature = signature_header.ok_or(VerifyError::MissingSignature)?;
    let timestamp_raw = timestamp_header.ok_or(VerifyError::MissingTimestamp)?;
    let timestamp = parse_timestamp(timestamp_raw)?;
    let skew = timestamp.saturating_sub(now_unix_secs);
    if !window.contains(skew) {
        return Err(VerifyError::StaleTimestamp {
            skew_secs: skew,
            max_age_secs: window.max_age_secs,
            max_ahead_secs: window.max_ahead_secs,
        });
    }
    let hex_part = signature
        .trim()
        .strip_prefix(SCHEME_PREFIX)
        .ok_or(VerifyError::MalformedSignature)?;
    if hex_part.len() != 64 {
        return Err(VerifyError::MalformedSignature);
    }
    let provided = hex::decode(hex_part).map_err(|_| VerifyError::MalformedSignature)?;
    // `verify_slice` compares in constant time.
    mac_for(secret, timestamp_raw, body)
        .verify_slice(&provided)
        .map_err(|_| VerifyError::BadSignature)
}

/// The answer to an `endpoint.url_validation` challenge: the lowercase hex
/// HMAC-SHA256 of `plainToken` keyed with the webhook secret.
pub fn url_validation_token(secret: &[u8], plain_token: &str) -> String {
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => HmacSha256::new(&Default::default()),
    };
    mac.update(plain_token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"whsec-test";
    const NOW: i64 = 1_739_923_528;

    fn signed(body: &[u8], ts: &str) -> String {
        sign(SECRET, ts, body)
    }

    #[test]
    fn known_vector_computed_independently() {
        // Computed with Python's hmac module, not with this code.
        let body = br#"{"event":"meeting.created"}"#;
        let sig = sign(b"secret", "1739923528", body);
        assert_eq!(
            sig,
            "v0=bdc8a37911b4fda631bf38a87a1ba59355763d3554188efa6394b82249d37a47"
        );
        assert!(
            verify(
                b"secret",
                Some("1739923528"),
                Some(&sig),
                body,
                1_739_923_528
            )
            .is_ok()
        );
    }

    #[test]
    fn url_validation_known_vector() {
        // Computed with Python's hmac module, not with this code.
        assert_eq!(
            url_validation_token(b"abc", "qgg8vlvZRS6UYooatFL8Aw"),
            "82cc421e8e005eac68cc94b8f7c7455c479f16a80d419a789edd29ce1a34fe9a"
        );
    }

    #[test]
    fn accepts_valid_signature() {
        let body = br#"{"event":"meeting.created"}"#;
        let ts = NOW.to_string();
        assert_eq!(
            verify(SECRET, Some(&ts), Some(&signed(body, &ts)), body, NOW),
            Ok(())
        );
    }

    #[test]
    fn empty_secret_verifies_nothing() {
        // A forger who knows the secret is empty signs with it too.
        let body = br#"{"event":"app_deauthorized"}"#;
        let ts = NOW.to_string();
        let forged = sign(b"", &ts, body);
        assert_eq!(
            verify(b"", Some(&ts), Some(&forged), body, NOW),
            Err(VerifyError::EmptySecret)
        );
    }

    #[test]
    fn accepts_millisecond_timestamps() {
        let body = b"{}";
        let ts = (NOW * 1000 + 123).to_string();
        assert_eq!(
            verify(SECRET, Some(&ts), Some(&signed(body, &ts)), body, NOW),
            Ok(())
        );
    }

    #[test]
    fn rejects_missing_headers() {
        let ts = NOW.to_string();
        assert_eq!(
            verify(SECRET, Some(&ts), None, b"{}", NOW),
            Err(VerifyError::MissingSignature)
        );
        let sig = signed(b"{}", &ts);
        assert_eq!(
            verify(SECRET, None, Some(&sig), b"{}", NOW),
            Err(VerifyError::MissingTimestamp)
        );
    }

    #[test]
    fn replay_window_edges() {
        let body = b"{}";
        for (offset, ok) in [
            (0, true),
            (300, true),
            (-300, true),
            (301, false),
            (-301, true),
            // Zoom's last retry, about 85 minutes after the first attempt.
            (-85 * 60, true),
            (-7200, true),
            (-7201, false),
            (-86_400, false),
        ] {
            let ts = (NOW + offset).to_string();
            let result = verify(SECRET, Some(&ts), Some(&signed(body, &ts)), body, NOW);
            assert_eq!(result.is_ok(), ok, "offset {offset}: {result:?}");
            if !ok {
                assert_eq!(
                    result,
                    Err(VerifyError::StaleTimestamp {
                        skew_secs: offset,
                        max_age_secs: 7200,
                        max_ahead_secs: 300
                    })
                );
            }
        }
    }

    #[test]
    fn a_configured_window_applies() {
        let body = b"{}";
        let window = Window::with_max_age(std::time::Duration::from_secs(600));
        for (offset, ok) in [(-600, true), (-601, false), (300, true), (301, false)] {
            let ts = (NOW + offset).to_string();
            let result = verify_within(
                SECRET,
                Some(&ts),
                Some(&signed(body, &ts)),
                body,
                NOW,
                window,
            );
            assert_eq!(result.is_ok(), ok, "offset {offset}: {result:?}");
        }
        assert!(Window::with_max_age(std::time::Duration::MAX).contains(i64::MIN + 1));
    }

    #[test]
    fn durations_parse_like_humantime() {
        use std::time::Duration as D;
        for (raw, want) in [
            ("2h", D::from_secs(7200)),
            ("90m", D::from_secs(5400)),
            ("300s", D::from_secs(300)),
            ("7200", D::from_secs(7200)),
            ("1h30m", D::from_secs(5400)),
            ("1h 30m", D::from_secs(5400)),
            (" 2 hours ", D::from_secs(7200)),
            ("1d", D::from_secs(86_400)),
            ("1500ms", D::from_millis(1500)),
            ("0s", D::ZERO),
            ("10MIN", D::from_secs(600)),
        ] {
            assert_eq!(parse_duration(raw), Ok(want), "{raw}");
        }
        for bad in [
            "",
            "h",
            "2x",
            "-2h",
            "2.5h",
            "2h-",
            "99999999999999999999d",
            "m5",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_tampering() {
        let body = br#"{"event":"meeting.created","payload":{"account_id":"a"}}"#;
        let ts = NOW.to_string();
        let sig = signed(body, &ts);
        let tampered = br#"{"event":"meeting.created","payload":{"account_id":"b"}}"#;
        assert_eq!(
            verify(SECRET, Some(&ts), Some(&sig), tampered, NOW),
            Err(VerifyError::BadSignature)
        );
        // Same body, signature made for another timestamp.
        let other_ts = (NOW + 1).to_string();
        assert_eq!(
            verify(SECRET, Some(&other_ts), Some(&sig), body, NOW),
            Err(VerifyError::BadSignature)
        );
        // Wrong secret.
        assert_eq!(
            verify(b"other", Some(&ts), Some(&sig), body, NOW),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn rejects_malformed_headers() {
        let ts = NOW.to_string();
        for bad in [
            "",
            "v0=",
            "v1=00",
            "v0=zz",
            &"v0=".repeat(30),
            &format!("v0={}", "a".repeat(63)),
            &format!("v0={}", "g".repeat(64)),
        ] {
            assert_eq!(
                verify(SECRET, Some(&ts), Some(bad), b"{}", NOW),
                Err(VerifyError::MalformedSignature),
                "{bad:?}"
            );
        }
        let sig = signed(b"{}", "x");
        for bad in ["x", "", "1.5", "-5", "99999999999999999999999"] {
            assert_eq!(
                verify(SECRET, Some(bad), Some(&sig), b"{}", NOW),
                Err(VerifyError::MalformedTimestamp),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn uppercase_hex_signature_is_accepted() {
        let ts = NOW.to_string();
        let sig = signed(b"{}", &ts);
        let upper = format!("v0={}", sig[3..].to_ascii_uppercase());
        assert_eq!(verify(SECRET, Some(&ts), Some(&upper), b"{}", NOW), Ok(()));
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_input(ts in ".{0,40}", sig in ".{0,80}", body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = verify(SECRET, Some(&ts), Some(&sig), &body, NOW);
        }

        #[test]
        fn own_signatures_always_verify(body in proptest::collection::vec(any::<u8>(), 0..512), offset in -7200i64..=300) {
            let ts = (NOW + offset).to_string();
            let sig = sign(SECRET, &ts, &body);
            prop_assert_eq!(verify(SECRET, Some(&ts), Some(&sig), &body, NOW), Ok(()));
        }

        #[test]
        fn flipped_body_bit_fails(body in proptest::collection::vec(any::<u8>(), 1..256), idx in any::<prop::sample::Index>(), bit in 0u8..8) {
            let ts = NOW.to_string();
            let sig = sign(SECRET, &ts, &body);
            let mut tampered = body.clone();
            let i = idx.index(tampered.len());
            tampered[i] ^= 1 << bit;
            prop_assert_eq!(verify(SECRET, Some(&ts), Some(&sig), &tampered, NOW), Err(VerifyError::BadSignature));
        }
    }
}
