//! The webhook sender: signs like Zoom, retries like Zoom (docs/zoom.md §2).
//!
//! Each fired event becomes one delivery per target URL, sent from a spawned
//! task so the call that fired it never waits. A delivery succeeds only on
//! HTTP 200 or 204 received within the timeout (Zoom: 3 s); otherwise it is
//! retried 3 more times, 5, 20 and 60 minutes after the previous attempt
//! (times the configured scale), then given up. Every attempt is recorded;
//! [`crate::Sim::wait_deliveries`] and the `watch` channel let tests wait for an outcome
//! without sleeping.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::wall_ms;
use crate::events::Event;
use crate::signing;

/// Delays before the 1st, 2nd and 3rd retry, each counted from the start of
/// the previous attempt, in seconds (Zoom: 5, 20, 60 minutes).
pub const RETRY_DELAYS_SECS: [u64; 3] = [5 * 60, 20 * 60, 60 * 60];
/// `user-agent` of Zoom's webhook requests.
pub const USER_AGENT: &str = "Zoom Marketplace/1.0a";

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Attempts remain.
    Pending,
    /// A 200/204 arrived in time.
    Delivered,
    /// All 4 attempts failed; Zoom sends nothing more.
    Failed,
    /// The simulator shut down before an outcome.
    Cancelled,
}

impl DeliveryState {
    /// Whether no more attempts will be made.
    #[must_use]
    pub fn is_final(self) -> bool {
        self != Self::Pending
    }
}

/// One HTTP attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 0 for the first attempt, 1..=3 for retries.
    pub number: u32,
    /// When it was sent, wall-clock Unix ms.
    pub sent_at_ms: u64,
    /// The `x-zm-request-timestamp` sent (Unix seconds).
    pub request_timestamp: u64,
    /// HTTP status received, if any.
    pub status: Option<u16>,
    /// Transport error or timeout, if any.
    pub error: Option<String>,
    /// Time to the response head, ms.
    pub elapsed_ms: u64,
    /// Whether this attempt counted as delivered.
    pub delivered: bool,
}

/// One event sent to one URL, with every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// Delivery ID (1-based, in firing order).
    pub id: u64,
    /// Event name.
    pub event: String,
    /// Target URL.
    pub url: String,
    /// The exact body sent (the signed bytes).
    pub body: String,
    /// Outcome so far.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: Vec<Attempt>,
}

/// What firing one event started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDispatch {
    /// Event name.
    pub event: String,
    /// The event's body, as sent.
    pub body: String,
    /// One delivery ID per target URL (empty when no target is set).
    pub deliveries: Vec<u64>,
}

/// Which `x-zm-request-timestamp` a retry carries. Zoom does not document
/// it (docs/zoom.md §2); receivers must cope with both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryTimestamps {
    /// Every attempt is stamped when it is sent.
    #[default]
    Fresh,
    /// Every attempt carries the timestamp of the event's first attempt
    /// (less [`WebhookSettings::delay_secs`]), in *simulated* time: attempt
    /// `n` is stamped `delay_secs` plus the unscaled retry delays before it
    /// (5, 25, 85 minutes) in the past, whatever `retry_scale` made the
    /// real wait. A receiver then sees a retry exactly as late as Zoom's.
    KeepFirst,
}

/// Runtime webhook settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookSettings {
    /// Target URLs.
    pub urls: Vec<String>,
    /// Factor on [`RETRY_DELAYS_SECS`].
    pub retry_scale: f64,
    /// Answer deadline per attempt, ms.
    pub timeout_ms: u64,
    /// Which timestamp retries carry.
    #[serde(default)]
    pub retry_timestamps: RetryTimestamps,
    /// With [`RetryTimestamps::KeepFirst`]: how long (simulated seconds)
    /// Zoom held the event before the first attempt (Zoom's blog "webhook
    /// delays" describes such delays); 0 by default.
    #[serde(default)]
    pub delay_secs: u64,
}

impl WebhookSettings {
    /// Settings with the given targets, scale and timeout, fresh
    /// timestamps and no delay.
    #[must_use]
    pub fn new(urls: Vec<String>, retry_scale: f64, timeout_ms: u64) -> Self {
        Self {
            urls,
            retry_scale,
            timeout_ms,
            retry_timestamps: RetryTimestamps::Fresh,
            delay_secs: 0,
        }
    }

