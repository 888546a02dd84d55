//! The store contract, run against both backends: the in-process store and
//! real Redis, single and clustered. Each case below runs three times
//! (modules `memory`, `redis` and `redis_cluster`).
//!
//! Prerequisites: `RECTOKEN_TEST_REDIS_URL` and
//! `RECTOKEN_TEST_REDIS_CLUSTER_URL` (see `tests/lib.rs`); the Redis cases
//! fail loudly without them. Every case uses its own key prefix,
//! so cases run in parallel on one Redis, and deletes its keys at the end.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rectoken_domain::meeting_id::MeetingId;
use rectoken_store::{
    AccountRecord, AccountStatus, Admission, Checked, DirectoryKey, DirectoryUser, MapKey, Mapping,
    MemoryStore, RateLimit, RedisStore, Sealed, Source, Store, StoreError, StoredCredentials,
    SyncState, SyncStatus, WriteOutcome, account_lock_name,
};
use rectoken_tests::{redis_cluster_url, redis_url, unique_prefix};

/// A store under test and how to clean up after it.
pub struct Harness {
    pub store: Arc<dyn Store>,
    redis: Option<Arc<Checked<RedisStore>>>,
}

impl Harness {
    pub async fn memory(_name: &str) -> Harness {
        Harness {
            store: Arc::new(Checked::wrap(MemoryStore::new())),
            redis: None,
        }
    }

    pub async fn redis(name: &str) -> Harness {
        Self::on_redis(&redis_url(), name).await
    }

    pub async fn redis_cluster(name: &str) -> Harness {
        let h = Self::on_redis(&redis_cluster_url(), name).await;
        assert!(h.redis.as_ref().is_some_and(|r| r.is_cluster()));
        h
    }

    async fn on_redis(url: &str, name: &str) -> Harness {
        let store = Arc::new(Checked::wrap(
            RedisStore::new(url, &unique_prefix(name)).unwrap(),
        ));
        tokio::time::timeout(Duration::from_secs(10), store.ping())
            .await
            .expect("Redis did not answer within 10 s: is scripts/services running?")
            .expect("Redis PING failed: is scripts/services running?");
        Harness {
            store: store.clone(),
            redis: Some(store),
        }
    }

    pub async fn finish(self) {
        if let Some(redis) = self.redis {
            redis.delete_prefixed_keys().await.unwrap();
        }
    }
}

use WriteOutcome::{Applied, Duplicate, Stale};

fn id(n: u64) -> MeetingId {
    MeetingId::new(85_000_000_000 + n).unwrap()
}

pub(crate) fn meeting(n: u64) -> MapKey {
    MapKey::meeting(id(n))
}

fn pmi(n: u64) -> MapKey {
    MapKey::pmi(id(n))
}

pub(crate) fn mapping(account: &str, owner: &str, version: i64) -> Mapping {
    Mapping {
        account_id: account.into(),
        owner_id: owner.into(),
        source: Source::Webhook,
        version_ms: version,
        written_at_ms: 1_700_000_000_000i64.saturating_add(version),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A deterministic shuffle (the test package has no `rand`).
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = (seed >> 33) as usize % (i + 1);
        items.swap(i, j);
    }
}

const PERMUTATIONS_OF_3: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];

