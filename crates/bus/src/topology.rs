//! The AMQP names of docs/design.md and the arguments every queue is declared
//! with. Both backends declare exactly this, idempotently, at start and on
//! every reconnect.

/// The exchange for webhook events (topic; routing key = Zoom event name).
pub const EVENTS_EXCHANGE: &str = "rectoken.events";
/// The work queue of the sync workers (events and sync jobs).
pub const SYNC_QUEUE: &str = "rectoken.sync";
/// The work queue of a full sync's per-user jobs. Apart from
/// [`SYNC_QUEUE`] so that webhook events never wait behind the thousands of
/// user jobs of a large account's sync (RabbitMQ 3.x quorum queues have no
/// priorities); the sync workers consume both.
pub const SYNC_USERS_QUEUE: &str = "rectoken.sync.users";
/// The work queue of the token workers (join requests).
pub const JOIN_QUEUE: &str = "rectoken.join";
/// The exchange bots publish join requests to (direct, durable, bound to
/// [`JOIN_QUEUE`] with the queue's own name as binding key, so a client
/// that published to the default exchange with routing key
/// `rectoken.join` only changes the exchange name).
///
/// Why an exchange of its own: publishing to the default exchange needs
/// write permission on `amq.default`, and that reaches every queue of the
/// vhost, `rectoken.sync` included. Write permission on this exchange
/// reaches the join queue and nothing else (docs/security.md).
pub const JOIN_EXCHANGE: &str = "rectoken.join-requests";
/// The exchange of account events (topic; routing key = the event type,
/// e.g. `account.disconnected`). Apart from [`EVENTS_EXCHANGE`], whose `#`
/// binding feeds the sync queue; operators bind their own queues here.
pub const ACCOUNT_EVENTS_EXCHANGE: &str = "rectoken.account-events";
/// The queue the webhook deliverer consumes: bound to
/// [`ACCOUNT_EVENTS_EXCHANGE`] with `#`, with a DLQ like every work queue.
/// Declared only by a role that delivers webhooks (see
/// [`Topology::with_event_webhooks`]): without a deliverer it would only
/// fill up.
pub const ACCOUNT_EVENTS_WEBHOOKS_QUEUE: &str = "rectoken.account-events.webhooks";
/// Suffix of the dead-letter queue of each work queue.
pub const DLQ_SUFFIX: &str = ".dlq";

/// How many times a message may be delivered from a work queue before the
/// broker dead-letters it (quorum queue `x-delivery-limit`). It guards
/// against crash loops on a message that kills its consumer; ordinary
/// retries with backoff are counted by the workers themselves.
pub const DELIVERY_LIMIT: i64 = 10;

/// Header carrying the reason a message was dead-lettered by a worker.
pub const REASON_HEADER: &str = "x-rectoken-reason";
/// Header carrying the Zoom app a webhook came through.
pub const APP_HEADER: &str = "x-rectoken-app";

/// The names one deployment uses. `prefix` is empty in production; tests
/// set a unique prefix so they can run in parallel on one broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
    /// Whether this role declares (and consumes) the webhook queue.
    event_webhooks: bool,
}

impl Default for Topology {
    fn default() -> Self {
        Self::new("")
    }
}

impl Topology {
    /// Names with `prefix` prepended (empty for the contract's names).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            event_webhooks: false,
        }
    }

    /// The same names, also declaring the account events' webhook queue
    /// and its DLQ (for the role that runs the webhook deliverer, when
    /// `RECTOKEN_EVENTS_WEBHOOK_URL` is set).
    pub fn with_event_webhooks(mut self, on: bool) -> Self {
        self.event_webhooks = on;
        self
    }

    /// Whether the webhook queue is part of this topology.
    pub fn has_event_webhooks(&self) -> bool {
        self.event_webhooks
    }

    /// `rectoken.account-events`.
    pub fn account_events_exchange(&self) -> String {
        format!("{}{ACCOUNT_EVENTS_EXCHANGE}", self.prefix)
    }

    /// `rectoken.account-events.webhooks`.
    pub fn account_events_webhooks_queue(&self) -> String {
        format!("{}{ACCOUNT_EVENTS_WEBHOOKS_QUEUE}", self.prefix)
    }

    /// The work queues this role declares beyond [`Topology::work_queues`]
    /// (each with a DLQ): the webhook queue when it is on.
    pub fn optional_work_queues(&self) -> Vec<String> {
        if self.event_webhooks {
            vec![self.account_events_webhooks_queue()]
        } else {
            Vec::new()
        }
    }

    /// The queues this role binds to the account-events exchange, with
    /// their pattern.
    pub fn account_event_bindings(&self) -> Vec<(String, &'static str)> {
        self.optional_work_queues()
            .into_iter()
            .map(|q| (q, "#"))
            .collect()
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `rectoken.events`.
    pub fn events_exchange(&self) -> String {
        format!("{}{EVENTS_EXCHANGE}", self.prefix)
    }

    /// `rectoken.sync`.
    pub fn sync_queue(&self) -> String {
        format!("{}{SYNC_QUEUE}", self.prefix)
    }

    /// `rectoken.sync.users`: a full sync's per-user jobs.
    pub fn sync_users_queue(&self) -> String {
        format!("{}{SYNC_USERS_QUEUE}", self.prefix)
    }

    /// `rectoken.join`.
    pub fn join_queue(&self) -> String {
        format!("{}{JOIN_QUEUE}", self.prefix)
    }

    /// `rectoken.join-requests`: the exchange join requests are published
    /// to (see [`JOIN_EXCHANGE`]).
    pub fn join_exchange(&self) -> String {
        format!("{}{JOIN_EXCHANGE}", self.prefix)
    }

    /// The dead-letter queue of `queue`.
    pub fn dlq(queue: &str) -> String {
        format!("{queue}{DLQ_SUFFIX}")
    }

    /// The work queues (each with a DLQ).
    pub fn work_queues(&self) -> [String; 3] {
        [
            self.sync_queue(),
            self.sync_users_queue(),
            self.join_queue(),
        ]
    }

    /// The queues bound to the events exchange, with their binding pattern.
    pub fn event_bindings(&self) -> Vec<(String, &'static str)> {
        vec![(self.sync_queue(), "#")]
    }

    /// The join queue's binding to the join exchange: (queue, binding
    /// key). The key is the queue's name, as on the default exchange.
    pub fn join_binding(&self) -> (String, String) {
        (self.join_queue(), self.join_queue())
    }
}

