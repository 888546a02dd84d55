//! Publishing account events: [`AccountEventPublisher`] is the
//! [`AccountEventSink`] every role reports to. It records each event in the
//! account's bounded history (Redis) and publishes it, with publisher
//! confirms, to `rectoken.account-events` with the event type as routing
//! key.
//!
//! # What happens when the broker cannot take an event
//!
//! Reporting never waits for the broker: [`AccountEventSink::emit`] puts the
//! event in a bounded in-process queue and returns, so an OAuth callback is
//! answered and a worker's message acked exactly as without events (the
//! action's own durability rules are untouched). One task per process
//! publishes the queued events in order, retrying a failed publish with
//! exponential backoff (0.5 s up to 30 s) for up to [`PUBLISH_PATIENCE`];
//! broker outages shorter than that lose nothing. What is still unpublished
//! after it, what arrives while [`QUEUE_CAPACITY`] events are waiting, and
//! what is left when the process stops and the broker does not confirm
//! within [`CLOSE_PATIENCE`] is dropped, with a warning naming the event and
//! `rectoken_account_events_total{outcome="dropped"}`. Why not stronger:
//! holding the action until its event is confirmed would make a broker
//! outage fail OAuth callbacks and stall syncs, for a notification whose
//! state is also in the admin API (account status, sync state). An event
//! the broker confirmed is durable from then on (persistent message;
//! webhook queue is a quorum queue).
//!
//! A publish that comes back unroutable (no queue bound: no operator queue,
//! no webhook deliverer) is not retried: nobody listens
//! (`outcome="unrouted"`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use rectoken_bus::{Bus, BusError, OutgoingMessage};
use rectoken_domain::account_event::{AccountEvent, AccountEventKind, AccountEventSink, event_id};
use rectoken_domain::clock::now_ms;
use rectoken_store::AccountEventLog;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Metric: account events by `type` and `outcome` (`published`,
/// `unrouted`, `dropped`).
pub const METRIC_EVENTS: &str = "rectoken_account_events_total";

/// Events waiting to be published, at most (beyond: dropped, counted).
pub const QUEUE_CAPACITY: usize = 4096;

/// How long one event is retried while the broker refuses it.
pub const PUBLISH_PATIENCE: Duration = Duration::from_secs(10 * 60);

/// How long [`AccountEventPublisher::close`] keeps publishing what is
/// queued.
pub const CLOSE_PATIENCE: Duration = Duration::from_secs(5);

/// The [`AccountEventSink`] of a role: history + confirmed publish, off the
/// caller's path (module docs).
pub struct AccountEventPublisher {
    sender: Mutex<Option<mpsc::Sender<AccountEvent>>>,
    task: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    closing: CancellationToken,
}

impl std::fmt::Debug for AccountEventPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountEventPublisher")
            .finish_non_exhaustive()
    }
}

impl AccountEventPublisher {
    /// Start publishing to `bus` (its topology names the exchange) and
    /// recording in `log`. Must be called inside a Tokio runtime.
    pub fn start(bus: Arc<dyn Bus>, log: Option<Arc<dyn AccountEventLog>>) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let closing = CancellationToken::new();
        let task = tokio::spawn(publish_loop(bus, log, rx, closing.clone()));
        Arc::new(Self {
            sender: Mutex::new(Some(tx)),
            task: tokio::sync::Mutex::new(Some(task)),
            closing,
        })
    }

    /// Stop taking events, publish what is queued (for up to
    /// [`CLOSE_PATIENCE`]), then return. Call before closing the bus.
    pub async fn close(&self) {
        self.sender
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        self.closing.cancel();
        if let Some(task) = self.task.lock().await.take()
            && tokio::time::timeout(CLOSE_PATIENCE + Duration::from_secs(1), task)
                .await
                .is_err()
        {
            tracing::warn!("account events still unpublished at shutdown were dropped");
        }
    }
}

impl AccountEventSink for AccountEventPublisher {
    fn emit(&self, account_id: &str, app: &str, kind: AccountEventKind) {
        let event = AccountEvent::new(event_id(rand::random()), now_ms(), account_id, app, kind);
        tracing::info!(
            account_id,
            app,
            event = event.type_name(),
            event_id = %event.id,
            "account event"
        );
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let refused = match sender {
            Some(tx) => tx.try_send(event).err().map(|e| match e {
                mpsc::error::TrySendError::Full(ev) | mpsc::error::TrySendError::Closed(ev) => ev,
            }),
            None => Some(event),
        };
        if let Some(event) = refused {
            tracing::warn!(account_id, event = event.type_name(), event_id = %event.id, "account event dropped: the publish queue is full or closed");
            metrics::counter!(METRIC_EVENTS, "type" => event.type_name(), "outcome" => "dropped")
                .increment(1);
        }
    }
}