/// One map event of the permutation tests.
#[derive(Clone)]
enum Event {
    Put(Mapping),
    Remove(&'static str, i64),
}

async fn apply(store: &dyn Store, key: MapKey, e: &Event) -> WriteOutcome {
    match e {
        Event::Put(m) => store.put_mapping(key, m, None).await.unwrap(),
        Event::Remove(account, v) => store.remove_mapping(key, account, *v).await.unwrap(),
    }
}

async fn all_pages(
    store: &dyn Store,
    account: Option<&str>,
    limit: usize,
) -> Vec<(MapKey, Mapping)> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let (page, next) = store
            .list_mappings(account, cursor.as_deref(), limit)
            .await
            .unwrap();
        assert!(
            page.len() <= limit,
            "page of {} over limit {limit}",
            page.len()
        );
        out.extend(page);
        match next {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
    panic!("paging did not end");
}

// ------------------------------------------------------------------ the map

async fn put_get(h: Harness) {
    let s = h.store.as_ref();
    let m = mapping("acc", "host", 10);
    assert_eq!(s.get_mapping(meeting(1)).await.unwrap(), None);
    assert_eq!(s.put_mapping(meeting(1), &m, None).await.unwrap(), Applied);
    assert_eq!(s.get_mapping(meeting(1)).await.unwrap(), Some(m.clone()));
    // Meetings and PMIs are separate namespaces.
    assert_eq!(s.get_mapping(pmi(1)).await.unwrap(), None);
    // A redelivery (written at another time) is a duplicate; the first
    // write's record stays.
    let mut again = m.clone();
    again.written_at_ms += 5;
    assert_eq!(
        s.put_mapping(meeting(1), &again, None).await.unwrap(),
        Duplicate
    );
    assert_eq!(s.get_mapping(meeting(1)).await.unwrap(), Some(m.clone()));
    // Older: stale. Newer: applied.
    let older = mapping("acc", "other", 9);
    assert_eq!(
        s.put_mapping(meeting(1), &older, None).await.unwrap(),
        Stale
    );
    let newer = Mapping {
        source: Source::Sync,
        ..mapping("acc", "other", 11)
    };
    assert_eq!(
        s.put_mapping(meeting(1), &newer, Some("g1")).await.unwrap(),
        Applied
    );
    assert_eq!(s.get_mapping(meeting(1)).await.unwrap(), Some(newer));
    // Same version, different content: decided the same way in both orders.
    let a = mapping("acc", "h-a", 20);
    let b = mapping("acc", "h-b", 20);
    s.put_mapping(meeting(2), &a, None).await.unwrap();
    s.put_mapping(meeting(2), &b, None).await.unwrap();
    s.put_mapping(meeting(3), &b, None).await.unwrap();
    s.put_mapping(meeting(3), &a, None).await.unwrap();
    // Both backends pick the bytewise greater content (here the host).
    assert_eq!(s.get_mapping(meeting(2)).await.unwrap(), Some(b.clone()));
    assert_eq!(s.get_mapping(meeting(3)).await.unwrap(), Some(b));
    // Invalid input is an error, not a write.
    assert!(matches!(
        s.put_mapping(meeting(4), &mapping("", "h", 1), None).await,
        Err(StoreError::InvalidInput(_))
    ));
    assert!(matches!(
        s.put_mapping(meeting(4), &mapping("acc", "h", i64::MAX), None)
            .await,
        Err(StoreError::InvalidInput(_))
    ));
    h.finish().await;
}

async fn newest_wins_in_every_order(h: Harness) {
    let s = h.store.as_ref();
    // create v1, create v2 with another host, remove v3: always removed.
    let removed_last = [
        Event::Put(mapping("acc", "host-1", 1)),
        Event::Put(mapping("acc", "host-2", 2)),
        Event::Remove("acc", 3),
    ];
    // remove v1 (older than both creates): always host-3 at v3.
    let removed_first = [
        Event::Remove("acc", 1),
        Event::Put(mapping("acc", "host-2", 2)),
        Event::Put(mapping("acc", "host-3", 3)),
    ];
    let mut n = 100;
    for (events, want) in [
        (&removed_last, None),
        (&removed_first, Some(mapping("acc", "host-3", 3))),
    ] {
        for order in PERMUTATIONS_OF_3 {
            n += 1;
            let key = meeting(n);
            for &i in &order {
                apply(s, key, &events[i]).await;
            }
            // Every event again (a redelivery), in reverse: nothing changes.
            for &i in order.iter().rev() {
                let again = apply(s, key, &events[i]).await;
                assert_ne!(again, Applied, "order {order:?}, event {i} re-applied");
            }
            assert_eq!(s.get_mapping(key).await.unwrap(), want, "order {order:?}");
        }
    }
    // The indexes agree with the map: six live mappings, all host-3.
    assert_eq!(s.count_mappings("acc").await.unwrap(), 6);
    let listed = all_pages(s, Some("acc"), 4).await;
    assert_eq!(listed.len(), 6);
    assert!(listed.iter().all(|(_, m)| m.owner_id == "host-3"));
    h.finish().await;
}

async fn tombstone_blocks_an_older_put(h: Harness) {
    let s = h.store.as_ref();
    let k = meeting(1);
    // A delete that overtook its create.
    assert_eq!(s.remove_mapping(k, "acc", 10).await.unwrap(), Applied);
    assert_eq!(s.remove_mapping(k, "acc", 10).await.unwrap(), Duplicate);
    assert_eq!(
        s.put_mapping(k, &mapping("acc", "h", 5), None)
            .await
            .unwrap(),
        Stale
    );
    // At equal versions the removal wins.
    assert_eq!(
        s.put_mapping(k, &mapping("acc", "h", 10), None)
            .await
            .unwrap(),
        Stale
    );
    assert_eq!(s.get_mapping(k).await.unwrap(), None);
    assert_eq!(s.count_mappings("acc").await.unwrap(), 0);
    // A newer create replaces the tombstone.
    let newer = mapping("acc", "h", 11);
    assert_eq!(s.put_mapping(k, &newer, None).await.unwrap(), Applied);
    assert_eq!(s.get_mapping(k).await.unwrap(), Some(newer));
    assert_eq!(s.remove_mapping(k, "acc", 9).await.unwrap(), Stale);
    assert_eq!(s.count_mappings("acc").await.unwrap(), 1);
    h.finish().await;
}

async fn remove_by_another_account_is_stale(h: Harness) {
    let s = h.store.as_ref();
    let k = meeting(1);
    let m = mapping("acc-a", "h", 10);
    s.put_mapping(k, &m, None).await.unwrap();
    assert_eq!(s.remove_mapping(k, "acc-b", 50).await.unwrap(), Stale);
    assert_eq!(s.get_mapping(k).await.unwrap(), Some(m));
    assert_eq!(s.remove_mapping(k, "acc-a", 9).await.unwrap(), Stale);
    assert_eq!(s.remove_mapping(k, "acc-a", 10).await.unwrap(), Applied);
    assert_eq!(s.get_mapping(k).await.unwrap(), None);
    assert_eq!(s.count_mappings("acc-a").await.unwrap(), 0);
    h.finish().await;
}

async fn meeting_moves_between_accounts(h: Harness) {
    let s = h.store.as_ref();
    let k = meeting(1);
    s.put_mapping(k, &mapping("acc-a", "h", 1), None)
        .await
        .unwrap();
    assert_eq!(
        s.put_mapping(k, &mapping("acc-b", "h2", 2), None)
            .await
            .unwrap(),
        Applied
    );
    assert_eq!(s.count_mappings("acc-a").await.unwrap(), 0);
    assert_eq!(s.count_mappings("acc-b").await.unwrap(), 1);
    assert!(all_pages(s, Some("acc-a"), 10).await.is_empty());
    assert_eq!(all_pages(s, Some("acc-b"), 10).await.len(), 1);
    assert_eq!(all_pages(s, None, 10).await.len(), 1);
    h.finish().await;
}

async fn pmi_of_user_follows_pmi_writes(h: Harness) {
    let s = h.store.as_ref();
    assert_eq!(s.pmi_of_user("acc", "u1").await.unwrap(), None);
    s.put_mapping(pmi(1), &mapping("acc", "u1", 1), None)
        .await
        .unwrap();
    assert_eq!(s.pmi_of_user("acc", "u1").await.unwrap(), Some(id(1)));
    // A meeting hosted by u1 is not a PMI.
    s.put_mapping(meeting(9), &mapping("acc", "u1", 5), None)
        .await
        .unwrap();
    assert_eq!(s.pmi_of_user("acc", "u1").await.unwrap(), Some(id(1)));
    // The user changes PMI; the old one's late removal does not clear it.
    s.put_mapping(pmi(2), &mapping("acc", "u1", 2), None)
        .await
        .unwrap();
    assert_eq!(s.pmi_of_user("acc", "u1").await.unwrap(), Some(id(2)));
    s.remove_mapping(pmi(1), "acc", 3).await.unwrap();
    assert_eq!(s.pmi_of_user("acc", "u1").await.unwrap(), Some(id(2)));
    // An older write about the old PMI does not take the index back.
    assert_eq!(
        s.put_mapping(pmi(1), &mapping("acc", "u1", 1), None)
            .await
            .unwrap(),
        Stale
    );
    assert_eq!(s.pmi_of_user("acc", "u1").await.unwrap(), Some(id(2)));
    s.remove_mapping(pmi(2), "acc", 4).await.unwrap();
    assert_eq!(s.pmi_of_user("acc", "u1").await.unwrap(), None);
    // A PMI handed to another user.
    s.put_mapping(pmi(3), &mapping("acc", "u2", 5), None)
        .await
        .unwrap();
    s.put_mapping(pmi(3), &mapping("acc", "u3", 6), None)
        .await
        .unwrap();
    assert_eq!(s.pmi_of_user("acc", "u2").await.unwrap(), None);
    assert_eq!(s.pmi_of_user("acc", "u3").await.unwrap(), Some(id(3)));
    assert_eq!(s.pmi_of_user("other", "u3").await.unwrap(), None);
    h.finish().await;
}

async fn list_pages_with_and_without_account(h: Harness) {
    let s = h.store.as_ref();
    let mut want_a = BTreeSet::new();
    let mut want_all = BTreeSet::new();
    // IDs far apart so they land in many buckets, with both kinds.
    for i in 0..25u64 {
        let key = if i % 3 == 0 {
            pmi(i * 7919)
        } else {
            meeting(i * 7919)
        };
        let account = if i < 15 { "acc-a" } else { "acc-b" };
        s.put_mapping(key, &mapping(account, &format!("u{i}"), 1), None)
            .await
            .unwrap();
        if account == "acc-a" {
            want_a.insert(key);
        }
        want_all.insert(key);
    }
    // Removed mappings are not listed.
    s.put_mapping(meeting(999_999), &mapping("acc-a", "x", 1), None)
        .await
        .unwrap();
    s.remove_mapping(meeting(999_999), "acc-a", 2)
        .await
        .unwrap();
    for limit in [1, 4, 7, 100] {
        let all = all_pages(s, None, limit).await;
        let keys: BTreeSet<MapKey> = all.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys.len(), all.len(), "a key listed twice (limit {limit})");
        assert_eq!(keys, want_all, "limit {limit}");
        let only_a = all_pages(s, Some("acc-a"), limit).await;
        assert!(only_a.iter().all(|(_, m)| m.account_id == "acc-a"));
        let keys: BTreeSet<MapKey> = only_a.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys.len(), only_a.len());
        assert_eq!(keys, want_a, "limit {limit}");
    }
    // An exact fit ends without a dangling cursor.
    let (page, next) = s.list_mappings(Some("acc-b"), None, 10).await.unwrap();
    assert_eq!((page.len(), next), (10, None));
    assert!(all_pages(s, Some("nobody"), 5).await.is_empty());
    assert!(matches!(
        s.list_mappings(None, Some("garbage"), 5).await,
        Err(StoreError::InvalidInput(_))
    ));
    assert!(matches!(
        s.list_mappings(None, None, 0).await,
        Err(StoreError::InvalidInput(_))
    ));
    assert_eq!(s.count_mappings("acc-a").await.unwrap(), 15);
    assert_eq!(s.count_mappings("acc-b").await.unwrap(), 10);
    assert_eq!(s.count_mappings("nobody").await.unwrap(), 0);
    h.finish().await;
}

