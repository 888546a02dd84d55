//! What only a Redis Cluster can show: the store's keys really spread over
//! every primary (so the contract cases in `store_contract::redis_cluster`
//! cross nodes), cleanup reaches every node, the durability check reads
//! every node, and the readiness probe needs every primary.
//!
//! Prerequisites: `RECTOKEN_TEST_REDIS_CLUSTER_URL` (see `tests/lib.rs`).

use std::collections::BTreeMap;

use rectoken_store::cluster_url::seed_urls;
use rectoken_store::{Durability, RedisStore, Store, StoreCheck};
use rectoken_telemetry::HealthCheck;
use rectoken_tests::{account_record, redis_cluster_url, unique_prefix};

use crate::store_contract::{mapping, meeting};

/// A direct connection to each node of the test cluster, by `host:port`.
async fn nodes() -> BTreeMap<String, redis::aio::MultiplexedConnection> {
    let mut out = BTreeMap::new();
    for url in seed_urls(&redis_cluster_url()).unwrap() {
        let client = redis::Client::open(url.as_str()).unwrap();
        let addr = client.get_connection_info().addr().to_string();
        out.insert(
            addr,
            client.get_multiplexed_async_connection().await.unwrap(),
        );
    }
    out
}

/// How many keys under `prefix` each node holds.
async fn keys_per_node(prefix: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (addr, mut con) in nodes().await {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut con)
            .await
            .unwrap();
        out.insert(addr, keys.len());
    }
    out
}

#[tokio::test]
async fn keys_spread_over_every_primary_and_cleanup_reaches_them_all() {
    let prefix = unique_prefix("spread");
    let store = RedisStore::new(&redis_cluster_url(), &prefix).unwrap();
    assert!(store.is_cluster());
    // 64 meetings in 64 buckets (64 hash slots), and 6 account records.
    for i in 0..64u64 {
        let account = format!("acc-{}", i % 6);
        store
            .put_mapping(meeting(i), &mapping(&account, "u", 1), None)
            .await
            .unwrap();
    }
    for a in 0..6 {
        store
            .upsert_account(&account_record(&format!("acc-{a}")))
            .await
            .unwrap();
    }
    let before = keys_per_node(&prefix).await;
    assert_eq!(before.len(), 3, "three nodes: {before:?}");
    assert!(
        before.values().all(|n| *n > 0),
        "every primary holds some of the keys: {before:?}"
    );
    // Account-wide reads gather the 256 buckets from every node.
    let mut total = 0;
    for a in 0..6 {
        total += store.count_mappings(&format!("acc-{a}")).await.unwrap();
    }
    assert_eq!(total, 64);
    assert_eq!(store.list_accounts().await.unwrap().len(), 6);
    let (page, next) = store.list_mappings(None, None, 100).await.unwrap();
    assert_eq!((page.len(), next), (64, None));

    let deleted = store.delete_prefixed_keys().await.unwrap();
    assert_eq!(deleted, before.values().sum::<usize>() as u64);
    let after = keys_per_node(&prefix).await;
    assert!(after.values().all(|n| *n == 0), "left behind: {after:?}");
}

#[tokio::test]
async fn durability_reads_every_node_as_the_node_itself_reports() {
    let store = RedisStore::new(&redis_cluster_url(), &unique_prefix("durability")).unwrap();
    let Durability::Cluster { nodes: reported } = store.durability().await.unwrap() else {
        panic!("a cluster store reports per-node settings")
    };
    let direct = nodes().await;
    assert_eq!(
        reported.iter().map(|n| n.node.as_str()).collect::<Vec<_>>(),
        direct.keys().map(String::as_str).collect::<Vec<_>>()
    );
    for (n, (addr, mut con)) in reported.iter().zip(direct) {
        let get = |name: &'static str| redis::cmd("CONFIG").arg("GET").arg(name).clone();
        let aof: Vec<String> = get("appendonly").query_async(&mut con).await.unwrap();
        let policy: Vec<String> = get("maxmemory-policy").query_async(&mut con).await.unwrap();
        let Durability::Redis {
            appendonly,
            maxmemory_policy,
            ..
        } = &n.settings
        else {
            panic!("{addr}: node settings are Durability::Redis")
        };
        assert_eq!(*appendonly, aof[1] == "yes", "{addr}");
        assert_eq!(maxmemory_policy, &policy[1], "{addr}");
    }
    // Findings name the nodes they are about.
    let all = Durability::Cluster { nodes: reported };
    for f in all.findings() {
        assert!(
            f.message.starts_with("On Redis Cluster node"),
            "{}",
            f.message
        );
    }
}

#[tokio::test]
async fn readiness_needs_the_cluster() {
    let up = StoreCheck::connect(&redis_cluster_url()).unwrap();
    up.check().await.unwrap();
    // Port 1 on loopback refuses connections: no node answers.
    let down = StoreCheck::connect("redis+cluster://127.0.0.1:1/").unwrap();
    let err = down.check().await.unwrap_err();
    assert!(err.starts_with("unreachable"), "{err}");
}
