//! The bus contract, run against both backends: the in-process bus and real
//! RabbitMQ. Each case below runs twice (modules `memory` and `rabbit`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use rectoken_bus::memory::MemoryBus;
use rectoken_bus::rabbit::{RabbitBus, RabbitOptions};
use rectoken_bus::topology::{DELIVERY_LIMIT, REASON_HEADER};
use rectoken_bus::{Bus, BusError, OutgoingMessage, Topology};
use rectoken_tests::{amqp_url, delete_topology, eventually, unique_prefix};

/// A bus under test and how to clean up after it.
pub struct Harness {
    pub bus: Arc<dyn Bus>,
    rabbit: bool,
}

impl Harness {
    pub async fn memory(name: &str) -> Harness {
        Harness {
            bus: Arc::new(MemoryBus::new(Topology::new(unique_prefix(name)))),
            rabbit: false,
        }
    }

    pub async fn rabbit(name: &str) -> Harness {
        let bus = RabbitBus::start(
            &amqp_url(),
            Topology::new(unique_prefix(name)),
            RabbitOptions::default(),
        );
        tokio::time::timeout(Duration::from_secs(20), bus.wait_connected())
            .await
            .expect("RabbitMQ did not connect within 20 s: is scripts/services running?");
        Harness {
            bus: Arc::new(bus),
            rabbit: true,
        }
    }

    pub async fn finish(self) {
        let topology = self.bus.topology().clone();
        self.bus.close().await;
        if self.rabbit {
            delete_topology(&amqp_url(), &topology).await;
        }
    }
}

fn event(bus: &dyn Bus, key: &str, body: &str, id: &str) -> OutgoingMessage {
    OutgoingMessage::json(bus.topology().events_exchange(), key, body.to_owned(), id)
}

const WAIT: Duration = Duration::from_secs(10);

async fn next(stream: &mut rectoken_bus::DeliveryStream) -> rectoken_bus::Delivery {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("no delivery within 10 s")
        .expect("stream ended")
}

