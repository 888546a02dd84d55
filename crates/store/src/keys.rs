//! The Redis key layout (pure: names only, no I/O).
//!
//! Every key starts with the store's prefix (empty in production, unique per
//! test). `{…}` marks a Redis Cluster hash tag: keys with the same tag live
//! in the same slot, so one Lua script may touch all of them atomically.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{m:BB}:m:ID` | hash | meeting mapping or tombstone (fields below) |
//! | `{m:BB}:p:ID` | hash | PMI mapping or tombstone |
//! | `{m:BB}:idx:ACCOUNT` | zset, lex | live members (`m:ID`, `p:ID`) of ACCOUNT in bucket BB |
//! | `{m:BB}:all` | zset, lex | all live members in bucket BB |
//! | `{a:ACCOUNT}:acct` | hash | account state (no TTL) |
//! | `{a:ACCOUNT}:cred` | hash | sealed credentials (no TTL) |
//! | `{a:ACCOUNT}:pmi` | hash | user ID → `PMI:version` (the PMI-of-user index) |
//! | `{a:ACCOUNT}:rl:LABEL` | string | GCRA theoretical arrival time, µs (expires when idle) |
//! | `{a:ACCOUNT}:block` | string | `Retry-After` block, until ms (expires at that time) |
//! | `accounts` | set | account IDs with a record |
//! | `{d}:u:USER` | hash | user directory record or tombstone: `a` account, `e`/`el` email as given/normalized, `n`/`nl` vanity name, `p` PMI, `v` version, `t` tombstone |
//! | `{d}:email` / `{d}:vanity` | hash | normalized email / vanity name → user ID |
//! | `{d}:users` | hash | user ID → account ID of every live directory record |
//! | `lock:{NAME}` / `lock:{NAME}:fence` | string | lock holder's fence / the fence counter |
//!
//! Mapping hash fields: `a` account, `o` owner, `s` source, `v` version,
//! `w` written at, `g` sync generation (absent for webhook/probe writes);
//! a tombstone has `t` = `1`, `a`, `v` and a 7-day TTL.
//!
//! # Why buckets
//!
//! A meeting is looked up by its ID alone, so its key cannot carry the
//! account's hash tag. Instead, map keys are spread over [`BUCKETS`] buckets
//! by `ID mod 256`, and each bucket keeps its own per-account index next to
//! the mappings, under the same tag. A put or remove then updates the
//! mapping *and* the indexes in one single-slot script: the indexes are
//! exact, never stale, even with any number of workers and on Redis Cluster.
//! The price: account-wide operations (list, count, prune, purge) visit the
//! 256 buckets, which is a pipeline of 256 cheap commands.
//!
//! The user directory lives in one slot (`{d}`): a lookup by email or vanity
//! name must find the user without knowing the account, and a write must
//! move the user's index entries atomically with the record. Its writes
//! come from syncs and `user.*` events and its reads from personal links
//! and `on_behalf_of` lookups only, far fewer than the map's, so one slot
//! (one primary of a cluster) carries them easily; a directory of 100,000
//! users is about 20 MB.
//!
//! The PMI-of-user index lives in the account's slot, a different one, so it
//! is maintained by idempotent, version-ordered follow-up scripts after the
//! map write, and every read checks it against the map (see
//! `Store::pmi_of_user`).

use rectoken_domain::meeting_id::MeetingId;

use crate::error::{Result, StoreError};
use crate::model::{MapKey, MapKind};

/// Number of map buckets. Changing it moves every map key: a migration.
pub const BUCKETS: u16 = 256;

/// The bucket of a meeting ID or PMI.
pub fn bucket(id: MeetingId) -> u8 {
    // 256 buckets: the low byte. Zoom IDs are random enough to spread evenly.
    (id.get() % u64::from(BUCKETS)) as u8
}

/// The index member of a map key: `m:` or `p:` and the ID zero-padded to 12
/// digits, so that lexicographic order within a bucket is numeric order.
pub fn member(key: MapKey) -> String {
    format!("{}:{:012}", key.kind.tag(), key.id.get())
}

/// Inverse of [`member`].
pub fn parse_member(s: &str) -> Option<MapKey> {
    let (tag, digits) = s.split_once(':')?;
    let kind = match tag {
        "m" => MapKind::Meeting,
        "p" => MapKind::Pmi,
        _ => return None,
    };
    if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let id = MeetingId::new(digits.parse().ok()?).ok()?;
    Some(MapKey { kind, id })
}

