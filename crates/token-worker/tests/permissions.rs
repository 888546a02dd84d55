//! Issue 15, finding 1: the broker permission model of docs/security.md,
//! against the real RabbitMQ. A fresh vhost gets one user per role with
//! exactly the regexes of [`rectoken_bus::permissions`]; a token worker
//! runs as its user; a bot user gets a token through `rectoken-client` and
//! can neither publish to nor read from anything else.
//!
//! Needs `RECTOKEN_TEST_AMQP_URL`, `RECTOKEN_TEST_REDIS_URL` and
//! `RECTOKEN_TEST_RABBITMQ_MGMT_URL` (the management API, as guest), as
//! `scripts/services env` exports them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use rectoken_bus::permissions::{BrokerRole, Permissions, permissions};
use rectoken_bus::rabbit::{RabbitBus, RabbitOptions};
use rectoken_bus::{Bus, OutgoingMessage, Topology};
use rectoken_client::{Client, ClientError, JoinRequest, JoinStatus, TokenKind};
use rectoken_tests::harness::Harness;
use rectoken_token::{TokenOptions, run};
use rectoken_vault::ZoomLimits;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use url::Url;

const WAIT: Duration = Duration::from_secs(20);

/// A vhost with one user per role, removed again by [`Broker::remove`].
struct Broker {
    http: reqwest::Client,
    mgmt: String,
    vhost: String,
    users: Vec<String>,
    amqp: Url,
}

impl Broker {
    async fn new(tag: &str) -> Broker {
        let mgmt = std::env::var("RECTOKEN_TEST_RABBITMQ_MGMT_URL").expect(
            "RECTOKEN_TEST_RABBITMQ_MGMT_URL is not set: run `scripts/services start rabbitmq` \
             and `eval \"$(scripts/services env)\"` (or use scripts/test)",
        );
        let broker = Broker {
            http: reqwest::Client::new(),
            mgmt: mgmt.trim_end_matches('/').to_owned(),
            vhost: format!("{tag}-{}", rand_suffix()),
            users: Vec::new(),
            amqp: Url::parse(&rectoken_tests::amqp_url()).unwrap(),
        };
        broker
            .put(&format!("vhosts/{}", enc(&broker.vhost)), json!({}))
            .await;
        broker
    }

    async fn put(&self, path: &str, body: serde_json::Value) {
        let r = self
            .http
            .put(format!("{}/api/{path}", self.mgmt))
            .basic_auth("guest", Some("guest"))
            .json(&body)
            .send()
            .await
            .expect("management API");
        assert!(r.status().is_success(), "PUT {path}: {}", r.status());
    }

    /// Create `name` with `perms` in the vhost; its AMQP URL.
    async fn user(&mut self, name: &str, perms: &Permissions) -> String {
        let user = format!("{}-{name}", self.vhost);
        let password = format!("pw-{}", rand_suffix());
        self.put(
            &format!("users/{}", enc(&user)),
            json!({"password": password, "tags": ""}),
        )
        .await;
        self.put(
            &format!("permissions/{}/{}", enc(&self.vhost), enc(&user)),
            json!({"configure": perms.configure, "write": perms.write, "read": perms.read}),
        )
        .await;
        self.users.push(user.clone());
        let mut url = self.amqp.clone();
        url.set_username(&user).unwrap();
        url.set_password(Some(&password)).unwrap();
        url.set_path(&format!("/{}", enc(&self.vhost)));
        url.to_string()
    }

    async fn remove(self) {
        for path in self
            .users
            .iter()
            .map(|u| format!("users/{}", enc(u)))
            .chain([format!("vhosts/{}", enc(&self.vhost))])
        {
            let _ = self
                .http
                .delete(format!("{}/api/{path}", self.mgmt))
                .basic_auth("guest", Some("guest"))
                .send()
                .await;
        }
    }
}

fn rand_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

async fn role_bus(url: &str, topology: &Topology, name: &str) -> Arc<dyn Bus> {
    let bus: Arc<dyn Bus> = Arc::new(RabbitBus::start(
        url,
        topology.clone(),
        RabbitOptions {
            connection_name: name.to_owned(),
            ..RabbitOptions::default()
        },
    ));
    // Connected means: the topology is declared with this user's rights.
    tokio::time::timeout(WAIT, bus.wait_connected())
        .await
        .unwrap_or_else(|_| panic!("{name} could not connect and declare the topology"));
    bus
}

/// Whether the broker refused `op` with ACCESS_REFUSED (a fresh channel
/// per attempt: a refusal closes it).
async fn refused<F, Fut>(connection: &Connection, what: &str, op: F)
where
    F: FnOnce(lapin::Channel) -> Fut,
    Fut: std::future::Future<Output = lapin::Result<()>>,
{
    let channel = connection.create_channel().await.expect("channel");
    let result = tokio::time::timeout(WAIT, op(channel))
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer"));
    match result {
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.contains("ACCESS") || text.contains("access to"),
                "{what}: refused for another reason: {text}"
            );
        }
        Ok(()) => panic!("{what}: the bot was allowed"),
    }
}