async fn prune_keeps_what_the_sync_saw_and_newer_webhooks(h: Harness) {
    let s = h.store.as_ref();
    let started = 200;
    // Before the sync: an earlier sync's mapping, webhook mappings, a PMI.
    let seen = meeting(1);
    let unseen_webhook = meeting(2);
    let unseen_pmi = pmi(3);
    let old_sync = Mapping {
        source: Source::Sync,
        ..mapping("acc", "u1", 100)
    };
    s.put_mapping(seen, &old_sync, Some("g0")).await.unwrap();
    s.put_mapping(unseen_webhook, &mapping("acc", "u1", 150), None)
        .await
        .unwrap();
    s.put_mapping(unseen_pmi, &mapping("acc", "u3", 100), Some("g0"))
        .await
        .unwrap();
    s.put_mapping(meeting(9), &mapping("other", "u9", 100), None)
        .await
        .unwrap();
    // The sync of generation g1 (reads at 210 and later) ...
    let read = Mapping {
        source: Source::Sync,
        ..mapping("acc", "u1", 210)
    };
    assert_eq!(
        s.put_mapping(seen, &read, Some("g1")).await.unwrap(),
        Applied
    );
    s.put_mapping(meeting(4), &read, Some("g1")).await.unwrap();
    // ... while a webhook writes a meeting created during the sync.
    s.put_mapping(meeting(5), &mapping("acc", "u2", 250), None)
        .await
        .unwrap();
    assert_eq!(s.pmi_of_user("acc", "u3").await.unwrap(), Some(id(3)));

    assert_eq!(s.prune_unseen("acc", "g1", started).await.unwrap(), 2);
    assert_eq!(s.get_mapping(unseen_webhook).await.unwrap(), None);
    assert_eq!(s.get_mapping(unseen_pmi).await.unwrap(), None);
    assert_eq!(s.pmi_of_user("acc", "u3").await.unwrap(), None);
    for k in [seen, meeting(4), meeting(5)] {
        assert!(s.get_mapping(k).await.unwrap().is_some(), "{k} pruned");
    }
    assert!(s.get_mapping(meeting(9)).await.unwrap().is_some());
    assert_eq!(s.count_mappings("acc").await.unwrap(), 3);
    // Pruned mappings leave tombstones below the sync's start.
    assert_eq!(
        s.put_mapping(unseen_webhook, &mapping("acc", "u1", 150), None)
            .await
            .unwrap(),
        Stale
    );
    assert_eq!(
        s.put_mapping(unseen_webhook, &mapping("acc", "u1", started), None)
            .await
            .unwrap(),
        Applied
    );
    // Pruning again is a no-op.
    assert_eq!(s.prune_unseen("acc", "g1", started).await.unwrap(), 0);
    h.finish().await;
}

