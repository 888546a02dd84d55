//! The Redis [`JoinLog`]: one list, `LPUSH` then `LTRIM` in one
//! `MULTI`, so it never holds more than [`CAPACITY`] entries whatever the
//! number of token workers writing. One key (one hash slot), so it works
//! on a Redis Cluster as well.

use async_trait::async_trait;

use crate::error::{Result, StoreError};
use crate::join_log::{CAPACITY, JoinFilter, JoinLog, JoinOutcome};
use crate::redis_store::RedisStore;

/// The recent-joins log in Redis, under the store's key prefix.
pub struct RedisJoinLog {
    store: RedisStore,
    key: String,
}

impl RedisJoinLog {
    /// A log on the Redis at `url` (any URL [`RedisStore::new`] takes) with
    /// its key under `prefix`. Connects lazily.
    pub fn new(url: &str, prefix: &str) -> Result<Self> {
        let store = RedisStore::new(url, prefix)?;
        let key = format!("{}{{joins}}:log", store.keys().prefix());
        Ok(Self { store, key })
    }
}

#[async_trait]
impl JoinLog for RedisJoinLog {
    async fn record(&self, outcome: &JoinOutcome) -> Result<()> {
        let body = serde_json::to_string(outcome)
            .map_err(|e| StoreError::InvalidInput(format!("cannot encode a join outcome: {e}")))?;
        let mut con = self.store.con().await?;
        let max = isize::try_from(CAPACITY).unwrap_or(isize::MAX) - 1;
        let () = redis::pipe()
            .atomic()
            .lpush(&self.key, body)
            .ignore()
            .ltrim(&self.key, 0, max)
            .ignore()
            .query_async(&mut con)
            .await?;
        Ok(())
    }

    async fn recent(&self, filter: &JoinFilter, limit: usize) -> Result<Vec<JoinOutcome>> {
        let mut con = self.store.con().await?;
        let max = isize::try_from(CAPACITY).unwrap_or(isize::MAX) - 1;
        let raw: Vec<String> = redis::cmd("LRANGE")
            .arg(&self.key)
            .arg(0)
            .arg(max)
            .query_async(&mut con)
            .await?;
        // An entry that does not decode (written by another version) is
        // skipped: it is a diagnostic log, not data to fail a page over.
        Ok(raw
            .iter()
            .filter_map(|s| serde_json::from_str::<JoinOutcome>(s).ok())
            .filter(|o| filter.matches(o))
            .take(limit)
            .collect())
    }
}
