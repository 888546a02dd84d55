//! The in-process bus: one process, no broker, same contract as RabbitMQ.
//!
//! Used by `rectoken dev` without `RECTOKEN_AMQP_URL` and by unit tests. It
//! keeps messages in memory only, so it is not for production.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot};
use tokio_util::sync::CancellationToken;

use crate::message::{Delivery, OutgoingMessage, Settle};
use crate::topology::{DELIVERY_LIMIT, Topology};
use crate::{Bus, BusError, DIRECT_REPLY_TO, DeliveryStream, Result, topic};

/// The in-process bus. Cheap to clone; clones share the queues.
#[derive(Clone)]
pub struct MemoryBus {
    inner: Arc<Inner>,
    topology: Topology,
}

struct Inner {
    state: Mutex<State>,
    closed: CancellationToken,
    /// Requests awaiting a reply, by correlation ID.
    pending: Mutex<HashMap<String, oneshot::Sender<bytes::Bytes>>>,
}

#[derive(Default)]
struct State {
    queues: HashMap<String, Queue>,
    /// (exchange, pattern, queue)
    bindings: Vec<(String, String, String)>,
}

struct Queue {
    ready: VecDeque<Stored>,
    notify: Arc<Notify>,
    /// Dead-letter target once the delivery limit is exceeded.
    dlq: Option<String>,
}

struct Stored {
    message: OutgoingMessage,
    delivery_count: u32,
}

impl MemoryBus {
    /// A bus with the topology of docs/design.md declared.
    pub fn new(topology: Topology) -> Self {
        let mut state = State::default();
        let work_queues = topology
            .work_queues()
            .into_iter()
            .chain(topology.optional_work_queues());
        for queue in work_queues {
            let dlq = Topology::dlq(&queue);
            state.queues.insert(dlq.clone(), Queue::new(None));
            state.queues.insert(queue, Queue::new(Some(dlq)));
        }
        for (queue, pattern) in topology.event_bindings() {
            state
                .bindings
                .push((topology.events_exchange(), pattern.to_owned(), queue));
        }
        for (queue, pattern) in topology.account_event_bindings() {
            state.bindings.push((
                topology.account_events_exchange(),
                pattern.to_owned(),
                queue,
            ));
        }
        // A literal binding key matches only itself, as on a direct exchange.
        let (join_queue, join_key) = topology.join_binding();
        state
            .bindings
            .push((topology.join_exchange(), join_key, join_queue));
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                closed: CancellationToken::new(),
                pending: Mutex::new(HashMap::new()),
            }),
            topology,
        }
    }

    /// Declare an extra queue (e.g. a reply queue), without dead-lettering.
    pub fn declare_queue(&self, name: &str) {
        self.inner
            .lock()
            .queues
            .entry(name.to_owned())
            .or_insert_with(|| Queue::new(None));
    }
}

