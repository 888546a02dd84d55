//! The sync worker end to end: real RabbitMQ and Redis (see
//! `tests/lib.rs` of `rectoken-tests` for the prerequisites), the Zoom
//! simulator in process, accounts connected through its OAuth code flow.
//!
//! Webhook events are the simulator's own bodies (`dispatch.body` of its
//! control methods), published to `rectoken.events` the way the ingress
//! does; synthetic bodies are used where a test needs exact timestamps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures_util::StreamExt;
use rectoken_bus::topology::REASON_HEADER;
use rectoken_bus::{OutgoingMessage, Topology};
use rectoken_domain::meeting_id::MeetingId;
use rectoken_runtime::RetryPolicy;
use rectoken_store::{MapKey, Mapping, Source, SyncState};
use rectoken_sync::SyncOptions;
use rectoken_tests::sync_rig::Rig;
use rectoken_tests::{
    amqp_url, delete_topology, eventually, redis_cluster_url, redis_url, unique_prefix,
};
use rectoken_vault::{Plan, ZoomLimits};
use zoom_sim::{Behaviour, DeleteMeeting, Endpoint, GenerateSpec, NewMeeting, SimConfig};

const WAIT: Duration = Duration::from_secs(30);

fn mid(n: u64) -> MeetingId {
    MeetingId::new(n).unwrap()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn sim_config() -> SimConfig {
    SimConfig::for_tests("x", "x", "x")
}

async fn rig(name: &str) -> Rig {
    rig_with(
        name,
        sim_config(),
        ZoomLimits::for_plan(Plan::BusinessPlus, 0.95),
    )
    .await
}

async fn rig_with(name: &str, cfg: SimConfig, limits: ZoomLimits) -> Rig {
    Rig::start(&amqp_url(), &redis_url(), &unique_prefix(name), cfg, limits)
        .await
        .expect("start the rig")
}

async fn teardown(rig: &Rig) {
    rig.bus.close().await;
    delete_topology(&amqp_url(), &Topology::new(rig.prefix.clone())).await;
}

fn options(concurrency: usize) -> SyncOptions {
    SyncOptions {
        concurrency,
        scheduler: false,
        retry: RetryPolicy {
            attempts: 5,
            min_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(500),
        },
        ..SyncOptions::default()
    }
}

/// A generated account of `users` × `meetings`, connected; its ID and the
/// generated data (the same seed reproduces the simulator's IDs).
async fn generated(
    rig: &Rig,
    users: usize,
    meetings: usize,
    seed: u64,
) -> (String, zoom_sim::generate::Generated) {
    let spec = GenerateSpec {
        account_id: None,
        users,
        meetings_per_user: meetings,
        seed,
        plan: zoom_sim::Plan::Business,
    };
    // What the simulator will hold: generation depends only on the seed and
    // on which numbers are taken (none yet in a fresh simulator).
    let data = zoom_sim::generate::generate(&spec, rig.sim.now_ms(), &|_| false);
    let summary = rig.sim.generate(&spec).unwrap();
    assert_eq!(summary.account_id, data.account.id);
    let account = rig
        .connect_account(summary.owner_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(account, data.account.id);
    (account, data)
}

async fn mapping(rig: &Rig, key: MapKey) -> Option<Mapping> {
    rig.store.get_mapping(key).await.unwrap()
}

async fn wait_mapped(rig: &Rig, key: MapKey, owner: &str) {
    let ok = eventually(WAIT, || async {
        mapping(rig, key).await.is_some_and(|m| m.owner_id == owner)
    })
    .await;
    assert!(
        ok,
        "{key} never mapped to {owner}: {:?}",
        mapping(rig, key).await
    );
}

/// With one worker at concurrency 1 messages are handled in publish
/// order: once a sentinel event is mapped, everything before it was handled.
async fn settle(rig: &Rig, account: &str, n: u64) {
    let id = 70_000_000_000 + n;
    rig.publish_event(&created(account, id, "sentinel", now_ms()))
        .await
        .unwrap();
    wait_mapped(rig, MapKey::meeting(mid(id)), "sentinel").await;
}

fn created(account: &str, id: u64, host: &str, ts: i64) -> String {
    format!(
        r#"{{"event":"meeting.created","event_ts":{ts},"payload":{{"account_id":"{account}","operator_id":"{host}","object":{{"id":{id},"uuid":"x==","host_id":"{host}","type":2}}}}}}"#
    )
}

fn deleted(account: &str, id: u64, host: &str, ts: i64) -> String {
    format!(
        r#"{{"event":"meeting.deleted","event_ts":{ts},"payload":{{"account_id":"{account}","object":{{"id":{id},"uuid":"x==","host_id":"{host}","type":2}}}}}}"#
    )
}

fn pmi_changed(account: &str, user: &str, old: u64, new: u64, ts: i64) -> String {
    format!(
        r#"{{"event":"user.updated","event_ts":{ts},"payload":{{"account_id":"{account}","object":{{"id":"{user}","pmi":{new}}},"old_object":{{"id":"{user}","pmi":{old}}},"time_stamp":{ts}}}}}"#
    )
}

/// Make every `list_meetings` call of the simulator take `latency_ms`.
fn slow_list_meetings(rig: &Rig, latency_ms: u64) {
    rig.sim
        .set_behaviour(
            Some(Endpoint::ListMeetings),
            Behaviour {
                latency_ms,
                ..Behaviour::default()
            },
        )
        .unwrap();
}

/// Messages in both DLQs of the sync workers.
async fn dlq_depth(rig: &Rig) -> u32 {
    let topology = rig.bus.topology();
    let mut depth = 0;
    for queue in [topology.sync_queue(), topology.sync_users_queue()] {
        depth += rig.bus.queue_depth(&Topology::dlq(&queue)).await.unwrap();
    }
    depth
}

#[tokio::test]
async fn each_event_type() {
    let rig = rig("sync-events").await;
    let (account, data) = generated(&rig, 3, 1, 11).await;
    let workers = rig.spawn_workers(1, &options(1));
    let (alice, bob) = (&data.users[0], &data.users[1]);

    // meeting.created: mapped to the host (not the operator), at event_ts.
    let m = rig
        .sim
        .create_meeting(
            &bob.id,
            NewMeeting {
                operator_id: Some(alice.id.clone()),
                ..NewMeeting::default()
            },
        )
        .unwrap();
    rig.publish_event(&m.dispatch.body).await.unwrap();
    let key = MapKey::meeting(mid(m.value.id));
    wait_mapped(&rig, key, &bob.id).await;
    let got = mapping(&rig, key).await.unwrap();
    assert_eq!(
        (got.account_id.as_str(), got.source),
        (account.as_str(), Source::Webhook)
    );
    let ts = serde_json::from_str::<serde_json::Value>(&m.dispatch.body).unwrap()["event_ts"]
        .as_i64()
        .unwrap();
    assert_eq!(got.version_ms, ts);

    // meeting.deleted of some occurrences: still mapped.
    let recurring = rig
        .sim
        .create_meeting(
            &alice.id,
            NewMeeting {
                meeting_type: Some(8),
                occurrences: Some(3),
                ..NewMeeting::default()
            },
        )
        .unwrap();
    rig.publish_event(&recurring.dispatch.body).await.unwrap();
    let rkey = MapKey::meeting(mid(recurring.value.id));
    wait_mapped(&rig, rkey, &alice.id).await;
    let first = recurring.value.occurrences[0].occurrence_id.clone();
    let partial = rig
        .sim
        .delete_meeting(
            recurring.value.id,
            DeleteMeeting {
                occurrence_ids: Some(vec![first]),
                operator_id: None,
            },
        )
        .unwrap();
    assert!(partial.dispatch.body.contains("occurrences"));
    rig.publish_event(&partial.dispatch.body).await.unwrap();

    // meeting.deleted of the whole meeting: unmapped.
    let whole = rig
        .sim
        .delete_meeting(m.value.id, DeleteMeeting::default())
        .unwrap();
    rig.publish_event(&whole.dispatch.body).await.unwrap();
    settle(&rig, &account, 1).await;
    assert_eq!(mapping(&rig, key).await, None);
    assert!(
        mapping(&rig, rkey).await.is_some(),
        "an occurrence deletion keeps the meeting"
    );

    // user.updated with a PMI change: the new PMI maps to the user, the old
    // one goes. First map the old one (as a sync would have).
    let old_pmi = alice.pmi;
    rig.publish_event(&pmi_changed(
        &account,
        &alice.id,
        5_123_456_789,
        old_pmi,
        now_ms() - 10_000,
    ))
    .await
    .unwrap();
    wait_mapped(&rig, MapKey::pmi(mid(old_pmi)), &alice.id).await;
    let changed = rig.sim.set_pmi(&alice.id, 5_550_001_234).unwrap();
    rig.publish_event(&changed.dispatch.body).await.unwrap();
    wait_mapped(&rig, MapKey::pmi(mid(5_550_001_234)), &alice.id).await;
    assert_eq!(mapping(&rig, MapKey::pmi(mid(old_pmi))).await, None);
    assert_eq!(
        rig.store.pmi_of_user(&account, &alice.id).await.unwrap(),
        Some(mid(5_550_001_234))
    );

    // user.updated without a PMI change: nothing.
    let renamed = rig
        .sim
        .update_user(
            &bob.id,
            zoom_sim::UserPatch {
                first_name: Some("Robert".into()),
                ..Default::default()
            },
        )
        .unwrap();
    rig.publish_event(&renamed.dispatch.body).await.unwrap();

    // user.deleted and user.deactivated: the user's PMI goes.
    for (user, pmi, event) in [
        (bob, 5_550_002_000u64, "user.deleted"),
        (&data.users[2], 5_550_003_000, "user.deactivated"),
    ] {
        rig.publish_event(&pmi_changed(
            &account,
            &user.id,
            user.pmi,
            pmi,
            now_ms() - 5_000,
        ))
        .await
        .unwrap();
        wait_mapped(&rig, MapKey::pmi(mid(pmi)), &user.id).await;
        let body = format!(
            r#"{{"event":"{event}","event_ts":{},"payload":{{"account_id":"{account}","object":{{"id":"{}"}}}}}}"#,
            now_ms(),
            user.id
        );
        rig.publish_event(&body).await.unwrap();
        let gone = eventually(WAIT, || async {
            mapping(&rig, MapKey::pmi(mid(pmi))).await.is_none()
        })
        .await;
        assert!(gone, "{event} must unmap the PMI");
    }

    // Ignored events and events of unknown accounts change nothing.
    rig.publish_event(
        r#"{"event":"recording.completed","event_ts":1,"payload":{"account_id":"x"}}"#,
    )
    .await
    .unwrap();
    rig.publish_event(&created("not-connected", 85_000_000_777, "h", now_ms()))
        .await
        .unwrap();
    settle(&rig, &account, 2).await;
    assert_eq!(
        mapping(&rig, MapKey::meeting(mid(85_000_000_777))).await,
        None
    );
    assert_eq!(dlq_depth(&rig).await, 0);

    // app_deauthorized: credentials, state and mappings go.
    assert!(rig.store.count_mappings(&account).await.unwrap() > 0);
    let deauth = rig.sim.deauthorize(&account, None).unwrap();
    rig.publish_event(&deauth.dispatch.body).await.unwrap();
    let purged = eventually(WAIT, || async {
        rig.store.account(&account).await.unwrap().is_none()
    })
    .await;
    assert!(purged);
    let empty = eventually(WAIT, || async {
        rig.store.count_mappings(&account).await.unwrap() == 0
    })
    .await;
    assert!(empty);
    assert!(rig.store.credentials(&account).await.unwrap().is_none());
    // Later events of the deauthorized account are not mapped any more
    // (another connected account provides the sentinel).
    let other = rig
        .sim
        .generate(&GenerateSpec {
            account_id: None,
            users: 1,
            meetings_per_user: 0,
            seed: 99,
            plan: zoom_sim::Plan::Business,
        })
        .unwrap();
    let other = rig
        .connect_account(other.owner_id.as_deref().unwrap())
        .await
        .unwrap();
    rig.publish_event(&created(&account, 85_000_000_888, &alice.id, now_ms()))
        .await
        .unwrap();
    settle(&rig, &other, 3).await;
    assert_eq!(
        mapping(&rig, MapKey::meeting(mid(85_000_000_888))).await,
        None
    );
    workers.stop().await;
    assert_eq!(dlq_depth(&rig).await, 0);
    teardown(&rig).await;
}

fn permutations(items: &[usize]) -> Vec<Vec<usize>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for (i, &first) in items.iter().enumerate() {
        let mut rest = items.to_vec();
        rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first);
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn out_of_order_and_duplicate_events_end_in_the_newest_state() {
    let rig = rig("sync-order").await;
    let (account, _) = generated(&rig, 1, 0, 12).await;
    let workers = rig.spawn_workers(1, &options(1));
    let t = now_ms() - 60_000;
    let mut expect: Vec<(MapKey, Option<(String, i64)>)> = Vec::new();
    let mut n = 0u64;
    for order in permutations(&[0, 1, 2]) {
        // Every order, then every event again in reverse: duplicates too.
        let sequence: Vec<usize> = order.iter().chain(order.iter().rev()).copied().collect();
        // Create, delete, recreate by another host: ends mapped to h2.
        n += 1;
        let id = 86_000_000_000 + n;
        let events = [
            created(&account, id, "h1", t),
            deleted(&account, id, "h1", t + 1),
            created(&account, id, "h2", t + 2),
        ];
        for &i in &sequence {
            rig.publish_event(&events[i]).await.unwrap();
        }
        expect.push((MapKey::meeting(mid(id)), Some(("h2".into(), t + 2))));
        // Create, recreate, delete: ends unmapped.
        n += 1;
        let id = 86_000_000_000 + n;
        let events = [
            created(&account, id, "h1", t),
            created(&account, id, "h2", t + 1),
            deleted(&account, id, "h2", t + 2),
        ];
        for &i in &sequence {
            rig.publish_event(&events[i]).await.unwrap();
        }
        expect.push((MapKey::meeting(mid(id)), None));
        // PMI changes P0→P1→P2→P3: ends with P3 only.
        n += 1;
        let user = format!("u{n}");
        let p = |j: u64| 5_000_000_000 + n * 10 + j;
        let events = [
            pmi_changed(&account, &user, p(0), p(1), t),
            pmi_changed(&account, &user, p(1), p(2), t + 1),
            pmi_changed(&account, &user, p(2), p(3), t + 2),
        ];
        for &i in &sequence {
            rig.publish_event(&events[i]).await.unwrap();
        }
        expect.push((MapKey::pmi(mid(p(3))), Some((user.clone(), t + 2))));
        for j in 0..3 {
            expect.push((MapKey::pmi(mid(p(j))), None));
        }
    }
    settle(&rig, &account, 0).await;
    for (key, want) in &expect {
        let got = mapping(&rig, *key)
            .await
            .map(|m| (m.owner_id, m.version_ms));
        assert_eq!(&got, want, "{key}");
    }
    workers.stop().await;
    assert_eq!(dlq_depth(&rig).await, 0);
    teardown(&rig).await;
}

#[tokio::test]
async fn two_workers_on_one_account_converge() {
    let rig = rig("sync-two").await;
    let (account, _) = generated(&rig, 1, 0, 13).await;
    let t = now_ms() - 60_000;
    // Per meeting a chain of creates and deletes whose newest event is a
    // create: the final (host, version) pair says exactly which event won.
    let mut bodies = Vec::new();
    let mut want = BTreeMap::new();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for k in 0..60u64 {
        let id = 87_000_000_000 + k;
        let len = 3 + next() % 4;
        for step in 0..len {
            let ts = t + (step as i64) * 10;
            let host = format!("h{k}-{step}");
            if step + 1 == len || next() % 2 == 0 {
                bodies.push(created(&account, id, &host, ts));
            } else {
                bodies.push(deleted(&account, id, &host, ts));
            }
            if step + 1 == len {
                want.insert(id, (host, ts));
            }
        }
        // A duplicate of a random earlier event.
        let dup = bodies[bodies.len() - 1 - (next() % len) as usize].clone();
        bodies.push(dup);
    }
    // Shuffle (Fisher–Yates).
    for i in (1..bodies.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        bodies.swap(i, j);
    }
    for b in &bodies {
        rig.publish_event(b).await.unwrap();
    }
    let workers = rig.spawn_workers(2, &options(8));
    let done = eventually(WAIT, || async {
        for (id, (host, ts)) in &want {
            match mapping(&rig, MapKey::meeting(mid(*id))).await {
                Some(m) if &m.owner_id == host && m.version_ms == *ts => {}
                _ => return false,
            }
        }
        true
    })
    .await;
    assert!(done, "not every meeting ended in its newest state");
    let drained = eventually(WAIT, || async {
        rig.bus
            .queue_depth(&rig.bus.topology().sync_queue())
            .await
            .unwrap()
            == 0
    })
    .await;
    assert!(drained);
    workers.stop().await;
    for (id, (host, ts)) in &want {
        let m = mapping(&rig, MapKey::meeting(mid(*id))).await.unwrap();
        assert_eq!((&m.owner_id, m.version_ms), (host, *ts), "{id}");
    }
    assert_eq!(dlq_depth(&rig).await, 0);
    teardown(&rig).await;
}

/// Every mapping of the account equals what the simulator holds.
async fn exact(
    rig: &Rig,
    account: &str,
    data: &zoom_sim::generate::Generated,
) -> Result<(), String> {
    let mut want: HashMap<MapKey, String> = HashMap::new();
    for u in &data.users {
        let u_now = rig.sim.user(&u.id).unwrap();
        want.insert(MapKey::pmi(mid(u_now.pmi)), u.id.clone());
    }
    for m in &data.meetings {
        if rig.sim.meeting(m.id).is_some() {
            want.insert(MapKey::meeting(mid(m.id)), m.host_id.clone());
        }
    }
    let mut got: HashMap<MapKey, Mapping> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let (page, next) = rig
            .store
            .list_mappings(Some(account), cursor.as_deref(), 1000)
            .await
            .unwrap();
        for (k, m) in page {
            if got.insert(k, m).is_some() {
                return Err(format!("listed twice: {k}"));
            }
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let counted = rig.store.count_mappings(account).await.unwrap();
    if counted != want.len() as u64 || got.len() != want.len() {
        return Err(format!(
            "{counted} counted, {} listed, {} expected",
            got.len(),
            want.len()
        ));
    }
    for (key, owner) in &want {
        let Some(m) = got.get(key) else {
            return Err(format!("{key} is not mapped"));
        };
        if (&m.owner_id, m.account_id.as_str()) != (owner, account) {
            return Err(format!("{key}: {m:?}, expected owner {owner}"));
        }
    }
    Ok(())
}

async fn assert_exact(rig: &Rig, account: &str, data: &zoom_sim::generate::Generated) {
    if let Err(e) = exact(rig, account, data).await {
        panic!("the map differs from the simulator: {e}");
    }
}

#[tokio::test]
async fn full_sync_of_2000_users_is_exact() {
    let rig = rig("sync-full").await;
    let (account, data) = generated(&rig, 2000, 5, 14).await;
    let workers = rig.spawn_workers(2, &options(16));
    rig.sim.reset_stats();
    let started = std::time::Instant::now();
    rig.request_full_sync(&account, "test").await.unwrap();
    let status = rig
        .wait_sync_done(&account, Duration::from_secs(150))
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(
        status.state,
        SyncState::Completed,
        "{:?}",
        status.last_error
    );
    assert_eq!((status.users_total, status.users_done), (2000, 2000));
    let stats = rig.sim.stats();
    assert_eq!(stats.served_429, 0, "the limiter keeps under Zoom's limit");
    // Two lists per user (scheduled, upcoming) and 7 pages of users.
    assert_eq!(stats.by_endpoint.get("list_meetings"), Some(&4000));
    assert_eq!(stats.by_endpoint.get("list_users"), Some(&7));
    eprintln!(
        "2000-user full sync: {:.1} s, {} calls",
        took.as_secs_f64(),
        stats.requests
    );
    assert_exact(&rig, &account, &data).await;
    assert_eq!(rig.store.count_mappings(&account).await.unwrap(), 2000 * 6);
    workers.stop().await;
    assert_eq!(dlq_depth(&rig).await, 0);
    teardown(&rig).await;
}

#[tokio::test]
async fn resync_prunes_silent_deletions_but_keeps_newer_webhooks() {
    let rig = rig("sync-prune").await;
    let (account, data) = generated(&rig, 30, 3, 15).await;
    let workers = rig.spawn_workers(1, &options(64));
    rig.request_full_sync(&account, "test").await.unwrap();
    let first = rig.wait_sync_done(&account, WAIT).await.unwrap();
    assert_eq!(first.state, SyncState::Completed);
    assert_exact(&rig, &account, &data).await;

    // Changes in Zoom that no webhook reports (nothing is published).
    let deleted: Vec<u64> = data.meetings.iter().step_by(7).map(|m| m.id).collect();
    for id in &deleted {
        rig.sim
            .delete_meeting(*id, DeleteMeeting::default())
            .unwrap();
    }
    let pmi_user = &data.users[3];
    rig.sim.set_pmi(&pmi_user.id, 5_550_009_999).unwrap();

    // Slow the sync down (two 1 s list calls per user) so a webhook lands
    // while it runs.
    slow_list_meetings(&rig, 1000);
    rig.request_full_sync(&account, "test").await.unwrap();
    let running = eventually(WAIT, || async {
        let s = rig.store.account(&account).await.unwrap().unwrap().sync;
        s.state == SyncState::InProgress && s.generation != first.generation
    })
    .await;
    assert!(running);
    // A meeting created meanwhile that the sync will not see (its host was
    // listed already, or the meeting is not in the simulator at all): the
    // webhook's mapping is newer than the sync's start and must survive.
    let late = 88_000_000_001u64;
    rig.publish_event(&created(&account, late, &data.users[0].id, now_ms()))
        .await
        .unwrap();
    wait_mapped(&rig, MapKey::meeting(mid(late)), &data.users[0].id).await;
    let during = rig.store.account(&account).await.unwrap().unwrap().sync;
    assert_eq!(
        during.state,
        SyncState::InProgress,
        "the webhook must land during the sync"
    );
    let second = rig
        .wait_sync_done(&account, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(second.state, SyncState::Completed);

    for id in &deleted {
        assert_eq!(
            mapping(&rig, MapKey::meeting(mid(*id))).await,
            None,
            "meeting {id} deleted in Zoom"
        );
    }
    assert_eq!(
        mapping(&rig, MapKey::pmi(mid(pmi_user.pmi))).await,
        None,
        "old PMI pruned"
    );
    wait_mapped(&rig, MapKey::pmi(mid(5_550_009_999)), &pmi_user.id).await;
    let kept = mapping(&rig, MapKey::meeting(mid(late)))
        .await
        .expect("the newer webhook's mapping survives");
    assert_eq!(kept.source, Source::Webhook);
    let expected = 30 + 90 - deleted.len() as u64 + 1;
    assert_eq!(rig.store.count_mappings(&account).await.unwrap(), expected);
    workers.stop().await;
    teardown(&rig).await;
}

/// Full sync, silent deletions pruned by a resync, and webhooks, with the
/// store on Redis Cluster: account-wide work (count, prune) gathers the 256
/// buckets from every node.
#[tokio::test]
async fn on_redis_cluster_sync_prune_and_webhooks_are_exact() {
    let rig = Rig::start(
        &amqp_url(),
        &redis_cluster_url(),
        &unique_prefix("sync-cluster"),
        sim_config(),
        ZoomLimits::for_plan(Plan::BusinessPlus, 0.95),
    )
    .await
    .expect("start the rig on the cluster");
    let (account, data) = generated(&rig, 120, 3, 31).await;
    let workers = rig.spawn_workers(2, &options(16));
    rig.request_full_sync(&account, "test").await.unwrap();
    let first = rig.wait_sync_done(&account, WAIT).await.unwrap();
    assert_eq!(first.state, SyncState::Completed, "{:?}", first.last_error);
    assert_exact(&rig, &account, &data).await;
    assert_eq!(rig.store.count_mappings(&account).await.unwrap(), 120 * 4);

    let gone: Vec<u64> = data.meetings.iter().step_by(5).map(|m| m.id).collect();
    for id in &gone {
        rig.sim
            .delete_meeting(*id, DeleteMeeting::default())
            .unwrap();
    }
    let late = 88_000_000_002u64;
    rig.publish_event(&created(&account, late, &data.users[1].id, now_ms()))
        .await
        .unwrap();
    wait_mapped(&rig, MapKey::meeting(mid(late)), &data.users[1].id).await;
    rig.request_full_sync(&account, "test").await.unwrap();
    let second = eventually(WAIT, || async {
        let s = rig.store.account(&account).await.unwrap().unwrap().sync;
        s.generation != first.generation && s.state == SyncState::Completed
    })
    .await;
    assert!(second, "the resync completes");
    for id in &gone {
        assert_eq!(
            mapping(&rig, MapKey::meeting(mid(*id))).await,
            None,
            "{id} pruned"
        );
    }
    // The webhook's mapping predates the resync and the simulator does not
    // have the meeting: pruned too, as on a single Redis.
    let expected = 120 * 4 - gone.len() as u64;
    assert_eq!(rig.store.count_mappings(&account).await.unwrap(), expected);
    workers.stop().await;
    assert_eq!(dlq_depth(&rig).await, 0);
    teardown(&rig).await;
}

#[tokio::test]
async fn webhooks_do_not_wait_behind_a_large_syncs_user_jobs() {
    let rig = rig("sync-lanes").await;
    let (account, data) = generated(&rig, 100, 1, 23).await;
    // Each user job takes two 500 ms list calls and only 2 run at once: the
    // sync needs about 50 s, longer than `wait_mapped` waits.
    slow_list_meetings(&rig, 500);
    let workers = rig.spawn_workers(1, &options(2));
    rig.request_full_sync(&account, "test").await.unwrap();
    let fanned_out = eventually(WAIT, || async {
        let depth = rig
            .bus
            .queue_depth(&rig.bus.topology().sync_users_queue())
            .await
            .unwrap();
        depth > 50
    })
    .await;
    assert!(fanned_out, "the user jobs are queued");
    let late = 88_000_000_002u64;
    rig.publish_event(&created(&account, late, &data.users[0].id, now_ms()))
        .await
        .unwrap();
    // Had the event queued behind the user jobs, it would land only after
    // the sync, in about 50 s.
    wait_mapped(&rig, MapKey::meeting(mid(late)), &data.users[0].id).await;
    let during = rig.store.account(&account).await.unwrap().unwrap().sync;
    assert_eq!(during.state, SyncState::InProgress, "{during:?}");
    assert!(during.users_done < during.users_total, "{during:?}");
    workers.stop().await;
    teardown(&rig).await;
}

#[tokio::test]
async fn a_429_storm_is_absorbed_and_the_sync_completes() {
    // rectoken believes Business+ limits, but the account is on Pro (20/s
    // Medium), and 5 % of the list calls fail with an injected 429: every
    // 429 blocks the account for all workers until Retry-After.
    let rig = rig_with(
        "sync-429",
        sim_config(),
        ZoomLimits::for_plan(Plan::BusinessPlus, 0.95),
    )
    .await;
    let spec = GenerateSpec {
        account_id: None,
        users: 120,
        meetings_per_user: 2,
        seed: 16,
        plan: zoom_sim::Plan::Pro,
    };
    let data = zoom_sim::generate::generate(&spec, rig.sim.now_ms(), &|_| false);
    let summary = rig.sim.generate(&spec).unwrap();
    let account = rig
        .connect_account(summary.owner_id.as_deref().unwrap())
        .await
        .unwrap();
    rig.sim
        .set_behaviour(
            Some(Endpoint::ListMeetings),
            Behaviour {
                rate_limited: 0.05,
                ..Behaviour::default()
            },
        )
        .unwrap();
    let workers = rig.spawn_workers(2, &options(16));
    rig.sim.reset_stats();
    rig.request_full_sync(&account, "test").await.unwrap();
    let status = rig
        .wait_sync_done(&account, Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(
        status.state,
        SyncState::Completed,
        "{:?}",
        status.last_error
    );
    let stats = rig.sim.stats();
    assert!(stats.served_429 > 0, "the storm happened: {stats:?}");
    assert_exact(&rig, &account, &data).await;
    workers.stop().await;
    assert_eq!(dlq_depth(&rig).await, 0, "no job gave up");
    teardown(&rig).await;
}

#[tokio::test]
async fn poison_goes_to_the_dlq_with_a_reason_and_work_goes_on() {
    let rig = rig("sync-poison").await;
    let (account, _) = generated(&rig, 1, 0, 17).await;
    let workers = rig.spawn_workers(1, &options(1));
    let queue = rig.bus.topology().sync_queue();
    rig.bus
        .publish(OutgoingMessage::json(
            "",
            queue.clone(),
            "not json at all",
            "poison-1",
        ))
        .await
        .unwrap();
    rig.bus
        .publish(OutgoingMessage::json(
            "",
            queue.clone(),
            r#"{"job":"rewrite_everything"}"#,
            "poison-2",
        ))
        .await
        .unwrap();
    rig.publish_event(&created(&account, 89_000_000_001, "h", now_ms()))
        .await
        .unwrap();
    wait_mapped(&rig, MapKey::meeting(mid(89_000_000_001)), "h").await;
    let both = eventually(WAIT, || async { dlq_depth(&rig).await == 2 }).await;
    assert!(both);
    workers.stop().await;
    let mut dead = rig.bus.consume(&Topology::dlq(&queue), 2).await.unwrap();
    let mut reasons = BTreeMap::new();
    for _ in 0..2 {
        let d = tokio::time::timeout(WAIT, dead.next())
            .await
            .unwrap()
            .unwrap();
        reasons.insert(
            d.message_id.clone().unwrap(),
            d.headers.get(REASON_HEADER).cloned().unwrap(),
        );
        d.ack().await.unwrap();
    }
    assert!(reasons["poison-1"].contains("not JSON"), "{reasons:?}");
    assert!(
        reasons["poison-2"].contains("invalid sync job"),
        "{reasons:?}"
    );
    teardown(&rig).await;
}

#[tokio::test]
async fn shutdown_drains_in_flight_work_and_loses_nothing() {
    let rig = rig("sync-drain").await;
    let (account, data) = generated(&rig, 24, 2, 18).await;
    slow_list_meetings(&rig, 300);
    let workers = rig.spawn_workers(1, &options(4));
    rig.request_full_sync(&account, "test").await.unwrap();
    let midway = eventually(WAIT, || async {
        let s = rig.store.account(&account).await.unwrap().unwrap().sync;
        s.state == SyncState::InProgress && s.users_done >= 2
    })
    .await;
    assert!(midway);
    let stopping = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(20), workers.stop())
        .await
        .expect("run() returns after draining");
    eprintln!("drained in {:?}", stopping.elapsed());
    let s = rig.store.account(&account).await.unwrap().unwrap().sync;
    assert_eq!(s.state, SyncState::InProgress, "stopped midway");
    // Nothing lost: every user is counted or back on the queue. (Counted
    // *and* back on the queue is possible: the runtime's consumer closes
    // its channel before the drained messages are acked, so the broker
    // redelivers them; progress is at-least-once, see the crate docs.)
    let queue = rig.bus.topology().sync_users_queue();
    let accounted = eventually(WAIT, || async {
        let s = rig.store.account(&account).await.unwrap().unwrap().sync;
        let depth = rig.bus.queue_depth(&queue).await.unwrap();
        u64::from(depth) + s.users_done >= s.users_total
    })
    .await;
    assert!(accounted);
    // A new worker finishes the sync.
    let workers = rig.spawn_workers(1, &options(8));
    rig.sim.reset_behaviours();
    let done = rig.wait_sync_done(&account, WAIT).await.unwrap();
    assert_eq!(done.state, SyncState::Completed);
    // A redelivered job may complete the sync before the last users' jobs
    // ran; they still write, so the map becomes exact.
    let exact_now = eventually(WAIT, || async {
        exact(&rig, &account, &data).await.is_ok()
    })
    .await;
    assert!(exact_now, "{:?}", exact(&rig, &account, &data).await);
    workers.stop().await;
    teardown(&rig).await;
}

#[tokio::test]
async fn scheduler_resyncs_and_keeps_tokens_alive_under_one_lease() {
    let rig = rig("sync-sched").await;
    let (account, data) = generated(&rig, 5, 1, 19).await;
    let refreshed_before = rig
        .store
        .credentials(&account)
        .await
        .unwrap()
        .unwrap()
        .refreshed_at_ms;
    let opts = SyncOptions {
        scheduler: true,
        check_interval: Duration::from_millis(200),
        resync_interval: Duration::from_secs(3600),
        keepalive_interval: Duration::from_millis(1),
        scheduler_lease_ttl: Duration::from_millis(900),
        ..options(4)
    };
    let workers = rig.spawn_workers(2, &opts);
    // Never synced: the scheduler asks for a sync by itself.
    let status = rig.wait_sync_done(&account, WAIT).await.unwrap();
    assert_eq!(status.state, SyncState::Completed);
    assert_exact(&rig, &account, &data).await;
    // The keep-alive refreshed the credentials.
    let kept_alive = eventually(WAIT, || async {
        rig.store
            .credentials(&account)
            .await
            .unwrap()
            .unwrap()
            .refreshed_at_ms
            > refreshed_before
    })
    .await;
    assert!(kept_alive);
    assert!(rig.sim.stats().oauth_refreshes >= 1);
    // One of the two workers holds the lease.
    assert!(
        rig.store
            .try_lock(
                rectoken_sync::scheduler::SCHEDULER_LOCK,
                Duration::from_secs(1)
            )
            .await
            .unwrap()
            .is_none()
    );
    // A completed sync within the resync interval is not repeated.
    let generation = status.generation.clone();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let again = rig.store.account(&account).await.unwrap().unwrap().sync;
    assert_eq!(
        again.generation, generation,
        "no resync within resync_interval"
    );
    workers.stop().await;
    // Released on shutdown.
    let lease = rig
        .store
        .try_lock(
            rectoken_sync::scheduler::SCHEDULER_LOCK,
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert!(lease.is_some(), "the lease is released on shutdown");
    teardown(&rig).await;
}

/// The first delivery on `rig`'s sync DLQ: its message ID and reason.
async fn next_dead_letter(rig: &Rig) -> (String, String) {
    let dlq = Topology::dlq(&rig.bus.topology().sync_queue());
    let mut dead = rig.bus.consume(&dlq, 1).await.unwrap();
    let d = tokio::time::timeout(WAIT, dead.next())
        .await
        .unwrap()
        .unwrap();
    let got = (
        d.message_id.clone().unwrap_or_default(),
        d.headers.get(REASON_HEADER).cloned().unwrap_or_default(),
    );
    d.ack().await.unwrap();
    got
}

/// Issue 15, findings 1 and 6: a message on `rectoken.sync` that no
/// rectoken role signed (a bot with write permission on the default
/// exchange, a script) changes nothing and lands in the DLQ with the
/// reason; an event of another app than the one the account was connected
/// through changes nothing; an `event_ts` far in the future is refused
/// instead of pinning the mapping.
#[tokio::test]
async fn forged_foreign_and_future_events_change_nothing() {
    use rectoken_bus::topology::APP_HEADER;
    let rig = rig("sync-forged").await;
    let (account, _) = generated(&rig, 1, 0, 23).await;
    let mut deps = rig.deps();
    // A second configured app, account-level like the first.
    deps.apps.insert("other".to_owned(), false);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(rectoken_sync::run(deps, options(1), shutdown.clone()));
    let mapped = MapKey::meeting(mid(89_100_000_001));
    rig.publish_event(&created(&account, 89_100_000_001, "h", now_ms()))
        .await
        .unwrap();
    wait_mapped(&rig, mapped, "h").await;

    let deauth = format!(
        r#"{{"event":"app_deauthorized","event_ts":{},"payload":{{"account_id":"{account}","client_id":"x"}}}}"#,
        now_ms()
    );
    let to_events = |key: &str, body: &str, id: &str| {
        OutgoingMessage::json(
            rig.bus.topology().events_exchange(),
            key,
            body.as_bytes().to_vec(),
            id,
        )
    };
    // 1. Unsigned, as a bot with too much broker permission would send it.
    rig.unsigned_bus
        .publish(
            to_events("app_deauthorized", &deauth, "forged-1").with_header(APP_HEADER, "default"),
        )
        .await
        .unwrap();
    let (id, reason) = next_dead_letter(&rig).await;
    assert_eq!(id, "forged-1");
    assert!(
        reason.contains("origin") && reason.contains("unsigned"),
        "{reason}"
    );

    // 2. Signed, but through another app than the account's.
    rig.bus
        .publish(
            to_events("app_deauthorized", &deauth, "other-app-1").with_header(APP_HEADER, "other"),
        )
        .await
        .unwrap();
    // 3. Signed, far in the future: would pin the mapping for a year.
    let future = created(
        &account,
        89_100_000_001,
        "mallory",
        now_ms() + 365 * 86_400_000,
    );
    rig.bus
        .publish(
            to_events("meeting.created", &future, "future-1").with_header(APP_HEADER, "default"),
        )
        .await
        .unwrap();
    let (id, reason) = next_dead_letter(&rig).await;
    assert_eq!(id, "future-1");
    assert!(reason.contains("ahead"), "{reason}");

    // Work goes on, and nothing above changed the account.
    let later = MapKey::meeting(mid(89_100_000_002));
    rig.publish_event(&created(&account, 89_100_000_002, "h2", now_ms()))
        .await
        .unwrap();
    wait_mapped(&rig, later, "h2").await;
    assert!(rig.store.account(&account).await.unwrap().is_some());
    assert!(rig.store.credentials(&account).await.unwrap().is_some());
    assert_eq!(mapping(&rig, mapped).await.unwrap().owner_id, "h");
    shutdown.cancel();
    worker.await.unwrap();
    assert_eq!(dlq_depth(&rig).await, 0);
    teardown(&rig).await;
}

// ------------------------------------------------------------ late retries

/// An ingress over the rig's bus accepting the rig's app, with `window`;
/// its address and its stop token.
async fn ingress(
    rig: &Rig,
    window: rectoken_domain::webhook::Window,
) -> (std::net::SocketAddr, tokio_util::sync::CancellationToken) {
    use rectoken_ingress::{App, AppKind, Apps, Ingress, IngressState, router};
    let apps = Apps::single(App::new(
        "",
        rectoken_tests::sync_rig::CLIENT_ID,
        rectoken_tests::sync_rig::CLIENT_SECRET.into(),
        rectoken_tests::sync_rig::WEBHOOK_SECRET.into(),
        AppKind::Account,
    ));
    let state = IngressState::new(rig.bus.clone(), apps, vec![]).with_webhook_window(window);
    let ingress = Ingress::bind("127.0.0.1:0".parse().unwrap(), router(state))
        .await
        .unwrap();
    let addr = ingress.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(ingress.run(stop.clone()));
    (addr, stop)
}

/// Fires `meeting.created` through the simulator's webhook sender to an
/// ingress (behind a proxy that is cut for the first three attempts), with
/// Zoom's retries keeping the first timestamp and Zoom holding the event
/// 5 minutes first: the last retry arrives stamped 90 simulated minutes
/// ago. Returns the delivery and the meeting's key and host.
async fn deliver_90_minutes_late(
    rig: &Rig,
    window: rectoken_domain::webhook::Window,
) -> (zoom_sim::DeliveryRecord, MapKey, String) {
    let (addr, _stop) = ingress(rig, window).await;
    let proxy = rectoken_tests::proxy::Proxy::start(addr).await;
    proxy.cut();
    let mut settings = zoom_sim::WebhookSettings::new(
        vec![format!("http://{}/zoom/webhook", proxy.addr())],
        0.001,
        3000,
    );
    settings.retry_timestamps = zoom_sim::RetryTimestamps::KeepFirst;
    settings.delay_secs = 300;
    rig.sim.set_webhook_settings(settings);
    let account = rig
        .sim
        .create_account(zoom_sim::NewAccount::default())
        .unwrap();
    let owner = rig
        .sim
        .create_user(&account.id, zoom_sim::NewUser::default())
        .unwrap();
    rig.connect_account(&owner.id).await.unwrap();
    let mut updates = rig.sim.subscribe_deliveries();
    let created = rig
        .sim
        .create_meeting(&owner.id, NewMeeting::default())
        .unwrap();
    let id = created.dispatch.deliveries[0];
    // The first attempt and two retries fail; the third retry (85 simulated
    // minutes after the first attempt) goes through.
    while rig.sim.delivery(id).unwrap().attempts.len() < 3 {
        updates.changed().await.unwrap();
    }
    proxy.restore();
    let record = created.wait(&rig.sim).await.remove(0);
    (record, MapKey::meeting(mid(created.value.id)), owner.id)
}

#[tokio::test]
async fn a_webhook_retried_90_minutes_late_is_applied() {
    let rig = rig("late-retry").await;
    let workers = rig.spawn_workers(1, &options(4));
    let (record, key, owner) =
        deliver_90_minutes_late(&rig, rectoken_domain::webhook::Window::DEFAULT).await;
    assert_eq!(
        record.state,
        zoom_sim::DeliveryState::Delivered,
        "{record:?}"
    );
    let last = record.attempts.last().unwrap();
    assert_eq!(last.number, 3);
    assert_eq!(last.status, Some(200));
    let age = last.sent_at_ms / 1000 - last.request_timestamp;
    assert!(
        (90 * 60..90 * 60 + 30).contains(&age),
        "stamped {age} s before it was sent"
    );
    wait_mapped(&rig, key, &owner).await;
    workers.stop().await;
    teardown(&rig).await;
}

#[tokio::test]
async fn a_window_shorter_than_zooms_retries_refuses_the_late_retry() {
    let rig = rig("late-retry-refused").await;
    let one_hour = rectoken_domain::webhook::Window::with_max_age(Duration::from_secs(3600));
    let (record, key, _) = deliver_90_minutes_late(&rig, one_hour).await;
    assert_eq!(record.state, zoom_sim::DeliveryState::Failed, "{record:?}");
    assert_eq!(record.attempts.last().unwrap().status, Some(401));
    assert_eq!(mapping(&rig, key).await, None);
    teardown(&rig).await;
}

// ---------------------------------------------------------- user directory

async fn find_user(
    rig: &Rig,
    key: rectoken_store::DirectoryKey,
) -> Option<rectoken_store::DirectoryUser> {
    rig.store.find_directory_user(&key).await.unwrap()
}

/// The full sync records every user (ID, email, PMI and the personal
/// link's vanity name from `GET /users/{id}`); `user.updated`,
/// `user.deleted` and `user.created` keep the directory current.
#[tokio::test]
async fn the_user_directory_follows_the_sync_and_the_user_lifecycle() {
    use rectoken_store::DirectoryKey::{Email, UserId, Vanity};
    let rig = rig("directory").await;
    let account = rig
        .sim
        .create_account(zoom_sim::NewAccount::default())
        .unwrap();
    let owner = rig
        .sim
        .create_user(&account.id, zoom_sim::NewUser::default())
        .unwrap();
    let bob = rig
        .sim
        .create_user(&account.id, zoom_sim::NewUser::default())
        .unwrap();
    rig.sim
        .update_user(
            &bob.id,
            zoom_sim::UserPatch {
                vanity_name: Some("BobsRoom".into()),
                ..zoom_sim::UserPatch::default()
            },
        )
        .unwrap();
    let acc = rig.connect_account(&owner.id).await.unwrap();
    let workers = rig.spawn_workers(1, &options(4));
    rig.request_full_sync(&acc, "test").await.unwrap();
    let status = rig.wait_sync_done(&acc, WAIT).await.unwrap();
    assert_eq!(status.state, SyncState::Completed, "{status:?}");

    let found = find_user(&rig, Vanity("bobsroom".into())).await.unwrap();
    assert_eq!(found.user_id, bob.id);
    assert_eq!(found.account_id, acc);
    assert_eq!(found.pmi, Some(mid(bob.pmi)));
    let by_email = find_user(&rig, Email(owner.email.to_uppercase()))
        .await
        .unwrap();
    assert_eq!(by_email.user_id, owner.id);

    // user.updated, as the simulator shapes it: a new vanity name.
    let changed = rig
        .sim
        .update_user(
            &bob.id,
            zoom_sim::UserPatch {
                vanity_name: Some("bob2".into()),
                ..zoom_sim::UserPatch::default()
            },
        )
        .unwrap();
    rig.publish_event(&changed.dispatch.body).await.unwrap();
    assert!(
        eventually(WAIT, || async {
            find_user(&rig, Vanity("BOB2".into())).await.is_some()
        })
        .await
    );
    assert_eq!(find_user(&rig, Vanity("bobsroom".into())).await, None);
    assert_eq!(
        find_user(&rig, UserId(bob.id.clone())).await.unwrap().pmi,
        Some(mid(bob.pmi)),
        "a partial user.updated keeps the other fields"
    );

    // user.deactivated, then user.activated, as the simulator shapes them.
    let off = rig.sim.set_user_active(&bob.id, false).unwrap();
    rig.publish_event(&off.dispatch.body).await.unwrap();
    assert!(
        eventually(WAIT, || async {
            find_user(&rig, UserId(bob.id.clone())).await.is_none()
        })
        .await
    );
    assert!(
        eventually(WAIT, || async {
            mapping(&rig, MapKey::pmi(mid(bob.pmi))).await.is_none()
        })
        .await,
        "a deactivated user's PMI is unmapped"
    );
    let on = rig.sim.set_user_active(&bob.id, true).unwrap();
    rig.publish_event(&on.dispatch.body).await.unwrap();
    wait_mapped(&rig, MapKey::pmi(mid(bob.pmi)), &bob.id).await;
    assert_eq!(
        find_user(&rig, Vanity("bob2".into()))
            .await
            .map(|u| u.user_id),
        Some(bob.id.clone()),
        "read back from Zoom with the personal link"
    );

    // user.deleted (Zoom's shape: object {id, first_name, last_name, email, type}).
    let deleted = rig.sim.remove_user(&bob.id, false).unwrap();
    assert_eq!(deleted.dispatch.event, "user.deleted");
    rig.publish_event(&deleted.dispatch.body).await.unwrap();
    assert!(
        eventually(WAIT, || async {
            find_user(&rig, UserId(bob.id.clone())).await.is_none()
        })
        .await
    );
    assert_eq!(find_user(&rig, Vanity("bob2".into())).await, None);
    assert!(
        eventually(WAIT, || async {
            mapping(&rig, MapKey::pmi(mid(bob.pmi))).await.is_none()
        })
        .await,
        "the deleted user's PMI is unmapped"
    );

    // user.created: the event has no PMI, so the worker reads the user.
    let carol = rig
        .sim
        .add_user(&account.id, zoom_sim::NewUser::default())
        .unwrap();
    assert_eq!(carol.dispatch.event, "user.created");
    rig.publish_event(&carol.dispatch.body).await.unwrap();
    let carol = carol.value;
    wait_mapped(&rig, MapKey::pmi(mid(carol.pmi)), &carol.id).await;
    let c = find_user(&rig, Email(carol.email.clone())).await.unwrap();
    assert_eq!(
        (c.user_id.as_str(), c.pmi),
        (carol.id.as_str(), Some(mid(carol.pmi)))
    );

    // meeting.recovered maps a deleted meeting again.
    let m = rig
        .sim
        .create_meeting(&owner.id, NewMeeting::default())
        .unwrap();
    rig.publish_event(&m.dispatch.body).await.unwrap();
    let key = MapKey::meeting(mid(m.value.id));
    wait_mapped(&rig, key, &owner.id).await;
    let gone = rig
        .sim
        .delete_meeting(m.value.id, DeleteMeeting::default())
        .unwrap();
    rig.publish_event(&gone.dispatch.body).await.unwrap();
    assert!(eventually(WAIT, || async { mapping(&rig, key).await.is_none() }).await);
    let back = rig.sim.recover_meeting(gone.value).unwrap();
    assert_eq!(back.dispatch.event, "meeting.recovered");
    rig.publish_event(&back.dispatch.body).await.unwrap();
    wait_mapped(&rig, key, &owner.id).await;

    // A user deleted while the webhook was lost leaves the directory at the
    // next full sync.
    rig.sim.remove_user(&carol.id, false).unwrap();
    let before = rig.store.account(&acc).await.unwrap().unwrap().sync;
    rig.request_full_sync(&acc, "again").await.unwrap();
    assert!(
        eventually(WAIT, || async {
            let s = rig.store.account(&acc).await.unwrap().unwrap().sync;
            s.state == SyncState::Completed && s.started_at_ms > before.started_at_ms
        })
        .await
    );
    assert_eq!(find_user(&rig, UserId(carol.id.clone())).await, None);
    assert_eq!(find_user(&rig, Email(carol.email.clone())).await, None);
    assert!(find_user(&rig, UserId(owner.id.clone())).await.is_some());
    workers.stop().await;
    teardown(&rig).await;
}

/// Zoom's `next_page_token` expires after 15 minutes: a user listing whose
/// second page is asked for after that restarts from the first page and
/// the sync still ends exact, with no more work than the restart.
#[tokio::test]
async fn an_expired_user_list_cursor_restarts_that_listing() {
    let rig = rig("cursor").await;
    let (account, data) = generated(&rig, 301, 0, 21).await;
    // Every user-list page takes 500 ms: the second page's request is in
    // flight (counted, not yet answered) while the simulated clock jumps
    // past the cursor's 15 minutes.
    rig.sim
        .set_behaviour(
            Some(Endpoint::ListUsers),
            Behaviour {
                latency_ms: 500,
                ..Behaviour::default()
            },
        )
        .unwrap();
    rig.sim.reset_stats();
    let workers = rig.spawn_workers(1, &options(8));
    rig.request_full_sync(&account, "test").await.unwrap();
    assert!(
        eventually(WAIT, || async {
            rig.sim
                .stats()
                .by_endpoint
                .get("list_users")
                .copied()
                .unwrap_or(0)
                >= 2
        })
        .await
    );
    rig.sim.advance_clock(Duration::from_secs(16 * 60));
    let status = rig
        .wait_sync_done(&account, Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(status.state, SyncState::Completed, "{status:?}");
    assert_eq!(status.users_total, 301);
    let stats = rig.sim.stats();
    assert_eq!(
        stats.by_endpoint.get("list_users"),
        Some(&4),
        "two pages, the expired second page, then two pages again"
    );
    assert_eq!(stats.by_status.get(&400), Some(&1), "{stats:?}");
    assert_eq!(
        rig.store.count_mappings(&account).await.unwrap(),
        301,
        "every PMI, once"
    );
    for u in &data.users {
        wait_mapped(&rig, MapKey::pmi(mid(u.pmi)), &u.id).await;
    }
    workers.stop().await;
    teardown(&rig).await;
}
