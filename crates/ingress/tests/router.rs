//! The ingress router against the in-process bus: every status code of the
//! webhook contract, URL validation, readiness and metrics.
//! No external service is needed.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use rectoken_bus::memory::MemoryBus;
use rectoken_bus::{Bus, Topology};
use rectoken_domain::webhook::sign;
use rectoken_ingress::apps::{App, AppKind, Apps};
use rectoken_ingress::{HealthCheck, IngressState, router};
use serde_json::Value;
use tower::ServiceExt;

const SECRET: &str = "default-webhook-secret";
const NOW: i64 = 1_800_000_000;

fn apps() -> Apps {
    let mut apps = Apps::single(App::new(
        "",
        "cid",
        "csecret".into(),
        SECRET.into(),
        AppKind::Account,
    ));
    apps.add_from_toml(
        "[apps.acme]\nclient_id='a'\nclient_secret='b'\nwebhook_secret='acme-secret'\n",
        "test",
    )
    .unwrap();
    apps
}

fn state_with(bus: Arc<dyn Bus>, checks: Vec<Arc<dyn HealthCheck>>) -> IngressState {
    let mut state = IngressState::new(bus, apps(), checks);
    state.now = || NOW;
    state
}

fn signed_request(path: &str, secret: &str, ts: i64, body: &str) -> Request<Body> {
    let ts = ts.to_string();
    Request::post(path)
        .header("content-type", "application/json")
        .header("x-zm-request-timestamp", &ts)
        .header(
            "x-zm-signature",
            sign(secret.as_bytes(), &ts, body.as_bytes()),
        )
        .body(Body::from(body.to_owned()))
        .unwrap()
}

