//! The Redis readiness probe: `PING` (every primary, on Cluster) over a
//! lazily built, self-healing connection.

use async_trait::async_trait;
use rectoken_telemetry::HealthCheck;

use crate::error::Result;
use crate::redis_store::RedisStore;
use crate::store::Store;

/// Checks that Redis answers `PING`; on Redis Cluster, that every primary
/// does (a missing primary leaves its slots unserved).
pub struct RedisCheck {
    store: RedisStore,
}

impl RedisCheck {
    /// A probe for the Redis at `url` (any URL [`RedisStore::new`] takes; no
    /// connection is made yet).
    pub fn new(url: &str) -> Result<Self> {
        Ok(Self {
            store: RedisStore::new(url, "")?,
        })
    }
}

#[async_trait]
impl HealthCheck for RedisCheck {
    fn name(&self) -> &str {
        "redis"
    }

    async fn check(&self) -> Result<(), String> {
        self.store
            .ping()
            .await
            .map_err(|e| format!("unreachable: {e}"))
    }
}
