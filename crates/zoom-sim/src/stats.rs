//! Request counters, readable through [`crate::Sim::stats`] and `GET /_sim/stats`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counters since start or the last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests to `/oauth/*` and `/v2/*`.
    pub requests: u64,
    /// Requests per endpoint name (see [`crate::Endpoint::as_str`]).
    pub by_endpoint: BTreeMap<String, u64>,
    /// Authenticated `/v2` requests per account ID.
    pub by_account: BTreeMap<String, u64>,
    /// Responses per HTTP status.
    pub by_status: BTreeMap<u16, u64>,
    /// 429s served in total (rate limiter plus injected).
    pub served_429: u64,
    /// 429s from the rate limiter.
    pub rate_limited: u64,
    /// 429s from the rate limiter per account ID: which accounts a client
    /// drove past Zoom's limits.
    #[serde(default)]
    pub rate_limited_by_account: BTreeMap<String, u64>,
    /// 429s injected by fault rates.
    pub injected_rate_limited: u64,
    /// 500s and 503s injected by fault rates.
    pub injected_errors: u64,
    /// `/v2` requests refused with 4711 (the grant lacks the scope).
    #[serde(default)]
    pub missing_scope: u64,
    /// Tokens minted by `/v2` (join tokens, ZAK, on-behalf).
    pub tokens_minted: u64,
    /// Tokens minted per kind.
    pub tokens_by_kind: BTreeMap<String, u64>,
    /// Successful `POST /oauth/token` answers.
    pub oauth_tokens_issued: u64,
    /// Of those, refreshes.
    pub oauth_refreshes: u64,
}

pub(crate) fn bump<K: Ord>(map: &mut BTreeMap<K, u64>, key: K) {
    *map.entry(key).or_insert(0) += 1;
}

impl Stats {
    pub(crate) fn request(&mut self, endpoint: &str) {
        self.requests += 1;
        bump(&mut self.by_endpoint, endpoint.to_owned());
    }

    pub(crate) fn finish(&mut self, account: Option<&str>, status: u16) {
        if let Some(a) = account {
            bump(&mut self.by_account, a.to_owned());
        }
        bump(&mut self.by_status, status);
        if status == 429 {
            self.served_429 += 1;
        }
    }

    pub(crate) fn minted(&mut self, kind: &str) {
        self.tokens_minted += 1;
        bump(&mut self.tokens_by_kind, kind.to_owned());
    }
}
