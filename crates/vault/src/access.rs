//! Calling Zoom for an account the way every worker must: inside the
//! account's shared rate budget, honouring `Retry-After` for all workers,
//! refreshing once on 401, and retrying transient failures while the
//! caller's deadline allows.

use std::future::Future;
use std::time::Duration;

use rectoken_store::{Admission, RateLimit, StoreError};
use rectoken_zoom::ZoomClient;
use rectoken_zoom::{ApiError, RateLabel};
use secrecy::SecretString;
use tokio::time::Instant;

use crate::provider::{Vault, VaultError};
use rectoken_domain::clock::now_ms;

/// A Zoom plan's per-second limits (docs/zoom.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Pro: Light 30/s, Medium 20/s, Heavy 10/s.
    Pro,
    /// Business, Education, Enterprise, Partners: Light 80/s, Medium 60/s,
    /// Heavy 40/s.
    BusinessPlus,
}

impl std::str::FromStr for Plan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pro" => Ok(Plan::Pro),
            "business" | "business+" | "businessplus" | "business-plus" | "enterprise" => {
                Ok(Plan::BusinessPlus)
            }
            other => Err(format!(
                "unknown Zoom plan {other:?}: expected pro or business"
            )),
        }
    }
}

/// The limits rectoken keeps to, per account and label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZoomLimits {
    /// Light endpoints.
    pub light: RateLimit,
    /// Medium endpoints.
    pub medium: RateLimit,
    /// Heavy endpoints.
    pub heavy: RateLimit,
}

impl ZoomLimits {
    /// Limits for `plan` at `fraction` of Zoom's numbers.
    ///
    /// GCRA admits `burst` at once and then `per_second`, so any one-second
    /// window can see up to `burst + per_second` requests; keeping that sum
    /// at `fraction` of Zoom's limit means the customer's other apps and
    /// clock jitter still fit under Zoom's limit.
    pub fn for_plan(plan: Plan, fraction: f64) -> Self {
        let (light, medium, heavy) = match plan {
            Plan::Pro => (30.0, 20.0, 10.0),
            Plan::BusinessPlus => (80.0, 60.0, 40.0),
        };
        let fraction = fraction.clamp(0.05, 1.0);
        let limit = |zoom: f64| {
            let total = zoom * fraction;
            // A burst of 5% (at least one request) buys latency on idle
            // accounts without costing sustained throughput.
            let burst = (total * 0.05).floor().max(1.0);
            RateLimit {
                per_second: (total - burst).max(1.0),
                burst: burst as u32,
            }
        };
        Self {
            light: limit(light),
            medium: limit(medium),
            heavy: limit(heavy),
        }
    }

    /// The limit of one label.
    pub fn of(&self, label: RateLabel) -> RateLimit {
        match label {
            RateLabel::Light => self.light,
            RateLabel::Medium => self.medium,
            RateLabel::Heavy => self.heavy,
        }
    }
}

/// The share of Zoom's limits rectoken uses unless told otherwise
/// (`RECTOKEN_ZOOM_RATE_FRACTION`).
///
/// Why 90 % and not more: the limiter counts a call when Redis admits it,
/// Zoom when it arrives, and the time between varies with the machine's
/// load. At 95 % (76 calls in any second of 80) the top-of-the-hour bench
/// on the clusters, with the CPU saturated, met one or two 429s per run
/// for an account held at its limit; at 90 % (72) none (README,
/// Benchmarks). The headroom is also what the customer's other apps use.
pub const DEFAULT_RATE_FRACTION: f64 = 0.9;

impl Default for ZoomLimits {
    /// Business+ at [`DEFAULT_RATE_FRACTION`].
    fn default() -> Self {
        Self::for_plan(Plan::BusinessPlus, DEFAULT_RATE_FRACTION)
    }
}

/// Why a call for an account failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No usable access token.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// Zoom's (or our) rate limit would not let the call through before the
    /// deadline.
    #[error("rate limited by Zoom for this account")]
    RateLimited,
    /// Zoom answered with an error, after any retries.
    #[error(transparent)]
    Zoom(ApiError),
    /// The store (limiter) failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Delay before the first retry of a 5xx or transport failure.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// Longest delay between retries.
const MAX_RETRY: Duration = Duration::from_secs(2);
/// `Retry-After` assumed when a 429 carries none.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Zoom calls on behalf of accounts.
#[derive(Clone)]
pub struct ZoomAccess {
    vault: Vault,
    limits: ZoomLimits,
}