async fn send(state: &IngressState, req: Request<Body>) -> (StatusCode, Value) {
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

const CREATED: &str = r#"{"event":"meeting.created","event_ts":1739923528000,"payload":{"account_id":"AbC","object":{"id":85123456789,"host_id":"h1"}}}"#;

fn bus() -> MemoryBus {
    MemoryBus::new(Topology::default())
}

#[tokio::test]
async fn signed_event_is_published_then_200() {
    let bus = bus();
    let state = state_with(Arc::new(bus.clone()), vec![]);
    let (status, body) = send(
        &state,
        signed_request("/zoom/webhook", SECRET, NOW, CREATED),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "accepted");

    let mut stream = bus.consume("rectoken.sync", 1).await.unwrap();
    let delivery = stream.next().await.unwrap();
    assert_eq!(delivery.routing_key, "meeting.created");
    assert_eq!(
        &delivery.body[..],
        CREATED.as_bytes(),
        "body travels unchanged"
    );
    assert_eq!(delivery.message_id.as_deref(), body["message_id"].as_str());
    assert_eq!(
        delivery.headers.get("x-rectoken-app").map(String::as_str),
        Some("default")
    );
    delivery.ack().await.unwrap();
}

#[tokio::test]
async fn retried_delivery_gets_the_same_message_id() {
    let state = state_with(Arc::new(bus()), vec![]);
    let (_, first) = send(
        &state,
        signed_request("/zoom/webhook", SECRET, NOW, CREATED),
    )
    .await;
    let (_, again) = send(
        &state,
        signed_request("/zoom/webhook", SECRET, NOW + 60, CREATED),
    )
    .await;
    assert_eq!(first["message_id"], again["message_id"]);
    assert!(first["message_id"].as_str().unwrap().starts_with("zm-"));
}

#[tokio::test]
async fn events_no_worker_handles_are_still_accepted() {
    let bus = bus();
    let state = state_with(Arc::new(bus.clone()), vec![]);
    let body = r#"{"event":"recording.completed","event_ts":1,"payload":{"account_id":"A"}}"#;
    let (status, _) = send(&state, signed_request("/zoom/webhook", SECRET, NOW, body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bus.queue_depth("rectoken.sync").await.unwrap(), 1);
}

#[tokio::test]
async fn url_validation_is_answered_without_publishing() {
    let bus = bus();
    let state = state_with(Arc::new(bus.clone()), vec![]);
    let body = r#"{"event":"endpoint.url_validation","event_ts":1739923528000,"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"}}"#;
    let (status, answer) = send(&state, signed_request("/zoom/webhook", SECRET, NOW, body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(
        answer["encryptedToken"],
        rectoken_domain::webhook::url_validation_token(SECRET.as_bytes(), "qgg8vlvZRS6UYooatFL8Aw")
    );
    assert_eq!(bus.queue_depth("rectoken.sync").await.unwrap(), 0);
    // Even with the broker gone the challenge is answered: no I/O on this path.
    bus.close().await;
    let (status, _) = send(&state, signed_request("/zoom/webhook", SECRET, NOW, body)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_retry_90_minutes_late_is_accepted_within_the_configured_window() {
    let bus = bus();
    let state = state_with(Arc::new(bus.clone()), vec![]);
    let late = NOW - 90 * 60;
    let (status, body) = send(
        &state,
        signed_request("/zoom/webhook", SECRET, late, CREATED),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(bus.queue_depth("rectoken.sync").await.unwrap(), 1);
    // RECTOKEN_WEBHOOK_MAX_AGE=1h refuses it.
    let strict = state_with(Arc::new(bus.clone()), vec![]).with_webhook_window(
        rectoken_domain::webhook::Window::with_max_age(std::time::Duration::from_secs(3600)),
    );
    let (status, _) = send(
        &strict,
        signed_request("/zoom/webhook", SECRET, late, CREATED),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(bus.queue_depth("rectoken.sync").await.unwrap(), 1);
}

#[tokio::test]
async fn bad_signatures_are_401_and_publish_nothing() {
    let bus = bus();
    let state = state_with(Arc::new(bus.clone()), vec![]);
    // Wrong secret.
    let (status, _) = send(
        &state,
        signed_request("/zoom/webhook", "wrong", NOW, CREATED),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Timestamps older than RECTOKEN_WEBHOOK_MAX_AGE (2 h by default: Zoom
    // retries up to ~85 minutes late) or more than 5 minutes ahead.
    for ts in [NOW - 7201, NOW + 301, NOW - 86_400] {
        let (status, body) =
            send(&state, signed_request("/zoom/webhook", SECRET, ts, CREATED)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    // No headers at all, with a body that is not even JSON: verification
    // comes first, so this is 401, not 400.
    let req = Request::post("/zoom/webhook")
        .body(Body::from("not json"))
        .unwrap();
    let (status, _) = send(&state, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Signature header present, timestamp missing.
    let req = Request::post("/zoom/webhook")
        .header(
            "x-zm-signature",
            sign(SECRET.as_bytes(), "1", CREATED.as_bytes()),
        )
        .body(Body::from(CREATED))
        .unwrap();
    assert_eq!(send(&state, req).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(bus.queue_depth("rectoken.sync").await.unwrap(), 0);
}

#[tokio::test]
async fn signed_garbage_is_400() {
    let bus = bus();
    let state = state_with(Arc::new(bus.clone()), vec![]);
    for body in [
        "not json",
        "[]",
        "{}",
        r#"{"event":7}"#,
        r#"{"event":"has space"}"#,
        "\u{0}\u{1}",
    ] {
        let (status, answer) =
            send(&state, signed_request("/zoom/webhook", SECRET, NOW, body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}: {answer}");
        assert!(answer["error"].is_string());
    }
    let validation_without_token = r#"{"event":"endpoint.url_validation","payload":{}}"#;
    let (status, _) = send(
        &state,
        signed_request("/zoom/webhook", SECRET, NOW, validation_without_token),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bus.queue_depth("rectoken.sync").await.unwrap(), 0);
}

#[tokio::test]
async fn oversized_body_is_413() {
    let state = state_with(Arc::new(bus()), vec![]);
    let big = format!(
        r#"{{"event":"x","payload":{{"pad":"{}"}}}}"#,
        "a".repeat(256 * 1024)
    );
    let (status, _) = send(&state, signed_request("/zoom/webhook", SECRET, NOW, &big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Just under the limit is fine.
    let pad = 256 * 1024 - r#"{"event":"x","payload":{"pad":""}}"#.len();
    let fits = format!(
        r#"{{"event":"x","payload":{{"pad":"{}"}}}}"#,
        "a".repeat(pad)
    );
    assert_eq!(fits.len(), 256 * 1024);
    let (status, _) = send(&state, signed_request("/zoom/webhook", SECRET, NOW, &fits)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn broker_down_is_503() {
    let bus = bus();
    let state = state_with(Arc::new(bus.clone()), vec![]);
    bus.close().await;
    let (status, body) = send(
        &state,
        signed_request("/zoom/webhook", SECRET, NOW, CREATED),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        !body["error"].as_str().unwrap().contains("closed"),
        "no internals leak: {body}"
    );
}

#[tokio::test]
async fn named_apps_use_their_own_secret_and_route() {
    let bus = bus();
    let state = state_with(Arc::new(bus.clone()), vec![]);
    let (status, _) = send(
        &state,
        signed_request("/zoom/webhook/acme", "acme-secret", NOW, CREATED),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(
        &state,
        signed_request("/zoom/webhook/acme", SECRET, NOW, CREATED),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the default app's secret does not open acme"
    );
    let (status, _) = send(
        &state,
        signed_request("/zoom/webhook/nope", SECRET, NOW, CREATED),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut stream = bus.consume("rectoken.sync", 1).await.unwrap();
    let d = stream.next().await.unwrap();
    assert_eq!(
        d.headers.get("x-rectoken-app").map(String::as_str),
        Some("acme")
    );
}

struct Failing;

#[async_trait]
impl HealthCheck for Failing {
    fn name(&self) -> &str {
        "redis"
    }
    async fn check(&self) -> Result<(), String> {
        Err("connection refused".into())
    }
}

#[tokio::test]
async fn readiness_follows_dependencies() {
    let bus = bus();
    let state = state_with(Arc::new(bus.clone()), vec![]);
    let (status, body) = send(&state, Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let failing = state_with(Arc::new(bus.clone()), vec![Arc::new(Failing)]);
    let (status, body) = send(
        &failing,
        Request::get("/readyz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["checks"]["redis"], "connection refused");
    bus.close().await;
    let (status, body) = send(&state, Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["checks"]["rabbitmq"], "unreachable");
    let resp = router(state)
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "healthz stays 200 while the process runs"
    );
}

#[tokio::test]
async fn metrics_count_outcomes() {
    let state = state_with(Arc::new(bus()), vec![]);
    send(
        &state,
        signed_request("/zoom/webhook", SECRET, NOW, CREATED),
    )
    .await;
    send(
        &state,
        signed_request("/zoom/webhook", "wrong", NOW, CREATED),
    )
    .await;
    let resp = router(state)
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.contains("rectoken_webhook_requests_total{outcome=\"accepted\"}"),
        "{text}"
    );
    assert!(
        text.contains("rectoken_webhook_requests_total{outcome=\"unauthorized\"}"),
        "{text}"
    );
    assert!(
        text.contains("rectoken_webhook_publish_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn hostile_bodies_are_typed_errors_not_crashes() {
    let bus = bus();
    let state = state_with(Arc::new(bus.clone()), vec![]);
    // Deeply nested JSON (serde_json's recursion limit answers, no stack
    // overflow).
    let nested = format!(
        r#"{{"event":"x","payload":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let nested = nested[..nested.len().min(200 * 1024)].to_owned();
    let (status, _) = send(
        &state,
        signed_request("/zoom/webhook", SECRET, NOW, &nested),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Non-UTF-8 bytes, correctly signed.
    let raw: Vec<u8> = vec![0xff, 0xfe, b'{', 0x80, b'}'];
    let ts = NOW.to_string();
    let req = Request::post("/zoom/webhook")
        .header("x-zm-request-timestamp", &ts)
        .header("x-zm-signature", sign(SECRET.as_bytes(), &ts, &raw))
        .body(Body::from(raw))
        .unwrap();
    assert_eq!(send(&state, req).await.0, StatusCode::BAD_REQUEST);
    // A replayed webhook (same body, a timestamp past the window) is
    // refused; a fresh retry of the same body gets the same message ID
    // (deduplicable).
    let (status, _) = send(
        &state,
        signed_request("/zoom/webhook", SECRET, NOW - 7201, CREATED),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Header values with non-ASCII bytes (obs-text) are not signatures.
    let req = Request::post("/zoom/webhook")
        .header(
            "x-zm-request-timestamp",
            axum::http::HeaderValue::from_bytes(b"17\xff").unwrap(),
        )
        .header(
            "x-zm-signature",
            axum::http::HeaderValue::from_bytes(b"v0=\xfe\xff").unwrap(),
        )
        .body(Body::from(CREATED))
        .unwrap();
    assert_eq!(send(&state, req).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        bus.queue_depth("rectoken.sync").await.unwrap(),
        0,
        "nothing published"
    );
}