/// Whether a join request's `reply_to` may receive its reply.
///
/// The token worker publishes replies through the default exchange, which
/// reaches every queue; so a reply may go to direct reply-to
/// (`amq.rabbitmq.reply-to…`), to a server-named queue (`amq.gen-…`) or to
/// a bot's own queue, but never to one of this deployment's names
/// (`{prefix}rectoken.…`: work queues, DLQs) nor to another `amq.` name.
pub fn reply_to_allowed(topology: &Topology, reply_to: &str) -> Result<(), String> {
    let own = format!("{}rectoken.", topology.prefix());
    if reply_to.starts_with(&own) || reply_to.starts_with("rectoken.") {
        return Err(format!(
            "reply_to {reply_to:?} names one of rectoken's own queues; replies go to \
             amq.rabbitmq.reply-to or the caller's own queue"
        ));
    }
    if reply_to.starts_with("amq.")
        && !reply_to.starts_with(crate::DIRECT_REPLY_TO)
        && !reply_to.starts_with("amq.gen-")
    {
        return Err(format!("reply_to {reply_to:?} is a reserved amq. name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_to_never_names_our_own_queues() {
        let t = Topology::new("p.");
        for ok in [
            "amq.rabbitmq.reply-to",
            "amq.rabbitmq.reply-to.g1h2AA==.abc",
            "amq.gen-JzTY20BRgKO-HjmUJj0wLg",
            "bot-7.replies",
        ] {
            assert_eq!(reply_to_allowed(&t, ok), Ok(()), "{ok}");
        }
        for bad in [
            "p.rectoken.sync",
            "p.rectoken.sync.users",
            "p.rectoken.join.dlq",
            "rectoken.sync",
            "amq.direct",
        ] {
            assert!(reply_to_allowed(&t, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn contract_names_without_prefix() {
        let t = Topology::default();
        assert_eq!(t.events_exchange(), "rectoken.events");
        assert_eq!(t.sync_queue(), "rectoken.sync");
        assert_eq!(t.join_queue(), "rectoken.join");
        assert_eq!(Topology::dlq(&t.sync_queue()), "rectoken.sync.dlq");
        assert_eq!(Topology::dlq(&t.join_queue()), "rectoken.join.dlq");
        assert_eq!(t.sync_users_queue(), "rectoken.sync.users");
        assert_eq!(
            t.work_queues(),
            ["rectoken.sync", "rectoken.sync.users", "rectoken.join"]
        );
        // Only the sync queue takes webhook events; user jobs are published
        // to their queue by name.
        assert_eq!(t.event_bindings(), vec![("rectoken.sync".to_owned(), "#")]);
        assert_eq!(t.join_exchange(), "rectoken.join-requests");
        assert_eq!(
            t.join_binding(),
            ("rectoken.join".to_owned(), "rectoken.join".to_owned())
        );
    }

    #[test]
    fn account_events_names_and_the_optional_webhook_queue() {
        let t = Topology::default();
        assert_eq!(t.account_events_exchange(), "rectoken.account-events");
        assert_eq!(
            t.account_events_webhooks_queue(),
            "rectoken.account-events.webhooks"
        );
        assert!(!t.has_event_webhooks());
        assert!(t.optional_work_queues().is_empty());
        assert!(t.account_event_bindings().is_empty());
        let w = Topology::new("p.").with_event_webhooks(true);
        assert_eq!(
            w.optional_work_queues(),
            ["p.rectoken.account-events.webhooks"]
        );
        assert_eq!(
            w.account_event_bindings(),
            vec![("p.rectoken.account-events.webhooks".to_owned(), "#")]
        );
        // Its replies may not go to the webhook queue either.
        assert!(reply_to_allowed(&w, "p.rectoken.account-events.webhooks").is_err());
    }

    #[test]
    fn prefix_isolates() {
        let t = Topology::new("t1.");
        assert_eq!(t.events_exchange(), "t1.rectoken.events");
        assert_eq!(Topology::dlq(&t.join_queue()), "t1.rectoken.join.dlq");
        assert_eq!(t.join_exchange(), "t1.rectoken.join-requests");
        assert_eq!(t.join_binding().1, "t1.rectoken.join");
    }
}
