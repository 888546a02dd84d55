//! The client that bot orchestrators use to ask rectoken for join tokens.
//!
//! Two transports, one API (docs/design.md, "Join request and reply"):
//!
//! - **AMQP** ([`Client::connect_amqp`]): the request is published, with
//!   publisher confirms, to the `rectoken.join-requests` exchange with
//!   routing key `rectoken.join` (a bot's broker user needs write permission
//!   on that exchange and nothing else, docs/security.md); the reply comes back through RabbitMQ's direct reply-to
//!   (`amq.rabbitmq.reply-to`), matched by `correlation_id`. One connection and
//!   one channel serve any number of concurrent requests.
//! - **HTTP** ([`Client::http`]): `POST {base}/join` with the join key as a
//!   bearer token; the HTTP status is mapped back to the reply.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rectoken_client::ClientError> {
//! let client = rectoken_client::Client::connect_amqp("amqp://guest:guest@127.0.0.1:5672/%2f").await?;
//! let reply = client.request_tokens("https://zoom.us/j/85012345678?pwd=abc").await?;
//! if reply.status().is_ok() {
//!     // hand reply.tokens() to the bot; never log them
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Tokens are secrets: nothing here logs a reply body, and [`JoinReply`]'s
//! `Debug` redacts them.

mod amqp;
pub mod cli;
mod http;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use thiserror::Error;
use time::OffsetDateTime;
use tokio::time::Instant;

pub use rectoken_domain::join::{JoinReply, JoinRequest, JoinStatus, MintedToken, TokenKind};

/// The queue token workers consume (`rectoken.join`), the default target of
/// an AMQP client.
pub const JOIN_QUEUE: &str = "rectoken.join";

/// Appended to the queue name to name the exchange requests are published
/// to: `rectoken.join` → `rectoken.join-requests`, and with a deployment's
/// queue prefix `p.rectoken.join` → `p.rectoken.join-requests`, as the
/// roles declare it.
pub const JOIN_EXCHANGE_SUFFIX: &str = "-requests";

/// RabbitMQ's direct reply-to pseudo-queue.
pub const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// How long [`Client::request_tokens`] waits, and the deadline it sends: the
/// contract's default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest a [`Client::request`] waits; a larger timeout is cut to it.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// How long past the request's deadline a reply is still awaited: a worker
/// that answers right at the deadline still needs the reply to travel back.
pub const REPLY_GRACE: Duration = Duration::from_secs(1);

/// Over HTTP, how much longer than an AMQP client the client waits: ingress
/// waits for the worker until the deadline plus its own grace (2 s), then
/// answers 504, and that answer should arrive before the client gives up.
pub const HTTP_MARGIN: Duration = Duration::from_secs(2);

/// Why a join request got no reply.
///
/// A reply with a non-`ok` status (`not_found`, `rate_limited`, …) is not an
/// error: it is `Ok(reply)`, and [`JoinReply::status`] says what happened.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientError {
    /// RabbitMQ could not be reached, or the connection was lost.
    #[error("RabbitMQ connection: {0}")]
    Connect(String),
    /// The broker did not accept the request (unroutable queue, nack, closed
    /// channel).
    #[error("could not publish the join request: {0}")]
    Publish(String),
    /// No reply arrived before the request's deadline (plus
    /// [`REPLY_GRACE`]); over HTTP also ingress's 504.
    #[error("no join reply before the deadline")]
    Timeout,
    /// HTTP 401: the join key is wrong (or the HTTP join endpoints are off).
    #[error("the join key was refused (HTTP 401)")]
    Unauthorized,
    /// A reply arrived but is not a valid join reply. The message never
    /// contains token values.
    #[error("malformed join reply: {0}")]
    BadReply(String),
    /// The HTTP exchange failed (connection refused, unexpected status, …).
    #[error("HTTP join request failed: {0}")]
    Http(String),
}

