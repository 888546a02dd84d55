//! The ingress against real RabbitMQ and Redis: a confirmed event lands on
//! `rectoken.sync` with the contract's properties; with the broker cut off
//! the webhook answers 503 and `/readyz` 503; once it is back, 200 again in
//! the same process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::BasicGetOptions;
use lapin::{Connection, ConnectionProperties};
use rectoken_bus::rabbit::{RabbitBus, RabbitOptions};
use rectoken_bus::{Bus, Topology};
use rectoken_domain::webhook::sign;
use rectoken_ingress::apps::{App, AppKind, Apps};
use rectoken_ingress::{HealthCheck, Ingress, IngressState, router};
use rectoken_store::StoreCheck;
use rectoken_tests::proxy::Proxy;
use rectoken_tests::{amqp_url, delete_topology, eventually, redis_url, unique_prefix};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "it-webhook-secret";

struct Running {
    base: String,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    bus: Arc<dyn Bus>,
}

async fn start_ingress(amqp: &str, topology: Topology) -> Running {
    let bus: Arc<dyn Bus> = Arc::new(RabbitBus::start(amqp, topology, RabbitOptions::default()));
    tokio::time::timeout(Duration::from_secs(20), bus.wait_connected())
        .await
        .expect("RabbitMQ did not connect");
    let apps = Apps::single(App::new(
        "",
        "cid",
        "cs".into(),
        SECRET.into(),
        AppKind::Account,
    ));
    let checks: Vec<Arc<dyn HealthCheck>> =
        vec![Arc::new(StoreCheck::connect(&redis_url()).unwrap())];
    let state = IngressState::new(bus.clone(), apps, checks);
    let ingress = Ingress::bind("127.0.0.1:0".parse().unwrap(), router(state))
        .await
        .unwrap();
    let base = format!("http://{}", ingress.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(ingress.run(shutdown.clone()));
    Running {
        base,
        shutdown,
        server,
        bus,
    }
}

fn now() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string()
}

async fn post_webhook(client: &reqwest::Client, base: &str, body: &str) -> reqwest::StatusCode {
    let ts = now();
    client
        .post(format!("{base}/zoom/webhook"))
        .header("content-type", "application/json")
        .header("x-zm-request-timestamp", &ts)
        .header(
            "x-zm-signature",
            sign(SECRET.as_bytes(), &ts, body.as_bytes()),
        )
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
}

async fn readyz(client: &reqwest::Client, base: &str) -> u16 {
    match client.get(format!("{base}/readyz")).send().await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

fn body(n: u64) -> String {
    format!(
        r#"{{"event":"meeting.created","event_ts":1739923528000,"payload":{{"account_id":"AcC","object":{{"id":{n},"host_id":"h"}}}}}}"#
    )
}

#[tokio::test]
async fn confirmed_event_arrives_with_contract_properties() {
    let topology = Topology::new(unique_prefix("ingress-props"));
    let app = start_ingress(&amqp_url(), topology.clone()).await;
    let client = reqwest::Client::new();
    let sent = body(85_123_456_789);
    assert_eq!(post_webhook(&client, &app.base, &sent).await, 200);

    // Read it back with plain lapin to see the AMQP properties as sent.
    let conn = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let got = channel
        .basic_get(
            topology.sync_queue().into(),
            BasicGetOptions { no_ack: true },
        )
        .await
        .unwrap()
        .expect("the confirmed event must be on rectoken.sync");
    assert_eq!(got.delivery.routing_key.as_str(), "meeting.created");
    assert_eq!(got.delivery.exchange.as_str(), topology.events_exchange());
    assert_eq!(got.delivery.data, sent.as_bytes());
    let props = &got.delivery.properties;
    assert_eq!(
        props.content_type().as_ref().map(|s| s.as_str()),
        Some("application/json")
    );
    assert_eq!(*props.delivery_mode(), Some(2), "persistent");
    let id = props
        .message_id()
        .as_ref()
        .map(|s| s.as_str().to_owned())
        .unwrap();
    assert_eq!(
        id,
        rectoken_domain::event::webhook_message_id("default", sent.as_bytes())
    );
    let app_header = props
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-rectoken-app").cloned());
    assert!(
        matches!(app_header, Some(lapin::types::AMQPValue::LongString(s)) if s.to_string() == "default")
    );
    let _ = conn.close(200, "bye".into()).await;

    assert_eq!(readyz(&client, &app.base).await, 200);
    app.shutdown.cancel();
    app.server.await.unwrap().unwrap();
    app.bus.close().await;
    delete_topology(&amqp_url(), &topology).await;
}

#[tokio::test]
async fn broker_outage_is_503_then_recovers_in_process() {
    let url = url::Url::parse(&amqp_url()).unwrap();
    let target: SocketAddr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5672))
        .parse()
        .unwrap();
    let proxy = Proxy::start(target).await;
    let mut proxied = url.clone();
    proxied.set_port(Some(proxy.addr().port())).unwrap();
    let topology = Topology::new(unique_prefix("ingress-outage"));
    let app = start_ingress(proxied.as_str(), topology.clone()).await;
    let client = reqwest::Client::new();
    assert_eq!(
        post_webhook(&client, &app.base, &body(85_000_000_001)).await,
        200
    );

    proxy.cut();
    assert_eq!(
        post_webhook(&client, &app.base, &body(85_000_000_002)).await,
        503,
        "no broker, no 200"
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            readyz(&client, &app.base).await == 503
        })
        .await,
        "/readyz must turn 503 while the broker is unreachable"
    );

    proxy.restore();
    assert!(
        eventually(Duration::from_secs(20), || async {
            readyz(&client, &app.base).await == 200
        })
        .await,
        "/readyz must turn 200 again once the broker is back"
    );
    assert_eq!(
        post_webhook(&client, &app.base, &body(85_000_000_003)).await,
        200
    );

    // Exactly the two confirmed events are on the queue: the refused one was
    // never claimed as delivered.
    let reader = RabbitBus::start(&amqp_url(), topology.clone(), RabbitOptions::default());
    reader.wait_connected().await;
    let mut stream = reader.consume(&topology.sync_queue(), 10).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let d = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap()
            .unwrap();
        ids.push(String::from_utf8(d.body.to_vec()).unwrap());
        d.ack().await.unwrap();
    }
    assert!(
        ids[0].contains("85000000001") && ids[1].contains("85000000003"),
        "{ids:?}"
    );
    drop(stream);
    reader.close().await;

    app.shutdown.cancel();
    app.server.await.unwrap().unwrap();
    app.bus.close().await;
    delete_topology(&amqp_url(), &topology).await;
}