/// A position in the map's listing order: (bucket, member), both ascending.
/// Both backends list in this order so their cursors are interchangeable.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// The bucket.
    pub bucket: u8,
    /// The member within it.
    pub member: String,
}

impl Position {
    /// The position of a map key.
    pub fn of(key: MapKey) -> Self {
        Self {
            bucket: bucket(key.id),
            member: member(key),
        }
    }

    /// The opaque cursor string: `BB:member`.
    pub fn to_cursor(&self) -> String {
        format!("{:02x}:{}", self.bucket, self.member)
    }

    /// Parse a cursor from [`Position::to_cursor`].
    pub fn from_cursor(cursor: &str) -> Result<Self> {
        let bad = || StoreError::InvalidInput(format!("malformed cursor {cursor:?}"));
        let (b, m) = cursor.split_once(':').ok_or_else(bad)?;
        if b.len() != 2 {
            return Err(bad());
        }
        let bucket = u8::from_str_radix(b, 16).map_err(|_| bad())?;
        let key = parse_member(m).ok_or_else(bad)?;
        if self::bucket(key.id) != bucket {
            return Err(bad());
        }
        Ok(Self {
            bucket,
            member: m.to_owned(),
        })
    }
}

/// The Redis Cluster hash tag of a key, by Redis's rule: the text between the
/// first `{` and the first `}` after it, if non-empty.
pub fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let rest = &key[open + 1..];
    let close = rest.find('}')?;
    (close > 0).then(|| &rest[..close])
}

/// A lock name that shares the account's hash tag, e.g.
/// `refresh:{a:ACCOUNT}`. Use it for locks whose lease fences writes to the
/// account's keys ([`Store::put_credentials`](crate::Store::put_credentials)):
/// the fenced write's script then touches one slot only.
pub fn account_lock_name(purpose: &str, account_id: &str) -> String {
    format!("{purpose}:{{a:{account_id}}}")
}

