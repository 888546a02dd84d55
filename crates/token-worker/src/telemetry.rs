//! The token worker's metrics (names are part of the dashboards).

use std::time::Duration;

/// Counter of join requests by final `status`: the reply statuses, plus
/// `expired` (dropped past the deadline), `requester_gone` (reply
/// unroutable), `no_reply_to` (valid but unanswerable, dead-lettered) and
/// `retry` (handed back for another attempt).
pub const REQUESTS_TOTAL: &str = "rectoken_join_requests_total";
/// Histogram: receipt of a request → its reply confirmed by the broker.
pub const DURATION_SECONDS: &str = "rectoken_join_duration_seconds";
/// Histogram: one Zoom HTTP call (mint or probe), as the worker saw it.
pub const ZOOM_SECONDS: &str = "rectoken_join_zoom_seconds";
/// Gauge: requests being worked on by this process.
pub const IN_FLIGHT: &str = "rectoken_join_in_flight";

/// Statuses of [`REQUESTS_TOTAL`] that are not reply statuses.
pub const STATUS_EXPIRED: &str = "expired";
/// See [`REQUESTS_TOTAL`].
pub const STATUS_REQUESTER_GONE: &str = "requester_gone";
/// See [`REQUESTS_TOTAL`].
pub const STATUS_NO_REPLY_TO: &str = "no_reply_to";
/// Metric status: a request whose `reply_to` names a queue replies may not
/// go to (dead-lettered).
pub const STATUS_BAD_REPLY_TO: &str = "bad_reply_to";
/// See [`REQUESTS_TOTAL`].
pub const STATUS_RETRY: &str = "retry";

pub(crate) fn count(status: &'static str) {
    metrics::counter!(REQUESTS_TOTAL, "status" => status).increment(1);
}

pub(crate) fn duration(d: Duration) {
    metrics::histogram!(DURATION_SECONDS).record(d.as_secs_f64());
}

pub(crate) fn zoom_call(d: Duration) {
    metrics::histogram!(ZOOM_SECONDS).record(d.as_secs_f64());
}

/// Counts a request in flight until dropped.
pub(crate) struct InFlight;

impl InFlight {
    pub(crate) fn start() -> Self {
        metrics::gauge!(IN_FLIGHT).increment(1.0);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(IN_FLIGHT).decrement(1.0);
    }
}
