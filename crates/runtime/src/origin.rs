//! Proof of origin past the ingress (see [`rectoken_domain::origin`]):
//! [`SigningBus`] signs every message a role publishes to the sync queues,
//! and [`VerifyOrigin`] lets a handler see only messages that verify; the
//! others go to the DLQ with the reason in `x-rectoken-reason`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rectoken_bus::topology::APP_HEADER;
use rectoken_bus::{Bus, Delivery, DeliveryStream, OutgoingMessage, Result, Topology};
use rectoken_domain::origin::{ORIGIN_HEADER, OriginKeys};

use crate::consumer::{Handler, Outcome};

/// Metric: sync-queue messages refused because their origin did not verify.
pub const METRIC_UNVERIFIED: &str = "rectoken_unverified_messages_total";

/// A [`Bus`] that adds [`ORIGIN_HEADER`] to every message bound for a sync
/// queue: the events exchange, or the default exchange with a sync queue's
/// name. Everything else passes through unchanged (join requests and
/// replies are not signed: a bot would otherwise collect MACs).
pub struct SigningBus {
    inner: Arc<dyn Bus>,
    keys: OriginKeys,
}

impl SigningBus {
    /// Wrap `inner`, signing with `keys`.
    pub fn wrap(inner: Arc<dyn Bus>, keys: OriginKeys) -> Arc<dyn Bus> {
        Arc::new(Self { inner, keys })
    }
}

/// Whether `message` ends up on a sync queue of `topology`.
pub fn bound_for_sync(topology: &Topology, message: &OutgoingMessage) -> bool {
    if message.exchange == topology.events_exchange() {
        return true;
    }
    message.exchange.is_empty()
        && (message.routing_key == topology.sync_queue()
            || message.routing_key == topology.sync_users_queue())
}

#[async_trait]
impl Bus for SigningBus {
    async fn publish(&self, mut message: OutgoingMessage) -> Result<()> {
        if bound_for_sync(self.inner.topology(), &message) {
            let mac = self.keys.sign(
                message.headers.get(APP_HEADER).map(String::as_str),
                &message.body,
            );
            message.headers.insert(ORIGIN_HEADER.to_owned(), mac);
        }
        self.inner.publish(message).await
    }

    async fn consume(&self, queue: &str, prefetch: u16) -> Result<DeliveryStream> {
        self.inner.consume(queue, prefetch).await
    }

    async fn get(&self, queue: &str) -> Result<Option<rectoken_bus::Delivery>> {
        self.inner.get(queue).await
    }

    async fn request(&self, message: OutgoingMessage, timeout: Duration) -> Result<Bytes> {
        self.inner.request(message, timeout).await
    }

    async fn queue_depth(&self, queue: &str) -> Result<u32> {
        self.inner.queue_depth(queue).await
    }

    async fn queue_stats(&self, queue: &str) -> Result<rectoken_bus::QueueStats> {
        self.inner.queue_stats(queue).await
    }

    fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }

    async fn wait_connected(&self) {
        self.inner.wait_connected().await
    }

    fn topology(&self) -> &Topology {
        self.inner.topology()
    }

    async fn close(&self) {
        self.inner.close().await
    }
}

/// A [`Handler`] that passes on only messages whose [`ORIGIN_HEADER`]
/// verifies; the others are poison (DLQ, with the reason).
pub struct VerifyOrigin<H> {
    inner: H,
    keys: OriginKeys,
}

impl<H: Handler> VerifyOrigin<H> {
    /// Guard `inner` with `keys`.
    pub fn new(inner: H, keys: OriginKeys) -> Self {
        Self { inner, keys }
    }
}

