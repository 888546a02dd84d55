//! Account events in the binary: the webhook settings
//! (`RECTOKEN_EVENTS_WEBHOOK_URL`, `RECTOKEN_EVENTS_WEBHOOK_SECRET`), read
//! by `sync-worker` and `dev`, the roles that run the deliverer, and
//! starting the deliverer's consumer.

use std::sync::Arc;

use clap::Args;
use rectoken_bus::Bus;
use rectoken_domain::account_event::{parse_webhook_urls, webhook_key};
use rectoken_runtime::consumer::{self, ConsumerOptions};
use rectoken_runtime::webhook_delivery::{RETRY, WebhookDeliverer, shown};
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

/// Where account events are also POSTed (sync workers and `dev` deliver).
#[derive(Debug, Args)]
pub struct EventWebhookArgs {
    /// URL(s) account events are POSTed to, comma-separated; signed the
    /// Standard Webhooks way with --events-webhook-secret.
    #[arg(long = "events-webhook-url", env = "RECTOKEN_EVENTS_WEBHOOK_URL")]
    pub url: Option<String>,
    /// The `whsec_…` secret that signs account-event webhooks.
    #[arg(
        long = "events-webhook-secret",
        env = "RECTOKEN_EVENTS_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub secret: Option<SecretString>,
}

/// Messages the deliverer handles at once: POSTs in flight (each waits at
/// most 10 s for its receiver).
const DELIVERY_CONCURRENCY: usize = 8;

impl EventWebhookArgs {
    /// Whether webhooks are on (then the role declares their queue).
    pub fn enabled(&self) -> bool {
        self.url.as_deref().is_some_and(|u| !u.trim().is_empty())
    }

    /// The deliverer, when a URL is set; an error for a bad URL, a missing
    /// or bad secret, or a secret without a URL.
    pub fn deliverer(&self) -> anyhow::Result<Option<WebhookDeliverer>> {
        if !self.enabled() {
            if self.secret.is_some() {
                anyhow::bail!(
                    "RECTOKEN_EVENTS_WEBHOOK_SECRET is set but RECTOKEN_EVENTS_WEBHOOK_URL is not: \
                     set both, or neither"
                );
            }
            return Ok(None);
        }
        let urls = parse_webhook_urls(self.url.as_deref().unwrap_or_default())?;
        let Some(secret) = &self.secret else {
            anyhow::bail!(
                "RECTOKEN_EVENTS_WEBHOOK_URL is set but RECTOKEN_EVENTS_WEBHOOK_SECRET is not: \
                 account-event webhooks are always signed (a whsec_… secret, e.g. \
                 \"whsec_$(openssl rand -base64 32)\")"
            );
        };
        let key = webhook_key(secret.expose_secret())?;
        tracing::info!(
            urls = %urls.iter().map(shown).collect::<Vec<_>>().join(", "),
            "account events are delivered to webhooks"
        );
        Ok(Some(WebhookDeliverer::new(urls, key)?))
    }
}

/// Consume the webhook queue until `shutdown` (then drain).
pub async fn run_deliverer(
    bus: Arc<dyn Bus>,
    deliverer: WebhookDeliverer,
    shutdown: CancellationToken,
) {
    let options = ConsumerOptions {
        queue: bus.topology().account_events_webhooks_queue(),
        concurrency: DELIVERY_CONCURRENCY,
        retry: RETRY,
    };
    consumer::run(bus, Arc::new(deliverer), options, shutdown).await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn args(url: Option<&str>, secret: Option<&str>) -> EventWebhookArgs {
        EventWebhookArgs {
            url: url.map(str::to_owned),
            secret: secret.map(|s| SecretString::from(s.to_owned())),
        }
    }

    #[test]
    fn both_or_neither() {
        const S: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        assert!(args(None, None).deliverer().unwrap().is_none());
        assert!(!args(Some(" "), None).enabled());
        assert!(
            args(Some("https://h.example/x"), Some(S))
                .deliverer()
                .unwrap()
                .is_some()
        );
        let e = args(Some("https://h.example/x"), None)
            .deliverer()
            .unwrap_err();
        assert!(
            e.to_string().contains("RECTOKEN_EVENTS_WEBHOOK_SECRET"),
            "{e}"
        );
        let e = args(None, Some(S)).deliverer().unwrap_err();
        assert!(
            e.to_string().contains("RECTOKEN_EVENTS_WEBHOOK_URL is not"),
            "{e}"
        );
        assert!(args(Some("ftp://h"), Some(S)).deliverer().is_err());
        let e = args(Some("https://h.example/x"), Some("whsec_short"))
            .deliverer()
            .unwrap_err();
        assert!(!e.to_string().contains("short\""), "{e}");
    }
}