async fn routes_events_with_properties(h: Harness) {
    let bus = h.bus.as_ref();
    let msg = event(bus, "meeting.created", r#"{"a":1}"#, "m-1")
        .with_header("x-rectoken-app", "default")
        .with_reply_to("replies")
        .with_correlation_id("c-1");
    bus.publish(msg).await.unwrap();
    let mut s = bus.consume(&bus.topology().sync_queue(), 4).await.unwrap();
    let d = next(&mut s).await;
    assert_eq!(d.routing_key, "meeting.created");
    assert_eq!(&d.body[..], br#"{"a":1}"#);
    assert_eq!(d.message_id.as_deref(), Some("m-1"));
    assert_eq!(
        d.headers.get("x-rectoken-app").map(String::as_str),
        Some("default")
    );
    assert_eq!(d.reply_to.as_deref(), Some("replies"));
    assert_eq!(d.correlation_id.as_deref(), Some("c-1"));
    assert!(!d.redelivered);
    d.ack().await.unwrap();
    drop(s);
    h.finish().await;
}

async fn default_exchange_reaches_a_queue_by_name(h: Harness) {
    let bus = h.bus.as_ref();
    let join = bus.topology().join_queue();
    bus.publish(OutgoingMessage::json("", join.clone(), "{}", "j-1"))
        .await
        .unwrap();
    let mut s = bus.consume(&join, 1).await.unwrap();
    let d = next(&mut s).await;
    assert_eq!(d.message_id.as_deref(), Some("j-1"));
    d.ack().await.unwrap();
    drop(s);
    h.finish().await;
}

async fn unroutable_publish_is_an_error(h: Harness) {
    let bus = h.bus.as_ref();
    let missing = format!("{}no-such-queue", bus.topology().prefix());
    let err = bus
        .publish(OutgoingMessage::json("", missing, "{}", "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::Rejected(_)), "{err:?}");
    h.finish().await;
}

async fn requeue_redelivers_and_ack_removes(h: Harness) {
    let bus = h.bus.as_ref();
    let q = bus.topology().sync_queue();
    bus.publish(event(bus, "user.updated", "{}", "r-1"))
        .await
        .unwrap();
    let mut s = bus.consume(&q, 1).await.unwrap();
    let first = next(&mut s).await;
    assert!(!first.redelivered);
    first.requeue().await.unwrap();
    let second = next(&mut s).await;
    assert!(second.redelivered);
    assert_eq!(second.message_id.as_deref(), Some("r-1"));
    assert!(
        second.delivery_count >= 1,
        "count {}",
        second.delivery_count
    );
    second.ack().await.unwrap();
    drop(s);
    // Acked means gone, also for a new consumer.
    assert_eq!(bus.queue_depth(&q).await.unwrap(), 0);
    h.finish().await;
}

async fn dropped_delivery_comes_back(h: Harness) {
    let bus = h.bus.as_ref();
    let q = bus.topology().sync_queue();
    bus.publish(event(bus, "x.y", "{}", "d-1")).await.unwrap();
    let mut s = bus.consume(&q, 1).await.unwrap();
    let d = next(&mut s).await;
    drop(d); // a worker that died mid-message
    let again = next(&mut s).await;
    assert_eq!(again.message_id.as_deref(), Some("d-1"));
    assert!(again.redelivered);
    again.ack().await.unwrap();
    drop(s);
    h.finish().await;
}

/// `get` takes one ready message without a consumer, so nothing behind it
/// is pushed anywhere: the console's dead-letter walk re-publishes what it
/// got to the tail and the queue's depth stays exact throughout.
async fn get_takes_one_message_and_nothing_behind_it(h: Harness) {
    let bus = h.bus.as_ref();
    let q = bus.topology().sync_queue();
    assert!(bus.get(&q).await.unwrap().is_none(), "empty queue");
    for id in ["g-1", "g-2"] {
        bus.publish(event(bus, "x.y", "{}", id)).await.unwrap();
    }
    let first = bus.get(&q).await.unwrap().expect("a message");
    assert_eq!(first.message_id.as_deref(), Some("g-1"));
    assert_eq!(bus.queue_depth(&q).await.unwrap(), 1, "one taken");
    first.requeue().await.unwrap();
    let again = bus.get(&q).await.unwrap().expect("the requeued one");
    assert_eq!(again.message_id.as_deref(), Some("g-1"));
    assert!(again.redelivered);
    // The walk: a copy to the tail, then the original acked.
    bus.publish(event(bus, "x.y", "{}", "g-1-copy"))
        .await
        .unwrap();
    again.ack().await.unwrap();
    assert_eq!(
        bus.queue_depth(&q).await.unwrap(),
        2,
        "g-2 and the copy, both ready"
    );
    let second = bus.get(&q).await.unwrap().expect("g-2");
    assert_eq!(second.message_id.as_deref(), Some("g-2"));
    drop(second); // dropped unsettled: back in the queue
    let back = eventually(Duration::from_secs(10), || async {
        bus.queue_depth(&q).await.unwrap() == 2
    })
    .await;
    assert!(back, "a dropped get comes back");
    let missing = format!("{}no-such-queue", bus.topology().prefix());
    assert!(
        bus.get(&missing).await.is_err(),
        "a missing queue is an error"
    );
    h.finish().await;
}

async fn prefetch_bounds_in_flight(h: Harness) {
    let bus = h.bus.as_ref();
    let q = bus.topology().sync_queue();
    for i in 0..3 {
        bus.publish(event(bus, "x.y", "{}", &format!("p-{i}")))
            .await
            .unwrap();
    }
    let mut s = bus.consume(&q, 2).await.unwrap();
    let a = next(&mut s).await;
    let b = next(&mut s).await;
    // With 2 unacked, a third delivery must not arrive.
    let third = tokio::time::timeout(Duration::from_millis(300), s.next()).await;
    assert!(third.is_err(), "prefetch 2 delivered a third message");
    a.ack().await.unwrap();
    let c = next(&mut s).await;
    assert_eq!(c.message_id.as_deref(), Some("p-2"));
    b.ack().await.unwrap();
    c.ack().await.unwrap();
    drop(s);
    h.finish().await;
}

async fn dead_letter_keeps_reason(h: Harness) {
    let bus = h.bus.clone();
    let q = bus.topology().sync_queue();
    bus.publish(event(bus.as_ref(), "bad.event", "not json", "poison-1"))
        .await
        .unwrap();
    let mut s = bus.consume(&q, 1).await.unwrap();
    let d = next(&mut s).await;
    d.dead_letter(bus.as_ref(), "body is not JSON")
        .await
        .unwrap();
    let mut dlq = bus.consume(&Topology::dlq(&q), 1).await.unwrap();
    let dead = next(&mut dlq).await;
    assert_eq!(dead.message_id.as_deref(), Some("poison-1"));
    assert_eq!(&dead.body[..], b"not json");
    assert_eq!(
        dead.headers.get(REASON_HEADER).map(String::as_str),
        Some("body is not JSON")
    );
    dead.ack().await.unwrap();
    assert_eq!(bus.queue_depth(&q).await.unwrap(), 0);
    drop((s, dlq));
    h.finish().await;
}

async fn delivery_limit_dead_letters_crash_loops(h: Harness) {
    let bus = h.bus.as_ref();
    let q = bus.topology().sync_queue();
    bus.publish(event(bus, "x.y", "{}", "loop-1"))
        .await
        .unwrap();
    let mut s = bus.consume(&q, 1).await.unwrap();
    let mut deliveries = 0;
    let mut dlq = bus.consume(&Topology::dlq(&q), 1).await.unwrap();
    loop {
        tokio::select! {
            d = s.next() => {
                let d = d.expect("stream ended");
                deliveries += 1;
                assert!(deliveries <= DELIVERY_LIMIT + 1, "delivered {deliveries} times");
                d.requeue().await.unwrap();
            }
            dead = dlq.next() => {
                let dead = dead.expect("dlq stream ended");
                assert_eq!(dead.message_id.as_deref(), Some("loop-1"));
                dead.ack().await.unwrap();
                break;
            }
            () = tokio::time::sleep(WAIT) => panic!("never dead-lettered after {deliveries} deliveries"),
        }
    }
    assert!(
        deliveries >= DELIVERY_LIMIT,
        "dead-lettered too early: {deliveries}"
    );
    drop((s, dlq));
    h.finish().await;
}

async fn competing_consumers_share_work(h: Harness) {
    let bus = h.bus.as_ref();
    let q = bus.topology().sync_queue();
    let n = 20;
    for i in 0..n {
        bus.publish(event(bus, "x.y", "{}", &format!("c-{i}")))
            .await
            .unwrap();
    }
    let mut a = bus.consume(&q, 1).await.unwrap();
    let mut b = bus.consume(&q, 1).await.unwrap();
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < n {
        let d = tokio::select! {
            d = a.next() => d,
            d = b.next() => d,
            () = tokio::time::sleep(WAIT) => panic!("only {} of {n} delivered", seen.len()),
        }
        .expect("stream ended");
        assert!(
            seen.insert(d.message_id.clone().unwrap()),
            "delivered twice"
        );
        d.ack().await.unwrap();
    }
    drop((a, b));
    h.finish().await;
}

async fn request_gets_its_reply(h: Harness) {
    let bus = h.bus.clone();
    let join = bus.topology().join_queue();
    // A responder that echoes each request's body back to its reply_to.
    let responder_bus = bus.clone();
    let mut stream = bus.consume(&join, 8).await.unwrap();
    let responder = tokio::spawn(async move {
        while let Some(d) = stream.next().await {
            let reply =
                OutgoingMessage::json("", d.reply_to.clone().unwrap(), d.body.clone(), "reply")
                    .with_correlation_id(d.correlation_id.clone().unwrap())
                    .transient();
            responder_bus.publish(reply).await.unwrap();
            d.ack().await.unwrap();
        }
    });
    let asks = (0..8).map(|i| {
        let bus = bus.clone();
        let join = join.clone();
        async move {
            let body = format!(r#"{{"n":{i}}}"#);
            let msg = OutgoingMessage::json("", join, body.clone(), format!("req-{i}"));
            let reply = bus.request(msg, WAIT).await.unwrap();
            assert_eq!(
                &reply[..],
                body.as_bytes(),
                "each request gets its own reply"
            );
        }
    });
    futures_util::future::join_all(asks).await;
    responder.abort();
    h.finish().await;
}

async fn request_without_responder_times_out(h: Harness) {
    let bus = h.bus.as_ref();
    let msg = OutgoingMessage::json("", bus.topology().join_queue(), "{}", "lonely");
    let err = bus
        .request(msg, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::ReplyTimeout(_)), "{err:?}");
    // The request itself was delivered (and stays for a worker to drop).
    assert_eq!(
        bus.queue_depth(&bus.topology().join_queue()).await.unwrap(),
        1
    );
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
        mod rabbit {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Harness::rabbit(stringify!($case)).await).await;
                }
            )*
        }
    };
}

