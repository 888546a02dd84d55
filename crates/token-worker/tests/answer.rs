//! [`TokenWorker::answer`] and [`Handler::handle`] called directly, on the
//! in-process bus and store with the Zoom simulator: the paths the broker
//! tests cannot reach cheaply (Redis unavailable) and the handler's
//! outcomes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use futures_util::StreamExt;
use rectoken_bus::memory::MemoryBus;
use rectoken_bus::{Bus, Delivery, OutgoingMessage, Topology};
use rectoken_domain::join::{JoinStatus, TokenKind, decode_join_request};
use rectoken_runtime::consumer::{Handler, Outcome};
use rectoken_tests::harness::Harness;
use rectoken_token::{TokenDeps, TokenOptions, TokenWorker};
use rectoken_vault::ZoomLimits;
use serde_json::json;
use time::OffsetDateTime;

async fn harness() -> Harness {
    Harness::start("memory://", "memory://", "", |_| {}, ZoomLimits::default())
        .await
        .unwrap()
}

async fn delivery(bus: &MemoryBus, body: serde_json::Value, reply_to: Option<&str>) -> Delivery {
    let queue = bus.topology().join_queue();
    let mut m = OutgoingMessage::json("", queue.clone(), body.to_string(), "m-1");
    m.reply_to = reply_to.map(str::to_owned);
    m.correlation_id = Some("c-1".into());
    bus.publish(m).await.unwrap();
    bus.consume(&queue, 1).await.unwrap().next().await.unwrap()
}

#[tokio::test]
async fn answer_mints_for_a_mapped_meeting() {
    let h = harness().await;
    let a = h.connect_account(1, None).await.unwrap();
    h.map_all(&a).await.unwrap();
    let bus = Arc::new(MemoryBus::new(Topology::default()));
    let worker = TokenWorker::new(h.deps(bus), TokenOptions::default());
    let req = decode_join_request(
        json!({ "request_id": "d-1", "meeting_id": a.meetings[0].to_string() })
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let reply = worker.answer(req, OffsetDateTime::now_utc()).await;
    assert_eq!(reply.status(), JoinStatus::Ok, "{reply:?}");
    assert_eq!(reply.request_id(), "d-1");
    assert_eq!(reply.account_id(), Some(a.account_id.as_str()));
    let token = &reply.tokens()[&TokenKind::LocalRecording].token;
    assert!(h.sim.token(token).is_some());
    // Never in Debug output.
    assert!(!format!("{reply:?}").contains(token.as_str()));
}

#[tokio::test]
async fn redis_down_means_retry_not_a_guess() {
    let h = harness().await;
    let a = h.connect_account(1, None).await.unwrap();
    let bus = Arc::new(MemoryBus::new(Topology::default()));
    let deps = TokenDeps {
        store: rectoken_store::connect("redis://127.0.0.1:1/", "down.").unwrap(),
        ..h.deps(bus.clone())
    };
    let worker = TokenWorker::new(deps, TokenOptions::default());
    let body = json!({ "request_id": "r", "meeting_id": a.meetings[0].to_string() });
    let d = delivery(&bus, body.clone(), Some("replies")).await;
    let outcome = worker.handle(&d).await;
    assert!(matches!(outcome, Outcome::Retry(_)), "{outcome:?}");

    let req = decode_join_request(body.to_string().as_bytes()).unwrap();
    let reply = worker.answer(req, OffsetDateTime::now_utc()).await;
    assert_eq!(reply.status(), JoinStatus::ZoomError);
    assert!(
        reply
            .error()
            .unwrap()
            .contains("state store is unavailable"),
        "{reply:?}"
    );
    assert_eq!(reply.reason(), Some("store_unavailable"));
}

#[tokio::test]
async fn handler_outcomes() {
    let h = harness().await;
    let a = h.connect_account(1, None).await.unwrap();
    h.map_all(&a).await.unwrap();
    let bus = Arc::new(MemoryBus::new(Topology::default()));
    let worker = TokenWorker::new(h.deps(bus.clone()), TokenOptions::default());
    let id = a.meetings[0].to_string();

    let expired = json!({ "meeting_id": id, "deadline": "2020-01-01T00:00:00Z" });
    let d = delivery(&bus, expired, Some("replies")).await;
    assert_eq!(worker.handle(&d).await, Outcome::Skip("expired"));
    d.ack().await.unwrap();

    let d = delivery(&bus, json!({ "meeting_id": id }), None).await;
    assert_eq!(
        worker.handle(&d).await,
        Outcome::Poison("no reply_to".into())
    );
    d.ack().await.unwrap();

    let d = delivery(&bus, json!({ "meeting": id }), None).await;
    let outcome = worker.handle(&d).await;
    assert!(
        matches!(&outcome, Outcome::Poison(r) if r.contains("names no meeting")),
        "{outcome:?}"
    );
    d.ack().await.unwrap();
    assert_eq!(h.sim.stats().tokens_minted, 0);
}
