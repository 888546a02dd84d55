//! Metrics and logs: what is recorded, and that no secret is ever logged.
//!
//! Both capture with thread-local defaults (`metrics::set_default_local_recorder`,
//! `tracing::subscriber::set_default`), which hold because `#[tokio::test]`
//! runs the client, and the simulator it talks to, on the test's thread.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use rectoken_domain::join::TokenKind;
use rectoken_zoom::{ApiError, UserTokenKind};
use secrecy::ExposeSecret;
use zoom_sim::generate::demo_meeting_id;

use crate::common::{CLIENT_SECRET, Env, REDIRECT, mid};

/// `name{label=value,…}` → count (counters: the sum; histograms: samples).
#[derive(Default, Clone)]
struct Captured(Arc<Mutex<BTreeMap<String, u64>>>);

struct Handle {
    key: String,
    into: Captured,
}

impl Captured {
    fn bump(&self, key: &str, by: u64) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key.to_owned())
            .or_default() += by;
    }

    fn get(&self, key: &str) -> u64 {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    fn handle(&self, key: &Key) -> Arc<Handle> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        Arc::new(Handle {
            key: format!("{}{{{}}}", key.name(), labels.join(",")),
            into: self.clone(),
        })
    }
}

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        self.into.bump(&self.key, value);
    }
    fn absolute(&self, _: u64) {}
}

impl HistogramFn for Handle {
    fn record(&self, value: f64) {
        assert!((0.0..60.0).contains(&value), "latency in seconds: {value}");
        self.into.bump(&self.key, 1);
    }
}

impl Recorder for Captured {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(key))
    }
}

#[tokio::test]
async fn every_request_is_counted_and_timed() {
    let captured = Captured::default();
    let _guard = metrics::set_default_local_recorder(&captured);
    let env = Env::demo().await;
    let tokens = env.connect().await;
    env.zoom.me(&tokens.access_token).await.unwrap();
    env.zoom.me(&tokens.access_token).await.unwrap();
    let e = env
        .zoom
        .get_meeting(&tokens.access_token, mid(99_999_999_999))
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::NotFound { .. }));
    env.zoom.refresh(&tokens.refresh_token).await.unwrap();
    env.zoom.refresh(&tokens.refresh_token).await.unwrap_err();

    let want = [
        (
            "rectoken_zoom_requests_total{endpoint=oauth_code,outcome=ok}",
            1,
        ),
        (
            "rectoken_zoom_request_seconds{endpoint=oauth_code,status=200}",
            1,
        ),
        (
            "rectoken_zoom_requests_total{endpoint=get_user,outcome=ok}",
            2,
        ),
        (
            "rectoken_zoom_request_seconds{endpoint=get_user,status=200}",
            2,
        ),
        (
            "rectoken_zoom_requests_total{endpoint=get_meeting,outcome=not_found}",
            1,
        ),
        (
            "rectoken_zoom_request_seconds{endpoint=get_meeting,status=404}",
            1,
        ),
        (
            "rectoken_zoom_requests_total{endpoint=oauth_refresh,outcome=ok}",
            1,
        ),
        (
            "rectoken_zoom_requests_total{endpoint=oauth_refresh,outcome=invalid_grant}",
            1,
        ),
        (
            "rectoken_zoom_request_seconds{endpoint=oauth_refresh,status=400}",
            1,
        ),
    ];
    for (key, n) in want {
        assert_eq!(captured.get(key), n, "{key}");
    }
}

/// A `MakeWriter` appending every log line to one buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}

#[tokio::test]
async fn logs_hold_templates_never_secrets() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("rectoken_zoom=trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // With exactly one dispatcher alive, tracing-core computes a callsite's
    // interest from the default of whichever thread registers it first, and
    // tests on other threads (no subscriber there) register the client's
    // callsites too: they would cache "never" and this test would see no
    // logs. A second live dispatcher makes tracing-core ask every live
    // dispatcher instead (ours says "always", so the callsite becomes
    // "sometimes" and each event asks its own thread's default).
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = Env::demo().await;
    let code = env.authorize().await;
    let tokens = env.zoom.exchange_code(&code, REDIRECT).await.unwrap();
    let meeting = mid(demo_meeting_id(0, 1));
    let join = env
        .zoom
        .join_token(
            &tokens.access_token,
            meeting,
            TokenKind::LocalRecording,
            true,
        )
        .await
        .unwrap();
    let obf = env
        .zoom
        .user_token(
            &tokens.access_token,
            "demo-bob",
            UserTokenKind::OnBehalf,
            Some(meeting),
        )
        .await
        .unwrap();
    let fresh = env.zoom.refresh(&tokens.refresh_token).await.unwrap();
    env.zoom.refresh(&tokens.refresh_token).await.unwrap_err();

    let logs = buffer.text();
    for line in [
        "method=\"POST\" path=\"/oauth/token\" status=200",
        "method=\"GET\" path=\"/meetings/{meetingId}/jointoken/{kind}\" status=200",
        "method=\"GET\" path=\"/users/{userId}/token\" status=200",
        "path=\"/oauth/token\" status=400",
    ] {
        assert!(logs.contains(line), "missing {line:?} in:\n{logs}");
    }
    assert!(logs.contains("latency_ms="), "{logs}");
    for secret in [
        code.as_str(),
        CLIENT_SECRET,
        tokens.access_token.expose_secret(),
        tokens.refresh_token.expose_secret(),
        fresh.access_token.expose_secret(),
        fresh.refresh_token.expose_secret(),
        join.token.expose_secret(),
        obf.expose_secret(),
        "Bearer",
        "Basic",
        "authorization",
        "85000000101",
        "demo-bob",
    ] {
        assert!(!logs.contains(secret), "{secret:?} logged:\n{logs}");
    }
}
