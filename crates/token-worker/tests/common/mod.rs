//! Helpers of the token worker's end-to-end tests: a harness under a
//! unique prefix, workers on their own broker connections, and requests
//! over direct reply-to.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rectoken_bus::{Bus, BusError, OutgoingMessage};
use rectoken_domain::join::JoinReply;
use rectoken_tests::harness::{ConnectedAccount, Harness};
use rectoken_token::{TokenOptions, run};
use rectoken_vault::ZoomLimits;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use zoom_sim::SimConfig;

/// How long a test waits for a reply that should come.
pub const REPLY_WAIT: Duration = Duration::from_secs(20);

pub struct Env {
    pub h: Harness,
    pub client: Arc<dyn Bus>,
    pub shutdown: CancellationToken,
    workers: Mutex<Vec<JoinHandle<()>>>,
    buses: Mutex<Vec<Arc<dyn Bus>>>,
    seq: std::sync::atomic::AtomicU64,
}

impl Env {
    pub async fn new(name: &str) -> Env {
        Self::with_sim(name, |_| {}).await
    }

    pub async fn with_sim(name: &str, sim: impl FnOnce(&mut SimConfig)) -> Env {
        rectoken_tests::init_test_tracing();
        let prefix = rectoken_tests::unique_prefix(name);
        let h = Harness::start(
            &rectoken_tests::amqp_url(),
            &rectoken_tests::redis_url(),
            &prefix,
            sim,
            ZoomLimits::default(),
        )
        .await
        .expect("harness");
        let client = h.bus("test-client").await.expect("client bus");
        Env {
            h,
            client,
            shutdown: CancellationToken::new(),
            workers: Mutex::new(Vec::new()),
            buses: Mutex::new(Vec::new()),
            seq: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A connected account with `meetings` meetings, all mapped.
    pub async fn mapped_account(&self, meetings: usize) -> ConnectedAccount {
        let a = self
            .h
            .connect_account(meetings, None)
            .await
            .expect("connect");
        self.h.map_all(&a).await.expect("map");
        a
    }

    /// Starts a worker on its own connection; the handle aborts it (a
    /// crash without drain).
    pub async fn start_worker(&self, options: TokenOptions) -> tokio::task::AbortHandle {
        let n = self.buses.lock().unwrap().len();
        let bus = self
            .h
            .bus(&format!("test-worker-{n}"))
            .await
            .expect("worker bus");
        self.buses.lock().unwrap().push(bus.clone());
        let task = tokio::spawn(run(self.h.deps(bus), options, self.shutdown.clone()));
        let abort = task.abort_handle();
        self.workers.lock().unwrap().push(task);
        abort
    }

    pub async fn worker(&self) {
        self.start_worker(TokenOptions::default()).await;
    }

    fn next_id(&self) -> String {
        let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}req-{n}", self.h.prefix)
    }

    /// Sends `body` to the join queue and waits for the reply's bytes.
    pub async fn request_raw(
        &self,
        body: impl Into<String>,
        wait: Duration,
    ) -> Result<Vec<u8>, BusError> {
        let msg = OutgoingMessage::json(
            "",
            self.h.topology.join_queue(),
            body.into(),
            self.next_id(),
        );
        self.client.request(msg, wait).await.map(|b| b.to_vec())
    }

    /// Sends a JSON request and decodes the reply, also returned as JSON.
    pub async fn request(&self, body: Value) -> (JoinReply, Value) {
        let bytes = self
            .request_raw(body.to_string(), REPLY_WAIT)
            .await
            .expect("a reply");
        let json: Value = serde_json::from_slice(&bytes).expect("reply is JSON");
        let reply: JoinReply = serde_json::from_slice(&bytes).expect("reply keeps the contract");
        (reply, json)
    }

    pub async fn finish(self) {
        self.shutdown.cancel();
        let workers = std::mem::take(&mut *self.workers.lock().unwrap());
        for w in workers {
            let _ = w.await;
        }
        let buses = std::mem::take(&mut *self.buses.lock().unwrap());
        for b in buses {
            b.close().await;
        }
        self.client.close().await;
        self.h.delete_queues().await;
    }
}

/// RFC 3339 of now + `secs` (negative for the past).
pub fn deadline_in(secs: f64) -> String {
    (OffsetDateTime::now_utc() + time::Duration::seconds_f64(secs))
        .format(&Rfc3339)
        .expect("format")
}