impl ZoomAccess {
    /// Calls through `vault` within `limits`.
    pub fn new(vault: Vault, limits: ZoomLimits) -> Self {
        Self { vault, limits }
    }

    /// The vault.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Wait for the account's budget for `label`; `false` if it would take
    /// past `deadline`.
    async fn admit(
        &self,
        account_id: &str,
        label: RateLabel,
        deadline: Instant,
    ) -> Result<bool, CallError> {
        loop {
            match self
                .vault
                .store()
                .admit(account_id, label.as_str(), self.limits.of(label))
                .await?
            {
                Admission::Allowed => return Ok(true),
                Admission::Wait(d) => {
                    if d > deadline.saturating_duration_since(Instant::now()) {
                        return Ok(false);
                    }
                    tokio::time::sleep(d).await;
                }
            }
        }
    }

    /// Run `call` with the account's access token and its app's Zoom client
    /// (the account's own credentials and cloud), under its rate budget,
    /// until it succeeds, fails for good, or `deadline` passes.
    pub async fn call<T, F, Fut>(
        &self,
        account_id: &str,
        label: RateLabel,
        deadline: Instant,
        call: F,
    ) -> Result<T, CallError>
    where
        F: Fn(SecretString, ZoomClient) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        // The token and the first admission are independent Redis round
        // trips: one wait instead of two on the join path.
        let (access, first_admission) = tokio::join!(
            self.vault.access(account_id),
            self.admit(account_id, label, deadline)
        );
        let (mut token, zoom) = access?;
        let mut first_admission = Some(first_admission?);
        let mut refreshed = false;
        let mut retry_delay = FIRST_RETRY;
        loop {
            let admitted = match first_admission.take() {
                Some(admitted) => admitted,
                None => self.admit(account_id, label, deadline).await?,
            };
            if !admitted {
                return Err(CallError::RateLimited);
            }
            metrics::counter!("rectoken_zoom_account_calls_total", "account" => account_id.to_owned(), "label" => label.as_str())
                .increment(1);
            match call(token.clone(), zoom.clone()).await {
                Ok(v) => return Ok(v),
                Err(ApiError::Unauthorized { .. }) if !refreshed => {
                    refreshed = true;
                    token = self.vault.after_unauthorized(account_id, &token).await?;
                }
                Err(ApiError::RateLimited { retry_after, .. }) => {
                    let wait = retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
                    let until = now_ms()
                        .saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
                    // Every worker of this account now waits, not just us.
                    self.vault.store().block_account(account_id, until).await?;
                    metrics::counter!("rectoken_zoom_429_total", "account" => account_id.to_owned()).increment(1);
                    if wait > deadline.saturating_duration_since(Instant::now()) {
                        return Err(CallError::RateLimited);
                    }
                }
                Err(e) if e.is_retryable() => {
                    if retry_delay > deadline.saturating_duration_since(Instant::now()) {
                        return Err(CallError::Zoom(e));
                    }
                    tokio::time::sleep(retry_delay).await;
                    retry_delay = (retry_delay * 2).min(MAX_RETRY);
                }
                Err(e) => return Err(CallError::Zoom(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_stay_under_zoom_within_any_second() {
        for (plan, zoom) in [
            (Plan::Pro, [30.0, 20.0, 10.0]),
            (Plan::BusinessPlus, [80.0, 60.0, 40.0]),
        ] {
            let l = ZoomLimits::for_plan(plan, 0.95);
            for (limit, zoom) in [l.light, l.medium, l.heavy].into_iter().zip(zoom) {
                let window = limit.per_second + f64::from(limit.burst);
                assert!(
                    window <= zoom * 0.95 + 1e-9,
                    "{plan:?}: {limit:?} vs {zoom}"
                );
                assert!(
                    window >= zoom * 0.9,
                    "{plan:?}: not wasting budget: {limit:?}"
                );
                assert!(limit.burst >= 1);
            }
        }
    }

    #[test]
    fn plan_names() {
        assert_eq!("pro".parse::<Plan>(), Ok(Plan::Pro));
        assert_eq!("Business".parse::<Plan>(), Ok(Plan::BusinessPlus));
        assert!("free".parse::<Plan>().is_err());
    }
}