/// A handle for sending join requests. Cheap to clone; clones share the
/// connection.
#[derive(Clone)]
pub struct Client {
    transport: Arc<Transport>,
    queue: Arc<str>,
    /// `None`: the queue's name plus [`JOIN_EXCHANGE_SUFFIX`].
    exchange: Option<Arc<str>>,
}

#[allow(clippy::large_enum_variant, reason = "one per client, behind an Arc")]
enum Transport {
    Amqp(amqp::AmqpTransport),
    Http(http::HttpTransport),
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.transport {
            Transport::Amqp(t) => f
                .debug_struct("Client")
                .field("transport", &"amqp")
                .field("queue", &self.queue)
                .field("pending", &t.pending())
                .finish(),
            Transport::Http(t) => f
                .debug_struct("Client")
                .field("transport", &"http")
                .field("url", &t.url())
                .finish_non_exhaustive(),
        }
    }
}

impl Client {
    /// Connects to RabbitMQ: one connection, one channel in confirm mode that
    /// also consumes `amq.rabbitmq.reply-to` (direct reply-to requires the
    /// consumer on the publishing channel, started before any publish).
    ///
    /// The client does not reconnect: when the connection is lost, pending
    /// and later requests fail with [`ClientError::Connect`]; connect again.
    pub async fn connect_amqp(amqp_url: &str) -> Result<Client, ClientError> {
        let transport = amqp::AmqpTransport::connect(amqp_url).await?;
        Ok(Client {
            transport: Arc::new(Transport::Amqp(transport)),
            queue: Arc::from(JOIN_QUEUE),
            exchange: None,
        })
    }

    /// A client for `POST {base_url}/join` on rectoken ingress, presenting
    /// `join_key` (`RECTOKEN_JOIN_KEY`) as a bearer token. Connects lazily.
    pub fn http(base_url: &str, join_key: SecretString) -> Client {
        Client {
            transport: Arc::new(Transport::Http(http::HttpTransport::new(
                base_url, join_key,
            ))),
            queue: Arc::from(JOIN_QUEUE),
            exchange: None,
        }
    }

    /// The same client, publishing to `name` instead of `rectoken.join`
    /// (deployments and tests with a queue prefix). No effect over HTTP.
    pub fn with_queue(mut self, name: impl Into<String>) -> Client {
        self.queue = Arc::from(name.into());
        self
    }

    /// The queue AMQP requests are routed to.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// The same client, publishing to `exchange` instead of the join
    /// exchange. `""` is the default exchange, which older deployments
    /// used: it works only where the operator grants the bot's broker user
    /// write permission on `amq.default`, which reaches every queue of the
    /// vhost (docs/security.md). No effect over HTTP.
    pub fn with_exchange(mut self, exchange: impl Into<String>) -> Client {
        self.exchange = Some(Arc::from(exchange.into()));
        self
    }

    /// The exchange AMQP requests are published to: the queue's name plus
    /// [`JOIN_EXCHANGE_SUFFIX`] unless [`Client::with_exchange`] set one.
    pub fn exchange(&self) -> String {
        match &self.exchange {
            Some(e) => e.to_string(),
            None => format!("{}{JOIN_EXCHANGE_SUFFIX}", self.queue),
        }
    }

    /// Asks for the default token (`local_recording`) for `meeting_url` (a
    /// Zoom link or a bare meeting ID), bypassing the waiting room, with a
    /// deadline [`DEFAULT_TIMEOUT`] from now.
    pub async fn request_tokens(&self, meeting_url: &str) -> Result<JoinReply, ClientError> {
        self.request(JoinRequest::for_meeting_url(meeting_url), DEFAULT_TIMEOUT)
            .await
    }

