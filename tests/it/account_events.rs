//! Account events end to end, against real RabbitMQ and Redis and the Zoom
//! simulator: an account is connected through the ingress's OAuth flow,
//! synced by a sync worker, its refresh token revoked, reconnected, a sync
//! made to fail, and the app uninstalled (the simulator's signed
//! `app_deauthorized` webhook through the ingress). Each event must arrive
//! both on an operator's queue bound to `rectoken.account-events` and at a
//! local webhook receiver that verifies the Standard Webhooks signature;
//! a receiver that is down (503) gets the event once it is back, with the
//! same `webhook-id`. The admin API shows the history. A token worker whose
//! mints of an account keep failing reports `account.mints_failing`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use rectoken_bus::rabbit::{RabbitBus, RabbitOptions};
use rectoken_bus::{Bus, Topology};
use rectoken_domain::account_event::{AccountEvent, AccountEventKind, webhook_key};
use rectoken_domain::callback_auth::{StandardHeaders, verify_standard};
use rectoken_domain::origin::OriginKeys;
use rectoken_ingress::apps::{App, AppKind, Apps};
use rectoken_ingress::{Ingress, IngressState, router};
use rectoken_runtime::RetryPolicy;
use rectoken_runtime::account_events::AccountEventPublisher;
use rectoken_runtime::consumer::{self, ConsumerOptions};
use rectoken_runtime::origin::SigningBus;
use rectoken_runtime::webhook_delivery::WebhookDeliverer;
use rectoken_store::Store;
use rectoken_tests::{
    amqp_url, delete_topology, eventually, ingress_services, redis_url, unique_prefix,
};
use rectoken_vault::{AccountEvents, Keyring, Vault, VaultError, VaultOptions, ZoomAccess};
use rectoken_zoom::{ZoomClient, ZoomConfig};
use secrecy::{SecretBox, SecretString};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use zoom_sim::{Behaviour, Endpoint, Sim, SimConfig, ZoomRefusal};

const CLIENT_ID: &str = "ev-client";
const CLIENT_SECRET: &str = "ev-client-secret";
const WEBHOOK_SECRET: &str = "ev-webhook-secret";
const ADMIN: &str = "admin-token-for-event-tests";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Longest wait for one event (the issue asks for "within a minute").
const WAIT: Duration = Duration::from_secs(30);

/// What the webhook receiver saw: (signature verified, webhook-id, body).
type Received = (bool, String, AccountEvent);