#[async_trait]
impl<H: Handler> Handler for VerifyOrigin<H> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn gave_up(&self, delivery: &Delivery, reason: &str) {
        // Only a verified message can have been retried.
        self.inner.gave_up(delivery, reason).await
    }

    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let verified = self.keys.verify(
            delivery.headers.get(APP_HEADER).map(String::as_str),
            &delivery.body,
            delivery.headers.get(ORIGIN_HEADER).map(String::as_str),
        );
        match verified {
            Ok(()) => self.inner.handle(delivery).await,
            Err(e) => {
                metrics::counter!(METRIC_UNVERIFIED, "queue" => delivery.queue.clone())
                    .increment(1);
                tracing::warn!(
                    queue = %delivery.queue,
                    routing_key = %delivery.routing_key,
                    message_id = delivery.message_id.as_deref().unwrap_or(""),
                    reason = %e,
                    "message refused: origin not verified"
                );
                Outcome::Poison(format!("origin: {e}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use rectoken_bus::memory::MemoryBus;

    struct Accept;

    #[async_trait]
    impl Handler for Accept {
        fn name(&self) -> &'static str {
            "accept"
        }
        async fn handle(&self, _: &Delivery) -> Outcome {
            Outcome::Done
        }
    }

    fn keys() -> OriginKeys {
        OriginKeys::new(&[5u8; 32], None)
    }

    async fn one(bus: &dyn Bus, queue: &str) -> Delivery {
        let mut s = bus.consume(queue, 1).await.expect("consume");
        s.next().await.expect("a delivery")
    }

    #[tokio::test]
    async fn signed_events_and_jobs_verify_unsigned_ones_do_not() {
        let raw: Arc<dyn Bus> = Arc::new(MemoryBus::new(Topology::new("o.")));
        let signing = SigningBus::wrap(raw.clone(), keys());
        let t = raw.topology().clone();
        let guard = VerifyOrigin::new(Accept, keys());

        let event = OutgoingMessage::json(t.events_exchange(), "meeting.created", "{}", "e1")
            .with_header(APP_HEADER, "default");
        signing.publish(event.clone()).await.expect("publish");
        let d = one(&*raw, &t.sync_queue()).await;
        assert!(d.headers.contains_key(ORIGIN_HEADER));
        assert_eq!(guard.handle(&d).await, Outcome::Done);
        d.ack().await.expect("ack");

        let job = OutgoingMessage::json("", t.sync_users_queue(), "{}", "j1");
        signing.publish(job).await.expect("publish");
        let d = one(&*raw, &t.sync_users_queue()).await;
        assert_eq!(guard.handle(&d).await, Outcome::Done);
        d.ack().await.expect("ack");

        // Published without the key: refused with the reason.
        raw.publish(event).await.expect("publish");
        let d = one(&*raw, &t.sync_queue()).await;
        match guard.handle(&d).await {
            Outcome::Poison(reason) => assert!(reason.contains("unsigned"), "{reason}"),
            other => panic!("expected poison, got {other:?}"),
        }
        d.ack().await.expect("ack");
    }

    #[tokio::test]
    async fn a_changed_app_header_breaks_the_mac() {
        let raw: Arc<dyn Bus> = Arc::new(MemoryBus::new(Topology::new("p.")));
        let t = raw.topology().clone();
        let mac = keys().sign(Some("app-a"), b"{}");
        let forged = OutgoingMessage::json(t.events_exchange(), "app_deauthorized", "{}", "f")
            .with_header(APP_HEADER, "app-b")
            .with_header(ORIGIN_HEADER, mac);
        raw.publish(forged).await.expect("publish");
        let d = one(&*raw, &t.sync_queue()).await;
        let outcome = VerifyOrigin::new(Accept, keys()).handle(&d).await;
        assert!(
            matches!(outcome, Outcome::Poison(ref r) if r.contains("does not match")),
            "{outcome:?}"
        );
        d.ack().await.expect("ack");
    }

    #[test]
    fn only_sync_destinations_are_signed() {
        let t = Topology::default();
        let to = |ex: &str, key: &str| OutgoingMessage::json(ex, key, "{}", "m");
        assert!(bound_for_sync(
            &t,
            &to("rectoken.events", "meeting.created")
        ));
        assert!(bound_for_sync(&t, &to("", "rectoken.sync")));
        assert!(bound_for_sync(&t, &to("", "rectoken.sync.users")));
        assert!(!bound_for_sync(&t, &to("", "rectoken.join")));
        assert!(!bound_for_sync(
            &t,
            &to("rectoken.join-requests", "rectoken.join")
        ));
        assert!(!bound_for_sync(&t, &to("", "amq.rabbitmq.reply-to.abc")));
        assert!(!bound_for_sync(&t, &to("", "rectoken.sync.dlq")));
    }
}