contract!(
    routes_events_with_properties,
    default_exchange_reaches_a_queue_by_name,
    unroutable_publish_is_an_error,
    requeue_redelivers_and_ack_removes,
    dropped_delivery_comes_back,
    prefetch_bounds_in_flight,
    get_takes_one_message_and_nothing_behind_it,
    dead_letter_keeps_reason,
    delivery_limit_dead_letters_crash_loops,
    competing_consumers_share_work,
    request_gets_its_reply,
    request_without_responder_times_out,
);

/// `RECTOKEN_AMQP_URL` as a list of nodes (issue 17): with the first node
/// dead (a closed port), the bus connects to the next, and works there.
/// Failover under load between live nodes is the cluster fault test's
/// (`crates/rectoken/tests/faults/failover.rs`).
#[tokio::test]
async fn a_node_list_skips_a_dead_node() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // the listener is dropped: nothing accepts on this port
    let list = format!("amqp://guest:guest@127.0.0.1:{dead}/%2f, {}", amqp_url());
    let topology = Topology::new(unique_prefix("node-list"));
    let bus = rectoken_bus::connect(&list, topology.clone()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), bus.wait_connected())
        .await
        .expect("the bus did not move past the dead first node within 20 s");
    let queue = topology.join_queue();
    bus.publish(OutgoingMessage::json(
        "",
        queue.clone(),
        "{}",
        "node-list-1",
    ))
    .await
    .unwrap();
    assert_eq!(bus.queue_depth(&queue).await.unwrap(), 1);
    bus.close().await;
    delete_topology(&amqp_url(), &topology).await;
}