/// A webhook receiver on 127.0.0.1:0: answers 204, or 503 while `down`
/// (counted in `refused`).
async fn receiver(
    down: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
) -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let key = webhook_key(WHSEC).unwrap();
    let app = axum::Router::new().route(
        "/hooks/rectoken",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let (tx, key, down, refused) = (tx.clone(), key.clone(), down.clone(), refused.clone());
            async move {
                if down.load(Ordering::SeqCst) {
                    refused.fetch_add(1, Ordering::SeqCst);
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
                let now = rectoken_domain::clock::now_secs();
                let verified = verify_standard(
                    &key,
                    StandardHeaders {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp"),
                        signature: h("webhook-signature"),
                    },
                    body.as_bytes(),
                    now,
                )
                .is_ok();
                let Ok(event) = serde_json::from_str::<AccountEvent>(&body) else {
                    return StatusCode::BAD_REQUEST;
                };
                let id = h("webhook-id").unwrap_or_default().to_owned();
                let _ = tx.send((verified, id, event));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hooks/rectoken"), rx)
}

struct Env {
    sim: Sim,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    vault: Vault,
    keyring: Arc<Keyring>,
    zoom: ZoomClient,
    publisher: Arc<AccountEventPublisher>,
    base: String,
    prefix: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
    /// The operator's own queue, bound with `#`.
    queue: mpsc::UnboundedReceiver<(String, AccountEvent)>,
    hooks: mpsc::UnboundedReceiver<Received>,
    receiver_down: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
    _amqp: Connection,
}

impl Env {
    async fn start(name: &str) -> Env {
        Self::start_with(name, |_| {}).await
    }

    /// [`Env::start`] with the sync worker's options changed by `tune`.
    async fn start_with(name: &str, tune: impl FnOnce(&mut rectoken_sync::SyncOptions)) -> Env {
        let prefix = unique_prefix(name);
        let topology = Topology::new(prefix.clone()).with_event_webhooks(true);
        let origin = OriginKeys::new(&[0x42; 32], None);
        let bus = SigningBus::wrap(
            Arc::new(RabbitBus::start(
                &amqp_url(),
                topology.clone(),
                RabbitOptions::default(),
            )),
            origin.clone(),
        );
        tokio::time::timeout(Duration::from_secs(20), bus.wait_connected())
            .await
            .unwrap();
        let store = rectoken_store::connect(&redis_url(), &prefix).unwrap();
        let log = rectoken_store::connect_event_log(&redis_url(), &prefix).unwrap();
        let publisher = AccountEventPublisher::start(bus.clone(), Some(log.clone()));

        // The operator binds a queue of their own.
        let amqp = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .unwrap();
        let channel = amqp.create_channel().await.unwrap();
        let declared = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        channel
            .queue_bind(
                declared.name().clone(),
                topology.account_events_exchange().into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let mut consumer = channel
            .basic_consume(
                declared.name().clone(),
                "operator".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let (qtx, queue) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(d)) = consumer.next().await {
                let key = d.routing_key.as_str().to_owned();
                let event: AccountEvent = serde_json::from_slice(&d.data).unwrap();
                d.ack(BasicAckOptions::default()).await.unwrap();
                let _ = qtx.send((key, event));
            }
        });

        let receiver_down = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicUsize::new(0));
        let (hook_url, hooks) = receiver(receiver_down.clone(), refused.clone()).await;

        // Ingress address first: it is the simulator's webhook target and
        // the OAuth redirect.
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let mut sim_config = SimConfig::for_tests(CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET);
        sim_config.webhook_urls = vec![format!("http://{addr}/zoom/webhook")];
        let (sim, sim_addr) = Sim::spawn(sim_config).await.unwrap();
        sim.seed_demo().unwrap();
        let mut cfg = ZoomConfig::new(CLIENT_ID, SecretString::from(CLIENT_SECRET.to_owned()));
        cfg.api_url = format!("http://{sim_addr}/v2");
        cfg.oauth_url = format!("http://{sim_addr}/oauth");
        let zoom = ZoomClient::new(cfg).unwrap();
        let keyring = Arc::new(Keyring::new(&SecretBox::new(Box::new([7u8; 32])), &[]));
        let vault = Vault::new(
            store.clone(),
            keyring.clone(),
            zoom.clone(),
            VaultOptions::default(),
        )
        .with_events(AccountEvents::new(publisher.clone(), Some(log)));

        let services = ingress_services(
            store.clone(),
            vault.clone(),
            zoom.clone(),
            format!("http://{addr}"),
            ADMIN,
        );
        let apps = Apps::single(App::new(
            "",
            CLIENT_ID,
            CLIENT_SECRET.into(),
            WEBHOOK_SECRET.into(),
            AppKind::Account,
        ));
        let state = IngressState::new(bus.clone(), apps, vec![])
            .with_services(services)
            .with_open_connect(true);
        let ingress = Ingress::bind(addr, router(state)).await.unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(ingress.run(shutdown.clone()));

        // A sync worker and the webhook deliverer (fast retries).
        let fast = RetryPolicy {
            attempts: 3,
            min_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
        };
        let deps = rectoken_sync::SyncDeps {
            bus: bus.clone(),
            store: store.clone(),
            access: ZoomAccess::new(
                vault.clone(),
                rectoken_vault::ZoomLimits::for_plan(rectoken_vault::Plan::BusinessPlus, 0.95),
            ),
            apps: std::collections::HashMap::from([("default".to_owned(), false)]),
            origin,
        };
        let mut options = rectoken_sync::SyncOptions {
            scheduler: false,
            retry: fast.clone(),
            ..rectoken_sync::SyncOptions::default()
        };
        tune(&mut options);
        let token_deps = rectoken_token::TokenDeps {
            bus: bus.clone(),
            store: store.clone(),
            access: deps.access.clone(),
            zoom: zoom.clone(),
        };
        tokio::spawn(rectoken_sync::run(deps, options, shutdown.clone()));
        tokio::spawn(rectoken_token::run(
            token_deps,
            rectoken_token::TokenOptions::default(),
            shutdown.clone(),
        ));
        let deliverer = WebhookDeliverer::new(
            vec![url::Url::parse(&hook_url).unwrap()],
            webhook_key(WHSEC).unwrap(),
        )
        .unwrap();
        tokio::spawn(consumer::run(
            bus.clone(),
            Arc::new(deliverer),
            ConsumerOptions {
                queue: topology.account_events_webhooks_queue(),
                concurrency: 4,
                retry: fast,
            },
            shutdown.clone(),
        ));

        Env {
            sim,
            store,
            bus,
            vault,
            keyring,
            zoom,
            publisher,
            base: format!("http://{addr}"),
            prefix,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            shutdown,
            queue,
            hooks,
            receiver_down,
            refused,
            _amqp: amqp,
        }
    }

    /// The OAuth connect flow as a browser runs it: authorize → the
    /// simulator's consent → our callback (with the state cookie).
    async fn connect(&self) {
        let authorize = self
            .http
            .get(format!("{}/zoom/oauth/authorize", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(authorize.status(), 302);
        let to_zoom = authorize.headers()["location"].to_str().unwrap().to_owned();
        let cookie = authorize.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let consent = self.http.get(&to_zoom).send().await.unwrap();
        let back = consent.headers()["location"].to_str().unwrap().to_owned();
        let page = self
            .http
            .get(&back)
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
    }

    /// `GET path` of the admin API, as JSON.
    async fn admin_json(&self, path: &str) -> serde_json::Value {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The next event of type `t` on the operator's queue (others of the
    /// way are returned too, in order).
    async fn next_on_queue(&mut self, t: &str) -> AccountEvent {
        self.next_on_queue_within(t, WAIT).await
    }

    /// [`Env::next_on_queue`], waiting up to `wait`.
    async fn next_on_queue_within(&mut self, t: &str, wait: Duration) -> AccountEvent {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let (key, event) = tokio::time::timeout_at(deadline, self.queue.recv())
                .await
                .unwrap_or_else(|_| panic!("no {t} on the bound queue within {wait:?}"))
                .expect("queue consumer alive");
            assert_eq!(key, event.type_name(), "routing key = type");
            if key == t {
                return event;
            }
        }
    }

    /// The webhook delivery of event `id`, checked: signature verified,
    /// `webhook-id` = the event's id, the same body as the queue's.
    async fn delivered_webhook(&mut self, expected: &AccountEvent) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (verified, id, event) = tokio::time::timeout_at(deadline, self.hooks.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("{} not delivered as a webhook within {WAIT:?}", expected.id)
                })
                .expect("receiver alive");
            assert!(verified, "signature of {id} does not verify");
            assert_eq!(id, event.id, "webhook-id is the event's id");
            if event.id == expected.id {
                assert_eq!(&event, expected);
                return;
            }
        }
    }

    async fn finish(self) {
        self.shutdown.cancel();
        self.publisher.close().await;
        self.bus.close().await;
        delete_topology(
            &amqp_url(),
            &Topology::new(self.prefix.clone()).with_event_webhooks(true),
        )
        .await;
    }
}

