//! The RabbitMQ permissions each kind of broker user needs: the
//! configure/write/read regular expressions an operator grants with
//! `rabbitmqctl set_permissions` (docs/security.md prints them).
//!
//! RabbitMQ checks, per AMQP operation (access-control guide):
//! - `exchange.declare`, `queue.declare` (not passive): configure on the
//!   resource; a queue with a dead-letter exchange also needs write on that
//!   exchange and read on the queue. Our work queues dead-letter through
//!   the default exchange, so every role that declares the topology needs
//!   write on `amq.default` and read on every work queue.
//! - `queue.bind`: write on the queue, read on the exchange.
//! - `basic.publish`: write on the exchange (`amq.default` for the default
//!   exchange, which reaches every queue by name: the reason bots publish
//!   to [`JOIN_EXCHANGE`] instead).
//! - `basic.consume`, `basic.get`: read on the queue. Direct reply-to
//!   (`amq.rabbitmq.reply-to`) is a pseudo-queue no permission names; a
//!   reply to it is published by the token worker, not by the bot.
//!
//! Every rectoken role declares the whole topology at start (the contract),
//! so the roles differ only in what they publish to; a bot needs nothing
//! but write on the join exchange.
//!
//! [`JOIN_EXCHANGE`]: crate::topology::JOIN_EXCHANGE

use std::fmt;

use crate::topology::Topology;

/// Who connects to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrokerRole {
    /// `rectoken ingress`: publishes webhook events to `rectoken.events`,
    /// HTTP join requests to `rectoken.join-requests`, full-sync jobs to
    /// `rectoken.sync` (default exchange).
    Ingress,
    /// `rectoken sync-worker`: consumes `rectoken.sync` and
    /// `rectoken.sync.users`; publishes jobs and dead letters (default
    /// exchange); runs the account events' webhook deliverer (declares
    /// and consumes `rectoken.account-events.webhooks`). Every role
    /// publishes to `rectoken.account-events`.
    SyncWorker,
    /// `rectoken token-worker`: consumes `rectoken.join`; publishes replies
    /// to `reply_to` and dead letters (default exchange).
    TokenWorker,
    /// A bot or bot orchestrator: publishes join requests to
    /// `rectoken.join-requests` and reads its replies through direct
    /// reply-to. Nothing else.
    Bot,
}

impl BrokerRole {
    /// Every role, in the order docs list them.
    pub const ALL: [BrokerRole; 4] = [
        BrokerRole::Ingress,
        BrokerRole::SyncWorker,
        BrokerRole::TokenWorker,
        BrokerRole::Bot,
    ];

    /// The name docs and the example user names use.
    pub fn name(self) -> &'static str {
        match self {
            BrokerRole::Ingress => "ingress",
            BrokerRole::SyncWorker => "sync-worker",
            BrokerRole::TokenWorker => "token-worker",
            BrokerRole::Bot => "bot",
        }
    }
}

/// The three regular expressions of one user in one vhost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    /// Resources the user may declare or delete.
    pub configure: String,
    /// Exchanges it may publish to, and queues it may bind.
    pub write: String,
    /// Queues it may consume, and exchanges it may bind from.
    pub read: String,
}

impl fmt::Display for Permissions {
    /// The arguments of `rabbitmqctl set_permissions USER …`, each quoted
    /// for a POSIX shell.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' '{}' '{}'", self.configure, self.write, self.read)
    }
}

/// A regular expression that matches nothing RabbitMQ names (names are
/// never empty, except the default exchange's, which permissions call
/// `amq.default`).
pub const NOTHING: &str = "^$";

