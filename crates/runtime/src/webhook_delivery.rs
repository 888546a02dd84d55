//! Delivering account events to the operator's webhook URLs
//! (`RECTOKEN_EVENTS_WEBHOOK_URL`), signed the Standard Webhooks way with
//! `RECTOKEN_EVENTS_WEBHOOK_SECRET`.
//!
//! [`WebhookDeliverer`] is a consumer [`Handler`] of
//! `rectoken.account-events.webhooks` (bound to `rectoken.account-events`
//! with `#`), run by the sync-worker role and by `rectoken dev`: its own
//! queue and consumer, so a receiver that is down never holds up a sync or
//! a join. One step POSTs the event's body, unchanged, to every URL not yet
//! reached; any 2xx is success. Otherwise the consumer loop retries with
//! backoff ([`RETRY`]), hands the message back to the queue between rounds
//! and, after the queue's delivery limit, dead-letters it to
//! `rectoken.account-events.webhooks.dlq` with the last status in
//! `x-rectoken-reason`. At least once: a redelivered event carries the same
//! `webhook-id` (the event's `id`), a fresh `webhook-timestamp` and its
//! signature, so receivers deduplicate on `webhook-id`.
//!
//! URLs may carry credentials (a token in the path or query), so logs and
//! reasons name only scheme, host and port.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use rectoken_bus::Delivery;
use rectoken_domain::account_event::{peek_id, signed_headers};
use rectoken_domain::clock::now_secs;
use secrecy::{ExposeSecret, SecretSlice};
use url::Url;

use crate::consumer::{Handler, Outcome, RetryPolicy};

/// Metric: webhook POSTs by `outcome` (`ok`, `failed`).
pub const METRIC_DELIVERIES: &str = "rectoken_account_event_webhooks_total";

/// How long one POST may take.
pub const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// Retries of one delivery: 8 attempts over about 4 minutes; with the
/// queue's delivery limit (10), about 40 minutes before the DLQ.
pub const RETRY: RetryPolicy = RetryPolicy {
    attempts: 8,
    min_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(120),
};

/// The webhook deliverer (module docs).
pub struct WebhookDeliverer {
    urls: Vec<Url>,
    key: SecretSlice<u8>,
    client: reqwest::Client,
    /// (event id, URL index) already answered 2xx by this process, so a
    /// retry of a partly delivered event skips the URLs it reached. Only an
    /// optimisation: a redelivery elsewhere sends again, with the same
    /// `webhook-id`.
    reached: Mutex<HashSet<(String, usize)>>,
}

impl std::fmt::Debug for WebhookDeliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookDeliverer")
            .field("urls", &self.urls.iter().map(shown).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A URL as logs may show it: scheme, host and port.
pub fn shown(url: &Url) -> String {
    match url.port() {
        Some(p) => format!("{}://{}:{p}", url.scheme(), url.host_str().unwrap_or("")),
        None => format!("{}://{}", url.scheme(), url.host_str().unwrap_or("")),
    }
}

/// Why a deliverer could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the webhook HTTP client: {0}")]
pub struct DelivererError(String);

impl WebhookDeliverer {
    /// POST to `urls`, signing with `key` (the decoded `whsec_` secret).
    pub fn new(urls: Vec<Url>, key: Vec<u8>) -> Result<Self, DelivererError> {
        let client = reqwest::Client::builder()
            .timeout(POST_TIMEOUT)
            .user_agent(concat!("rectoken/", env!("CARGO_PKG_VERSION")))
            // A webhook answers; it does not send us elsewhere (a redirect
            // would replay the signed body to a third party).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| DelivererError(e.to_string()))?;
        Ok(Self {
            urls,
            key: SecretSlice::from(key),
            client,
            reached: Mutex::new(HashSet::new()),
        })
    }

    fn reached(&self) -> std::sync::MutexGuard<'_, HashSet<(String, usize)>> {
        self.reached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// POST once; `Err` names the URL (shown) and what went wrong.
    async fn post(&self, url: &Url, event_id: &str, body: &[u8]) -> Result<(), String> {
        let headers = signed_headers(self.key.expose_secret(), event_id, now_secs(), body);
        let mut request = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("{}: HTTP {}", shown(url), r.status().as_u16())),
            // reqwest's error text may include the full URL: leave it out.
            Err(e) => Err(format!(
                "{}: {}",
                shown(url),
                if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                }
            )),
        }
    }
}