#[tokio::test]
async fn a_bot_user_gets_tokens_and_reaches_nothing_else() {
    let mut broker = Broker::new("rectoken-perm").await;
    let topology = Topology::new("");
    let urls = [
        BrokerRole::Ingress,
        BrokerRole::SyncWorker,
        BrokerRole::TokenWorker,
        BrokerRole::Bot,
    ];
    let mut role_urls = Vec::new();
    for role in urls {
        role_urls.push(
            broker
                .user(role.name(), &permissions(role, &topology))
                .await,
        );
    }
    let [ingress_url, sync_url, token_url, bot_url] = role_urls.try_into().unwrap();

    // Each role can declare the whole topology with its own rights, and
    // does what it is for: the ingress publishes an event, the sync worker
    // consumes it.
    let ingress = role_bus(&ingress_url, &topology, "perm-ingress").await;
    let sync = role_bus(&sync_url, &topology, "perm-sync").await;
    ingress
        .publish(OutgoingMessage::json(
            topology.events_exchange(),
            "meeting.created",
            "{}",
            "perm-event",
        ))
        .await
        .expect("the ingress publishes events");
    let mut events = sync
        .consume(&topology.sync_queue(), 1)
        .await
        .expect("the sync worker consumes");
    let got = tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut events))
        .await
        .expect("the event arrives")
        .expect("a delivery");
    assert_eq!(got.message_id.as_deref(), Some("perm-event"));
    got.ack().await.unwrap();
    drop(events);

    // A token worker as its user, on a harness whose store has an account.
    let h = Harness::start(
        &token_url,
        &rectoken_tests::redis_url(),
        &rectoken_tests::unique_prefix("perm"),
        |_| {},
        ZoomLimits::default(),
    )
    .await
    .expect("harness");
    let account = h.connect_account(1, None).await.expect("connect");
    h.map_all(&account).await.expect("map");
    let worker_bus = role_bus(&token_url, &topology, "perm-token").await;
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(run(
        h.deps(worker_bus.clone()),
        TokenOptions::default(),
        shutdown.clone(),
    ));

    // The bot gets its token through the join exchange and direct reply-to.
    let bot = Client::connect_amqp(&bot_url).await.expect("bot connects");
    let reply = bot
        .request(
            JoinRequest::for_meeting_url(account.meetings[0].to_string()),
            WAIT,
        )
        .await
        .expect("a reply");
    assert_eq!(reply.status(), JoinStatus::Ok, "{reply:?}");
    assert!(reply.tokens().contains_key(&TokenKind::LocalRecording));

    // The old default-exchange publish is refused for this user.
    let legacy = Client::connect_amqp(&bot_url)
        .await
        .expect("bot connects")
        .with_exchange("");
    let result = legacy
        .request(
            JoinRequest::for_meeting_url(account.meetings[0].to_string()),
            WAIT,
        )
        .await;
    assert!(
        matches!(&result, Err(ClientError::Publish(m)) if m.contains("ACCESS") || m.contains("access to")),
        "{result:?}"
    );

    // Nothing else: no forged app_deauthorized onto rectoken.sync, no
    // events, no reading or declaring any queue.
    let raw = Connection::connect(&bot_url, ConnectionProperties::default())
        .await
        .expect("bot connects");
    let forged = br#"{"event":"app_deauthorized","payload":{"account_id":"VICTIM"}}"#;
    let publish = |exchange: String, key: String| {
        move |ch: lapin::Channel| async move {
            ch.basic_publish(
                exchange.as_str().into(),
                key.as_str().into(),
                BasicPublishOptions::default(),
                forged,
                BasicProperties::default(),
            )
            .await?;
            // A refused publish closes the channel asynchronously: a
            // round trip afterwards observes it.
            ch.queue_declare(
                "amq.rabbitmq.reply-to".into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map(drop)
        }
    };
    refused(
        &raw,
        "publish to rectoken.sync",
        publish(String::new(), topology.sync_queue()),
    )
    .await;
    refused(
        &raw,
        "publish to rectoken.events",
        publish(topology.events_exchange(), "app_deauthorized".into()),
    )
    .await;
    refused(
        &raw,
        "publish to rectoken.account-events",
        publish("amq.topic".into(), "x".into()),
    )
    .await;
    for queue in [
        topology.sync_queue(),
        topology.sync_users_queue(),
        topology.join_queue(),
        Topology::dlq(&topology.join_queue()),
    ] {
        let q = queue.clone();
        refused(&raw, &format!("consume {queue}"), move |ch| async move {
            ch.basic_consume(
                q.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map(drop)
        })
        .await;
    }
    refused(&raw, "declare a queue", |ch| async move {
        ch.queue_declare(
            "bot-made-queue".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .map(drop)
    })
    .await;

    // The worker itself cannot publish events either (only the ingress
    // does), so a token worker's credentials forge no webhook.
    let err = worker_bus
        .publish(OutgoingMessage::json(
            topology.events_exchange(),
            "app_deauthorized",
            forged.to_vec(),
            "forged-by-worker",
        ))
        .await;
    assert!(err.is_err(), "{err:?}");

    shutdown.cancel();
    let _ = worker.await;
    bot.close().await;
    let _ = raw.close(200, "bye".into()).await;
    for bus in [ingress, sync, worker_bus] {
        bus.close().await;
    }
    h.store
        .purge_account_mappings(&account.account_id)
        .await
        .ok();
    broker.remove().await;
}

/// Issue 15, item 7: a `reply_to` naming one of rectoken's own queues gets
/// no reply there: the request goes to the join DLQ with the reason.
#[tokio::test]
async fn reply_to_may_not_name_rectokens_own_queues() {
    let prefix = rectoken_tests::unique_prefix("reply-to");
    let h = Harness::start(
        &rectoken_tests::amqp_url(),
        &rectoken_tests::redis_url(),
        &prefix,
        |_| {},
        ZoomLimits::default(),
    )
    .await
    .expect("harness");
    let bus = h.bus("reply-to-worker").await.expect("bus");
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(run(
        h.deps(bus.clone()),
        TokenOptions::default(),
        shutdown.clone(),
    ));
    let sync = h.topology.sync_queue();
    let request = OutgoingMessage::json(
        "",
        h.topology.join_queue(),
        r#"{"request_id":"r1","meeting_id":"85012345678"}"#,
        "bad-reply-to",
    )
    .with_reply_to(sync.clone())
    .with_correlation_id("r1");
    bus.publish(request).await.expect("publish");
    let mut dead = bus
        .consume(&Topology::dlq(&h.topology.join_queue()), 1)
        .await
        .expect("consume DLQ");
    let d = tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut dead))
        .await
        .expect("dead-lettered")
        .expect("a delivery");
    assert_eq!(d.message_id.as_deref(), Some("bad-reply-to"));
    let reason = d
        .headers
        .get(rectoken_bus::topology::REASON_HEADER)
        .cloned()
        .unwrap_or_default();
    assert!(reason.contains("rectoken's own queues"), "{reason}");
    d.ack().await.unwrap();
    assert_eq!(bus.queue_depth(&sync).await.unwrap(), 0);
    shutdown.cancel();
    let _ = worker.await;
    bus.close().await;
    h.delete_queues().await;
}