impl Queue {
    fn new(dlq: Option<String>) -> Self {
        Self {
            ready: VecDeque::new(),
            notify: Arc::new(Notify::new()),
            dlq,
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-written
        // (every critical section is a single push or pop), so poisoning is
        // safe to ignore.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Put a message at the back (new) or front (returned) of a queue.
    fn enqueue(&self, queue: &str, stored: Stored, front: bool) -> Result<()> {
        let mut state = self.lock();
        let q = state
            .queues
            .get_mut(queue)
            .ok_or_else(|| BusError::Rejected(format!("no queue named {queue:?}")))?;
        if front {
            q.ready.push_front(stored);
        } else {
            q.ready.push_back(stored);
        }
        q.notify.notify_one();
        Ok(())
    }

    /// Return an unacked message: to the front of its queue, or to its DLQ
    /// once it was delivered more than [`DELIVERY_LIMIT`] times.
    fn give_back(&self, queue: &str, mut stored: Stored) {
        stored.delivery_count = stored.delivery_count.saturating_add(1);
        let dlq = self.lock().queues.get(queue).and_then(|q| q.dlq.clone());
        let result = match dlq {
            Some(dlq) if i64::from(stored.delivery_count) > DELIVERY_LIMIT => {
                self.enqueue(&dlq, stored, false)
            }
            _ => self.enqueue(queue, stored, true),
        };
        if let Err(e) = result {
            tracing::error!(queue, error = %e, "in-process bus lost a returned message");
        }
    }
}

struct MemorySettle {
    inner: Arc<Inner>,
    queue: String,
    stored: Stored,
    /// A consumer's prefetch slot, freed when settled; `None` for a
    /// [`Bus::get`].
    _permit: Option<OwnedSemaphorePermit>,
}

impl MemorySettle {
    /// `stored`, taken from `queue`, as a delivery.
    fn delivery(
        inner: Arc<Inner>,
        queue: &str,
        stored: Stored,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Delivery {
        let m = &stored.message;
        Delivery {
            queue: queue.to_owned(),
            routing_key: m.routing_key.clone(),
            body: m.body.clone(),
            message_id: Some(m.message_id.clone()),
            headers: m.headers.clone(),
            reply_to: m.reply_to.clone(),
            correlation_id: m.correlation_id.clone(),
            redelivered: stored.delivery_count > 0,
            delivery_count: stored.delivery_count,
            settle: Some(Box::new(MemorySettle {
                inner,
                queue: queue.to_owned(),
                stored,
                _permit: permit,
            })),
        }
    }
}

#[async_trait]
impl Settle for MemorySettle {
    async fn ack(self: Box<Self>) -> Result<()> {
        Ok(())
    }

    async fn requeue(self: Box<Self>) -> Result<()> {
        self.abandon();
        Ok(())
    }

    fn abandon(self: Box<Self>) {
        let this = *self;
        this.inner.give_back(&this.queue, this.stored);
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, message: OutgoingMessage) -> Result<()> {
        if self.inner.closed.is_cancelled() {
            return Err(BusError::Unavailable("in-process bus is closed".into()));
        }
        if message.exchange.is_empty() && message.routing_key.starts_with(DIRECT_REPLY_TO) {
            // A reply: straight to the waiting requester, if it still waits
            // (RabbitMQ drops replies to a gone requester too).
            let waiter = message.correlation_id.as_ref().and_then(|c| {
                self.inner
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(c)
            });
            if let Some(tx) = waiter {
                let _ = tx.send(message.body.clone());
            }
            return Ok(());
        }
        let targets: Vec<String> = if message.exchange.is_empty() {
            vec![message.routing_key.clone()]
        } else {
            let state = self.inner.lock();
            // The account-events exchange exists even with no queue bound.
            let exchange_known = message.exchange == self.topology.account_events_exchange()
                || state
                    .bindings
                    .iter()
                    .any(|(e, _, _)| *e == message.exchange);
            if !exchange_known {
                return Err(BusError::Topology(format!(
                    "no exchange named {:?}",
                    message.exchange
                )));
            }
            state
                .bindings
                .iter()
                .filter(|(e, p, _)| {
                    *e == message.exchange && topic::matches(p, &message.routing_key)
                })
                .map(|(_, _, q)| q.clone())
                .collect()
        };
        if targets.is_empty() {
            // Same as a mandatory publish that RabbitMQ returns.
            return Err(BusError::Rejected(format!(
                "unroutable: no queue bound for {:?}",
                message.routing_key
            )));
        }
        for queue in targets {
            self.inner.enqueue(
                &queue,
                Stored {
                    message: message.clone(),
                    delivery_count: 0,
                },
                false,
            )?;
        }
        Ok(())
    }

    async fn consume(&self, queue: &str, prefetch: u16) -> Result<DeliveryStream> {
        let notify = self
            .inner
            .lock()
            .queues
            .get(queue)
            .map(|q| q.notify.clone())
            .ok_or_else(|| BusError::Topology(format!("no queue named {queue:?}")))?;
        let permits = Arc::new(Semaphore::new(usize::from(prefetch.max(1))));
        let inner = self.inner.clone();
        let queue = queue.to_owned();
        let stream = futures_util::stream::unfold(
            (inner, queue, notify, permits),
            |(inner, queue, notify, permits)| async move {
                let permit = tokio::select! {
                    p = permits.clone().acquire_owned() => p.ok()?,
                    () = inner.closed.cancelled() => return None,
                };
                loop {
                    let popped = inner
                        .lock()
                        .queues
                        .get_mut(&queue)
                        .and_then(|q| q.ready.pop_front());
                    if let Some(stored) = popped {
                        let delivery =
                            MemorySettle::delivery(inner.clone(), &queue, stored, Some(permit));
                        return Some((delivery, (inner, queue, notify, permits)));
                    }
                    tokio::select! {
                        () = notify.notified() => {}
                        () = inner.closed.cancelled() => return None,
                    }
                }
            },
        );
        Ok(stream.boxed())
    }

    async fn get(&self, queue: &str) -> Result<Option<Delivery>> {
        let popped = {
            let mut state = self.inner.lock();
            let q = state
                .queues
                .get_mut(queue)
                .ok_or_else(|| BusError::Topology(format!("no queue named {queue:?}")))?;
            q.ready.pop_front()
        };
        Ok(popped.map(|stored| MemorySettle::delivery(self.inner.clone(), queue, stored, None)))
    }

    async fn request(
        &self,
        mut message: OutgoingMessage,
        timeout: std::time::Duration,
    ) -> Result<bytes::Bytes> {
        let correlation = message
            .correlation_id
            .clone()
            .unwrap_or_else(|| message.message_id.clone());
        message.correlation_id = Some(correlation.clone());
        message.reply_to = Some(DIRECT_REPLY_TO.to_owned());
        let (tx, rx) = oneshot::channel();
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(correlation.clone(), tx);
        let result = async {
            self.publish(message).await?;
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(body)) => Ok(body),
                Ok(Err(_)) => Err(BusError::Unavailable("in-process bus closed".into())),
                Err(_) => Err(BusError::ReplyTimeout(timeout)),
            }
        }
        .await;
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&correlation);
        result
    }

    async fn queue_depth(&self, queue: &str) -> Result<u32> {
        self.inner
            .lock()
            .queues
            .get(queue)
            .map(|q| u32::try_from(q.ready.len()).unwrap_or(u32::MAX))
            .ok_or_else(|| BusError::Topology(format!("no queue named {queue:?}")))
    }

    fn is_connected(&self) -> bool {
        !self.inner.closed.is_cancelled()
    }

    async fn wait_connected(&self) {}

    fn topology(&self) -> &Topology {
        &self.topology
    }

    async fn close(&self) {
        self.inner.closed.cancel();
    }
}
