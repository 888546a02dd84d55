//! The store's readiness probe for `/readyz`.

use std::sync::Arc;

use async_trait::async_trait;
use rectoken_telemetry::HealthCheck;

use crate::error::Result;
use crate::store::Store;

/// Checks that the store answers [`Store::ping`]: Redis answers `PING`; on
/// Redis Cluster every primary does (a missing primary leaves its slots
/// unserved); the in-process store always does. Reported as `redis`.
pub struct StoreCheck(pub Arc<dyn Store>);

impl StoreCheck {
    /// A probe for the store at `url` (any URL [`crate::connect`] takes; no
    /// connection is made yet).
    pub fn connect(url: &str) -> Result<Self> {
        Ok(Self(crate::connect(url, "")?))
    }
}

#[async_trait]
impl HealthCheck for StoreCheck {
    fn name(&self) -> &str {
        "redis"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| format!("unreachable: {e}"))
    }
}
