//! The AMQP transport against a real RabbitMQ (`RECTOKEN_TEST_AMQP_URL`),
//! with a fake token worker written directly on lapin.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};
use rectoken_client::cli::JoinArgs;
use rectoken_client::{Client, ClientError, JoinReply, JoinRequest, JoinStatus, TokenKind};
use rectoken_domain::join::{FailureStatus, MintedToken, decode_join_request};
use time::OffsetDateTime;

fn amqp_url() -> String {
    std::env::var("RECTOKEN_TEST_AMQP_URL").unwrap_or_else(|_| {
        panic!(
            "RECTOKEN_TEST_AMQP_URL is not set. These tests need a real RabbitMQ: run \
             `scripts/services start rabbitmq` and export \
             RECTOKEN_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5673/%2f (or use scripts/test)"
        )
    })
}

/// A queue name no other test (or test run) uses.
fn unique_queue(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!(
        "client-test.{tag}.{}.{nanos}.{}.rectoken.join",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// How long a test waits for something that should happen promptly.
const PATIENCE: Duration = Duration::from_secs(10);

/// A request as the fake worker saw it.
struct Incoming {
    body: Vec<u8>,
    request: JoinRequest,
    reply_to: String,
    correlation_id: String,
    message_id: String,
    delivery_mode: Option<u8>,
    content_type: Option<String>,
}

/// A fake token worker: a classic test queue (deleted a minute after it is
/// last used) and, unless built with [`FakeWorker::without_consumer`], a
/// consumer on it.
struct FakeWorker {
    _connection: Connection,
    channel: Channel,
    consumer: Option<Consumer>,
    queue: String,
}

impl FakeWorker {
    async fn declare(tag: &str) -> Self {
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to RECTOKEN_TEST_AMQP_URL: {e}"));
        let channel = connection.create_channel().await.expect("channel");
        let queue = unique_queue(tag);
        let mut args = FieldTable::default();
        args.insert("x-expires".into(), AMQPValue::LongInt(60_000));
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                args,
            )
            .await
            .expect("declare test queue");
        // The join exchange as the roles declare it: direct, bound with the
        // queue's name (auto-deleted with its last binding).
        let exchange = format!("{queue}{}", rectoken_client::JOIN_EXCHANGE_SUFFIX);
        channel
            .exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    auto_delete: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("declare test exchange");
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                queue.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind test queue");
        FakeWorker {
            _connection: connection,
            channel,
            consumer: None,
            queue,
        }
    }

    async fn start(tag: &str) -> Self {
        let mut worker = Self::declare(tag).await;
        let consumer = worker
            .channel
            .basic_consume(
                worker.queue.as_str().into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("consume test queue");
        worker.consumer = Some(consumer);
        worker
    }

    async fn without_consumer(tag: &str) -> Self {
        Self::declare(tag).await
    }

    async fn client(&self) -> Client {
        Client::connect_amqp(&amqp_url())
            .await
            .expect("client connects")
            .with_queue(self.queue.clone())
    }

    async fn next(&mut self) -> Incoming {
        let consumer = self.consumer.as_mut().expect("a worker with a consumer");
        let delivery = tokio::time::timeout(PATIENCE, consumer.next())
            .await
            .expect("a request reaches the worker")
            .expect("consumer open")
            .expect("delivery");
        let p = &delivery.properties;
        let text = |s: &Option<lapin::types::ShortString>| s.as_ref().map(|s| s.to_string());
        Incoming {
            request: JoinRequest::from_slice(&delivery.data).expect("request decodes"),
            reply_to: text(p.reply_to()).expect("reply_to set"),
            correlation_id: text(p.correlation_id()).expect("correlation_id set"),
            message_id: text(p.message_id()).expect("message_id set"),
            delivery_mode: *p.delivery_mode(),
            content_type: text(p.content_type()),
            body: delivery.data,
        }
    }

    async fn reply_raw(&self, reply_to: &str, correlation_id: &str, body: &[u8]) {
        self.channel
            .basic_publish(
                "".into(),
                reply_to.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default()
                    .with_correlation_id(correlation_id.into())
                    .with_content_type("application/json".into()),
            )
            .await
            .expect("publish reply")
            .await
            .expect("reply sent");
    }

    async fn reply(&self, to: &Incoming, reply: &JoinReply) {
        let body = serde_json::to_vec(reply).expect("encode reply");
        self.reply_raw(&to.reply_to, &to.correlation_id, &body)
            .await;
    }

    async fn message_count(&self) -> u32 {
        self.channel
            .queue_declare(
                self.queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("passive declare")
            .message_count()
    }
}

/// The `ok` reply a real worker would send: request ID echoed, a token per
/// kind whose value names the request (so a mix-up shows).
fn ok_reply(req: &Incoming) -> JoinReply {
    let valid = decode_join_request(&req.body).expect("the client sends valid requests");
    let expires = OffsetDateTime::now_utc() + time::Duration::minutes(2);
    let tokens = valid
        .tokens()
        .iter()
        .map(|k| {
            (
                *k,
                MintedToken::new(format!("tok-{}-{k}", valid.request_id()), expires),
            )
        })
        .collect::<BTreeMap<_, _>>();
    JoinReply::ok(
        valid.request_id(),
        valid.meeting_id(),
        "acct-1",
        "host-1",
        tokens,
    )
}

#[tokio::test]
async fn request_tokens_gets_its_reply() {
    let mut worker = FakeWorker::start("single").await;
    let client = worker.client().await;
    let pending = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .request_tokens("https://us02web.zoom.us/j/85012345678?pwd=abc")
                .await
        }
    });
    let incoming = worker.next().await;
    let sent_at = OffsetDateTime::now_utc();

    // The request as the contract describes it.
    assert_eq!(incoming.message_id, incoming.correlation_id);
    assert_eq!(
        incoming.correlation_id.len(),
        36,
        "{}",
        incoming.correlation_id
    );
    assert!(
        incoming.reply_to.starts_with("amq.rabbitmq.reply-to"),
        "{}",
        incoming.reply_to
    );
    assert_eq!(incoming.delivery_mode, Some(2), "persistent");
    assert_eq!(incoming.content_type.as_deref(), Some("application/json"));
    let req = &incoming.request;
    assert_eq!(
        req.meeting_url.as_deref(),
        Some("https://us02web.zoom.us/j/85012345678?pwd=abc")
    );
    assert_eq!(req.tokens, [TokenKind::LocalRecording]);
    assert!(req.bypass_waiting_room);
    assert_eq!(
        req.request_id.as_deref(),
        Some(incoming.correlation_id.as_str())
    );
    let deadline = req.deadline.expect("deadline set");
    let ahead = deadline - sent_at;
    assert!(
        ahead > time::Duration::seconds(25) && ahead <= time::Duration::seconds(30),
        "deadline {ahead} ahead"
    );
    assert_eq!(client.pending_requests(), 1);

    worker.reply(&incoming, &ok_reply(&incoming)).await;
    let reply = tokio::time::timeout(PATIENCE, pending)
        .await
        .expect("reply in time")
        .expect("task")
        .expect("reply");
    assert_eq!(reply.status(), JoinStatus::Ok);
    assert_eq!(reply.request_id(), incoming.correlation_id);
    assert_eq!(
        reply.tokens()[&TokenKind::LocalRecording].token,
        format!("tok-{}-local_recording", incoming.correlation_id)
    );
    assert_eq!(client.pending_requests(), 0);
    client.close().await;
}

