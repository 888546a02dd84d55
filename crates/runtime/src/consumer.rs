//! The queue-consumer loop every worker runs.
//!
//! A role implements [`Handler::handle`], one step that returns an
//! [`Outcome`]; this loop does everything else: it waits for the broker,
//! consumes with bounded concurrency, retries [`Outcome::Retry`] in place
//! with exponential backoff and jitter, dead-letters poison messages with
//! their reason, re-subscribes after a connection loss, and on shutdown
//! stops taking messages and finishes those in flight (a message waiting
//! for a retry is returned to the queue instead).
//!
//! The rule it keeps: a message is acked only after the handler said its
//! effect is durable ([`Outcome::Done`]) or that there is nothing to do
//! ([`Outcome::Skip`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::StreamExt;
use rectoken_bus::topology::DELIVERY_LIMIT;
use rectoken_bus::{Bus, Delivery};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The effect is durable: ack.
    Done,
    /// Nothing to do (expired, duplicate, unknown event): ack, counted with
    /// the given label.
    Skip(&'static str),
    /// A transient failure (Redis or Zoom unavailable): try again later.
    Retry(String),
    /// The message can never succeed (unparseable): dead-letter it now.
    Poison(String),
}

/// One processing step for one message.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Label for metrics and logs (`sync`, `join`).
    fn name(&self) -> &'static str;
    /// Process one delivery. Must be idempotent: a message can arrive twice.
    async fn handle(&self, delivery: &Delivery) -> Outcome;

    /// The retries of `delivery` ran out (its last delivery before the
    /// broker's limit, every attempt answered [`Outcome::Retry`]): it is
    /// about to be dead-lettered with `reason`. A handler whose failures an
    /// operator must hear of reports it here; best effort (the message may
    /// still be redelivered if dead-lettering fails, and this called again).
    /// Never called for poison or on shutdown.
    async fn gave_up(&self, delivery: &Delivery, reason: &str) {
        let _ = (delivery, reason);
    }
}

/// Bounded retries with exponential backoff and full jitter.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: usize,
    /// Delay before the second attempt.
    pub min_delay: Duration,
    /// Longest delay between attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts over about 30 s: long enough to ride out a Redis or
    /// RabbitMQ restart, short enough not to hold a prefetch slot for long.
    fn default() -> Self {
        Self {
            attempts: 5,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(16),
        }
    }
}

impl RetryPolicy {
    fn delays(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_jitter()
            .with_max_times(self.attempts.saturating_sub(1))
            .build()
    }
}

/// How a consumer runs.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// The queue to consume.
    pub queue: String,
    /// Messages handled at once (also the prefetch).
    pub concurrency: usize,
    /// Retries of [`Outcome::Retry`].
    pub retry: RetryPolicy,
}

/// Consume until `shutdown`, then drain. Never returns an error: broker
/// trouble is waited out and logged.
pub async fn run(
    bus: Arc<dyn Bus>,
    handler: Arc<dyn Handler>,
    options: ConsumerOptions,
    shutdown: CancellationToken,
) {
    let concurrency = options.concurrency.max(1);
    let permits = Arc::new(Semaphore::new(concurrency));
    let tracker = TaskTracker::new();
    let prefetch = u16::try_from(concurrency).unwrap_or(u16::MAX);
    // Kept alive until the in-flight tasks are done: dropping a RabbitMQ
    // stream closes its channel, and acks on a closed channel fail (the
    // broker would redeliver messages already handled).
    let mut current: Option<rectoken_bus::DeliveryStream> = None;
    'connect: while !shutdown.is_cancelled() {
        tokio::select! {
            () = bus.wait_connected() => {}
            () = shutdown.cancelled() => break,
        }
        current = None;
        let stream = match bus.consume(&options.queue, prefetch).await {
            Ok(s) => current.insert(s),
            Err(e) => {
                tracing::warn!(queue = %options.queue, error = %e, "cannot consume; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(500)) => continue 'connect,
                    () = shutdown.cancelled() => break,
                }
            }
        };
        tracing::info!(queue = %options.queue, concurrency, "consuming");
        loop {
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break 'connect },
                () = shutdown.cancelled() => break 'connect,
            };
            let delivery = tokio::select! {
                d = stream.next() => d,
                () = shutdown.cancelled() => break 'connect,
            };
            let Some(delivery) = delivery else {
                tracing::warn!(queue = %options.queue, "consumer stream ended; re-subscribing");
                continue 'connect;
            };
            let (bus, handler, retry, stop) = (
                bus.clone(),
                handler.clone(),
                options.retry.clone(),
                shutdown.clone(),
            );
            tracker.spawn(async move {
                process(bus.as_ref(), handler.as_ref(), &retry, delivery, &stop).await;
                drop(permit);
            });
        }
    }
    tracker.close();
    tracker.wait().await;
    drop(current);
    tracing::info!(queue = %options.queue, "consumer drained");
}

