//! Shared helpers: spawn a simulator, run the OAuth dance, call the API, and
//! a scripted webhook receiver.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use reqwest::header::LOCATION;
use serde_json::Value;
use tokio::sync::Notify;
use zoom_sim::{Sim, SimConfig};

pub const CLIENT_ID: &str = "sim-client";
pub const CLIENT_SECRET: &str = "sim-client-secret";
pub const WEBHOOK_SECRET: &str = "sim-webhook-secret";
pub const REDIRECT: &str = "http://127.0.0.1:1/zoom/oauth/callback";

/// A test simulator granting every scope rectoken can use (the default is
/// only the README's required list: see
/// `the_default_grant_is_the_readme_list_and_scopes_are_checked_everywhere`).
pub fn config() -> SimConfig {
    let mut cfg = SimConfig::for_tests(CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET);
    cfg.scopes = Some(zoom_sim::AppKind::Account.all_scopes().join(" "));
    cfg
}

pub struct Env {
    pub sim: Sim,
    pub base: String,
    pub http: reqwest::Client,
}

impl Env {
    pub async fn start(cfg: SimConfig) -> Self {
        let (sim, addr) = Sim::spawn(cfg).await.unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            sim,
            base: format!("http://{addr}"),
            http,
        }
    }

    /// A simulator with the demo account seeded.
    pub async fn demo() -> Self {
        Self::demo_with(config()).await
    }

    pub async fn demo_with(mut cfg: SimConfig) -> Self {
        cfg.seed_demo = true;
        Self::start(cfg).await
    }

    /// `GET /oauth/authorize` → the `Location` query pairs.
    pub async fn authorize(&self, redirect: &str, state: &str) -> HashMap<String, String> {
        let resp = self
            .http
            .get(format!("{}/oauth/authorize", self.base))
            .query(&[
                ("response_type", "code"),
                ("client_id", CLIENT_ID),
                ("redirect_uri", redirect),
                ("state", state),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FOUND);
        let location = resp.headers()[LOCATION].to_str().unwrap().to_owned();
        assert!(location.starts_with(redirect), "{location}");
        url::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    pub async fn token_request(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    pub async fn exchange(&self, code: &str, redirect: &str) -> (StatusCode, Value) {
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
        ])
        .await
    }

    /// The whole connect flow; returns the token response.
    pub async fn connect(&self) -> Value {
        let q = self.authorize(REDIRECT, "st").await;
        let (status, body) = self.exchange(&q["code"], REDIRECT).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// The access token of a fresh connection.
    pub async fn access_token(&self) -> String {
        self.connect().await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn get_full(&self, token: &str, path: &str) -> (StatusCode, HeaderMap, Value) {
        let resp = self
            .http
            .get(format!("{}/v2{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, body)
    }

    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let (s, _, b) = self.get_full(token, path).await;
        (s, b)
    }

    pub async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/_sim{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone)]
struct ReceiverState {
    got: Arc<Mutex<Vec<Received>>>,
    notify: Arc<Notify>,
    /// (status, delay) per attempt; the last entry repeats.
    script: Arc<Vec<(u16, u64)>>,
}

/// A webhook receiver answering from a script.
pub struct Receiver {
    pub url: String,
    state: ReceiverState,
}

impl Receiver {
    pub async fn start(script: Vec<(u16, u64)>) -> Self {
        let state = ReceiverState {
            got: Arc::default(),
            notify: Arc::default(),
            script: Arc::new(script),
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, state }
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.got.lock().unwrap().clone()
    }

    /// Waits (signal-driven) until `n` requests arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let notified = self.state.notify.notified();
                let got = self.received();
                if got.len() >= n {
                    return got;
                }
                notified.await;
            }
        })
        .await
        .expect("receiver waited too long")
    }
}

async fn receive(State(st): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = {
        let mut got = st.got.lock().unwrap();
        got.push(Received { headers, body });
        got.len()
    };
    st.notify.notify_waiters();
    let (status, delay) = st.script[(n - 1).min(st.script.len() - 1)];
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    StatusCode::from_u16(status).unwrap()
}

/// Recomputes Zoom's signature independently of the simulator's code.
pub fn expected_signature(secret: &str, ts: &str, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(b"v0:");
    mac.update(ts.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn json_body(r: &Received) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}