/// Every key name of one store, under its prefix.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix`. The prefix must not contain `{` or `}`: it comes
    /// before the hash tags, and a brace in it would become the tag.
    pub fn new(prefix: &str) -> Result<Self> {
        if prefix.contains(['{', '}']) {
            return Err(StoreError::InvalidInput(format!(
                "key prefix {prefix:?} must not contain braces (they are Redis Cluster hash tags)"
            )));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
        })
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The hash tag of bucket `b`, with the prefix: `P{m:BB}`.
    fn bucket_base(&self, b: u8) -> String {
        format!("{}{{m:{b:02x}}}", self.prefix)
    }

    /// The mapping (or tombstone) hash of a map key.
    pub fn map(&self, key: MapKey) -> String {
        format!("{}:{}", self.bucket_base(bucket(key.id)), member(key))
    }

    /// The mapping hash at a listing position.
    pub fn map_at(&self, pos: &Position) -> String {
        format!("{}:{}", self.bucket_base(pos.bucket), pos.member)
    }

    /// The per-account index of bucket `b`.
    pub fn account_index(&self, b: u8, account_id: &str) -> String {
        format!("{}:idx:{account_id}", self.bucket_base(b))
    }

    /// The all-accounts index of bucket `b`.
    pub fn all_index(&self, b: u8) -> String {
        format!("{}:all", self.bucket_base(b))
    }

    fn account_base(&self, account_id: &str) -> String {
        format!("{}{{a:{account_id}}}", self.prefix)
    }

    /// The account state hash.
    pub fn account(&self, account_id: &str) -> String {
        format!("{}:acct", self.account_base(account_id))
    }

    /// The sealed credentials hash.
    pub fn credentials(&self, account_id: &str) -> String {
        format!("{}:cred", self.account_base(account_id))
    }

    /// The PMI-of-user index of an account.
    pub fn pmi_index(&self, account_id: &str) -> String {
        format!("{}:pmi", self.account_base(account_id))
    }

    /// A GCRA state key.
    pub fn rate(&self, account_id: &str, label: &str) -> String {
        format!("{}:rl:{label}", self.account_base(account_id))
    }

    /// The account's `Retry-After` block.
    pub fn block(&self, account_id: &str) -> String {
        format!("{}:block", self.account_base(account_id))
    }

    fn directory_base(&self) -> String {
        format!("{}{{d}}", self.prefix)
    }

    /// A user's directory record (or tombstone).
    pub fn directory_user(&self, user_id: &str) -> String {
        format!("{}:u:{user_id}", self.directory_base())
    }

    /// The directory's normalized-email index.
    pub fn directory_email(&self) -> String {
        format!("{}:email", self.directory_base())
    }

    /// The directory's normalized-vanity-name index.
    pub fn directory_vanity(&self) -> String {
        format!("{}:vanity", self.directory_base())
    }

    /// The directory's user → account hash of live records.
    pub fn directory_users(&self) -> String {
        format!("{}:users", self.directory_base())
    }

    /// The set of account IDs.
    pub fn accounts(&self) -> String {
        format!("{}accounts", self.prefix)
    }

    /// The lock key of `name`: `lock:NAME` when the name carries its own
    /// hash tag (see [`account_lock_name`]), else `lock:{NAME}` so the lock
    /// and its fence counter share a slot.
    pub fn lock(&self, name: &str) -> String {
        if hash_tag(name).is_some() {
            format!("{}lock:{name}", self.prefix)
        } else {
            format!("{}lock:{{{name}}}", self.prefix)
        }
    }

    /// The fence counter of lock `name` (same slot as [`Keys::lock`]; never
    /// expires, so fences keep increasing across the lock's lifetimes).
    pub fn fence(&self, name: &str) -> String {
        format!("{}:fence", self.lock(name))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn id(n: u64) -> MeetingId {
        MeetingId::new(n).unwrap()
    }

    #[test]
    fn members_round_trip_and_sort_numerically() {
        let a = MapKey::meeting(id(123_456_789));
        let b = MapKey::pmi(id(999_999_999_999));
        assert_eq!(member(a), "m:000123456789");
        assert_eq!(member(b), "p:999999999999");
        assert_eq!(parse_member(&member(a)), Some(a));
        assert_eq!(parse_member(&member(b)), Some(b));
        for bad in [
            "",
            "m",
            "m:",
            "x:000123456789",
            "m:123456789",
            "m:00012345678a",
            "m:000000000001",
        ] {
            assert_eq!(parse_member(bad), None, "{bad}");
        }
        assert!(
            member(MapKey::meeting(id(200_000_000))) < member(MapKey::meeting(id(1_000_000_000)))
        );
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let k = MapKey::meeting(id(85_012_345_678));
        let pos = Position::of(k);
        assert_eq!(pos.bucket, (85_012_345_678u64 % 256) as u8);
        assert_eq!(Position::from_cursor(&pos.to_cursor()).unwrap(), pos);
        for bad in [
            "",
            "zz:m:085012345678",
            "4e",
            "00:m:085012345678",
            "4e:q:085012345678",
            "4:m:085012345678",
        ] {
            assert!(Position::from_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_share_tags_where_scripts_need_it() {
        let k = Keys::new("t.").unwrap();
        let m = MapKey::pmi(id(85_012_345_678));
        let b = bucket(m.id);
        assert_eq!(hash_tag(&k.map(m)), hash_tag(&k.account_index(b, "acc")));
        assert_eq!(hash_tag(&k.map(m)), hash_tag(&k.all_index(b)));
        assert_eq!(k.map(m), format!("t.{{m:{b:02x}}}:p:085012345678"));
        assert_eq!(hash_tag(&k.account("acc")), Some("a:acc"));
        assert_eq!(hash_tag(&k.credentials("acc")), Some("a:acc"));
        assert_eq!(hash_tag(&k.rate("acc", "light")), hash_tag(&k.block("acc")));
        // A lock named for the account shares its slot; any other lock shares
        // a slot with its own fence counter.
        let refresh = account_lock_name("refresh", "acc");
        assert_eq!(hash_tag(&k.lock(&refresh)), Some("a:acc"));
        assert_eq!(hash_tag(&k.fence(&refresh)), Some("a:acc"));
        assert_eq!(k.lock("sched"), "t.lock:{sched}");
        assert_eq!(hash_tag(&k.fence("sched")), Some("sched"));
        assert!(Keys::new("bad{").is_err());
        // The directory's record and indexes share one slot, whatever the user ID.
        let user_key = k.directory_user("u{x}");
        let tag = hash_tag(&user_key);
        assert_eq!(tag, Some("d"));
        assert_eq!(hash_tag(&k.directory_email()), tag);
        assert_eq!(hash_tag(&k.directory_vanity()), tag);
        assert_eq!(hash_tag(&k.directory_users()), tag);
    }

    #[test]
    fn hash_tag_follows_redis_rules() {
        assert_eq!(hash_tag("a{b}c"), Some("b"));
        assert_eq!(hash_tag("a{}c{d}"), None);
        assert_eq!(hash_tag("a{b"), None);
        assert_eq!(hash_tag("a{b}{c}"), Some("b"));
        assert_eq!(hash_tag("plain"), None);
    }
}
