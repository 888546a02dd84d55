//! Recording each answered join request in the recent-joins log
//! ([`rectoken_store::JoinLog`]) that the operator console shows.
//!
//! Best effort by design: the log is a diagnostic aid, so a Redis hiccup
//! while recording is logged and forgotten; it never delays a retry or
//! changes a reply. No token is ever recorded, only the kinds.

use std::sync::Arc;
use std::time::Duration;

use rectoken_domain::join::{JoinReply, TokenKind};
use rectoken_store::{JoinLog, JoinOutcome};

/// Where the worker records outcomes (`TokenOptions::join_log`).
#[derive(Clone)]
pub struct JoinRecorder(pub Arc<dyn JoinLog>);

impl std::fmt::Debug for JoinRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JoinRecorder")
    }
}

/// The log entry for `reply`, answered `latency` after receipt, for a
/// request whose body was `request_body` (read again only for the kinds
/// asked; a body that no longer parses records none).
pub fn outcome(
    reply: &JoinReply,
    request_body: &[u8],
    latency: Duration,
    at_ms: i64,
) -> JoinOutcome {
    let kinds_asked = rectoken_domain::join::decode_join_request(request_body)
        .map(|r| r.tokens().iter().map(|k| k.as_str().to_owned()).collect())
        .unwrap_or_default();
    JoinOutcome {
        at_ms,
        request_id: reply.request_id().to_owned(),
        meeting_id: reply.meeting_id().map(|m| m.to_string()),
        account_id: reply.account_id().map(str::to_owned),
        kinds_asked,
        kinds_got: reply
            .tokens()
            .keys()
            .map(|k: &TokenKind| k.as_str().to_owned())
            .collect(),
        status: reply.status().as_str().to_owned(),
        reason: reply.reason().map(str::to_owned),
        error: reply.error().map(str::to_owned),
        latency_ms: (latency.as_secs_f64() * 1e5).round() / 1e2,
    }
}

impl JoinRecorder {
    /// Record `reply` (see [`outcome`]); failures are logged only.
    pub async fn record(
        &self,
        reply: &JoinReply,
        request_body: &[u8],
        latency: Duration,
        at_ms: i64,
    ) {
        let entry = outcome(reply, request_body, latency, at_ms);
        if let Err(e) = self.0.record(&entry).await {
            tracing::warn!(error = %e, "could not record the join outcome for the console");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rectoken_domain::join::FailureStatus;

    #[test]
    fn an_outcome_holds_kinds_never_tokens() {
        let body = br#"{"request_id":"b-1","meeting_id":"85012345678","tokens":["local_recording","onbehalf"]}"#;
        let reply = JoinReply::failure("b-1", FailureStatus::NotFound, "nobody owns it");
        let o = outcome(&reply, body, Duration::from_micros(1234), 7);
        assert_eq!(o.kinds_asked, vec!["local_recording", "onbehalf"]);
        assert!(o.kinds_got.is_empty());
        assert_eq!(o.status, "not_found");
        assert_eq!(o.error.as_deref(), Some("nobody owns it"));
        assert!((o.latency_ms - 1.23).abs() < 1e-9);
        assert_eq!(o.at_ms, 7);
    }

    #[test]
    fn an_unparsable_body_records_no_kinds() {
        let reply = JoinReply::failure("x", FailureStatus::InvalidRequest, "bad");
        assert!(
            outcome(&reply, b"{", Duration::ZERO, 0)
                .kinds_asked
                .is_empty()
        );
    }
}
