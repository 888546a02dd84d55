//! The RabbitMQ backend (lapin).
//!
//! A supervisor task owns the connection: it connects with backoff, declares
//! the topology, opens a confirm-mode publishing channel, and on any
//! connection error drops it and starts over. With one broker node,
//! publishers never wait for a reconnect: while disconnected, `publish`
//! fails at once with [`BusError::Unavailable`], so the ingress can answer
//! 503 within Zoom's 3-second budget and Zoom retries.
//!
//! With several nodes (a RabbitMQ cluster, see [`crate::nodes`]) the
//! supervisor connects to one of them and, when that node dies, moves on to
//! the next at once, declares the topology again (consumers then subscribe
//! again, see [`Bus::consume`]). A `publish` whose connection died before the
//! broker confirmed waits for that move and publishes again on the new node,
//! all within [`RabbitOptions::confirm_timeout`]: at-least-once (a message
//! the dead node had taken may be enqueued twice, which every consumer
//! tolerates), and `Ok` still only for a message some node confirmed.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::message::{Delivery, JSON, OutgoingMessage, Settle};
use crate::nodes::BrokerNodes;
use crate::topology::{DELIVERY_LIMIT, Topology};
use crate::{Bus, BusError, DIRECT_REPLY_TO, DeliveryStream, Result};

/// Tunables of the RabbitMQ backend.
#[derive(Debug, Clone)]
pub struct RabbitOptions {
    /// How long `publish` waits for the broker's confirm. Zoom allows 3 s
    /// for the whole webhook answer, so the default leaves room.
    pub confirm_timeout: Duration,
    /// First reconnect delay; doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// How long connecting to one node, then declaring the topology there,
    /// may each take before the node counts as unreachable.
    pub connect_timeout: Duration,
    /// Shown in the RabbitMQ management UI.
    pub connection_name: String,
}

impl Default for RabbitOptions {
    fn default() -> Self {
        Self {
            confirm_timeout: Duration::from_secs(2),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            connection_name: "rectoken".into(),
        }
    }
}

/// The RabbitMQ bus. Cheap to clone.
#[derive(Clone)]
pub struct RabbitBus {
    shared: Arc<Shared>,
}

struct Shared {
    topology: Topology,
    nodes: BrokerNodes,
    /// Counts connections made; each [`Live`] carries its number, so a
    /// publisher can tell a new connection from the one that failed it.
    generation: AtomicU64,
    options: RabbitOptions,
    live: RwLock<Option<Live>>,
    connected: watch::Sender<bool>,
    shutdown: CancellationToken,
    /// Set by the supervisor once it has closed its connection and stopped:
    /// it alone closes, so [`Bus::close`] never races it (two closes of one
    /// lapin connection could wait forever for a close-ok, or log
    /// "invalid channel state: Closing").
    stopped: watch::Sender<bool>,
    pending: Pending,
}

#[derive(Clone)]
struct Live {
    /// Which connection this is (see [`Shared::generation`]).
    generation: u64,
    connection: Arc<Connection>,
    publisher: Channel,
    /// Confirm-mode channel consuming direct reply-to, for [`Bus::request`].
    rpc: Channel,
}

/// Requests awaiting a reply, by correlation ID.
type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Bytes>>>>;

impl Shared {
    fn live(&self) -> Option<Live> {
        self.live.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_live(&self, live: Option<Live>) {
        let up = live.is_some();
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = live;
        self.connected.send_replace(up);
        metrics::gauge!("rectoken_broker_connected").set(if up { 1.0 } else { 0.0 });
    }
}

impl RabbitBus {
    /// A new channel on the live connection, for one consumer, one
    /// `basic.get` or one passive declare.
    async fn new_channel(&self) -> Result<Channel> {
        let live = self
            .shared
            .live()
            .ok_or_else(|| BusError::Unavailable("not connected to RabbitMQ".into()))?;
        live.connection
            .create_channel()
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }

