//! The store's decision rules, pure. [`MemoryStore`](crate::MemoryStore)
//! calls them directly; the Lua scripts of
//! [`RedisStore`](crate::RedisStore) implement the same rules line by line
//! (see `scripts.rs`), and the contract tests check that both agree.
//!
//! # Ordering the meeting map
//!
//! Each map key holds at most one record: a live mapping or a tombstone,
//! each with a version. The rules:
//!
//! - A put applies over nothing, over an older live mapping (whatever its
//!   account: the newer claim wins) and over an older tombstone.
//! - A put with the version of a live mapping: identical content (account,
//!   owner, source) is a [`WriteOutcome::Duplicate`]; different content is
//!   decided by comparing the content bytewise, the greater wins, so the
//!   result does not depend on arrival order.
//! - A put with the version of a tombstone is stale: at equal versions the
//!   removal wins, so "created and deleted in the same millisecond" ends
//!   deleted in every order.
//! - A remove of a live mapping of *another* account is stale (an account
//!   may only remove its own meetings). Otherwise a remove with a version at
//!   least the stored one leaves a tombstone; a tombstone of the same
//!   version makes it a duplicate. A remove of an absent key leaves a
//!   tombstone too, so an older put arriving later cannot resurrect it.
//!
//! For the events of one account these rules make the final state "the
//! newest event wins" whatever the arrival order or repetition. Across
//! accounts (a meeting claimed by two accounts, one removing it) the
//! account guard on remove makes some interleavings order-dependent; that
//! needs a meeting ID moving between accounts and removed around the same
//! time, and the next sync of either account settles it.

use std::time::Duration;

use crate::error::{Result, StoreError};
use crate::model::{Mapping, RateLimit, WriteOutcome};

/// How long a tombstone is kept: longer than Zoom retries a webhook (about
/// three days) and than a sync takes, so a late event cannot resurrect a
/// removed mapping.
pub const TOMBSTONE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Versions must fit a Lua number (a double) exactly.
pub const MAX_ABS_VERSION: i64 = 1 << 53;

/// What a map key holds, for the decision rules.
#[derive(Clone, Copy, Debug)]
pub enum Stored<'a> {
    /// A live mapping.
    Live(&'a Mapping),
    /// A tombstone of a removal at `version`.
    Tomb {
        /// The removal's version.
        version: i64,
    },
}

/// The bytes compared to break a tie between two puts of the same version.
pub fn content(m: &Mapping) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.account_id.len() + m.owner_id.len() + 10);
    out.extend_from_slice(m.account_id.as_bytes());
    out.push(0);
    out.extend_from_slice(m.owner_id.as_bytes());
    out.push(0);
    out.extend_from_slice(m.source.as_str().as_bytes());
    out
}

/// Decide a put of `new` over `stored`.
pub fn decide_put(stored: Option<Stored<'_>>, new: &Mapping) -> WriteOutcome {
    match stored {
        None => WriteOutcome::Applied,
        Some(Stored::Tomb { version }) => {
            if new.version_ms > version {
                WriteOutcome::Applied
            } else {
                WriteOutcome::Stale
            }
        }
        Some(Stored::Live(cur)) => {
            if new.version_ms > cur.version_ms {
                return WriteOutcome::Applied;
            }
            if new.version_ms < cur.version_ms {
                return WriteOutcome::Stale;
            }
            match content(new).cmp(&content(cur)) {
                std::cmp::Ordering::Equal => WriteOutcome::Duplicate,
                std::cmp::Ordering::Greater => WriteOutcome::Applied,
                std::cmp::Ordering::Less => WriteOutcome::Stale,
            }
        }
    }
}

/// Decide a remove by `account_id` at `version` over `stored`.
pub fn decide_remove(stored: Option<Stored<'_>>, account_id: &str, version: i64) -> WriteOutcome {
    match stored {
        None => WriteOutcome::Applied,
        Some(Stored::Tomb { version: cur }) => {
            if version > cur {
                WriteOutcome::Applied
            } else if version == cur {
                WriteOutcome::Duplicate
            } else {
                WriteOutcome::Stale
            }
        }
        Some(Stored::Live(cur)) => {
            if cur.account_id != account_id || version < cur.version_ms {
                WriteOutcome::Stale
            } else {
                WriteOutcome::Applied
            }
        }
    }
}