async fn purge_removes_one_accounts_mappings(h: Harness) {
    let s = h.store.as_ref();
    for i in 0..3 {
        s.put_mapping(meeting(i * 1000), &mapping("acc", "u", 10), None)
            .await
            .unwrap();
    }
    s.put_mapping(pmi(5), &mapping("acc", "u", 10), None)
        .await
        .unwrap();
    s.put_mapping(meeting(7), &mapping("other", "u", 10), None)
        .await
        .unwrap();
    s.remove_mapping(meeting(8), "acc", 10).await.unwrap();
    assert_eq!(s.purge_account_mappings("acc").await.unwrap(), 4);
    assert_eq!(s.count_mappings("acc").await.unwrap(), 0);
    assert!(all_pages(s, Some("acc"), 10).await.is_empty());
    assert_eq!(s.get_mapping(meeting(0)).await.unwrap(), None);
    assert_eq!(s.pmi_of_user("acc", "u").await.unwrap(), None);
    assert!(s.get_mapping(meeting(7)).await.unwrap().is_some());
    assert_eq!(all_pages(s, None, 10).await.len(), 1);
    // No tombstones: a reconnected account's sync can write them again.
    assert_eq!(
        s.put_mapping(meeting(0), &mapping("acc", "u", 1), None)
            .await
            .unwrap(),
        Applied
    );
    assert_eq!(s.purge_account_mappings("nobody").await.unwrap(), 0);
    h.finish().await;
}

async fn concurrent_writers_end_with_the_max_version(h: Harness) {
    let key = meeting(42);
    let mut tasks = Vec::new();
    for t in 0..16u64 {
        let store = h.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut versions: Vec<i64> = (1..=100).collect();
            shuffle(&mut versions, t + 1);
            let mut applied = 0;
            for v in versions {
                // Alternate accounts so the mapping keeps moving between
                // two accounts' indexes.
                let account = if v % 2 == 0 { "acc-even" } else { "acc-odd" };
                let m = mapping(account, &format!("h{v}"), v);
                if store.put_mapping(key, &m, None).await.unwrap() == Applied {
                    applied += 1;
                }
            }
            applied
        }));
    }
    let mut applied = 0;
    for t in tasks {
        applied += t.await.unwrap();
    }
    assert!(applied >= 1);
    let s = h.store.as_ref();
    assert_eq!(
        s.get_mapping(key).await.unwrap(),
        Some(mapping("acc-even", "h100", 100))
    );
    assert_eq!(s.count_mappings("acc-even").await.unwrap(), 1);
    assert_eq!(s.count_mappings("acc-odd").await.unwrap(), 0);
    assert_eq!(all_pages(s, None, 10).await.len(), 1);
    h.finish().await;
}

// ------------------------------------------------------------- accounts

fn record(account: &str) -> AccountRecord {
    rectoken_tests::account_record(account)
}

async fn account_crud(h: Harness) {
    let s = h.store.as_ref();
    assert_eq!(s.account("acc-b").await.unwrap(), None);
    assert!(s.list_accounts().await.unwrap().is_empty());
    let b = AccountRecord {
        kind: "user".into(),
        user_id: Some("u1".into()),
        ..record("acc-b")
    };
    s.upsert_account(&b).await.unwrap();
    s.upsert_account(&record("acc-a")).await.unwrap();
    assert_eq!(s.account("acc-b").await.unwrap(), Some(b.clone()));
    let ids: Vec<String> = s
        .list_accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.account_id)
        .collect();
    assert_eq!(ids, ["acc-a", "acc-b"]);

    s.set_account_status("acc-b", AccountStatus::Disconnected, Some("invalid_grant"))
        .await
        .unwrap();
    let got = s.account("acc-b").await.unwrap().unwrap();
    assert_eq!(got.status, AccountStatus::Disconnected);
    assert_eq!(got.last_error.as_deref(), Some("invalid_grant"));
    s.set_account_status("acc-b", AccountStatus::Connected, None)
        .await
        .unwrap();
    assert_eq!(s.account("acc-b").await.unwrap(), Some(b.clone()));
    assert!(matches!(
        s.set_account_status("nobody", AccountStatus::Connected, None)
            .await,
        Err(StoreError::AccountNotFound(_))
    ));
    // A full upsert replaces everything, optional fields included.
    let mut with_error = b.clone();
    with_error.last_error = Some("x".into());
    s.upsert_account(&with_error).await.unwrap();
    s.upsert_account(&b).await.unwrap();
    assert_eq!(s.account("acc-b").await.unwrap(), Some(b));

    s.put_credentials("acc-b", &creds(1), None).await.unwrap();
    s.delete_account("acc-b").await.unwrap();
    assert_eq!(s.account("acc-b").await.unwrap(), None);
    assert_eq!(s.credentials("acc-b").await.unwrap(), None);
    let ids: Vec<String> = s
        .list_accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.account_id)
        .collect();
    assert_eq!(ids, ["acc-a"]);
    s.delete_account("nobody").await.unwrap();
    h.finish().await;
}

