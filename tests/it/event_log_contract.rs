//! The account-event history contract (`rectoken_store::AccountEventLog`),
//! run against the in-process log, real Redis and the Redis Cluster: newest
//! first, bounded, no duplicate ids, per account, kept after the account's
//! record is deleted.
//!
//! Prerequisites: `RECTOKEN_TEST_REDIS_URL` and
//! `RECTOKEN_TEST_REDIS_CLUSTER_URL` (see `tests/lib.rs`).

use std::sync::Arc;

use rectoken_domain::account_event::{AccountEvent, AccountEventKind};
use rectoken_store::account_events::EVENTS_KEPT;
use rectoken_store::{AccountEventLog, MemoryEventLog, MemoryStore, RedisStore, Store, StoreError};
use rectoken_tests::{account_record, unique_prefix};

struct Harness {
    log: Arc<dyn AccountEventLog>,
    store: Arc<dyn Store>,
    redis: Option<Arc<RedisStore>>,
}

impl Harness {
    async fn memory() -> Harness {
        Harness {
            log: Arc::new(MemoryEventLog::new()),
            store: Arc::new(MemoryStore::new()),
            redis: None,
        }
    }

    async fn redis(url: &str, name: &str) -> Harness {
        let store = Arc::new(RedisStore::new(url, &unique_prefix(name)).unwrap());
        store
            .ping()
            .await
            .expect("Redis PING: is scripts/services running?");
        Harness {
            log: store.clone(),
            store: store.clone(),
            redis: Some(store),
        }
    }

    async fn finish(self) {
        if let Some(r) = self.redis {
            r.delete_prefixed_keys().await.unwrap();
        }
    }
}

fn event(id: &str, account: &str, n: u64) -> AccountEvent {
    AccountEvent::new(
        id,
        1_764_990_000_000 + i64::try_from(n).unwrap(),
        account,
        "default",
        AccountEventKind::SyncCompleted {
            users: n,
            mappings: n,
            pruned: 0,
            duration_ms: 1,
        },
    )
}

async fn newest_first_bounded_without_duplicates(h: Harness) {
    let total = EVENTS_KEPT as u64 + 7;
    for n in 0..total {
        h.log
            .record(&event(&format!("evt_{n}"), "acc", n))
            .await
            .unwrap();
    }
    // A redelivered event is not recorded twice.
    let last = event(&format!("evt_{}", total - 1), "acc", total - 1);
    h.log.record(&last).await.unwrap();
    let all = h.log.recent("acc", 1000).await.unwrap();
    assert_eq!(all.len(), EVENTS_KEPT);
    assert_eq!(all[0], last);
    let ids: Vec<_> = all.iter().map(|e| e.id.clone()).collect();
    let want: Vec<_> = (total - EVENTS_KEPT as u64..total)
        .rev()
        .map(|n| format!("evt_{n}"))
        .collect();
    assert_eq!(ids, want);
    assert_eq!(h.log.recent("acc", 3).await.unwrap().len(), 3);
    assert!(h.log.recent("acc", 0).await.unwrap().is_empty());
    h.finish().await;
}

async fn per_account_and_kept_after_the_record_is_deleted(h: Harness) {
    h.store.upsert_account(&account_record("a1")).await.unwrap();
    h.log.record(&event("evt_a", "a1", 1)).await.unwrap();
    h.log.record(&event("evt_b", "a2", 2)).await.unwrap();
    h.store.delete_account("a1").await.unwrap();
    let a1 = h.log.recent("a1", 10).await.unwrap();
    assert_eq!(
        a1.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["evt_a"]
    );
    assert_eq!(h.log.recent("a2", 10).await.unwrap().len(), 1);
    assert!(h.log.recent("nobody", 10).await.unwrap().is_empty());
    h.finish().await;
}

async fn bad_account_ids_are_refused(h: Harness) {
    assert!(matches!(
        h.log.recent("", 10).await,
        Err(StoreError::InvalidInput(_))
    ));
    assert!(matches!(
        h.log.record(&event("evt", "", 1)).await,
        Err(StoreError::InvalidInput(_))
    ));
    h.finish().await;
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Harness::memory().await).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $case() {
                    let url = rectoken_tests::redis_url();
                    super::$case(super::Harness::redis(&url, stringify!($case)).await).await;
                }
            )*
        }
        mod redis_cluster {
            $(
                #[tokio::test]
                async fn $case() {
                    let url = rectoken_tests::redis_cluster_url();
                    super::$case(super::Harness::redis(&url, stringify!($case)).await).await;
                }
            )*
        }
    };
}

contract!(
    newest_first_bounded_without_duplicates,
    per_account_and_kept_after_the_record_is_deleted,
    bad_account_ids_are_refused,
);
