//! Outgoing messages and deliveries.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;

use crate::topology::{REASON_HEADER, Topology};
use crate::{Bus, Result};

/// The content type of every rectoken message.
pub const JSON: &str = "application/json";

/// A message to publish. Always JSON, persistent unless [`transient`] is
/// called, and always carrying a `message_id`.
///
/// [`transient`]: OutgoingMessage::transient
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Exchange name; empty for the default exchange (routing key = queue).
    pub exchange: String,
    /// Routing key.
    pub routing_key: String,
    /// The JSON body.
    pub body: Bytes,
    /// AMQP `message_id`.
    pub message_id: String,
    /// String-valued application headers.
    pub headers: BTreeMap<String, String>,
    /// AMQP `reply_to`.
    pub reply_to: Option<String>,
    /// AMQP `correlation_id`.
    pub correlation_id: Option<String>,
    /// Delivery mode 2 (persistent) when true.
    pub persistent: bool,
}

impl OutgoingMessage {
    /// A persistent JSON message.
    pub fn json(
        exchange: impl Into<String>,
        routing_key: impl Into<String>,
        body: impl Into<Bytes>,
        message_id: impl Into<String>,
    ) -> Self {
        Self {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            body: body.into(),
            message_id: message_id.into(),
            headers: BTreeMap::new(),
            reply_to: None,
            correlation_id: None,
            persistent: true,
        }
    }

    /// Add an application header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Set `reply_to`.
    pub fn with_reply_to(mut self, reply_to: impl Into<String>) -> Self {
        self.reply_to = Some(reply_to.into());
        self
    }

    /// Set `correlation_id`.
    pub fn with_correlation_id(mut self, correlation_id: impl Into<String>) -> Self {
        self.correlation_id = Some(correlation_id.into());
        self
    }

    /// Not persisted by the broker (replies to callers that wait for them).
    pub fn transient(mut self) -> Self {
        self.persistent = false;
        self
    }
}

// Bodies may hold tokens (join replies): never print them.
impl fmt::Debug for OutgoingMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMessage")
            .field("exchange", &self.exchange)
            .field("routing_key", &self.routing_key)
            .field("message_id", &self.message_id)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// How a backend settles one delivery.
#[async_trait]
pub(crate) trait Settle: Send + Sync {
    /// Remove the message from the queue.
    async fn ack(self: Box<Self>) -> Result<()>;
    /// Return the message to the queue (counted as a redelivery).
    async fn requeue(self: Box<Self>) -> Result<()>;
    /// The delivery was dropped unsettled: return it, without waiting.
    fn abandon(self: Box<Self>);
}

/// A message taken from a queue. It must be settled with [`ack`],
/// [`requeue`] or [`dead_letter`]; if dropped unsettled it returns to the
/// queue, as when a consumer's channel closes.
///
/// [`ack`]: Delivery::ack
/// [`requeue`]: Delivery::requeue
/// [`dead_letter`]: Delivery::dead_letter
pub struct Delivery {
    /// The queue it came from.
    pub queue: String,
    /// The routing key it was published with.
    pub routing_key: String,
    /// The body.
    pub body: Bytes,
    /// AMQP `message_id`.
    pub message_id: Option<String>,
    /// String-valued application headers.
    pub headers: BTreeMap<String, String>,
    /// AMQP `reply_to`.
    pub reply_to: Option<String>,
    /// AMQP `correlation_id`.
    pub correlation_id: Option<String>,
    /// Whether the broker delivered it before.
    pub redelivered: bool,
    /// How many times it was delivered before (quorum queues'
    /// `x-delivery-count`; 0 on the first delivery).
    pub delivery_count: u32,
    pub(crate) settle: Option<Box<dyn Settle>>,
}

impl Delivery {
    /// Acknowledge: the message's effect is durable, remove it.
    pub async fn ack(mut self) -> Result<()> {
        match self.settle.take() {
            Some(s) => s.ack().await,
            None => Ok(()),
        }
    }

    /// Return the message to its queue for another attempt.
    pub async fn requeue(mut self) -> Result<()> {
        match self.settle.take() {
            Some(s) => s.requeue().await,
            None => Ok(()),
        }
    }

    /// Move the message to its queue's dead-letter queue with `reason` in the
    /// [`REASON_HEADER`] header: publish a copy (confirmed), then ack. If the
    /// publish fails the message is requeued, never dropped.
    pub async fn dead_letter(mut self, bus: &dyn Bus, reason: &str) -> Result<()> {
        let mut copy = OutgoingMessage::json(
            "",
            Topology::dlq(&self.queue),
            self.body.clone(),
            self.message_id
                .clone()
                .unwrap_or_else(|| format!("dlq-{}", self.routing_key)),
        );
        copy.headers = self.headers.clone();
        copy.headers
            .insert(REASON_HEADER.to_owned(), truncate(reason, 1024));
        copy.headers.insert(
            "x-rectoken-routing-key".to_owned(),
            self.routing_key.clone(),
        );
        copy.reply_to = self.reply_to.clone();
        copy.correlation_id = self.correlation_id.clone();
        let settle = self.settle.take();
        match bus.publish(copy).await {
            Ok(()) => match settle {
                Some(s) => s.ack().await,
                None => Ok(()),
            },
            Err(e) => {
                if let Some(s) = settle {
                    s.requeue().await?;
                }
                Err(e)
            }
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(s) = self.settle.take() {
            s.abandon();
        }
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("queue", &self.queue)
            .field("routing_key", &self.routing_key)
            .field("message_id", &self.message_id)
            .field("redelivered", &self.redelivered)
            .field("delivery_count", &self.delivery_count)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_body() {
        let m = OutgoingMessage::json("x", "k", r#"{"token":"secret-token"}"#, "id");
        assert!(!format!("{m:?}").contains("secret-token"));
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
