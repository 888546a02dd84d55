//! Shared helpers of the end-to-end tests.
//!
//! Prerequisites: real RabbitMQ, Redis (plain and TLS ports) and a Redis
//! Cluster, whose URLs `scripts/test` exports as `RECTOKEN_TEST_AMQP_URL`,
//! `RECTOKEN_TEST_REDIS_URL`, `RECTOKEN_TEST_REDIS_TLS_URL` (with
//! `RECTOKEN_TEST_REDIS_TLS_CA`) and `RECTOKEN_TEST_REDIS_CLUSTER_URL`. A test that
//! needs one and finds the variable unset fails with a message saying how to
//! run the suite; it never skips silently.
//!
//! The rigs of the roles live here too, not in the role crates, so that a
//! role depends only on what it runs with: [`harness`] (the token worker's
//! test bed) and [`sync_rig`] (the sync worker's), both on the in-process
//! Zoom simulator. The benchmarks of `crates/bench` use them as well.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod harness;
pub mod proxy;
pub mod sync_rig;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use rectoken_bus::Topology;

fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: this test needs a real server. Run the suite with `scripts/test`, \
             which starts RabbitMQ and Redis on loopback and exports it \
             (or `scripts/services start all && eval \"$(scripts/services env)\"`)."
        ),
    }
}

/// URL of the test RabbitMQ.
pub fn amqp_url() -> String {
    required_env("RECTOKEN_TEST_AMQP_URL")
}

/// URL of the test Redis.
pub fn redis_url() -> String {
    required_env("RECTOKEN_TEST_REDIS_URL")
}

/// URL of the test Redis's TLS port (`rediss://…`), whose certificate is
/// signed by the throwaway CA at [`redis_tls_ca`].
pub fn redis_tls_url() -> String {
    required_env("RECTOKEN_TEST_REDIS_TLS_URL")
}

/// Path of the CA certificate that signed the test Redis's TLS certificate.
pub fn redis_tls_ca() -> String {
    required_env("RECTOKEN_TEST_REDIS_TLS_CA")
}

/// URL of the test Redis Cluster (`redis+cluster://…`, three primaries).
pub fn redis_cluster_url() -> String {
    required_env("RECTOKEN_TEST_REDIS_CLUSTER_URL")
}

/// Milliseconds since the Unix epoch, as the store's versions count them.
pub use rectoken_domain::clock::now_ms;

/// The ingress's services as the end-to-end tests run them: the admin API
/// on with `admin_token`, the OAuth state key derived from a fixed key, no
/// HTTP join key, 5 s for a join reply. Change a field with `..` where a
/// test needs another.
pub fn ingress_services(
    store: std::sync::Arc<dyn rectoken_store::Store>,
    vault: rectoken_vault::Vault,
    zoom: rectoken_zoom::ZoomClient,
    public_url: String,
    admin_token: &str,
) -> rectoken_ingress::Services {
    rectoken_ingress::Services {
        store,
        vault,
        zoom,
        public_url,
        state_key: rectoken_ingress::services::derive_state_key(&[9u8; 32]),
        user_level: false,
        admin_token: Some(secrecy::SecretString::from(admin_token.to_owned())),
        join_key: None,
        join_timeout: Duration::from_secs(5),
        callbacks: Default::default(),
    }
}

/// A connected account's record with no sync yet, as tests seed it.
pub fn account_record(account_id: &str) -> rectoken_store::AccountRecord {
    rectoken_store::AccountRecord {
        account_id: account_id.into(),
        app: "default".into(),
        kind: "account".into(),
        user_id: None,
        status: rectoken_store::AccountStatus::Connected,
        connected_at_ms: 1_700_000_000_000,
        scopes: vec!["meeting:read:admin".into(), "user:read:admin".into()],
        last_error: None,
        sync: rectoken_store::SyncStatus::default(),
    }
}

/// A prefix no other test (or earlier run) uses, so tests can share one
/// broker and one Redis while running in parallel.
pub fn unique_prefix(name: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "t-{name}-{}-{}-{nanos:x}.",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Delete every queue and the exchange of a test's topology (best effort),
/// so repeated runs do not pile up quorum queues on the broker. `amqp_url`
/// may list a cluster's nodes, comma-separated: the first that answers
/// does it.
pub async fn delete_topology(amqp_url: &str, topology: &Topology) {
    let mut conn = None;
    for url in amqp_url.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        if let Ok(c) = Connection::connect(url, ConnectionProperties::default()).await {
            conn = Some(c);
            break;
        }
    }
    let Some(conn) = conn else {
        return;
    };
    if let Ok(channel) = conn.create_channel().await {
        let queues = topology
            .work_queues()
            .into_iter()
            .chain(topology.optional_work_queues());
        for queue in queues {
            for name in [Topology::dlq(&queue), queue] {
                let _ = channel
                    .queue_delete(name.into(), QueueDeleteOptions::default())
                    .await;
            }
        }
        for exchange in [
            topology.events_exchange(),
            topology.account_events_exchange(),
        ] {
            let _ = channel
                .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
                .await;
        }
    }
    let _ = conn.close(200, "bye".into()).await;
}

/// Poll `condition` every 50 ms until it holds or `limit` passes. For
/// states that have no notification (an HTTP endpoint's answer); returns
/// whether it held.
pub async fn eventually<F, Fut>(limit: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Log to the test's output when `RECTOKEN_TEST_LOG` is set (a tracing
/// filter such as `info` or `rectoken_bus=debug`): nextest shows a failed or
/// hung test's output, so a hang can be read instead of guessed. Once per
/// process; a no-op otherwise.
pub fn init_test_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("RECTOKEN_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .with_ansi(false)
                .try_init();
        }
    });
}