#[async_trait]
impl Handler for WebhookDeliverer {
    fn name(&self) -> &'static str {
        "event_webhooks"
    }

    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let Some(id) = peek_id(&delivery.body) else {
            return Outcome::Poison("not an account event (no id)".into());
        };
        let mut failures = Vec::new();
        for (i, url) in self.urls.iter().enumerate() {
            if self.reached().contains(&(id.clone(), i)) {
                continue;
            }
            match self.post(url, &id, &delivery.body).await {
                Ok(()) => {
                    metrics::counter!(METRIC_DELIVERIES, "outcome" => "ok").increment(1);
                    self.reached().insert((id.clone(), i));
                }
                Err(e) => {
                    metrics::counter!(METRIC_DELIVERIES, "outcome" => "failed").increment(1);
                    failures.push(e);
                }
            }
        }
        if failures.is_empty() {
            self.reached().retain(|(e, _)| *e != id);
            tracing::debug!(event_id = %id, "account event delivered to every webhook");
            Outcome::Done
        } else {
            let reason = failures.join("; ");
            tracing::warn!(event_id = %id, reason = %reason, "account event webhook failed");
            // Bound the memo: a message that ends in the DLQ never reaches
            // the cleanup above.
            if self.reached().len() > 10_000 {
                self.reached().clear();
            }
            Outcome::Retry(reason)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use axum::Router;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use rectoken_domain::account_event::webhook_key;
    use rectoken_domain::callback_auth::{StandardHeaders, verify_standard};
    use tokio::sync::mpsc;

    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// A receiver on 127.0.0.1:0 that answers `status` and sends each
    /// request's (verified?, webhook-id, body) to the channel.
    async fn receiver(
        status: StatusCode,
    ) -> (Url, mpsc::UnboundedReceiver<(bool, String, String)>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let key = webhook_key(SECRET).unwrap();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: String| {
                let (tx, key) = (tx.clone(), key.clone());
                async move {
                    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
                    let std = StandardHeaders {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp"),
                        signature: h("webhook-signature"),
                    };
                    let ok = verify_standard(&key, std, body.as_bytes(), now_secs()).is_ok();
                    let _ = tx.send((ok, h("webhook-id").unwrap_or("").to_owned(), body));
                    status
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (
            Url::parse(&format!("http://{addr}/hook?token=s3cret")).unwrap(),
            rx,
        )
    }

    /// A delivery of `body` from an in-process bus.
    async fn delivery(body: &str) -> Delivery {
        use futures_util::StreamExt;
        use rectoken_bus::{Bus, OutgoingMessage, Topology};
        let bus = rectoken_bus::memory::MemoryBus::new(Topology::new("t."));
        let q = bus.topology().sync_queue();
        bus.publish(OutgoingMessage::json("", q.clone(), body.to_owned(), "m"))
            .await
            .unwrap();
        bus.consume(&q, 1).await.unwrap().next().await.unwrap()
    }

    #[tokio::test]
    async fn posts_signed_to_every_url_and_skips_reached_ones_on_retry() {
        let (good, mut good_rx) = receiver(StatusCode::NO_CONTENT).await;
        let (bad, mut bad_rx) = receiver(StatusCode::SERVICE_UNAVAILABLE).await;
        let d = WebhookDeliverer::new(vec![good, bad], webhook_key(SECRET).unwrap()).unwrap();
        let body = r#"{"id":"evt_1","type":"account.connected"}"#;
        let outcome = d.handle(&delivery(body).await).await;
        let Outcome::Retry(reason) = outcome else {
            panic!("expected a retry, got {outcome:?}");
        };
        assert!(reason.contains("HTTP 503"), "{reason}");
        assert!(
            !reason.contains("s3cret"),
            "the URL's query leaked: {reason}"
        );
        assert_eq!(
            good_rx.recv().await.unwrap(),
            (true, "evt_1".to_owned(), body.to_owned())
        );
        assert_eq!(
            bad_rx.recv().await.unwrap(),
            (true, "evt_1".to_owned(), body.to_owned())
        );
        // The retry goes to the failing URL only, same webhook-id.
        let _ = d.handle(&delivery(body).await).await;
        assert_eq!(bad_rx.recv().await.unwrap().1, "evt_1");
        assert!(good_rx.try_recv().is_err(), "the reached URL got it twice");
    }

    #[tokio::test]
    async fn all_2xx_is_done_and_a_body_without_id_is_poison() {
        let (good, mut rx) = receiver(StatusCode::OK).await;
        let d = WebhookDeliverer::new(vec![good], webhook_key(SECRET).unwrap()).unwrap();
        assert_eq!(
            d.handle(&delivery(r#"{"id":"evt_2"}"#).await).await,
            Outcome::Done
        );
        assert!(rx.recv().await.unwrap().0, "signature verifies");
        assert!(matches!(
            d.handle(&delivery("not json").await).await,
            Outcome::Poison(_)
        ));
        assert!(rx.try_recv().is_err(), "nothing POSTed for poison");
    }

    #[tokio::test]
    async fn a_receiver_that_is_down_is_a_retry_naming_only_its_host() {
        // A port nothing listens on: bind, note, drop.
        let addr = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap()
        };
        let url = Url::parse(&format!("http://{addr}/p/secret-path")).unwrap();
        let d = WebhookDeliverer::new(vec![url], webhook_key(SECRET).unwrap()).unwrap();
        let outcome = d.handle(&delivery(r#"{"id":"evt_3"}"#).await).await;
        let Outcome::Retry(reason) = outcome else {
            panic!("expected a retry, got {outcome:?}");
        };
        assert!(reason.contains(&addr.to_string()), "{reason}");
        assert!(!reason.contains("secret-path"), "{reason}");
        let _ = Arc::new(d);
    }
}