/// Escape a literal for a RabbitMQ (PCRE-like) regular expression.
pub fn escape(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len() * 2);
    for c in literal.chars() {
        if "\\.^$|?*+()[]{}-/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An anchored alternation of literal names.
fn any_of(names: &[String]) -> String {
    let alternatives: Vec<String> = names.iter().map(|n| escape(n)).collect();
    format!("^({})$", alternatives.join("|"))
}

/// The permissions `role` needs for the names of `topology` (prefix
/// included).
pub fn permissions(role: BrokerRole, topology: &Topology) -> Permissions {
    let sync = topology.sync_queue();
    let users = topology.sync_users_queue();
    let join = topology.join_queue();
    let events = topology.events_exchange();
    let join_exchange = topology.join_exchange();
    let work_queues = [sync.clone(), users.clone(), join.clone()];
    if role == BrokerRole::Bot {
        return Permissions {
            configure: NOTHING.to_owned(),
            write: any_of(&[join_exchange]),
            read: NOTHING.to_owned(),
        };
    }
    let account_events = topology.account_events_exchange();
    let webhooks = topology.account_events_webhooks_queue();
    // Only the sync worker runs the account events' webhook deliverer, so
    // only it may declare, bind and consume its queue.
    let deliverer = role == BrokerRole::SyncWorker;
    // Declaring the topology: every exchange, work queue and DLQ.
    let mut configure: Vec<String> = vec![
        events.clone(),
        join_exchange.clone(),
        account_events.clone(),
    ];
    for q in &work_queues {
        configure.push(q.clone());
        configure.push(Topology::dlq(q));
    }
    if deliverer {
        configure.push(webhooks.clone());
        configure.push(Topology::dlq(&webhooks));
    }
    // Declaring a work queue with its DLX (the default exchange) and binding
    // sync and join queues.
    let mut write: Vec<String> = vec!["amq.default".to_owned(), sync.clone(), join.clone()];
    if role == BrokerRole::Ingress {
        write.push(events.clone());
        write.push(join_exchange.clone());
    }
    if deliverer {
        write.push(webhooks.clone());
    }
    // Every role reports account events (connects, refresh failures,
    // syncs, mints).
    write.push(account_events.clone());
    // Declaring a queue with a DLX needs read on it; binding needs read on
    // the exchange.
    let mut read: Vec<String> = work_queues.to_vec();
    read.push(events);
    read.push(join_exchange);
    if deliverer {
        read.push(webhooks);
        read.push(account_events);
    }
    Permissions {
        configure: any_of(&configure),
        write: any_of(&write),
        read: any_of(&read),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny matcher for the anchored alternations built above, so the
    /// tests say which names each role reaches without a regex crate.
    fn reaches(regex: &str, name: &str) -> bool {
        if regex == NOTHING {
            return name.is_empty();
        }
        let Some(inner) = regex.strip_prefix("^(").and_then(|r| r.strip_suffix(")$")) else {
            panic!("not an anchored alternation: {regex}");
        };
        inner.split('|').any(|alt| alt == escape(name))
    }

    #[test]
    fn escape_quotes_every_metacharacter() {
        assert_eq!(
            escape("rectoken.join-requests"),
            "rectoken\\.join\\-requests"
        );
        assert_eq!(escape("a|b(c)*"), "a\\|b\\(c\\)\\*");
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn bot_reaches_the_join_exchange_only() {
        let t = Topology::default();
        let p = permissions(BrokerRole::Bot, &t);
        assert_eq!(p.configure, "^$");
        assert_eq!(p.write, "^(rectoken\\.join\\-requests)$");
        assert_eq!(p.read, "^$");
        for name in [
            "amq.default",
            "rectoken.sync",
            "rectoken.sync.users",
            "rectoken.join",
            "rectoken.events",
            "rectoken.account-events",
        ] {
            assert!(!reaches(&p.write, name), "bot writes {name}");
            assert!(!reaches(&p.read, name), "bot reads {name}");
        }
    }

    #[test]
    fn only_the_ingress_publishes_events_and_joins() {
        let t = Topology::default();
        for role in [BrokerRole::SyncWorker, BrokerRole::TokenWorker] {
            let p = permissions(role, &t);
            assert!(!reaches(&p.write, "rectoken.events"), "{role:?}");
            assert!(!reaches(&p.write, "rectoken.join-requests"), "{role:?}");
            assert!(reaches(&p.write, "amq.default"), "{role:?}: DLX, replies");
        }
        let p = permissions(BrokerRole::Ingress, &t);
        assert!(reaches(&p.write, "rectoken.events"));
        assert!(reaches(&p.write, "rectoken.join-requests"));
    }

    #[test]
    fn roles_can_declare_the_whole_topology() {
        let t = Topology::new("t-1.");
        for role in [
            BrokerRole::Ingress,
            BrokerRole::SyncWorker,
            BrokerRole::TokenWorker,
        ] {
            let p = permissions(role, &t);
            for q in t.work_queues() {
                assert!(reaches(&p.configure, &q), "{role:?} {q}");
                assert!(reaches(&p.configure, &Topology::dlq(&q)), "{role:?} {q}");
                assert!(reaches(&p.read, &q), "{role:?} {q}");
            }
            assert!(reaches(&p.configure, &t.events_exchange()));
            assert!(reaches(&p.configure, &t.join_exchange()));
            assert!(reaches(&p.read, &t.events_exchange()));
            assert!(reaches(&p.read, &t.join_exchange()));
            // The prefix is part of every name: another deployment's names
            // on the same broker stay out of reach.
            assert!(!reaches(&p.configure, "rectoken.sync"), "{role:?}");
        }
    }

    #[test]
    fn account_events_are_published_by_every_role_and_delivered_by_the_sync_worker() {
        let t = Topology::default();
        for role in [
            BrokerRole::Ingress,
            BrokerRole::SyncWorker,
            BrokerRole::TokenWorker,
        ] {
            let p = permissions(role, &t);
            assert!(reaches(&p.write, "rectoken.account-events"), "{role:?}");
            assert!(reaches(&p.configure, "rectoken.account-events"), "{role:?}");
            let delivers = role == BrokerRole::SyncWorker;
            let q = "rectoken.account-events.webhooks";
            assert_eq!(reaches(&p.configure, q), delivers, "{role:?}");
            assert_eq!(
                reaches(&p.configure, &Topology::dlq(q)),
                delivers,
                "{role:?}"
            );
            assert_eq!(reaches(&p.read, q), delivers, "{role:?}");
            assert_eq!(reaches(&p.write, q), delivers, "{role:?}: bind");
            assert_eq!(
                reaches(&p.read, "rectoken.account-events"),
                delivers,
                "{role:?}: bind"
            );
        }
    }

    /// docs/security.md states every role's regexes: they must be these.
    #[test]
    fn the_security_doc_shows_these_permissions() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/security.md");
        let doc = std::fs::read_to_string(path).expect("docs/security.md");
        let t = Topology::default();
        for role in BrokerRole::ALL {
            let p = permissions(role, &t);
            for regex in [&p.configure, &p.write, &p.read] {
                // In the Markdown table, `|` is written `\|`; in the shell
                // block, as is.
                let in_table = format!("`{}`", regex.replace('|', "\\|"));
                assert!(
                    doc.contains(&in_table) || regex == NOTHING,
                    "{role:?}: docs/security.md lacks {in_table}"
                );
                assert!(
                    doc.contains(regex.as_str()),
                    "{role:?}: shell block lacks {regex}"
                );
            }
        }
    }

    #[test]
    fn display_is_the_set_permissions_arguments() {
        let p = permissions(BrokerRole::Bot, &Topology::default());
        assert_eq!(p.to_string(), "'^$' '^(rectoken\\.join\\-requests)$' '^$'");
    }
}