async fn sync_progress_ignores_stale_generations(h: Harness) {
    let s = h.store.as_ref();
    assert!(matches!(
        s.start_sync("acc", "g1", 10, 1000).await,
        Err(StoreError::AccountNotFound(_))
    ));
    s.upsert_account(&record("acc")).await.unwrap();
    s.start_sync("acc", "g1", 10, 1000).await.unwrap();
    assert_eq!(
        s.add_sync_progress("acc", "g1", 3)
            .await
            .unwrap()
            .users_done,
        3
    );
    let st = s.add_sync_progress("acc", "g1", 2).await.unwrap();
    assert_eq!(
        st,
        SyncStatus {
            state: SyncState::InProgress,
            generation: "g1".into(),
            users_total: 10,
            users_done: 5,
            started_at_ms: Some(1000),
            finished_at_ms: None,
            last_error: None,
        }
    );
    // A new generation supersedes g1; g1's late reports are ignored.
    s.start_sync("acc", "g2", 4, 2000).await.unwrap();
    let st = s.add_sync_progress("acc", "g1", 7).await.unwrap();
    assert_eq!((st.generation.as_str(), st.users_done), ("g2", 0));
    s.finish_sync("acc", "g1", SyncState::Failed, Some("old"), 2500)
        .await
        .unwrap();
    let st = s.account("acc").await.unwrap().unwrap().sync;
    assert_eq!(st.state, SyncState::InProgress);
    // Concurrent progress adds up.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = h.store.clone();
        tasks.push(tokio::spawn(async move {
            store.add_sync_progress("acc", "g2", 1).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.account("acc").await.unwrap().unwrap().sync.users_done, 20);
    s.finish_sync("acc", "g2", SyncState::Failed, Some("zoom 500"), 3000)
        .await
        .unwrap();
    let st = s.account("acc").await.unwrap().unwrap().sync;
    assert_eq!(st.state, SyncState::Failed);
    assert_eq!(st.finished_at_ms, Some(3000));
    assert_eq!(st.last_error.as_deref(), Some("zoom 500"));
    // Status changes leave the sync alone, and a restart clears the error.
    s.set_account_status("acc", AccountStatus::Connected, None)
        .await
        .unwrap();
    s.start_sync("acc", "g3", 1, 4000).await.unwrap();
    s.finish_sync("acc", "g3", SyncState::Completed, None, 4100)
        .await
        .unwrap();
    let st = s.account("acc").await.unwrap().unwrap().sync;
    assert_eq!(
        (st.state, st.last_error, st.finished_at_ms),
        (SyncState::Completed, None, Some(4100))
    );
    // Without a record progress is ignored.
    assert_eq!(
        s.add_sync_progress("nobody", "g1", 1).await.unwrap(),
        SyncStatus::default()
    );
    s.finish_sync("nobody", "g1", SyncState::Completed, None, 1)
        .await
        .unwrap();
    h.finish().await;
}

// ---------------------------------------------------- credentials and locks

fn creds(n: u8) -> StoredCredentials {
    StoredCredentials {
        sealed: Sealed {
            key_id: format!("k{n}"),
            // Binary, with NUL and high bytes.
            nonce: vec![0, n, 255, 0],
            ciphertext: (0..=255u8).chain([0, n]).collect(),
        },
        refreshed_at_ms: 1000 + i64::from(n),
        access_expires_at_ms: 4600 + i64::from(n),
    }
}

/// Poll `try_lock` until the previous holder's short TTL ran out.
async fn take_after_expiry(s: &dyn Store, name: &str) -> rectoken_store::Lease {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(lease) = s.try_lock(name, Duration::from_secs(30)).await.unwrap() {
            return lease;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "lock {name} never expired"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn fenced_credentials_reject_a_former_holder(h: Harness) {
    let s = h.store.as_ref();
    assert_eq!(s.credentials("acc").await.unwrap(), None);
    assert!(s.put_credentials("acc", &creds(1), None).await.unwrap());
    assert_eq!(s.credentials("acc").await.unwrap(), Some(creds(1)));

    let name = account_lock_name("refresh", "acc");
    let first = s
        .try_lock(&name, Duration::from_millis(150))
        .await
        .unwrap()
        .expect("lock free");
    assert!(
        s.put_credentials("acc", &creds(2), Some(&first))
            .await
            .unwrap()
    );
    assert_eq!(s.credentials("acc").await.unwrap(), Some(creds(2)));
    // The first holder stalls past its TTL; another worker takes over.
    let second = take_after_expiry(s, &name).await;
    assert!(second.fence > first.fence);
    assert!(
        !s.put_credentials("acc", &creds(3), Some(&first))
            .await
            .unwrap()
    );
    assert!(!s.renew_lock(&first, Duration::from_secs(5)).await.unwrap());
    assert!(!s.unlock(&first).await.unwrap());
    assert_eq!(s.credentials("acc").await.unwrap(), Some(creds(2)));
    assert!(
        s.put_credentials("acc", &creds(4), Some(&second))
            .await
            .unwrap()
    );
    assert_eq!(s.credentials("acc").await.unwrap(), Some(creds(4)));
    // Released: the lease fences nothing any more.
    assert!(s.unlock(&second).await.unwrap());
    assert!(
        !s.put_credentials("acc", &creds(5), Some(&second))
            .await
            .unwrap()
    );
    assert_eq!(s.credentials("acc").await.unwrap(), Some(creds(4)));
    h.finish().await;
}

async fn one_of_32_concurrent_lockers_wins(h: Harness) {
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let store = h.store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .try_lock("sched", Duration::from_secs(30))
                .await
                .unwrap()
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        if let Some(lease) = t.await.unwrap() {
            winners.push(lease);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let lease = winners.remove(0);
    let s = h.store.as_ref();
    let impostor = rectoken_store::Lease {
        name: lease.name.clone(),
        fence: lease.fence + 1,
    };
    assert!(!s.unlock(&impostor).await.unwrap());
    assert!(
        !s.renew_lock(&impostor, Duration::from_secs(1))
            .await
            .unwrap()
    );
    assert!(s.renew_lock(&lease, Duration::from_secs(30)).await.unwrap());
    assert!(
        s.try_lock("sched", Duration::from_secs(1))
            .await
            .unwrap()
            .is_none()
    );
    // Other names are independent.
    assert!(
        s.try_lock("other", Duration::from_secs(1))
            .await
            .unwrap()
            .is_some()
    );
    assert!(s.unlock(&lease).await.unwrap());
    assert!(!s.unlock(&lease).await.unwrap());
    assert!(!s.renew_lock(&lease, Duration::from_secs(1)).await.unwrap());
    h.finish().await;
}

async fn fencing_tokens_strictly_increase(h: Harness) {
    let s = h.store.as_ref();
    let mut last = 0;
    for _ in 0..5 {
        let lease = s
            .try_lock("refresh", Duration::from_secs(30))
            .await
            .unwrap()
            .expect("free after unlock");
        assert!(lease.fence > last, "{} after {last}", lease.fence);
        last = lease.fence;
        assert!(s.unlock(&lease).await.unwrap());
    }
    // Also across an expiry.
    let short = s
        .try_lock("refresh", Duration::from_millis(50))
        .await
        .unwrap()
        .expect("free");
    assert!(short.fence > last);
    let next = take_after_expiry(s, "refresh").await;
    assert!(next.fence > short.fence);
    h.finish().await;
}

// ---------------------------------------------------------- rate limiting

async fn gcra_admits_the_burst_then_asks_to_wait(h: Harness) {
    let s = h.store.as_ref();
    let limit = RateLimit {
        per_second: 1.0,
        burst: 5,
    };
    for i in 0..5 {
        assert_eq!(
            s.admit("acc", "light", limit).await.unwrap(),
            Admission::Allowed,
            "request {i}"
        );
    }
    match s.admit("acc", "light", limit).await.unwrap() {
        // One emission interval (1 s), minus the time the burst took.
        Admission::Wait(d) => assert!(
            d > Duration::from_millis(200) && d <= Duration::from_secs(1),
            "{d:?}"
        ),
        Admission::Allowed => panic!("burst exceeded"),
    }
    // Labels and accounts have their own budgets.
    assert_eq!(
        s.admit("acc", "heavy", limit).await.unwrap(),
        Admission::Allowed
    );
    assert_eq!(
        s.admit("acc-2", "light", limit).await.unwrap(),
        Admission::Allowed
    );
    assert!(matches!(
        s.admit(
            "acc",
            "light",
            RateLimit {
                per_second: 0.0,
                burst: 1
            }
        )
        .await,
        Err(StoreError::InvalidInput(_))
    ));
    h.finish().await;
}

async fn block_makes_every_label_wait(h: Harness) {
    let s = h.store.as_ref();
    let limit = RateLimit {
        per_second: 100.0,
        burst: 100,
    };
    let wait = |a: Admission| match a {
        Admission::Wait(d) => d,
        Admission::Allowed => panic!("admitted while blocked"),
    };
    s.block_account("acc", now_ms() + 60_000).await.unwrap();
    let d = wait(s.admit("acc", "light", limit).await.unwrap());
    assert!(
        d > Duration::from_secs(50) && d <= Duration::from_secs(60),
        "{d:?}"
    );
    // A shorter block does not shorten it; a longer one extends it.
    s.block_account("acc", now_ms() + 10_000).await.unwrap();
    let d = wait(s.admit("acc", "heavy", limit).await.unwrap());
    assert!(d > Duration::from_secs(50), "{d:?}");
    s.block_account("acc", now_ms() + 120_000).await.unwrap();
    let d = wait(s.admit("acc", "light", limit).await.unwrap());
    assert!(
        d > Duration::from_secs(110) && d <= Duration::from_secs(120),
        "{d:?}"
    );
    // Other accounts are not blocked; a block in the past is nothing.
    assert_eq!(
        s.admit("acc-2", "light", limit).await.unwrap(),
        Admission::Allowed
    );
    s.block_account("acc-3", now_ms() - 1000).await.unwrap();
    assert_eq!(
        s.admit("acc-3", "light", limit).await.unwrap(),
        Admission::Allowed
    );
    h.finish().await;
}

async fn ping_answers(h: Harness) {
    h.store.ping().await.unwrap();
    h.finish().await;
}

// ------------------------------------------------------------ user directory

fn dir_user(
    account: &str,
    user: &str,
    email: &str,
    vanity: Option<&str>,
    version: i64,
) -> DirectoryUser {
    DirectoryUser {
        account_id: account.into(),
        user_id: user.into(),
        email: Some(email.into()),
        vanity_name: vanity.map(Into::into),
        pmi: Some(id(900 + version as u64 % 50)),
        version,
    }
}

async fn find(s: &dyn Store, key: DirectoryKey) -> Option<DirectoryUser> {
    s.find_directory_user(&key).await.unwrap()
}

async fn directory_finds_users_by_id_email_and_vanity(h: Harness) {
    let s = &*h.store;
    let jill = dir_user("acc-1", "u-jill", "Jill@Example.com", Some("JillSmith"), 10);
    assert!(s.put_directory_user(&jill).await.unwrap());
    assert_eq!(
        find(s, DirectoryKey::UserId("u-jill".into())).await,
        Some(jill.clone())
    );
    assert_eq!(
        find(s, DirectoryKey::Email("jill@EXAMPLE.com".into())).await,
        Some(jill.clone())
    );
    assert_eq!(
        find(s, DirectoryKey::Vanity("jillsmith".into())).await,
        Some(jill.clone())
    );
    assert_eq!(
        find(s, DirectoryKey::UserId("u-JILL".into())).await,
        None,
        "IDs are exact"
    );
    assert_eq!(
        find(s, DirectoryKey::Email("bob@example.com".into())).await,
        None
    );
    assert_eq!(find(s, DirectoryKey::Vanity("nobody".into())).await, None);
    // Without optional fields.
    let bare = DirectoryUser {
        account_id: "acc-1".into(),
        user_id: "u-bare".into(),
        email: None,
        vanity_name: None,
        pmi: None,
        version: 5,
    };
    assert!(s.put_directory_user(&bare).await.unwrap());
    assert_eq!(
        find(s, DirectoryKey::UserId("u-bare".into())).await,
        Some(bare)
    );
    // Bad input is an error, not a write.
    let mut bad = jill.clone();
    bad.account_id.clear();
    assert!(matches!(
        s.put_directory_user(&bad).await,
        Err(StoreError::InvalidInput(_))
    ));
    h.finish().await;
}

async fn directory_newest_write_wins_and_moves_the_indexes(h: Harness) {
    let s = &*h.store;
    let old = dir_user("acc-1", "u-1", "old@example.com", Some("oldname"), 10);
    let new = dir_user("acc-1", "u-1", "new@example.com", Some("NewName"), 20);
    assert!(s.put_directory_user(&new).await.unwrap());
    assert!(
        !s.put_directory_user(&old).await.unwrap(),
        "older put is stale"
    );
    assert!(
        !s.put_directory_user(&new).await.unwrap(),
        "redelivery changes nothing"
    );
    assert_eq!(
        find(s, DirectoryKey::Email("old@example.com".into())).await,
        None
    );
    assert_eq!(
        find(s, DirectoryKey::Vanity("newname".into())).await,
        Some(new.clone())
    );
    // A newer write with another email and no vanity name unindexes both.
    let newer = DirectoryUser {
        vanity_name: None,
        ..dir_user("acc-1", "u-1", "newest@example.com", None, 30)
    };
    assert!(s.put_directory_user(&newer).await.unwrap());
    assert_eq!(
        find(s, DirectoryKey::Email("new@example.com".into())).await,
        None
    );
    assert_eq!(find(s, DirectoryKey::Vanity("newname".into())).await, None);
    assert_eq!(
        find(s, DirectoryKey::Email("NEWEST@example.com".into())).await,
        Some(newer.clone())
    );
    // An email taken over by another user: the index follows the newer
    // writer, and the old holder's later change does not drop it.
    let other = dir_user("acc-1", "u-2", "newest@example.com", None, 40);
    assert!(s.put_directory_user(&other).await.unwrap());
    assert_eq!(
        find(s, DirectoryKey::Email("newest@example.com".into())).await,
        Some(other.clone())
    );
    let moved = dir_user("acc-1", "u-1", "else@example.com", None, 50);
    assert!(s.put_directory_user(&moved).await.unwrap());
    assert_eq!(
        find(s, DirectoryKey::Email("newest@example.com".into())).await,
        Some(other)
    );
    h.finish().await;
}

async fn directory_removal_is_versioned_and_guarded_by_account(h: Harness) {
    let s = &*h.store;
    let u = dir_user("acc-1", "u-1", "u1@example.com", Some("uone"), 10);
    assert!(s.put_directory_user(&u).await.unwrap());
    assert!(
        !s.remove_directory_user("acc-1", "u-1", 9).await.unwrap(),
        "older removal"
    );
    assert!(
        !s.remove_directory_user("acc-2", "u-1", 99).await.unwrap(),
        "another account"
    );
    assert!(
        s.find_directory_user(&DirectoryKey::UserId("u-1".into()))
            .await
            .unwrap()
            .is_some()
    );
    assert!(s.remove_directory_user("acc-1", "u-1", 10).await.unwrap());
    assert_eq!(find(s, DirectoryKey::UserId("u-1".into())).await, None);
    assert_eq!(
        find(s, DirectoryKey::Email("u1@example.com".into())).await,
        None
    );
    assert_eq!(find(s, DirectoryKey::Vanity("uone".into())).await, None);
    // The tombstone keeps a late retry of an older put out; a newer put wins.
    assert!(!s.put_directory_user(&u).await.unwrap());
    assert!(
        !s.remove_directory_user("acc-1", "u-1", 10).await.unwrap(),
        "duplicate"
    );
    let back = dir_user("acc-2", "u-1", "u1@example.com", None, 11);
    assert!(s.put_directory_user(&back).await.unwrap());
    assert_eq!(
        find(s, DirectoryKey::Email("u1@example.com".into())).await,
        Some(back)
    );
    // A removal of a user never seen leaves a tombstone too.
    assert!(s.remove_directory_user("acc-1", "u-9", 100).await.unwrap());
    assert!(
        !s.put_directory_user(&dir_user("acc-1", "u-9", "u9@example.com", None, 99))
            .await
            .unwrap()
    );
    h.finish().await;
}

async fn directory_purge_removes_one_accounts_users(h: Harness) {
    let s = &*h.store;
    for i in 0..30 {
        let account = if i % 3 == 0 { "acc-b" } else { "acc-a" };
        let u = dir_user(
            account,
            &format!("u-{i}"),
            &format!("u{i}@example.com"),
            Some(&format!("v{i}")),
            10,
        );
        assert!(s.put_directory_user(&u).await.unwrap());
    }
    assert_eq!(s.purge_account_directory("acc-a").await.unwrap(), 20);
    assert_eq!(s.purge_account_directory("acc-a").await.unwrap(), 0);
    for i in 0..30 {
        let by_email = find(s, DirectoryKey::Email(format!("u{i}@example.com"))).await;
        let by_vanity = find(s, DirectoryKey::Vanity(format!("V{i}"))).await;
        if i % 3 == 0 {
            assert_eq!(by_email.map(|u| u.account_id), Some("acc-b".into()));
            assert!(by_vanity.is_some());
        } else {
            assert_eq!(by_email, None);
            assert_eq!(by_vanity, None);
        }
    }
    // Purged users leave no tombstone: a new connect's sync records them again.
    assert!(
        s.put_directory_user(&dir_user("acc-a", "u-1", "u1@example.com", None, 1))
            .await
            .unwrap()
    );
    h.finish().await;
}

async fn directory_prune_removes_what_the_sync_did_not_write(h: Harness) {
    let s = &*h.store;
    let started = 1_000;
    // Seen by the sync (its start's version), written by an event since,
    // stale (an older sync), and another account's stale user.
    let seen = dir_user("acc-1", "u-seen", "seen@example.com", Some("seen"), started);
    let newer = dir_user("acc-1", "u-newer", "newer@example.com", None, started + 5);
    let stale = dir_user(
        "acc-1",
        "u-stale",
        "stale@example.com",
        Some("stale"),
        started - 500,
    );
    let other = dir_user("acc-2", "u-other", "other@example.com", None, started - 500);
    for u in [&seen, &newer, &stale, &other] {
        assert!(s.put_directory_user(u).await.unwrap());
    }
    assert_eq!(s.prune_directory("acc-1", started).await.unwrap(), 1);
    assert_eq!(find(s, DirectoryKey::UserId("u-stale".into())).await, None);
    assert_eq!(find(s, DirectoryKey::Vanity("stale".into())).await, None);
    assert_eq!(
        find(s, DirectoryKey::UserId("u-seen".into())).await,
        Some(seen)
    );
    assert_eq!(
        find(s, DirectoryKey::UserId("u-newer".into())).await,
        Some(newer)
    );
    assert_eq!(
        find(s, DirectoryKey::UserId("u-other".into())).await,
        Some(other)
    );
    // Tombstoned just below the sync's start: a late older event stays out,
    // the next sync's write gets in.
    assert!(
        !s.put_directory_user(&dir_user("acc-1", "u-stale", "x@y.z", None, started - 1))
            .await
            .unwrap()
    );
    assert!(
        s.put_directory_user(&dir_user("acc-1", "u-stale", "x@y.z", None, started))
            .await
            .unwrap()
    );
    assert_eq!(s.prune_directory("acc-1", started).await.unwrap(), 0);
    h.finish().await;
}

async fn directory_concurrent_writers_end_with_the_newest(h: Harness) {
    let s = h.store.clone();
    let mut tasks = Vec::new();
    for v in 1..=24i64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let u = dir_user(
                "acc-1",
                "u-1",
                &format!("e{v}@example.com"),
                Some(&format!("n{v}")),
                v,
            );
            s.put_directory_user(&u).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let got = find(&*s, DirectoryKey::UserId("u-1".into())).await.unwrap();
    assert_eq!(got.version, 24);
    assert_eq!(
        find(&*s, DirectoryKey::Email("e24@example.com".into())).await,
        Some(got.clone())
    );
    for v in 1..24 {
        assert_eq!(
            find(&*s, DirectoryKey::Email(format!("e{v}@example.com"))).await,
            None,
            "e{v}"
        );
        assert_eq!(
            find(&*s, DirectoryKey::Vanity(format!("n{v}"))).await,
            None,
            "n{v}"
        );
    }
    h.finish().await;
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Harness::memory(stringify!($case)).await).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Harness::redis(stringify!($case)).await).await;
                }
            )*
        }
        mod redis_cluster {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Harness::redis_cluster(stringify!($case)).await).await;
                }
            )*
        }
    };
}

contract!(
    put_get,
    newest_wins_in_every_order,
    tombstone_blocks_an_older_put,
    remove_by_another_account_is_stale,
    meeting_moves_between_accounts,
    pmi_of_user_follows_pmi_writes,
    list_pages_with_and_without_account,
    prune_keeps_what_the_sync_saw_and_newer_webhooks,
    purge_removes_one_accounts_mappings,
    concurrent_writers_end_with_the_max_version,
    account_crud,
    sync_progress_ignores_stale_generations,
    fenced_credentials_reject_a_former_holder,
    one_of_32_concurrent_lockers_wins,
    fencing_tokens_strictly_increase,
    gcra_admits_the_burst_then_asks_to_wait,
    block_makes_every_label_wait,
    ping_answers,
    directory_finds_users_by_id_email_and_vanity,
    directory_newest_write_wins_and_moves_the_indexes,
    directory_removal_is_versioned_and_guarded_by_account,
    directory_purge_removes_one_accounts_users,
    directory_concurrent_writers_end_with_the_newest,
    directory_prune_removes_what_the_sync_did_not_write,
);
