//! The Redis store's connection: one `ConnectionManager` on a single Redis
//! (reconnects by itself), the cluster client on Redis Cluster (follows the
//! slot map), made lazily and shared by every call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, RedisFuture, Value};

use crate::cluster_url;
use crate::error::{Result, StoreError};

/// How long to wait for a TCP connection to a Redis node.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for one reply.
pub(super) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Reconnection attempts (single Redis) or retries of a redirected or failed
/// request (Cluster) before an error reaches the caller.
pub(super) const RETRIES: u32 = 3;
/// After a failed connect, how long further callers fail at once rather
/// than each trying (and waiting out [`CONNECT_TIMEOUT`]) again.
pub(super) const RECONNECT_BACKOFF: Duration = Duration::from_secs(1);
/// Shortest and longest pause between a Cluster request's retries, in ms
/// (the client waits `rand(min .. min(max, 100 × 2^retry))`). The redis
/// crate's default minimum, 1,280 ms, made a request to a dead primary wait
/// out the whole [`RESPONSE_TIMEOUT`] (10 s, measured) while its replica was
/// taking over; with these, such a request fails after about a second and
/// the caller retries against the new primary.
pub(super) const CLUSTER_RETRY_WAIT_MS: (u64, u64) = (100, 1_000);

/// Which Redis deployment the store talks to.
// One per store, built once: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum Target {
    /// One Redis (`redis://`, `rediss://`).
    Single(redis::Client),
    /// A Redis Cluster (`redis+cluster://`, `rediss+cluster://`).
    Cluster(ClusterClient),
}

/// A live connection of either kind; cheap to clone (both multiplex).
#[derive(Clone)]
pub(crate) enum Connection {
    /// Reconnects by itself.
    Single(ConnectionManager),
    /// With the flag its clones raise when a request fails in a way that
    /// may have left the connection stuck (see [`ClusterHealth`]).
    Cluster(ClusterConnection, ClusterHealth),
}

/// Whether a cluster connection is still trusted.
///
/// Measured here with redis 1.8.1: after a primary is SIGKILLed and comes
/// back, a `ClusterConnection` that saw the failure can stay stuck (every
/// request, even `PING`, times out) while a new connection works at once
/// (`crates/rectoken/tests/faults/cluster.rs`). So a request that times out
/// or loses its connection marks the connection broken, and the store
/// builds a new one for the next call.
#[derive(Clone, Default)]
pub(crate) struct ClusterHealth(Arc<AtomicBool>);

impl ClusterHealth {
    pub(super) fn note<T>(&self, result: &redis::RedisResult<T>) {
        if let Err(e) = result
            && (e.is_timeout()
                || e.is_io_error()
                || e.is_connection_dropped()
                || e.is_unrecoverable_error())
        {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    fn is_broken(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Connection {
    fn is_broken(&self) -> bool {
        matches!(self, Connection::Cluster(_, health) if health.is_broken())
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c, health) => Box::pin(async move {
                let result = c.req_packed_command(cmd).await;
                health.note(&result);
                result
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c, health) => Box::pin(async move {
                let result = c.req_packed_commands(pipeline, offset, count).await;
                health.note(&result);
                result
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c, _) => c.get_db(),
        }
    }
}

/// The store's connection: made lazily, shared, rebuilt when a cluster
/// connection broke, and failing fast for a moment after a failed attempt.
pub(super) struct Connector {
    target: Target,
    /// The connection in use; `None` until the first call succeeds in
    /// connecting.
    connection: std::sync::Mutex<Option<Connection>>,
    /// Held while connecting, so concurrent callers build one connection;
    /// holds when and why the last attempt failed.
    connecting: tokio::sync::Mutex<Option<(Instant, String)>>,
}

impl Connector {
    /// A connector for the Redis (or Redis Cluster) at `url`; connects on
    /// the first call.
    pub(super) fn new(url: &str) -> Result<Self> {
        let target = if cluster_url::is_cluster_url(url) {
            let client = ClusterClientBuilder::new(cluster_url::seed_urls(url)?)
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT)
                .retries(RETRIES)
                .min_retry_wait(CLUSTER_RETRY_WAIT_MS.0)
                .max_retry_wait(CLUSTER_RETRY_WAIT_MS.1)
                .retry_wait_formula(100, 2)
                .build()
                .map_err(|e| StoreError::InvalidUrl(format!("{e}")))?;
            Target::Cluster(client)
        } else {
            Target::Single(
                redis::Client::open(url).map_err(|e| StoreError::InvalidUrl(format!("{e}")))?,
            )
        };
        Ok(Self {
            target,
            connection: std::sync::Mutex::new(None),
            connecting: tokio::sync::Mutex::new(None),
        })
    }

    /// Whether the target is a Redis Cluster.
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster(_))
    }

    /// The connection in use, unless none was made yet or it is broken.
    fn current(&self) -> Option<Connection> {
        let guard = self
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.as_ref().filter(|c| !c.is_broken()).cloned()
    }

    /// A working connection: the current one, or a new one when there is
    /// none yet or the cluster connection broke (see [`ClusterHealth`]).
    pub(super) async fn con(&self) -> Result<Connection> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let mut last_failure = self.connecting.lock().await;
        // Another caller may have connected while this one waited.
        if let Some(c) = self.current() {
            return Ok(c);
        }
        // Callers queued behind a failed attempt fail at once instead of
        // each waiting out its own connect timeout.
        if let Some((at, why)) = last_failure.as_ref()
            && at.elapsed() < RECONNECT_BACKOFF
        {
            return Err(StoreError::Redis(redis::RedisError::from(
                std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    format!(
                        "not connected; the attempt {} ms ago failed: {why}",
                        at.elapsed().as_millis()
                    ),
                ),
            )));
        }
        let fresh = match self.connect().await {
            Ok(c) => c,
            Err(e) => {
                *last_failure = Some((Instant::now(), e.to_string()));
                return Err(e.into());
            }
        };
        *last_failure = None;
        *self
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fresh.clone());
        Ok(fresh)
    }

    /// A new connection of the target's kind.
    async fn connect(&self) -> redis::RedisResult<Connection> {
        Ok(match &self.target {
            Target::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(RETRIES as usize);
                Connection::Single(
                    ConnectionManager::new_with_config(client.clone(), config).await?,
                )
            }
            Target::Cluster(client) => Connection::Cluster(
                client.get_async_connection().await?,
                ClusterHealth::default(),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_cluster_connection_is_distrusted_after_timeouts_and_lost_sockets_only() {
        let timed_out: redis::RedisResult<()> = Err(redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timed out",
        )));
        let reset: redis::RedisResult<()> = Err(redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset",
        )));
        let wrong_type: redis::RedisResult<()> = Err(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "not a hash",
        )));
        let health = ClusterHealth::default();
        health.note(&Ok::<(), redis::RedisError>(()));
        health.note(&wrong_type);
        assert!(
            !health.is_broken(),
            "a reply of the wrong type says nothing about the connection"
        );
        for failure in [timed_out, reset] {
            let health = ClusterHealth::default();
            let clone = health.clone();
            clone.note(&failure);
            assert!(health.is_broken(), "{failure:?} marks every clone broken");
        }
    }
}