/// Issue 19: every role may publish account events with its own rights;
/// only the sync worker's user declares, binds and consumes the webhook
/// queue (docs/security.md).
#[tokio::test]
async fn account_events_with_each_roles_rights() {
    let mut broker = Broker::new("rectoken-perm-ev").await;
    let plain = Topology::new("");
    let with_webhooks = Topology::new("").with_event_webhooks(true);
    let sync_url = broker
        .user("sync-worker", &permissions(BrokerRole::SyncWorker, &plain))
        .await;
    let ingress_url = broker
        .user("ingress", &permissions(BrokerRole::Ingress, &plain))
        .await;
    let token_url = broker
        .user(
            "token-worker",
            &permissions(BrokerRole::TokenWorker, &plain),
        )
        .await;
    // The deliverer's role declares the webhook queue and its binding.
    let sync = role_bus(&sync_url, &with_webhooks, "perm-ev-sync").await;
    let ingress = role_bus(&ingress_url, &plain, "perm-ev-ingress").await;
    let token = role_bus(&token_url, &plain, "perm-ev-token").await;
    for (bus, id) in [
        (&ingress, "ev-ingress"),
        (&token, "ev-token"),
        (&sync, "ev-sync"),
    ] {
        bus.publish(OutgoingMessage::json(
            plain.account_events_exchange(),
            "account.disconnected",
            format!(r#"{{"id":"{id}"}}"#),
            id,
        ))
        .await
        .unwrap_or_else(|e| panic!("{id}: {e}"));
    }
    let mut deliveries = sync
        .consume(&with_webhooks.account_events_webhooks_queue(), 3)
        .await
        .expect("the sync worker consumes the webhook queue");
    let mut seen = Vec::new();
    for _ in 0..3 {
        let d = tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut deliveries))
            .await
            .expect("an account event")
            .expect("stream open");
        seen.push(d.message_id.clone().unwrap_or_default());
        d.ack().await.unwrap();
    }
    seen.sort();
    assert_eq!(seen, ["ev-ingress", "ev-sync", "ev-token"]);
    // Another role's user cannot read it.
    let connection = Connection::connect(&token_url, ConnectionProperties::default())
        .await
        .unwrap();
    refused(
        &connection,
        "token-worker consumes the webhook queue",
        |ch| async move {
            ch.basic_consume(
                "rectoken.account-events.webhooks".into(),
                "x".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map(drop)
        },
    )
    .await;
    let _ = connection.close(200, "bye".into()).await;
    for bus in [sync, ingress, token] {
        bus.close().await;
    }
    broker.remove().await;
}