    /// Start the supervisor and return at once. The bus becomes connected
    /// when the broker answers; see [`Bus::wait_connected`]. `url` is one
    /// AMQP URL or a comma-separated list of a cluster's nodes (see
    /// [`crate::nodes`]); [`crate::connect`] refuses an invalid list, here it
    /// is logged and tried as one URL.
    pub fn start(url: &str, topology: Topology, options: RabbitOptions) -> Self {
        let nodes = BrokerNodes::parse(url).unwrap_or_else(|e| {
            tracing::error!(error = %e, "RECTOKEN_AMQP_URL is not a valid node list; trying it as one URL");
            BrokerNodes::unchecked(url)
        });
        Self::start_nodes(nodes, topology, options)
    }

    /// [`RabbitBus::start`] with the nodes already parsed.
    pub fn start_nodes(nodes: BrokerNodes, topology: Topology, options: RabbitOptions) -> Self {
        let (connected, _) = watch::channel(false);
        let (stopped, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            topology,
            nodes,
            generation: AtomicU64::new(0),
            options,
            live: RwLock::new(None),
            connected,
            shutdown: CancellationToken::new(),
            stopped,
            pending: Arc::new(Mutex::new(HashMap::new())),
        });
        let supervised = shared.clone();
        tokio::spawn(async move {
            supervise(supervised.clone()).await;
            supervised.stopped.send_replace(true);
        });
        Self { shared }
    }

    /// The nodes this bus connects to.
    pub fn nodes(&self) -> &BrokerNodes {
        &self.shared.nodes
    }

    /// Wait until the bus is connected over a connection other than
    /// `failed` (a generation), or `limit` passes; the new connection.
    async fn wait_for_other(&self, failed: u64, limit: Duration) -> Option<Live> {
        let mut rx = self.shared.connected.subscribe();
        let wait = async {
            loop {
                if let Some(live) = self.shared.live()
                    && live.generation != failed
                {
                    return Some(live);
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        };
        tokio::time::timeout(limit, wait).await.ok().flatten()
    }
}

/// Connect to a node, declare, wait for failure, move on, until shutdown.
/// After losing a node the next one in the list is tried first, at once;
/// only when a whole round of nodes failed does it wait (with backoff).
async fn supervise(shared: Arc<Shared>) {
    let mut delay = shared.options.reconnect_min;
    let mut next = 0usize;
    loop {
        let mut lost_one = false;
        let order: Vec<usize> = shared.nodes.order_from(next).collect();
        for i in order {
            if shared.shutdown.is_cancelled() {
                return;
            }
            let node = shared.nodes.node_label(i);
            let url = &shared.nodes.urls()[i];
            match connect_once(&shared, url).await {
                Ok(live) => {
                    delay = shared.options.reconnect_min;
                    tracing::info!(node = %node, "connected to RabbitMQ");
                    let connection = live.connection.clone();
                    shared.set_live(Some(live.clone()));
                    wait_for_failure(&shared, &connection).await;
                    shared.set_live(None);
                    if shared.shutdown.is_cancelled() {
                        close_live(&live).await;
                        return;
                    }
                    metrics::counter!("rectoken_broker_connection_lost_total").increment(1);
                    tracing::warn!(node = %node, nodes = shared.nodes.len(), "lost the RabbitMQ connection; reconnecting");
                    next = i + 1;
                    lost_one = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!(node = %node, error = %e, "RabbitMQ connect failed");
                }
            }
        }
        // Another node may well be up: try it now. One node: a short pause.
        if lost_one && shared.nodes.len() > 1 {
            continue;
        }
        if !lost_one {
            tracing::warn!(
                retry_in_ms = delay.as_millis() as u64,
                "no RabbitMQ node reachable"
            );
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shared.shutdown.cancelled() => return,
        }
        delay = (delay * 2).min(shared.options.reconnect_max);
    }
}

/// How long each step of a clean close may take before it is abandoned:
/// a broker that does not answer must not hold a process's shutdown.
const CLOSE_STEP_TIMEOUT: Duration = Duration::from_secs(2);

/// Close a connection cleanly: its channels first, then the connection, each
/// step bounded by [`CLOSE_STEP_TIMEOUT`].
async fn close_live(live: &Live) {
    for channel in [&live.rpc, &live.publisher] {
        if let Err(e) =
            tokio::time::timeout(CLOSE_STEP_TIMEOUT, channel.close(200, "shutdown".into())).await
        {
            tracing::debug!(error = %e, "closing a RabbitMQ channel timed out");
        }
    }
    if tokio::time::timeout(
        CLOSE_STEP_TIMEOUT,
        live.connection.close(200, "shutdown".into()),
    )
    .await
    .is_err()
    {
        tracing::debug!("closing the RabbitMQ connection timed out");
    }
}

async fn wait_for_failure(shared: &Shared, connection: &Connection) {
    let mut events = Box::pin(connection.events_listener());
    // The event stream reports errors; the periodic status check is a
    // safety net for failures that produce no event.
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            event = events.next() => match event {
                Some(lapin::Event::Error(e)) => {
                    tracing::warn!(error = %e, "RabbitMQ connection error");
                    return;
                }
                Some(_) => {}
                None => return,
            },
            _ = tick.tick() => {
                if !connection.status().connected() {
                    return;
                }
            }
        }
    }
}