#[tokio::test]
async fn every_account_event_reaches_a_bound_queue_and_a_signed_webhook() {
    let mut env = Env::start("account-events").await;

    // Connect: account.connected, then the first full sync completes.
    env.connect().await;
    let connected = env.next_on_queue("account.connected").await;
    assert_eq!(connected.account_id, "demo");
    assert_eq!(connected.app, "default");
    env.delivered_webhook(&connected).await;
    let synced = env.next_on_queue("account.sync_completed").await;
    let AccountEventKind::SyncCompleted {
        users, mappings, ..
    } = synced.kind
    else {
        panic!("{synced:?}");
    };
    assert!(users > 0 && mappings > 0, "{synced:?}");
    env.delivered_webhook(&synced).await;

    // The receiver goes down; the refresh token is revoked (someone else
    // refreshed with it, so Zoom rotated it away).
    env.receiver_down.store(true, Ordering::SeqCst);
    let creds = env.store.credentials("demo").await.unwrap().unwrap();
    let plain: serde_json::Value =
        serde_json::from_slice(&env.keyring.open(&creds.sealed, "demo").unwrap()).unwrap();
    let stolen = SecretString::from(plain["refresh_token"].as_str().unwrap().to_owned());
    env.zoom.refresh(&stolen).await.unwrap();
    let err = env.vault.refresh_now("demo").await.unwrap_err();
    assert!(matches!(err, VaultError::Disconnected { .. }), "{err:?}");
    let disconnected = env.next_on_queue("account.disconnected").await;
    let AccountEventKind::Disconnected { reason } = &disconnected.kind else {
        panic!("{disconnected:?}");
    };
    assert!(reason.contains("Invalid Token!"), "Zoom's reason: {reason}");
    // While it is down, deliveries are refused (retried); back up, the
    // same event arrives.
    let refused = env.refused.clone();
    assert!(
        eventually(WAIT, || {
            let refused = refused.clone();
            async move { refused.load(Ordering::SeqCst) >= 2 }
        })
        .await,
        "the deliverer did not try the receiver while it was down"
    );
    assert!(
        env.hooks.try_recv().is_err(),
        "a 503 receiver recorded nothing"
    );
    env.receiver_down.store(false, Ordering::SeqCst);
    env.delivered_webhook(&disconnected).await;

    // Reconnect while Zoom refuses to list the users: the reconnect's own
    // full sync fails.
    env.sim
        .set_behaviour(
            Some(Endpoint::ListUsers),
            Behaviour {
                refusal: Some(ZoomRefusal::OauthOnly),
                ..Behaviour::default()
            },
        )
        .unwrap();
    env.connect().await;
    let reconnected = env.next_on_queue("account.reconnected").await;
    let AccountEventKind::Reconnected {
        previous_status, ..
    } = &reconnected.kind
    else {
        panic!("{reconnected:?}");
    };
    assert_eq!(previous_status, "disconnected");
    env.delivered_webhook(&reconnected).await;
    let failed = env.next_on_queue("account.sync_failed").await;
    let AccountEventKind::SyncFailed { reason, .. } = &failed.kind else {
        panic!("{failed:?}");
    };
    assert!(reason.contains("124"), "Zoom's refusal: {reason}");
    env.delivered_webhook(&failed).await;
    env.sim.reset_behaviours();

    // Uninstall: the simulator sends its signed app_deauthorized webhook
    // to the ingress; the sync worker removes the account.
    env.sim.deauthorize("demo", None).unwrap();
    let deauthorized = env.next_on_queue("account.deauthorized").await;
    let AccountEventKind::Deauthorized { user_id } = &deauthorized.kind else {
        panic!("{deauthorized:?}");
    };
    assert!(
        user_id.is_some(),
        "Zoom's payload names who removed the app"
    );
    env.delivered_webhook(&deauthorized).await;

    // The admin API shows the history, newest first, after the record is
    // gone.
    let events = env.admin_json("/admin/accounts/demo/events").await;
    let types: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    // Oldest first, the history holds what happened in order (a sync or a
    // refresh racing the uninstall may add a `disconnected` between).
    let mut expected = [
        "account.connected",
        "account.sync_completed",
        "account.disconnected",
        "account.reconnected",
        "account.sync_failed",
        "account.deauthorized",
    ]
    .into_iter()
    .peekable();
    for t in types.iter().rev() {
        if expected.peek() == Some(t) {
            expected.next();
        }
    }
    assert_eq!(expected.next(), None, "{types:?}\n{events:#}");
    let limited = env.admin_json("/admin/accounts/demo/events?limit=1").await;
    assert_eq!(limited["events"].as_array().unwrap().len(), 1);
    assert_eq!(limited["events"][0], events["events"][0], "the newest");
    env.finish().await;
}