/// Handle one delivery to its end: ack, requeue or dead-letter.
pub async fn process(
    bus: &dyn Bus,
    handler: &dyn Handler,
    retry: &RetryPolicy,
    delivery: Delivery,
    shutdown: &CancellationToken,
) {
    let started = Instant::now();
    let role = handler.name();
    let mut delays = retry.delays();
    let mut attempt = 1usize;
    let outcome = loop {
        match handler.handle(&delivery).await {
            Outcome::Retry(reason) => match delays.next() {
                Some(delay) => {
                    tracing::warn!(role, attempt, delay_ms = delay.as_millis() as u64, reason = %reason, "will retry");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = shutdown.cancelled() => break Outcome::Retry(reason),
                    }
                    attempt += 1;
                }
                None => break Outcome::Retry(reason),
            },
            other => break other,
        }
    };
    let label = match &outcome {
        Outcome::Done => "done",
        Outcome::Skip(label) => label,
        Outcome::Retry(_) => "retry",
        Outcome::Poison(_) => "dead_letter",
    };
    let settled = match outcome {
        Outcome::Done | Outcome::Skip(_) => delivery.ack().await,
        Outcome::Poison(reason) => {
            tracing::warn!(role, reason = %reason, message_id = ?delivery.message_id, "dead-lettering");
            delivery.dead_letter(bus, &reason).await
        }
        Outcome::Retry(reason) => {
            // Shutting down, or out of attempts for this delivery. While the
            // broker's own delivery limit is not near, hand it back (another
            // worker, or this one after a restart, tries again: a Redis or
            // RabbitMQ restart outlasts one delivery's backoff); else
            // dead-letter it with the reason so an operator can see it and
            // redrive. The whole budget is `attempts` × the delivery limit.
            let near_limit = i64::from(delivery.delivery_count) + 1 >= DELIVERY_LIMIT;
            if shutdown.is_cancelled() || !near_limit {
                delivery.requeue().await
            } else {
                let deliveries = delivery.delivery_count.saturating_add(1);
                let reason = format!(
                    "gave up after {deliveries} deliveries of {attempt} attempts: {reason}"
                );
                tracing::warn!(role, reason = %reason, message_id = ?delivery.message_id, "dead-lettering");
                handler.gave_up(&delivery, &reason).await;
                delivery.dead_letter(bus, &reason).await
            }
        }
    };
    if let Err(e) = settled {
        // The broker will redeliver it: handlers are idempotent.
        tracing::warn!(role, error = %e, "could not settle a message; it will be redelivered");
    }
    metrics::counter!("rectoken_messages_total", "role" => role, "outcome" => label).increment(1);
    metrics::histogram!("rectoken_message_seconds", "role" => role)
        .record(started.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rectoken_bus::memory::MemoryBus;
    use rectoken_bus::topology::REASON_HEADER;
    use rectoken_bus::{OutgoingMessage, Topology};

    use super::*;

    struct Scripted {
        calls: AtomicUsize,
        script: Vec<Outcome>,
        /// The reasons `gave_up` was called with.
        gave_up: std::sync::Mutex<Vec<String>>,
    }

    impl Scripted {
        fn new(script: Vec<Outcome>) -> Self {
            Self {
                calls: AtomicUsize::new(0),
                script,
                gave_up: Default::default(),
            }
        }

        fn gave_up(&self) -> Vec<String> {
            self.gave_up.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl Handler for Scripted {
        fn name(&self) -> &'static str {
            "test"
        }
        async fn handle(&self, _: &Delivery) -> Outcome {
            let i = self.calls.fetch_add(1, Ordering::SeqCst);
            self.script.get(i).cloned().unwrap_or(Outcome::Done)
        }
        async fn gave_up(&self, _: &Delivery, reason: &str) {
            self.gave_up.lock().unwrap().push(reason.to_owned());
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        }
    }

    async fn one(bus: &MemoryBus) -> Delivery {
        let q = bus.topology().sync_queue();
        bus.publish(OutgoingMessage::json("", q.clone(), "{}", "m"))
            .await
            .unwrap();
        bus.consume(&q, 1).await.unwrap().next().await.unwrap()
    }

    #[tokio::test]
    async fn retry_then_done_acks() {
        let bus = MemoryBus::new(Topology::default());
        let handler = Scripted::new(vec![Outcome::Retry("a".into()), Outcome::Done]);
        process(
            &bus,
            &handler,
            &fast(),
            one(&bus).await,
            &CancellationToken::new(),
        )
        .await;
        assert_eq!(handler.calls.load(Ordering::SeqCst), 2);
        assert_eq!(
            bus.queue_depth(&bus.topology().sync_queue()).await.unwrap(),
            0
        );
        assert_eq!(
            bus.queue_depth(&Topology::dlq(&bus.topology().sync_queue()))
                .await
                .unwrap(),
            0
        );
    }

    #[tokio::test]
    async fn exhausted_retries_requeue_until_the_delivery_limit_then_dead_letter() {
        let bus = MemoryBus::new(Topology::default());
        let handler = Scripted::new(vec![Outcome::Retry("redis down".into()); 1000]);
        let q = bus.topology().sync_queue();
        let dlq = Topology::dlq(&q);
        bus.publish(OutgoingMessage::json("", q.clone(), "{}", "m"))
            .await
            .unwrap();
        let mut stream = bus.consume(&q, 1).await.unwrap();
        let mut deliveries = 0;
        while bus.queue_depth(&dlq).await.unwrap() == 0 {
            let d = stream.next().await.unwrap();
            deliveries += 1;
            assert!(deliveries <= DELIVERY_LIMIT, "never dead-lettered");
            process(&bus, &handler, &fast(), d, &CancellationToken::new()).await;
        }
        assert_eq!(
            deliveries, DELIVERY_LIMIT,
            "handed back until the broker's limit"
        );
        assert_eq!(
            handler.calls.load(Ordering::SeqCst) as i64,
            3 * DELIVERY_LIMIT,
            "3 attempts per delivery"
        );
        drop(stream);
        let dead = bus.consume(&dlq, 1).await.unwrap().next().await.unwrap();
        let reason = dead.headers.get(REASON_HEADER).unwrap();
        assert!(
            reason.contains("gave up after 10 deliveries") && reason.contains("redis down"),
            "{reason}"
        );
        assert_eq!(
            handler.gave_up(),
            vec![reason.clone()],
            "told once, on the last delivery, with the dead-letter reason"
        );
    }

    #[tokio::test]
    async fn poison_goes_to_dlq_at_once() {
        let bus = MemoryBus::new(Topology::default());
        let handler = Scripted::new(vec![Outcome::Poison("not JSON".into())]);
        process(
            &bus,
            &handler,
            &fast(),
            one(&bus).await,
            &CancellationToken::new(),
        )
        .await;
        assert_eq!(handler.calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            bus.queue_depth(&Topology::dlq(&bus.topology().sync_queue()))
                .await
                .unwrap(),
            1
        );
        assert!(handler.gave_up().is_empty(), "poison is no give-up");
    }

    #[tokio::test]
    async fn shutdown_during_backoff_requeues() {
        let bus = MemoryBus::new(Topology::default());
        let handler = Scripted::new(vec![Outcome::Retry("x".into()); 10]);
        let stop = CancellationToken::new();
        stop.cancel();
        let slow = RetryPolicy {
            attempts: 5,
            min_delay: Duration::from_secs(60),
            max_delay: Duration::from_secs(60),
        };
        process(&bus, &handler, &slow, one(&bus).await, &stop).await;
        assert!(handler.gave_up().is_empty(), "a shutdown gives nothing up");
        assert_eq!(
            bus.queue_depth(&bus.topology().sync_queue()).await.unwrap(),
            1,
            "back on the queue"
        );
        assert_eq!(
            bus.queue_depth(&Topology::dlq(&bus.topology().sync_queue()))
                .await
                .unwrap(),
            0
        );
    }

    #[tokio::test]
    async fn run_drains_on_shutdown() {
        let bus = Arc::new(MemoryBus::new(Topology::default()));
        let q = bus.topology().sync_queue();
        for i in 0..20 {
            bus.publish(OutgoingMessage::json("", q.clone(), "{}", format!("m{i}")))
                .await
                .unwrap();
        }
        let handler = Arc::new(Scripted::new(vec![]));
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(
            bus.clone(),
            handler.clone(),
            ConsumerOptions {
                queue: q.clone(),
                concurrency: 4,
                retry: fast(),
            },
            stop.clone(),
        ));
        // Wait until the queue is empty, then stop.
        while bus.queue_depth(&q).await.unwrap() > 0 {
            tokio::task::yield_now().await;
        }
        stop.cancel();
        task.await.unwrap();
        assert_eq!(handler.calls.load(Ordering::SeqCst), 20);
    }
}