/// Connect to one node and set up there, each step bounded by
/// [`RabbitOptions::connect_timeout`]; a connection whose setup failed is
/// closed, not leaked.
async fn connect_once(shared: &Shared, url: &str) -> std::result::Result<Live, String> {
    let limit = shared.options.connect_timeout;
    let props = ConnectionProperties::default()
        .with_connection_name(shared.options.connection_name.clone().into());
    let connection = match tokio::time::timeout(limit, Connection::connect(url, props)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err(format!("connect timed out after {limit:?}")),
    };
    match tokio::time::timeout(limit, set_up(shared, &connection)).await {
        Ok(Ok((publisher, rpc))) => Ok(Live {
            generation: shared.generation.fetch_add(1, Ordering::Relaxed) + 1,
            connection: Arc::new(connection),
            publisher,
            rpc,
        }),
        failed => {
            let _ = connection.close(200, "setup failed".into()).await;
            Err(match failed {
                Ok(Err(e)) => format!("setting up: {e}"),
                _ => format!("declaring the topology took over {limit:?}"),
            })
        }
    }
}

/// Declare the topology, open the confirm-mode publisher and the
/// direct reply-to channel.
async fn set_up(shared: &Shared, connection: &Connection) -> lapin::Result<(Channel, Channel)> {
    let publisher = connection.create_channel().await?;
    declare_topology(&publisher, &shared.topology).await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    // Direct reply-to: consume the pseudo-queue (no-ack, as RabbitMQ
    // requires) and publish requests on the same channel.
    let rpc = connection.create_channel().await?;
    rpc.confirm_select(ConfirmSelectOptions::default()).await?;
    let replies = rpc
        .basic_consume(
            DIRECT_REPLY_TO.into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    let pending = shared.pending.clone();
    tokio::spawn(async move {
        let mut replies = replies;
        while let Some(Ok(reply)) = replies.next().await {
            let waiter = reply.properties.correlation_id().as_ref().and_then(|c| {
                pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(c.as_str())
            });
            if let Some(tx) = waiter {
                let _ = tx.send(Bytes::from(reply.data));
            }
        }
    });
    Ok((publisher, rpc))
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(s.into())
}

/// Arguments of a work queue: quorum (replicated, durable), dead-lettering
/// at least once into its `.dlq` after [`DELIVERY_LIMIT`] deliveries.
fn work_queue_arguments(dlq: &str) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), long_string("quorum"));
    // Dead letters go through the default exchange straight to the DLQ.
    args.insert("x-dead-letter-exchange".into(), long_string(""));
    args.insert("x-dead-letter-routing-key".into(), long_string(dlq));
    // Poison messages that crash consumers stop after this many deliveries.
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(DELIVERY_LIMIT),
    );
    // at-least-once dead-lettering never drops a message on the way to the
    // DLQ; RabbitMQ requires reject-publish overflow for it.
    args.insert(
        "x-dead-letter-strategy".into(),
        long_string("at-least-once"),
    );
    args.insert("x-overflow".into(), long_string("reject-publish"));
    args
}