/// Reject a version Lua could not compare exactly.
pub fn check_version(version_ms: i64) -> Result<()> {
    if version_ms.abs() >= MAX_ABS_VERSION {
        return Err(StoreError::InvalidInput(format!(
            "version {version_ms} is outside ±2^53"
        )));
    }
    Ok(())
}

/// Reject an empty or oversized identifier, or one with a character
/// outside printable ASCII or a brace.
///
/// Why the characters: identifiers become parts of Redis keys whose
/// `{…}` hash tag picks the Redis Cluster slot; a `{` or `}` inside an
/// account ID would move its keys to another slot (and break the one-slot
/// multi-key scripts), and control characters or spaces have no business
/// in Zoom's IDs (letters, digits, `-`, `_`) or ours (`account~user`,
/// `sync:<account>`).
pub fn check_id(what: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.len() > 256 {
        return Err(StoreError::InvalidInput(format!(
            "{what} must be 1..=256 bytes, got {}",
            value.len()
        )));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !c.is_ascii_graphic() || *c == '{' || *c == '}')
    {
        return Err(StoreError::InvalidInput(format!(
            "{what} has the character {c:?}: only printable ASCII without braces"
        )));
    }
    Ok(())
}

/// Reject an empty or oversized lock name. Lock names are ours, built
/// around an account's hash tag (`refresh:{a:<account>}`), so braces are
/// allowed here; the account ID inside was checked with [`check_id`].
pub fn check_lock_name(value: &str) -> Result<()> {
    if value.is_empty() || value.len() > 512 {
        return Err(StoreError::InvalidInput(format!(
            "lock name must be 1..=512 bytes, got {}",
            value.len()
        )));
    }
    Ok(())
}

/// The GCRA emission interval of a limit, in microseconds (at least 1).
pub fn emission_interval_us(limit: RateLimit) -> Result<i64> {
    if !(limit.per_second.is_finite() && limit.per_second > 0.0) || limit.burst == 0 {
        return Err(StoreError::InvalidInput(format!(
            "rate limit needs per_second > 0 and burst >= 1, got {limit:?}"
        )));
    }
    let us = (1_000_000.0 / limit.per_second).round();
    // Clamp: a rate below one per ~30 years is as good as "never".
    Ok(us.clamp(1.0, 1e15) as i64)
}