#[tokio::test]
async fn twenty_concurrent_requests_each_get_their_own_reply() {
    const N: usize = 20;
    let mut worker = FakeWorker::start("concurrent").await;
    let client = worker.client().await;
    let requests = (0..N).map(|i| {
        let client = client.clone();
        tokio::spawn(async move {
            let mut req = JoinRequest::for_meeting_url(format!("8501234{i:04}"));
            req.request_id = Some(format!("c-{i}"));
            client.request(req, Duration::from_secs(20)).await
        })
    });
    let requests: Vec<_> = requests.collect();
    let mut incoming = Vec::new();
    for _ in 0..N {
        incoming.push(worker.next().await);
    }
    assert_eq!(client.pending_requests(), N);
    // Answer in reverse order: only correlation, not arrival order, can get
    // every reply to its request.
    for req in incoming.iter().rev() {
        worker.reply(req, &ok_reply(req)).await;
    }
    for (i, handle) in requests.into_iter().enumerate() {
        let reply = tokio::time::timeout(PATIENCE, handle)
            .await
            .expect("reply in time")
            .expect("task")
            .expect("reply");
        assert_eq!(reply.request_id(), format!("c-{i}"));
        assert_eq!(
            reply.meeting_id().map(|m| m.get()),
            Some(85_012_340_000 + i as u64)
        );
        assert_eq!(
            reply.tokens()[&TokenKind::LocalRecording].token,
            format!("tok-c-{i}-local_recording")
        );
    }
    assert_eq!(client.pending_requests(), 0);
    client.close().await;
}

#[tokio::test]
async fn no_reply_times_out_and_forgets_the_request() {
    let worker = FakeWorker::without_consumer("timeout").await;
    let client = worker.client().await;
    let started = Instant::now();
    let result = client
        .request(
            JoinRequest::for_meeting_url("85012345678"),
            Duration::from_millis(300),
        )
        .await;
    let waited = started.elapsed();
    assert_eq!(result, Err(ClientError::Timeout));
    // The timeout, plus the grace for a reply sent at the deadline.
    let expected = Duration::from_millis(300) + rectoken_client::REPLY_GRACE;
    assert!(
        waited >= expected && waited < expected + Duration::from_secs(3),
        "waited {waited:?}"
    );
    assert_eq!(client.pending_requests(), 0, "no leaked entry");
    // It was published (and confirmed), just never answered.
    assert_eq!(worker.message_count().await, 1);

    // A request abandoned by its caller is forgotten too.
    let abandoned = tokio::time::timeout(
        Duration::from_millis(200),
        client.request(
            JoinRequest::for_meeting_url("85012345678"),
            Duration::from_secs(30),
        ),
    )
    .await;
    assert!(abandoned.is_err(), "the outer timeout fired");
    assert_eq!(client.pending_requests(), 0, "no leaked entry");
    client.close().await;
}