/// Declare exchange, work queues, DLQs and bindings. Idempotent: every role
/// runs it at start and on every reconnect with identical arguments.
pub async fn declare_topology(channel: &Channel, topology: &Topology) -> lapin::Result<()> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let exchanges = [
        (topology.events_exchange(), ExchangeKind::Topic),
        // Bots publish join requests here (docs/security.md): a direct
        // exchange, so a request with any other routing key comes back
        // unroutable instead of reaching a queue.
        (topology.join_exchange(), ExchangeKind::Direct),
        // Account events (docs/design.md): operators bind their own queues.
        (topology.account_events_exchange(), ExchangeKind::Topic),
    ];
    for (name, kind) in exchanges {
        channel
            .exchange_declare(
                name.into(),
                kind,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
    }
    let work_queues = topology
        .work_queues()
        .into_iter()
        .chain(topology.optional_work_queues());
    for queue in work_queues {
        let dlq = Topology::dlq(&queue);
        let mut dlq_args = FieldTable::default();
        dlq_args.insert("x-queue-type".into(), long_string("quorum"));
        channel
            .queue_declare(dlq.clone().into(), durable, dlq_args)
            .await?;
        channel
            .queue_declare(queue.into(), durable, work_queue_arguments(&dlq))
            .await?;
    }
    for (queue, pattern) in topology.event_bindings() {
        channel
            .queue_bind(
                queue.into(),
                topology.events_exchange().into(),
                pattern.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    for (queue, pattern) in topology.account_event_bindings() {
        channel
            .queue_bind(
                queue.into(),
                topology.account_events_exchange().into(),
                pattern.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    let (join_queue, join_key) = topology.join_binding();
    channel
        .queue_bind(
            join_queue.into(),
            topology.join_exchange().into(),
            join_key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

fn properties(message: &OutgoingMessage) -> BasicProperties {
    let mut props = BasicProperties::default()
        .with_content_type(JSON.into())
        .with_message_id(message.message_id.clone().into())
        .with_delivery_mode(if message.persistent { 2 } else { 1 });
    if !message.headers.is_empty() {
        let mut table = FieldTable::default();
        for (k, v) in &message.headers {
            table.insert(k.clone().into(), long_string(v));
        }
        props = props.with_headers(table);
    }
    if let Some(r) = &message.reply_to {
        props = props.with_reply_to(r.clone().into());
    }
    if let Some(c) = &message.correlation_id {
        props = props.with_correlation_id(c.clone().into());
    }
    props
}

fn value_to_string(v: &AMQPValue) -> Option<String> {
    match v {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => value_to_i64(v).map(|n| n.to_string()),
    }
}

fn value_to_i64(v: &AMQPValue) -> Option<i64> {
    Some(match v {
        AMQPValue::ShortShortInt(n) => i64::from(*n),
        AMQPValue::ShortShortUInt(n) => i64::from(*n),
        AMQPValue::ShortInt(n) => i64::from(*n),
        AMQPValue::ShortUInt(n) => i64::from(*n),
        AMQPValue::LongInt(n) => i64::from(*n),
        AMQPValue::LongUInt(n) => i64::from(*n),
        AMQPValue::LongLongInt(n) => *n,
        _ => return None,
    })
}

fn short(s: &Option<ShortString>) -> Option<String> {
    s.as_ref().map(|s| s.as_str().to_owned())
}

/// Publish on a confirm-mode channel and wait for the broker's confirm.
async fn publish_on(channel: &Channel, message: &OutgoingMessage, timeout: Duration) -> Result<()> {
    let props = properties(message);
    let confirmed = tokio::time::timeout(timeout, async {
        channel
            .basic_publish(
                message.exchange.as_str().into(),
                message.routing_key.as_str().into(),
                // mandatory: an unroutable message comes back instead of
                // vanishing, and we report it as rejected. Not for replies
                // to direct reply-to, which RabbitMQ returns as NO_ROUTE
                // when mandatory although it delivers them.
                BasicPublishOptions {
                    mandatory: !message.routing_key.starts_with(DIRECT_REPLY_TO),
                    ..BasicPublishOptions::default()
                },
                &message.body,
                props,
            )
            .await?
            .await
    })
    .await;
    match confirmed {
        Err(_) => Err(BusError::ConfirmTimeout(timeout)),
        Ok(Err(e)) => Err(BusError::Unavailable(e.to_string())),
        Ok(Ok(confirmation)) => {
            if confirmation.is_nack() {
                return Err(BusError::Nacked("broker nacked the publish".into()));
            }
            match confirmation.take_message() {
                Some(returned) => Err(BusError::Rejected(format!(
                    "unroutable: {}",
                    returned.reply_text
                ))),
                None => Ok(()),
            }
        }
    }
}

struct RabbitSettle {
    acker: lapin::Acker,
    /// The channel of a [`Bus::get`]: it must outlive the settlement (a
    /// consumer's channel lives in its stream instead).
    _channel: Option<Channel>,
}

/// A broker delivery as a [`Delivery`]; `channel` is kept open until it is
/// settled.
fn delivery_from(queue: &str, d: lapin::message::Delivery, channel: Option<Channel>) -> Delivery {
    let props = &d.properties;
    let mut headers = BTreeMap::new();
    let mut delivery_count = 0u32;
    if let Some(table) = props.headers() {
        for (k, v) in table.inner() {
            if k.as_str() == "x-delivery-count" {
                delivery_count = value_to_i64(v)
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0);
            }
            if let Some(s) = value_to_string(v) {
                headers.insert(k.as_str().to_owned(), s);
            }
        }
    }
    Delivery {
        queue: queue.to_owned(),
        routing_key: d.routing_key.as_str().to_owned(),
        message_id: short(props.message_id()),
        reply_to: short(props.reply_to()),
        correlation_id: short(props.correlation_id()),
        headers,
        body: d.data.into(),
        redelivered: d.redelivered,
        delivery_count,
        settle: Some(Box::new(RabbitSettle {
            acker: d.acker,
            _channel: channel,
        })),
    }
}

#[async_trait]
impl Settle for RabbitSettle {
    async fn ack(self: Box<Self>) -> Result<()> {
        self.acker
            .ack(BasicAckOptions::default())
            .await
            .map(drop)
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }

    async fn requeue(self: Box<Self>) -> Result<()> {
        self.acker
            .nack(BasicNackOptions {
                requeue: true,
                multiple: false,
            })
            .await
            .map(drop)
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }

    fn abandon(self: Box<Self>) {
        // Without a runtime the channel's close returns the message anyway.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = self.requeue().await;
            });
        }
    }
}

#[async_trait]
impl Bus for RabbitBus {
    async fn publish(&self, message: OutgoingMessage) -> Result<()> {
        let budget = self.shared.options.confirm_timeout;
        let failover = self.shared.nodes.len() > 1;
        let started = tokio::time::Instant::now();
        let mut live = match self.shared.live() {
            Some(live) => live,
            // Between nodes: wait for the move, within the budget.
            None if failover => {
                metrics::counter!("rectoken_broker_publish_waited_total").increment(1);
                self.wait_for_other(0, budget)
                    .await
                    .ok_or_else(|| BusError::Unavailable("no RabbitMQ node connected".into()))?
            }
            None => return Err(BusError::Unavailable("not connected to RabbitMQ".into())),
        };
        loop {
            let left = budget.saturating_sub(started.elapsed());
            let result = publish_on(&live.publisher, &message, left).await;
            // The connection died before the confirm: the message may or may
            // not be on the old node. Publish again on the next one.
            let Err(BusError::Unavailable(why)) = &result else {
                return result;
            };
            if !failover {
                return result;
            }
            let left = budget.saturating_sub(started.elapsed());
            match self.wait_for_other(live.generation, left).await {
                Some(next) => {
                    tracing::debug!(error = %why, "publishing again after a node change");
                    metrics::counter!("rectoken_broker_republished_total").increment(1);
                    live = next;
                }
                None => return result,
            }
        }
    }

    async fn request(&self, mut message: OutgoingMessage, timeout: Duration) -> Result<Bytes> {
        let live = self
            .shared
            .live()
            .ok_or_else(|| BusError::Unavailable("not connected to RabbitMQ".into()))?;
        let correlation = message
            .correlation_id
            .clone()
            .unwrap_or_else(|| message.message_id.clone());
        message.correlation_id = Some(correlation.clone());
        message.reply_to = Some(DIRECT_REPLY_TO.to_owned());
        let (tx, rx) = oneshot::channel();
        self.shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(correlation.clone(), tx);
        let result = async {
            publish_on(&live.rpc, &message, self.shared.options.confirm_timeout).await?;
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(body)) => Ok(body),
                Ok(Err(_)) => Err(BusError::Unavailable(
                    "connection lost while waiting for the reply".into(),
                )),
                Err(_) => Err(BusError::ReplyTimeout(timeout)),
            }
        }
        .await;
        self.shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&correlation);
        result
    }

    async fn consume(&self, queue: &str, prefetch: u16) -> Result<DeliveryStream> {
        let unavailable = |e: lapin::Error| BusError::Unavailable(e.to_string());
        let channel = self.new_channel().await?;
        channel
            .basic_qos(prefetch.max(1), BasicQosOptions::default())
            .await
            .map_err(unavailable)?;
        let consumer = channel
            .basic_consume(
                queue.into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| BusError::Topology(e.to_string()))?;
        let queue = queue.to_owned();
        // The channel lives as long as the stream.
        let stream = consumer
            .take_while(|d| std::future::ready(d.is_ok()))
            .filter_map(move |d| {
                let _keep_channel = &channel;
                std::future::ready(d.ok().map(|d| delivery_from(&queue, d, None)))
            });
        Ok(stream.boxed())
    }

    async fn get(&self, queue: &str) -> Result<Option<Delivery>> {
        let channel = self.new_channel().await?;
        let got = channel
            .basic_get(queue.into(), BasicGetOptions::default())
            .await
            .map_err(|e| BusError::Topology(e.to_string()))?;
        Ok(got.map(|g| delivery_from(queue, g.delivery, Some(channel))))
    }

    async fn queue_depth(&self, queue: &str) -> Result<u32> {
        Ok(self.queue_stats(queue).await?.ready)
    }

    async fn queue_stats(&self, queue: &str) -> Result<crate::QueueStats> {
        // A passive declare on a throwaway channel: if the queue is missing
        // the broker closes that channel, not the publishing one.
        let channel = self.new_channel().await?;
        let q = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| BusError::Topology(e.to_string()))?;
        let _ = channel.close(200, "ok".into()).await;
        Ok(crate::QueueStats {
            ready: q.message_count(),
            consumers: Some(q.consumer_count()),
        })
    }

    fn is_connected(&self) -> bool {
        *self.shared.connected.borrow()
    }

    async fn wait_connected(&self) {
        let mut rx = self.shared.connected.subscribe();
        let _ = rx.wait_for(|up| *up).await;
    }

    fn topology(&self) -> &Topology {
        &self.shared.topology
    }

    async fn close(&self) {
        // The supervisor closes its connection when it sees the shutdown
        // (one closer only); wait for it, bounded.
        self.shared.shutdown.cancel();
        let mut stopped = self.shared.stopped.subscribe();
        let wait = stopped.wait_for(|done| *done);
        if tokio::time::timeout(CLOSE_STEP_TIMEOUT * 3, wait)
            .await
            .is_err()
        {
            tracing::debug!("the RabbitMQ supervisor did not stop in time");
        }
        self.shared.set_live(None);
    }
}