/// One GCRA step (Generic Cell Rate Algorithm).
///
/// `tat_us` is the stored theoretical arrival time, `interval_us` the
/// emission interval T, `burst` the number B of requests admitted back to
/// back from idle. A request at `now_us` is allowed when
/// `max(tat, now) + T - B·T <= now`; then the new TAT is `max(tat, now) + T`.
/// Otherwise it must wait for the difference and nothing is stored.
pub fn gcra(now_us: i64, tat_us: Option<i64>, interval_us: i64, burst: u32) -> Result<i64, i64> {
    let tat = tat_us.map_or(now_us, |t| t.max(now_us));
    let new_tat = tat.saturating_add(interval_us);
    let allow_at = new_tat.saturating_sub(interval_us.saturating_mul(i64::from(burst)));
    if allow_at > now_us {
        Err(allow_at - now_us)
    } else {
        Ok(new_tat)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn ids_keep_to_printable_ascii_without_braces() {
        for ok in ["aBcD123", "acct~user-1_x", "sync:abc", "connect-link:00ff"] {
            assert!(check_id("account_id", ok).is_ok(), "{ok}");
        }
        for bad in [
            "a{b",
            "a}b",
            "{slot}",
            "a b",
            "a\nb",
            "é",
            "",
            &"x".repeat(257),
        ] {
            assert!(check_id("account_id", bad).is_err(), "{bad:?}");
        }
    }
    use crate::model::Source;

    fn m(account: &str, owner: &str, v: i64) -> Mapping {
        Mapping {
            account_id: account.into(),
            owner_id: owner.into(),
            source: Source::Webhook,
            version_ms: v,
            written_at_ms: 0,
        }
    }

    #[test]
    fn put_rules() {
        use WriteOutcome::*;
        let cur = m("a", "h1", 10);
        assert_eq!(decide_put(None, &cur), Applied);
        assert_eq!(
            decide_put(Some(Stored::Live(&cur)), &m("a", "h2", 11)),
            Applied
        );
        assert_eq!(
            decide_put(Some(Stored::Live(&cur)), &m("b", "h2", 11)),
            Applied
        );
        assert_eq!(
            decide_put(Some(Stored::Live(&cur)), &m("a", "h2", 9)),
            Stale
        );
        assert_eq!(
            decide_put(Some(Stored::Live(&cur)), &m("a", "h1", 10)),
            Duplicate
        );
        // written_at is not content.
        let mut again = cur.clone();
        again.written_at_ms = 99;
        assert_eq!(decide_put(Some(Stored::Live(&cur)), &again), Duplicate);
        // Same version, different content: the greater content wins in either order.
        let other = m("a", "h2", 10);
        assert_eq!(decide_put(Some(Stored::Live(&cur)), &other), Applied);
        assert_eq!(decide_put(Some(Stored::Live(&other)), &cur), Stale);
        let tomb = Stored::Tomb { version: 10 };
        assert_eq!(decide_put(Some(tomb), &m("a", "h", 10)), Stale);
        assert_eq!(decide_put(Some(tomb), &m("a", "h", 11)), Applied);
    }

    #[test]
    fn remove_rules() {
        use WriteOutcome::*;
        let cur = m("a", "h1", 10);
        assert_eq!(decide_remove(None, "a", 1), Applied);
        assert_eq!(decide_remove(Some(Stored::Live(&cur)), "a", 10), Applied);
        assert_eq!(decide_remove(Some(Stored::Live(&cur)), "a", 9), Stale);
        assert_eq!(decide_remove(Some(Stored::Live(&cur)), "b", 11), Stale);
        let tomb = Stored::Tomb { version: 10 };
        assert_eq!(decide_remove(Some(tomb), "a", 10), Duplicate);
        assert_eq!(decide_remove(Some(tomb), "a", 9), Stale);
        assert_eq!(decide_remove(Some(tomb), "b", 11), Applied);
    }

    #[test]
    fn versions_must_fit_a_double() {
        assert!(check_version(1_800_000_000_000).is_ok());
        assert!(check_version(-5).is_ok());
        assert!(check_version(i64::MAX).is_err());
        assert!(check_version(MAX_ABS_VERSION).is_err());
    }

    #[test]
    fn gcra_admits_burst_then_paces() {
        let t = emission_interval_us(RateLimit {
            per_second: 10.0,
            burst: 3,
        })
        .unwrap();
        assert_eq!(t, 100_000);
        let now = 1_000_000_000;
        let mut tat = None;
        for _ in 0..3 {
            tat = Some(gcra(now, tat, t, 3).unwrap());
        }
        assert_eq!(gcra(now, tat, t, 3), Err(t));
        // After one interval exactly one more fits.
        let later = now + t;
        tat = Some(gcra(later, tat, t, 3).unwrap());
        assert_eq!(gcra(later, tat, t, 3), Err(t));
        // Idle long enough: the full burst again.
        let idle = later + 10 * t;
        let mut tat2 = tat;
        for _ in 0..3 {
            tat2 = Some(gcra(idle, tat2, t, 3).unwrap());
        }
        assert!(gcra(idle, tat2, t, 3).is_err());
    }

    #[test]
    fn bad_limits_are_rejected() {
        for (per_second, burst) in [
            (0.0, 1),
            (-1.0, 1),
            (f64::NAN, 1),
            (f64::INFINITY, 1),
            (1.0, 0),
        ] {
            assert!(emission_interval_us(RateLimit { per_second, burst }).is_err());
        }
    }
}