#[tokio::test]
async fn replies_with_unknown_correlation_ids_are_ignored() {
    let mut worker = FakeWorker::start("wrong-corr").await;
    let client = worker.client().await;
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.request_tokens("85012345678").await }
    });
    let incoming = worker.next().await;
    // First an impostor with another correlation ID, then the real reply,
    // on the same route: the impostor arrives first.
    let impostor = JoinReply::failure("impostor", FailureStatus::ZoomError, "not yours");
    worker
        .reply_raw(
            &incoming.reply_to,
            &format!("{}-other", incoming.correlation_id),
            &serde_json::to_vec(&impostor).expect("encode"),
        )
        .await;
    worker.reply(&incoming, &ok_reply(&incoming)).await;
    let reply = tokio::time::timeout(PATIENCE, pending)
        .await
        .expect("reply in time")
        .expect("task")
        .expect("reply");
    assert_eq!(reply.status(), JoinStatus::Ok);
    assert_eq!(reply.request_id(), incoming.correlation_id);
    assert_eq!(client.pending_requests(), 0);
    client.close().await;
}

#[tokio::test]
async fn malformed_reply_is_bad_reply_without_the_token() {
    let mut worker = FakeWorker::start("malformed").await;
    let client = worker.client().await;
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.request_tokens("85012345678").await }
    });
    let incoming = worker.next().await;
    let body =
        br#"{"request_id":"x","status":"ok","tokens":{"local_recording":"SECRET-TOKEN-VALUE"}}"#;
    worker
        .reply_raw(&incoming.reply_to, &incoming.correlation_id, body)
        .await;
    let result = tokio::time::timeout(PATIENCE, pending)
        .await
        .expect("reply in time")
        .expect("task");
    match result {
        Err(e @ ClientError::BadReply(_)) => {
            assert!(!e.to_string().contains("SECRET-TOKEN-VALUE"), "{e}");
        }
        other => panic!("expected BadReply, got {other:?}"),
    }
    assert_eq!(client.pending_requests(), 0);
    client.close().await;
}

#[tokio::test]
async fn missing_queue_is_a_publish_error() {
    let client = Client::connect_amqp(&amqp_url())
        .await
        .expect("client connects")
        .with_queue(unique_queue("missing"))
        // The default exchange reaches any queue by name; one that does not
        // exist comes back unroutable.
        .with_exchange("");
    let started = Instant::now();
    let result = client
        .request(
            JoinRequest::for_meeting_url("85012345678"),
            Duration::from_secs(20),
        )
        .await;
    assert!(
        matches!(&result, Err(ClientError::Publish(m)) if m.contains("unroutable")),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "fails fast");
    assert_eq!(client.pending_requests(), 0);
    client.close().await;
}

#[tokio::test]
async fn closing_fails_pending_and_later_requests() {
    let mut worker = FakeWorker::start("close").await;
    let client = worker.client().await;
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.request_tokens("85012345678").await }
    });
    let _incoming = worker.next().await;
    client.close().await;
    let result = tokio::time::timeout(PATIENCE, pending)
        .await
        .expect("fails promptly")
        .expect("task");
    assert!(matches!(result, Err(ClientError::Connect(_))), "{result:?}");
    let later = client.request_tokens("85012345678").await;
    assert!(matches!(later, Err(ClientError::Connect(_))), "{later:?}");
    assert_eq!(client.pending_requests(), 0);
}

#[tokio::test]
async fn connect_failure_is_a_connect_error() {
    // Nothing speaks AMQP on the discard port.
    let result = Client::connect_amqp("amqp://guest:guest@127.0.0.1:9/%2f").await;
    assert!(matches!(result, Err(ClientError::Connect(_))), "{result:?}");
}

#[tokio::test]
async fn cli_run_goes_over_amqp_when_the_url_is_set() {
    let mut worker = FakeWorker::start("cli").await;
    let args = JoinArgs {
        meeting: "https://zoom.us/j/85012345678".into(),
        url: "http://127.0.0.1:9".into(),
        amqp_url: Some(amqp_url().into()),
        join_key: None,
        tokens: vec![TokenKind::OnBehalf, TokenKind::LocalRecording],
        no_bypass_waiting_room: true,
        on_behalf_of: None,
        timeout: Duration::from_secs(20),
        queue_prefix: String::new(),
        queue: Some(worker.queue.clone()),
    };
    let run = tokio::spawn(rectoken_client::cli::run(args));
    let incoming = worker.next().await;
    assert_eq!(
        incoming.request.tokens,
        [TokenKind::OnBehalf, TokenKind::LocalRecording]
    );
    assert!(!incoming.request.bypass_waiting_room);
    worker.reply(&incoming, &ok_reply(&incoming)).await;
    let reply = tokio::time::timeout(PATIENCE, run)
        .await
        .expect("in time")
        .expect("task")
        .expect("reply");
    assert_eq!(reply.status(), JoinStatus::Ok);
    assert_eq!(reply.tokens().len(), 2);
}
