//! The Redis readiness probe: `PING` over a lazily (re)built connection.

use async_trait::async_trait;
use rectoken_telemetry::HealthCheck;
use tokio::sync::Mutex;

/// Checks that Redis answers `PING`.
pub struct RedisCheck {
    client: redis::Client,
    connection: Mutex<Option<redis::aio::MultiplexedConnection>>,
}

impl RedisCheck {
    /// A probe for the Redis at `url` (no connection is made yet).
    pub fn new(url: &str) -> redis::RedisResult<Self> {
        Ok(Self {
            client: redis::Client::open(url)?,
            connection: Mutex::new(None),
        })
    }
}

#[async_trait]
impl HealthCheck for RedisCheck {
    fn name(&self) -> &str {
        "redis"
    }

    async fn check(&self) -> Result<(), String> {
        let mut guard = self.connection.lock().await;
        if guard.is_none() {
            let conn = self
                .client
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| format!("unreachable: {e}"))?;
            *guard = Some(conn);
        }
        let Some(conn) = guard.as_mut() else {
            return Err("no connection".into());
        };
        let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(conn).await;
        match pong {
            Ok(_) => Ok(()),
            Err(e) => {
                // Drop the broken connection; the next check reconnects.
                *guard = None;
                Err(format!("unreachable: {e}"))
            }
        }
    }
}