async fn publish_loop(
    bus: Arc<dyn Bus>,
    log: Option<Arc<dyn AccountEventLog>>,
    mut rx: mpsc::Receiver<AccountEvent>,
    closing: CancellationToken,
) {
    let close_deadline = Mutex::new(None::<tokio::time::Instant>);
    while let Some(event) = rx.recv().await {
        if let Some(log) = &log
            && let Err(e) = log.record(&event).await
        {
            // History is a view; the event itself still goes out.
            tracing::warn!(account_id = %event.account_id, event_id = %event.id, error = %e, "could not record the account event in the history");
        }
        let deadline = if closing.is_cancelled() {
            *close_deadline
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get_or_insert_with(|| tokio::time::Instant::now() + CLOSE_PATIENCE)
        } else {
            tokio::time::Instant::now() + PUBLISH_PATIENCE
        };
        let outcome = publish_one(bus.as_ref(), &event, deadline, &closing).await;
        metrics::counter!(METRIC_EVENTS, "type" => event.type_name(), "outcome" => outcome)
            .increment(1);
    }
}

/// Publish one event, retrying until `deadline`; the outcome label.
async fn publish_one(
    bus: &dyn Bus,
    event: &AccountEvent,
    deadline: tokio::time::Instant,
    closing: &CancellationToken,
) -> &'static str {
    let topology = bus.topology();
    let message = OutgoingMessage::json(
        topology.account_events_exchange(),
        event.type_name(),
        event.to_json(),
        event.id.clone(),
    );
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(30))
        .with_jitter()
        .without_max_times()
        .build();
    loop {
        let result = tokio::time::timeout_at(deadline, bus.publish(message.clone())).await;
        let error = match result {
            Ok(Ok(())) => return "published",
            // Nothing bound: no operator queue, no webhook deliverer.
            Ok(Err(BusError::Rejected(_))) => return "unrouted",
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no confirm before the deadline".to_owned(),
        };
        let delay = delays.next().unwrap_or(Duration::from_secs(30));
        let now = tokio::time::Instant::now();
        if now + delay >= deadline {
            tracing::warn!(account_id = %event.account_id, event = event.type_name(), event_id = %event.id, error, "account event dropped: the broker did not take it in time");
            return "dropped";
        }
        tracing::debug!(event_id = %event.id, error, "account event not published yet; retrying");
        // On close, retry at once against the shorter deadline rather than
        // sleeping through it.
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = closing.cancelled(), if !closing.is_cancelled() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use futures_util::StreamExt;
    use rectoken_bus::Topology;
    use rectoken_bus::memory::MemoryBus;
    use rectoken_store::MemoryEventLog;

    use super::*;

    fn disconnected() -> AccountEventKind {
        AccountEventKind::Disconnected {
            reason: "invalid_grant".into(),
        }
    }

    #[tokio::test]
    async fn an_event_is_recorded_and_published_with_its_type_as_routing_key() {
        let bus = Arc::new(MemoryBus::new(
            Topology::new("t.").with_event_webhooks(true),
        ));
        let log = Arc::new(MemoryEventLog::new());
        let publisher = AccountEventPublisher::start(bus.clone(), Some(log.clone()));
        let queue = bus.topology().account_events_webhooks_queue();
        let mut deliveries = bus.consume(&queue, 1).await.unwrap();
        publisher.emit("acc1", "default", disconnected());
        let d = deliveries.next().await.unwrap();
        assert_eq!(d.routing_key, "account.disconnected");
        let event: AccountEvent = serde_json::from_slice(&d.body).unwrap();
        assert_eq!(event.account_id, "acc1");
        assert_eq!(d.message_id.as_deref(), Some(event.id.as_str()));
        publisher.close().await;
        let recent = log.recent("acc1", 10).await.unwrap();
        assert_eq!(recent, vec![event]);
    }

    #[tokio::test]
    async fn with_nothing_bound_the_event_is_unrouted_but_still_recorded() {
        let bus = Arc::new(MemoryBus::new(Topology::new("t.")));
        let log = Arc::new(MemoryEventLog::new());
        let publisher = AccountEventPublisher::start(bus, Some(log.clone()));
        publisher.emit("acc2", "default", disconnected());
        publisher.close().await;
        assert_eq!(log.recent("acc2", 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn after_close_events_are_dropped_not_blocking() {
        let bus = Arc::new(MemoryBus::new(Topology::new("t.")));
        let log = Arc::new(MemoryEventLog::new());
        let publisher = AccountEventPublisher::start(bus, Some(log.clone()));
        publisher.close().await;
        publisher.emit("acc3", "default", disconnected());
        assert!(log.recent("acc3", 10).await.unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_bus_is_retried_until_the_close_deadline_then_dropped() {
        let bus = Arc::new(MemoryBus::new(
            Topology::new("t.").with_event_webhooks(true),
        ));
        bus.close().await;
        let log = Arc::new(MemoryEventLog::new());
        let publisher = AccountEventPublisher::start(bus.clone(), Some(log.clone()));
        publisher.emit("acc4", "default", disconnected());
        // Close gives up after CLOSE_PATIENCE (virtual time) instead of
        // waiting PUBLISH_PATIENCE.
        let started = tokio::time::Instant::now();
        publisher.close().await;
        assert!(started.elapsed() <= CLOSE_PATIENCE + Duration::from_secs(1));
        assert_eq!(log.recent("acc4", 10).await.unwrap().len(), 1);
    }
}
