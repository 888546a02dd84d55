//! Redis Cluster losing a primary: with the node's slots unserved, a call
//! that needs them fails within a bound (it does not hang a worker), and
//! the same store instance, as a long-running worker holds it, works again
//! once the node is back, without a restart of the process. (With redis
//! 1.8.1 the cluster connection that saw the failure stays stuck; this test
//! failed until the store replaced such a connection, see `ClusterHealth` in
//! `crates/store/src/redis_store.rs`.)
//!
//! Runs in the serial fault suite because it takes the shared test cluster
//! away from every other test for a few seconds.

use std::process::Command;
use std::time::{Duration, Instant};

use rectoken_domain::meeting_id::MeetingId;
use rectoken_store::cluster_url::seed_urls;
use rectoken_store::{MapKey, Mapping, RedisStore, Source, Store, WriteOutcome};
use rectoken_tests::{eventually, redis_cluster_url, unique_prefix};

/// How long a call may take to fail while a primary is down: the client's
/// retries and response timeout, with margin.
const FAIL_WITHIN: Duration = Duration::from_secs(60);

/// Starts whatever part of the cluster is missing when dropped, so a failed
/// assertion does not leave the shared cluster without a node.
struct Relaunch(String);

impl Relaunch {
    fn now(&self) {
        let status = Command::new(&self.0)
            .args(["start", "redis-cluster"])
            .status()
            .expect("run scripts/services");
        assert!(
            status.success(),
            "scripts/services start redis-cluster failed"
        );
    }
}

impl Drop for Relaunch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = Command::new(&self.0)
                .args(["start", "redis-cluster"])
                .status();
        }
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run with scripts/test, or `eval \"$(scripts/services env)\"`")
    })
}

fn mapping(version: i64) -> Mapping {
    Mapping {
        account_id: "acc-cluster-fault".into(),
        owner_id: "host".into(),
        source: Source::Webhook,
        version_ms: version,
        written_at_ms: 1_700_000_000_000,
    }
}

fn key(i: u64) -> MapKey {
    MapKey::meeting(MeetingId::new(85_000_000_000 + i).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_cluster_primary_fails_calls_fast_and_the_same_store_recovers() {
    let services = env("RECTOKEN_TEST_SERVICES");
    let relaunch = Relaunch(services);
    let store = RedisStore::new(&redis_cluster_url(), &unique_prefix("cluster-fault")).unwrap();
    let account = "acc-cluster-fault";
    // 64 buckets: every primary holds some.
    for i in 0..64 {
        let put = store.put_mapping(key(i), &mapping(1), None).await.unwrap();
        assert_eq!(put, WriteOutcome::Applied);
    }
    assert_eq!(store.count_mappings(account).await.unwrap(), 64);

    // SIGKILL the second node (launched by scripts/services: its PID file).
    let seeds = seed_urls(&redis_cluster_url()).unwrap();
    let port = seeds[1]
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let pid_file = format!(
        "{}/redis-cluster/node-{port}/redis.pid",
        env("RECTOKEN_SVC_DIR")
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap_or_else(|e| {
        panic!("{pid_file}: {e} (is the cluster one scripts/services started?)")
    });
    let killed = Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .unwrap();
    assert!(killed.success());

    // Counting visits all 256 buckets, some on the dead node: an error,
    // within a bound.
    let started = Instant::now();
    let during = tokio::time::timeout(FAIL_WITHIN, store.count_mappings(account)).await;
    let took = started.elapsed();
    match during {
        Err(_) => panic!("count_mappings hung for {FAIL_WITHIN:?} with a primary down"),
        Ok(Ok(n)) => panic!("count_mappings answered {n} with a primary down"),
        Ok(Err(e)) => eprintln!("with node {port} down: error after {took:.1?}: {e}"),
    }

    relaunch.now();
    // The node comes back empty (the test cluster keeps no data) but with
    // its slots; the same store rewrites and reads everything.
    let recovered = eventually(Duration::from_secs(60), || async {
        for i in 0..64 {
            if let Err(e) = store.put_mapping(key(i), &mapping(2), None).await {
                eprintln!("recovering: put {i}: {e}");
                return false;
            }
        }
        match store.count_mappings(account).await {
            Ok(n) => n == 64,
            Err(e) => {
                eprintln!("recovering: count: {e}");
                false
            }
        }
    })
    .await;
    assert!(
        recovered,
        "the store did not recover after the node returned"
    );
    eprintln!("recovered {:.1?} after the kill", started.elapsed());
    store.delete_prefixed_keys().await.unwrap();
}
