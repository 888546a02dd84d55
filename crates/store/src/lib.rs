//! Shared state of rectoken: the meeting/PMI map, account state, sealed
//! OAuth credentials, distributed locks and the per-account rate limiter,
//! behind one [`Store`] trait with two backends.
//!
//! Many worker processes share one Redis; every write here stays correct
//! with any number of them (docs/design.md, "Rules that keep data safe"): map
//! writes are version compare-and-sets in one Lua script each, a refresh is
//! fenced by a lock's token, and the limiter is one script on the server's
//! clock.
//!
//! # Layout
//! - [`store`]: the [`Store`] trait, the contract both backends keep.
//! - [`checked`]: [`Checked`], the one layer that validates inputs in
//!   front of either backend ([`connect`] hands out checked stores).
//! - [`model`]: the values stored (mappings, accounts, sealed credentials,
//!   leases, rate limits).
//! - [`rules`]: the ordering rules of the map and the GCRA step, pure; the
//!   in-process backend calls them, the Lua scripts mirror them.
//! - [`directory`]: the user directory's values and rules (users by ID,
//!   email and personal-link vanity name).
//! - [`keys`]: the Redis key layout and its hash-tag (slot) reasoning.
//! - [`scripts`]: the Lua scripts.
//! - [`redis_store`]: [`RedisStore`], on one Redis or a Redis Cluster.
//! - [`cluster_url`]: the `redis+cluster://` URL of a Redis Cluster.
//! - [`memory`]: [`MemoryStore`], for `rectoken dev` and unit tests.
//! - [`durability`]: whether the store keeps credentials through restarts
//!   and memory pressure.
//! - [`health`]: the Redis readiness probe used by `/readyz`.
//! - [`join_log`]: the bounded log of recent join outcomes (the console's
//!   "recent joins"), with [`join_log_memory`] and [`join_log_redis`].

pub mod checked;
pub mod cluster_url;
pub mod directory;
pub mod durability;
pub mod error;
pub mod health;
pub mod join_log;
pub mod join_log_memory;
pub mod join_log_redis;
pub mod keys;
pub mod memory;
pub mod model;
pub mod redis_store;
pub mod rules;
pub mod scripts;
pub mod store;

use std::sync::Arc;

pub use checked::Checked;
pub use directory::{DirectoryKey, DirectoryUser};
pub use durability::{Durability, NodeDurability};
pub use error::{Result, StoreError};
pub use health::StoreCheck;
pub use join_log::{JoinFilter, JoinLog, JoinOutcome};
pub use join_log_memory::MemoryJoinLog;
pub use join_log_redis::RedisJoinLog;
pub use keys::account_lock_name;
pub use memory::MemoryStore;
pub use model::{
    AccountRecord, AccountStatus, Admission, Lease, MapKey, MapKind, Mapping, RateLimit, Sealed,
    Source, StoredCredentials, SyncState, SyncStatus, WriteOutcome,
};
pub use redis_store::RedisStore;
pub use store::Store;

/// Open the store named by a URL (`RECTOKEN_REDIS_URL`): `memory://` for
/// the in-process store, `redis://` or `rediss://` for one Redis,
/// `redis+cluster://HOST:PORT[,HOST:PORT…]` (or `rediss+cluster://`) for a
/// Redis Cluster (see [`cluster_url`]), with every key under `prefix` (empty
/// in production). Redis is connected lazily, on the first call.
pub fn connect(url: &str, prefix: &str) -> Result<Arc<dyn Store>> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("memory") => Ok(Arc::new(Checked::wrap(MemoryStore::new()))),
        Some("redis" | "rediss" | "redis+cluster" | "rediss+cluster") => {
            Ok(Arc::new(Checked::wrap(RedisStore::new(url, prefix)?)))
        }
        _ => Err(StoreError::InvalidUrl(format!(
            "expected memory://, redis://, rediss://, redis+cluster:// or rediss+cluster://, got {:?}",
            redact(url)
        ))),
    }
}

/// Open the recent-joins log on the store named by `url` (as [`connect`]).
pub fn connect_join_log(url: &str, prefix: &str) -> Result<Arc<dyn JoinLog>> {
    if url.starts_with("memory:") {
        Ok(Arc::new(MemoryJoinLog::new()))
    } else {
        Ok(Arc::new(RedisJoinLog::new(url, prefix)?))
    }
}

/// The URL without its userinfo (a password must not reach logs).
fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://…@{}", &url[at + 1..]),
        // No scheme but userinfo-like text: keep only what follows the `@`.
        (None, Some(at)) => format!("…@{}", &url[at + 1..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_picks_backend_by_scheme() {
        assert!(connect("memory://", "").is_ok());
        assert!(
            connect("redis://127.0.0.1:1/", "p.").is_ok(),
            "connects lazily"
        );
        assert!(
            connect("redis+cluster://127.0.0.1:1,127.0.0.1:2", "p.").is_ok(),
            "cluster: connects lazily too"
        );
        assert!(matches!(
            connect("redis+cluster://127.0.0.1:1/2", ""),
            Err(StoreError::InvalidUrl(_))
        ));
        assert!(matches!(
            connect("http://x", ""),
            Err(StoreError::InvalidUrl(_))
        ));
        assert!(matches!(
            connect("redis://127.0.0.1:1/", "bad{"),
            Err(StoreError::InvalidInput(_))
        ));
        let Err(err) = connect("ftp://user:secret@host", "") else {
            panic!("ftp accepted")
        };
        assert!(!err.to_string().contains("secret"), "{err}");
        let Err(err) = connect("user:secret@host:6379", "") else {
            panic!("schemeless URL accepted")
        };
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
