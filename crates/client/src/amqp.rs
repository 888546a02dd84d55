//! The AMQP transport: RabbitMQ direct reply-to on one confirm-mode channel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::{ClientError, DIRECT_REPLY_TO, JoinReply, JoinRequest, decode_reply, error_chain};

type ReplySender = oneshot::Sender<Result<JoinReply, ClientError>>;

/// Requests awaiting replies, by correlation ID; and, once the reply
/// consumer has stopped, why.
#[derive(Default)]
struct State {
    pending: HashMap<String, ReplySender>,
    closed: Option<String>,
    /// Set by [`AmqpTransport::close`]: the reply consumer's end is then
    /// expected and not worth a warning.
    closing: bool,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Nothing can panic while the lock is held; recover rather than spread a
    // poison anyway.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) struct AmqpTransport {
    connection: Connection,
    channel: Channel,
    state: Shared,
    reader: JoinHandle<()>,
}

impl Drop for AmqpTransport {
    fn drop(&mut self) {
        // Dropping the connection closes it; the reader would end by itself,
        // but need not outlive the client.
        self.reader.abort();
    }
}

impl AmqpTransport {
    /// Connect to the first reachable node of `RECTOKEN_AMQP_URL`: one URL,
    /// or a RabbitMQ cluster's node URLs separated by commas.
    pub(crate) async fn connect(urls: &str) -> Result<Self, ClientError> {
        let mut last = ClientError::Connect("no RabbitMQ URL given".into());
        for url in urls.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            match Self::connect_one(url).await {
                Ok(transport) => return Ok(transport),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn connect_one(url: &str) -> Result<Self, ClientError> {
        // lapin's parse errors quote the whole URL, password included; only
        // URLs it parses without complaint about their shape get that far.
        if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
            return Err(ClientError::Connect(
                "the RabbitMQ URL must start with amqp:// or amqps://".into(),
            ));
        }
        let connect = |e: lapin::Error| ClientError::Connect(error_chain(&e));
        let props = ConnectionProperties::default().with_connection_name("rectoken-client".into());
        let connection = Connection::connect(url, props).await.map_err(connect)?;
        let channel = connection.create_channel().await.map_err(connect)?;
        // Direct reply-to: consume (no-ack, as RabbitMQ requires) on the
        // channel that publishes, before the first publish.
        let consumer = channel
            .basic_consume(
                DIRECT_REPLY_TO.into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(connect)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(connect)?;
        let state = Shared::default();
        let reader = tokio::spawn(read_replies(consumer, Arc::clone(&state)));
        Ok(AmqpTransport {
            connection,
            channel,
            state,
            reader,
        })
    }

    pub(crate) fn pending(&self) -> usize {
        lock(&self.state).pending.len()
    }

    pub(crate) async fn close(&self) {
        lock(&self.state).closing = true;
        let _ = self.connection.close(200, "bye".into()).await;
    }

    pub(crate) async fn request(
        &self,
        exchange: &str,
        queue: &str,
        id: String,
        req: &JoinRequest,
        wait_until: Instant,
    ) -> Result<JoinReply, ClientError> {
        let body = serde_json::to_vec(req).map_err(|e| ClientError::Publish(e.to_string()))?;
        let (tx, rx) = oneshot::channel();
        // Registered before publishing: the reply may beat the confirm. The
        // guard removes the entry however this call ends (reply, timeout,
        // error, or the future being dropped).
        let _guard = {
            let mut state = lock(&self.state);
            if let Some(reason) = &state.closed {
                return Err(ClientError::Connect(reason.clone()));
            }
            state.pending.insert(id.clone(), tx);
            PendingGuard {
                state: Arc::clone(&self.state),
                id: id.clone(),
            }
        };
        let timestamp = u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0);
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_message_id(id.as_str().into())
            .with_correlation_id(id.as_str().into())
            .with_reply_to(DIRECT_REPLY_TO.into())
            .with_timestamp(timestamp);
        let exchange = async {
            let publish = |e: lapin::Error| ClientError::Publish(error_chain(&e));
            let confirmation = self
                .channel
                .basic_publish(
                    exchange.into(),
                    queue.into(),
                    // mandatory: a missing queue comes back as a return
                    // instead of the request vanishing until the timeout.
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &body,
                    props,
                )
                .await
                .map_err(publish)?
                .await
                .map_err(publish)?;
            if confirmation.is_nack() {
                return Err(ClientError::Publish("the broker nacked the request".into()));
            }
            if let Some(returned) = confirmation.take_message() {
                return Err(ClientError::Publish(format!(
                    "unroutable: no queue {queue:?} ({} {})",
                    returned.reply_code, returned.reply_text
                )));
            }
            tracing::debug!(correlation_id = %id, queue, "join request published");
            rx.await.map_err(|_| {
                ClientError::Connect("the client closed before the reply arrived".into())
            })?
        };
        match tokio::time::timeout_at(wait_until, exchange).await {
            Ok(result) => result,
            Err(_elapsed) => {
                tracing::debug!(correlation_id = %id, queue, "join request timed out");
                Err(ClientError::Timeout)
            }
        }
    }
}

/// Removes a request's entry from the pending map when dropped.
struct PendingGuard {
    state: Shared,
    id: String,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        lock(&self.state).pending.remove(&self.id);
    }
}

/// Hands each reply to the request with its correlation ID until the
/// consumer ends; then fails every pending request and refuses new ones.
async fn read_replies(mut consumer: Consumer, state: Shared) {
    let reason = loop {
        match consumer.next().await {
            Some(Ok(delivery)) => dispatch(&state, delivery),
            Some(Err(e)) => break format!("reply consumer failed: {}", error_chain(&e)),
            None => break "the reply consumer ended (connection or channel closed)".to_owned(),
        }
    };
    let pending = {
        let mut state = lock(&state);
        if state.closing {
            tracing::debug!(%reason, "rectoken client closed");
        } else {
            tracing::warn!(%reason, "rectoken client: no more join replies");
        }
        state.closed = Some(reason.clone());
        std::mem::take(&mut state.pending)
    };
    for (_, tx) in pending {
        let _ = tx.send(Err(ClientError::Connect(reason.clone())));
    }
}

fn dispatch(state: &Mutex<State>, delivery: lapin::message::Delivery) {
    let Some(id) = delivery.properties.correlation_id().as_ref() else {
        tracing::debug!("join reply without correlation_id ignored");
        return;
    };
    let Some(tx) = lock(state).pending.remove(id.as_str()) else {
        tracing::debug!(correlation_id = %id, "join reply for an unknown or expired request ignored");
        return;
    };
    let reply = decode_reply(&delivery.data);
    match &reply {
        Ok(r) => tracing::debug!(correlation_id = %id, status = %r.status(), "join reply received"),
        Err(e) => tracing::debug!(correlation_id = %id, error = %e, "malformed join reply"),
    }
    // The receiver is gone only if the request was abandoned just now.
    let _ = tx.send(reply);
}