#[tokio::test]
async fn repeated_failed_mints_report_mints_failing() {
    let mut env = Env::start("account-events-mints").await;
    env.connect().await;
    let _ = env.next_on_queue("account.connected").await;
    let _ = env.next_on_queue("account.sync_completed").await;
    // Zoom refuses every join token of the account.
    env.sim
        .set_behaviour(
            Some(Endpoint::JoinToken),
            Behaviour {
                refusal: Some(ZoomRefusal::OauthOnly),
                ..Behaviour::default()
            },
        )
        .unwrap();
    let topology = env.bus.topology().clone();
    let mut statuses = Vec::new();
    for i in 0..rectoken_token::mint_watch::THRESHOLD {
        let body = serde_json::json!({
            "request_id": format!("r-{i}"),
            "meeting_id": "85000000201",
        })
        .to_string();
        let reply = env
            .bus
            .request(
                rectoken_bus::OutgoingMessage::json(
                    topology.join_exchange(),
                    topology.join_queue(),
                    body,
                    format!("mint-{i}"),
                ),
                Duration::from_secs(20),
            )
            .await
            .unwrap();
        let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
        statuses.push(reply["status"].as_str().unwrap_or_default().to_owned());
    }
    assert!(
        statuses.iter().all(|s| s == "zoom_error"),
        "every mint failed on Zoom's side: {statuses:?}"
    );
    let event = env.next_on_queue("account.mints_failing").await;
    assert_eq!(event.account_id, "demo");
    let AccountEventKind::MintsFailing {
        failures,
        last_status,
        ..
    } = &event.kind
    else {
        panic!("{event:?}");
    };
    assert_eq!(*failures, rectoken_token::mint_watch::THRESHOLD);
    assert_eq!(last_status, "zoom_error");
    env.delivered_webhook(&event).await;
    env.finish().await;
}