    /// Sends `req` and waits for its reply.
    ///
    /// `timeout` is cut to [`MAX_TIMEOUT`]. Without a `deadline`, the
    /// request gets `now + timeout`, so the worker
    /// drops it when this call gives up. The call waits until the earlier of
    /// `now + timeout` and the deadline, plus [`REPLY_GRACE`] (and
    /// [`HTTP_MARGIN`] over HTTP); then it fails with
    /// [`ClientError::Timeout`]. A deadline already past fails at once.
    /// Without a `request_id`, the request gets its correlation ID, so the
    /// reply and worker logs can be matched to it.
    ///
    /// Cancel-safe: dropping the future forgets the request.
    pub async fn request(
        &self,
        mut req: JoinRequest,
        timeout: Duration,
    ) -> Result<JoinReply, ClientError> {
        // A bot never waits longer than this for a token; clamping also keeps
        // the deadline arithmetic below in range for any caller's value.
        let timeout = timeout.min(MAX_TIMEOUT);
        let start = Instant::now();
        let now = OffsetDateTime::now_utc();
        let wait = match req.deadline {
            None => {
                req.deadline = Some(truncate_to_millis(now + timeout));
                timeout
            }
            Some(deadline) => match Duration::try_from(deadline - now) {
                Ok(left) if !left.is_zero() => left.min(timeout),
                _ => return Err(ClientError::Timeout),
            },
        };
        let id = new_id();
        if req.request_id.is_none() {
            req.request_id = Some(id.clone());
        }
        let wait_until = start + wait + REPLY_GRACE;
        match &*self.transport {
            Transport::Amqp(t) => {
                t.request(&self.exchange(), &self.queue, id, &req, wait_until)
                    .await
            }
            Transport::Http(t) => t.request(&req, wait_until).await,
        }
    }

    /// How many AMQP requests are awaiting their reply (always 0 over HTTP).
    pub fn pending_requests(&self) -> usize {
        match &*self.transport {
            Transport::Amqp(t) => t.pending(),
            Transport::Http(_) => 0,
        }
    }

    /// Closes the AMQP connection cleanly (for every clone); pending requests
    /// fail with [`ClientError::Connect`]. Dropping the last clone also
    /// closes it. No-op over HTTP.
    pub async fn close(&self) {
        if let Transport::Amqp(t) = &*self.transport {
            t.close().await;
        }
    }
}

/// RFC 3339 with nanoseconds is valid but noisy; milliseconds are plenty.
fn truncate_to_millis(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_millisecond(t.millisecond()).unwrap_or(t)
}

/// A fresh random ID in UUID v4 form, for `message_id` and `correlation_id`.
pub(crate) fn new_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = format!("{:032x}", u128::from_be_bytes(b));
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Decodes a reply body, checking the contract's invariants.
///
/// Error messages come from serde and may quote values; any string found
/// under `tokens` is blanked out of them, so a malformed reply cannot leak a
/// token into logs through the error.
pub(crate) fn decode_reply(bytes: &[u8]) -> Result<JoinReply, ClientError> {
    use serde::Deserialize as _;
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ClientError::BadReply(format!("reply is not JSON: {e}")))?;
    JoinReply::deserialize(&value).map_err(|e| {
        let mut msg = e.to_string();
        let mut secrets = Vec::new();
        collect_strings(value.get("tokens"), &mut secrets);
        for s in secrets {
            msg = msg.replace(s, "<redacted>");
        }
        ClientError::BadReply(msg)
    })
}

/// Every string of at least 4 characters inside `v` (shorter ones are not
/// tokens, and blanking them would garble the message).
fn collect_strings<'a>(v: Option<&'a serde_json::Value>, out: &mut Vec<&'a str>) {
    use serde_json::Value;
    match v {
        Some(Value::String(s)) if s.len() >= 4 => out.push(s),
        Some(Value::Array(items)) => items.iter().for_each(|i| collect_strings(Some(i), out)),
        Some(Value::Object(map)) => map.values().for_each(|i| collect_strings(Some(i), out)),
        _ => {}
    }
}

/// An error and its sources, on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests;
