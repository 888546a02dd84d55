//! The message bus of rectoken: RabbitMQ in production, an in-process bus for
//! `rectoken dev` and unit tests, both behind the [`Bus`] trait.
//!
//! # Layout
//! - [`topology`]: the exchange and queue names of docs/design.md and their
//!   arguments (quorum queues, dead-letter queues), with an optional prefix so
//!   tests can isolate themselves.
//! - [`message`]: outgoing messages and deliveries with explicit ack, nack and
//!   dead-letter.
//! - [`rabbit`]: the lapin backend, which reconnects in the background and
//!   publishes with confirms.
//! - [`memory`]: the in-process backend with the same semantics (topic
//!   routing, prefetch, redelivery, delivery limit, dead-letter queues).
//! - [`topic`]: AMQP topic pattern matching (pure).
//! - [`permissions`]: the broker permissions each role and a bot need.
//!
//! The contract both backends keep: `publish` returns `Ok` only once the
//! broker has taken responsibility for the message (publisher confirm); a
//! delivery is removed only by `ack`; a delivery dropped without ack comes
//! back; a message redelivered more than the delivery limit lands in its
//! queue's `.dlq`.

pub mod memory;
pub mod message;
pub mod nodes;
pub mod permissions;
mod probe;
pub mod rabbit;
pub mod topic;
pub mod topology;

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::stream::BoxStream;

pub use message::{Delivery, OutgoingMessage};
pub use probe::probe;
pub use topology::Topology;

/// RabbitMQ's direct reply-to pseudo-queue: replies to it go straight to
/// the requesting channel, with no queue to declare or clean up.
pub const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// Errors of the bus layer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BusError {
    /// No connection to the broker right now; the caller should answer
    /// "try again" (HTTP 503) or wait for [`Bus::wait_connected`].
    #[error("message broker unavailable: {0}")]
    Unavailable(String),
    /// The broker did not confirm within the publish timeout.
    #[error("message broker did not confirm within {0:?}")]
    ConfirmTimeout(std::time::Duration),
    /// The broker could not route the message (a mandatory publish came
    /// back: no such queue, or a direct reply-to requester that is gone).
    #[error("message broker refused the message: {0}")]
    Rejected(String),
    /// The broker confirmed negatively (nack): it could not take the message
    /// now, e.g. a quorum queue without a leader while a cluster node is
    /// down. Unlike [`BusError::Rejected`], publishing again may succeed.
    #[error("message broker did not take the message: {0}")]
    Nacked(String),
    /// A queue or exchange does not exist or was declared differently.
    #[error("topology error: {0}")]
    Topology(String),
    /// No reply arrived in time.
    #[error("no reply within {0:?}")]
    ReplyTimeout(std::time::Duration),
    /// The URL is not a supported bus URL.
    #[error("invalid bus URL: {0}")]
    InvalidUrl(String),
}

/// Result type of the bus layer.
pub type Result<T, E = BusError> = std::result::Result<T, E>;

/// A stream of deliveries from one queue. It ends when the connection is
/// lost; callers then [`Bus::wait_connected`] and consume again.
pub type DeliveryStream = BoxStream<'static, Delivery>;

/// The message bus every role uses.
///
/// Why a trait: the ingress and workers are tested against the in-process
/// backend, and `rectoken dev` runs with nothing installed; the RabbitMQ
/// backend passes the same contract tests.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publish a message; `Ok` only after the broker confirmed it.
    async fn publish(&self, message: OutgoingMessage) -> Result<()>;

    /// Start consuming `queue` with at most `prefetch` unacknowledged
    /// deliveries in flight.
    async fn consume(&self, queue: &str, prefetch: u16) -> Result<DeliveryStream>;

    /// Take the next ready message of `queue`, if there is one, without a
    /// consumer (AMQP `basic.get`); settle it like a consumed one. For
    /// visiting a known number of messages (the console's dead-letter
    /// walk): a consumer would be pushed the next message as soon as it
    /// acked one, taking it out of the queue until its channel closed.
    async fn get(&self, queue: &str) -> Result<Option<Delivery>>;

    /// Publish a request and wait up to `timeout` for its reply (RPC over
    /// RabbitMQ's direct reply-to): `reply_to` is set to
    /// [`DIRECT_REPLY_TO`], `correlation_id` to the message's own if given
    /// (else its `message_id`), and the reply's body is returned.
    async fn request(
        &self,
        message: OutgoingMessage,
        timeout: std::time::Duration,
    ) -> Result<bytes::Bytes>;

    /// Number of ready messages in `queue` (for tests, metrics and admin).
    async fn queue_depth(&self, queue: &str) -> Result<u32>;

    /// Ready messages and, where the backend knows, consumers of `queue`
    /// (the operator console's queue page). The default knows no
    /// consumers.
    async fn queue_stats(&self, queue: &str) -> Result<QueueStats> {
        Ok(QueueStats {
            ready: self.queue_depth(queue).await?,
            consumers: None,
        })
    }

    /// Whether the bus is connected and its topology declared.
    fn is_connected(&self) -> bool;

    /// Wait until [`Bus::is_connected`] is true.
    async fn wait_connected(&self);

    /// The topology (names) this bus declared.
    fn topology(&self) -> &Topology;

    /// Stop: close connections cleanly. Publishes after this fail.
    async fn close(&self);
}

/// What [`Bus::queue_stats`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    /// Messages ready for delivery.
    pub ready: u32,
    /// Consumers attached (`None`: this backend does not say).
    pub consumers: Option<u32>,
}

/// Connect to the bus named by `url`: `memory://` for the in-process bus,
/// `amqp://` or `amqps://` for RabbitMQ, or a comma-separated list of such
/// URLs for the nodes of a RabbitMQ cluster (see [`nodes`]). The RabbitMQ
/// bus connects in the background, so this returns at once even while the
/// broker is down.
pub fn connect(url: &str, topology: Topology) -> Result<Arc<dyn Bus>> {
    if url.starts_with("memory:") {
        Ok(Arc::new(memory::MemoryBus::new(topology)))
    } else if url.starts_with("amqp://") || url.starts_with("amqps://") {
        Ok(Arc::new(rabbit::RabbitBus::start_nodes(
            nodes::BrokerNodes::parse(url)?,
            topology,
            rabbit::RabbitOptions::default(),
        )))
    } else {
        Err(BusError::InvalidUrl(
            "expected amqp://…, amqps://… or memory://".into(),
        ))
    }
}