/// A sync that fails only transiently (Zoom answers 503 to every user
/// listing) is retried, and reported once its retries run out: the
/// operator hears of a sync failing for hours, not only of one that fails
/// at once (issue 19). The account's sync status says so too, and the job
/// is in the DLQ with the same reason.
#[tokio::test]
async fn a_sync_failing_until_its_retries_run_out_is_reported() {
    let mut env = Env::start_with("account-events-gave-up", |o| {
        // Each attempt gives up on Zoom quickly, so the whole budget
        // (3 attempts x the delivery limit) takes seconds, not hours.
        o.zoom_deadline = Duration::from_millis(200);
    })
    .await;
    env.connect().await;
    let _ = env.next_on_queue("account.connected").await;
    let _ = env.next_on_queue("account.sync_completed").await;
    env.sim
        .set_behaviour(
            Some(Endpoint::ListUsers),
            Behaviour {
                error_503: 1.0,
                ..Behaviour::default()
            },
        )
        .unwrap();
    let resync = env
        .http
        .post(format!("{}/admin/accounts/demo/resync", env.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert!(resync.status().is_success(), "{}", resync.status());
    let failed = env
        .next_on_queue_within("account.sync_failed", Duration::from_secs(120))
        .await;
    let AccountEventKind::SyncFailed { reason, attempts } = &failed.kind else {
        panic!("{failed:?}");
    };
    assert_eq!(
        i64::from(*attempts),
        rectoken_bus::topology::DELIVERY_LIMIT,
        "every delivery the broker allows: {reason}"
    );
    assert!(
        reason.contains("gave up after") && reason.contains("503"),
        "the retries and Zoom's answer: {reason}"
    );
    env.delivered_webhook(&failed).await;
    let record = env.store.account("demo").await.unwrap().unwrap();
    assert_eq!(record.sync.state, rectoken_store::SyncState::Failed);
    assert_eq!(record.sync.last_error.as_deref(), Some(reason.as_str()));
    let dlq = Topology::dlq(&env.bus.topology().sync_queue());
    assert_eq!(
        env.bus.queue_depth(&dlq).await.unwrap(),
        1,
        "the job waits in the DLQ for a redrive"
    );
    env.sim.reset_behaviours();
    env.finish().await;
}