    /// How many seconds in the past attempt `number` (0 = first) is
    /// stamped: 0 for fresh stamps, else the simulated time since the
    /// event.
    #[must_use]
    pub fn stamp_age_secs(&self, number: u32) -> u64 {
        match self.retry_timestamps {
            RetryTimestamps::Fresh => 0,
            RetryTimestamps::KeepFirst => {
                let n = usize::try_from(number).unwrap_or(usize::MAX);
                RETRY_DELAYS_SECS
                    .iter()
                    .take(n)
                    .fold(self.delay_secs, |acc, d| acc.saturating_add(*d))
            }
        }
    }
}

/// When a retry `secs × scale` after `from` is due; never panics on absurd
/// scales (negative or NaN mean 0, overflow means about ten years).
fn retry_at(from: Instant, secs: u64, scale: f64) -> Instant {
    const FAR: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
    #[allow(clippy::cast_precision_loss)]
    let delay = Duration::try_from_secs_f64(secs as f64 * scale.max(0.0))
        .unwrap_or(FAR)
        .min(FAR);
    from.checked_add(delay).unwrap_or(from)
}

/// Sends and records webhook deliveries.
pub(crate) struct WebhookHub {
    settings: Mutex<WebhookSettings>,
    secret: String,
    log: Mutex<Vec<DeliveryRecord>>,
    notify: watch::Sender<u64>,
    client: reqwest::Client,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl WebhookHub {
    pub(crate) fn new(secret: String, settings: WebhookSettings) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            settings: Mutex::new(settings),
            secret,
            log: Mutex::new(Vec::new()),
            notify: watch::Sender::new(0),
            client,
            tracker: TaskTracker::new(),
            cancel: CancellationToken::new(),
        }
    }

    pub(crate) fn settings(&self) -> WebhookSettings {
        lock(&self.settings).clone()
    }

    pub(crate) fn set_settings(&self, s: WebhookSettings) {
        *lock(&self.settings) = s;
    }

    /// Records one delivery per target and spawns their senders.
    pub(crate) fn dispatch(self: &Arc<Self>, event: &Event) -> EventDispatch {
        let body = event.to_body();
        let settings = self.settings();
        let mut ids = Vec::new();
        for url in &settings.urls {
            let id = {
                let mut log = lock(&self.log);
                let id = log.len() as u64 + 1;
                log.push(DeliveryRecord {
                    id,
                    event: event.event.clone(),
                    url: url.clone(),
                    body: body.clone(),
                    state: DeliveryState::Pending,
                    attempts: Vec::new(),
                });
                id
            };
            ids.push(id);
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    let hub = Arc::clone(self);
                    let url = url.clone();
                    let body = body.clone();
                    self.tracker
                        .spawn_on(hub.run(id, url, body, settings.clone()), &handle);
                }
                Err(_) => {
                    tracing::warn!(delivery = id, "no tokio runtime: webhook not sent");
                    self.finish(id, DeliveryState::Failed);
                }
            }
        }
        self.bump();
        EventDispatch {
            event: event.event.clone(),
            body,
            deliveries: ids,
        }
    }

    fn bump(&self) {
        self.notify.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn finish(&self, id: u64, state: DeliveryState) {
        if let Some(r) = lock(&self.log).iter_mut().find(|r| r.id == id) {
            r.state = state;
        }
        self.bump();
    }

    fn push_attempt(&self, id: u64, attempt: Attempt) {
        if let Some(r) = lock(&self.log).iter_mut().find(|r| r.id == id) {
            r.attempts.push(attempt);
        }
        self.bump();
    }

    async fn run(self: Arc<Self>, id: u64, url: String, body: String, settings: WebhookSettings) {
        let timeout = Duration::from_millis(settings.timeout_ms);
        let mut next = Instant::now();
        for number in 0..=3u32 {
            if number > 0 {
                let idx = usize::try_from(number - 1).unwrap_or(0);
                let secs = RETRY_DELAYS_SECS.get(idx).copied().unwrap_or(0);
                next = retry_at(next, secs, settings.retry_scale);
                tokio::select! {
                    () = tokio::time::sleep_until(next) => {}
                    () = self.cancel.cancelled() => {
                        self.finish(id, DeliveryState::Cancelled);
                        return;
                    }
                }
            }
            next = Instant::now();
            let attempt = tokio::select! {
                a = self.attempt(id, number, &url, &body, timeout, settings.stamp_age_secs(number)) => a,
                () = self.cancel.cancelled() => {
                    self.finish(id, DeliveryState::Cancelled);
                    return;
                }
            };
            let delivered = attempt.delivered;
            tracing::info!(
                delivery = id,
                attempt = number,
                status = attempt.status,
                delivered,
                "webhook attempt"
            );
            self.push_attempt(id, attempt);
            if delivered {
                self.finish(id, DeliveryState::Delivered);
                return;
            }
        }
        self.finish(id, DeliveryState::Failed);
    }

    async fn attempt(
        &self,
        id: u64,
        number: u32,
        url: &str,
        body: &str,
        timeout: Duration,
        stamp_age_secs: u64,
    ) -> Attempt {
        let sent_at_ms = wall_ms();
        let ts = (sent_at_ms / 1000).saturating_sub(stamp_age_secs);
        let signature = signing::signature(&self.secret, ts, body.as_bytes());
        let started = Instant::now();
        let result = self
            .client
            .post(url)
            .timeout(timeout)
            .header("content-type", "application/json")
            .header("user-agent", USER_AGENT)
            .header("x-zm-request-timestamp", ts.to_string())
            .header("x-zm-signature", signature)
            .header("x-zm-trackingid", format!("sim_{id}_{number}"))
            .body(body.to_owned())
            .send()
            .await;
        let elapsed = started.elapsed();
        let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(resp) => {
                let status = resp.status().as_u16();
                Attempt {
                    number,
                    sent_at_ms,
                    request_timestamp: ts,
                    status: Some(status),
                    error: None,
                    elapsed_ms,
                    delivered: matches!(status, 200 | 204) && elapsed <= timeout,
                }
            }
            Err(e) => Attempt {
                number,
                sent_at_ms,
                request_timestamp: ts,
                status: None,
                error: Some(if e.is_timeout() {
                    format!("no answer within {} ms", timeout.as_millis())
                } else {
                    // Without the URL: it may carry a secret in its query.
                    e.without_url().to_string()
                }),
                elapsed_ms,
                delivered: false,
            },
        }
    }

    pub(crate) fn records(&self) -> Vec<DeliveryRecord> {
        lock(&self.log).clone()
    }

    pub(crate) fn record(&self, id: u64) -> Option<DeliveryRecord> {
        lock(&self.log).iter().find(|r| r.id == id).cloned()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// Waits until every listed delivery is final; unknown IDs are skipped.
    pub(crate) async fn wait(&self, ids: &[u64]) -> Vec<DeliveryRecord> {
        let mut rx = self.notify.subscribe();
        loop {
            let records: Vec<_> = ids.iter().filter_map(|id| self.record(*id)).collect();
            if records.iter().all(|r| r.state.is_final()) {
                return records;
            }
            if rx.changed().await.is_err() {
                return records;
            }
        }
    }

    /// Cancels pending retries and waits for the senders to stop.
    pub(crate) async fn shutdown(&self) {
        // Idempotent: a second call finds the tracker closed and empty.
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_timestamps_age_like_zooms_retries() {
        let mut s = WebhookSettings::new(Vec::new(), 0.001, 3000);
        assert_eq!(
            (0..4).map(|n| s.stamp_age_secs(n)).collect::<Vec<_>>(),
            [0, 0, 0, 0]
        );
        s.retry_timestamps = RetryTimestamps::KeepFirst;
        assert_eq!(
            (0..4).map(|n| s.stamp_age_secs(n)).collect::<Vec<_>>(),
            [0, 300, 1500, 5100]
        );
        s.delay_secs = 300;
        assert_eq!(
            s.stamp_age_secs(3),
            90 * 60,
            "the last retry, 90 minutes late"
        );
    }

    #[test]
    fn retry_delays_scale_and_never_panic() {
        let t = Instant::now();
        assert_eq!(retry_at(t, 300, 0.001) - t, Duration::from_millis(300));
        assert_eq!(retry_at(t, 3600, 1.0) - t, Duration::from_secs(3600));
        assert_eq!(retry_at(t, 300, -1.0), t);
        assert_eq!(retry_at(t, 300, f64::NAN), t);
        assert!(retry_at(t, 300, 1e300) > t);
    }
}
