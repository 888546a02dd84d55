//! Logging and metrics setup shared by every rectoken role.
//!
//! # Layout
//! - [`init_logging`]: `tracing` subscriber driven by `RECTOKEN_LOG` (filter)
//!   and `RECTOKEN_LOG_FORMAT` (`json` for JSON lines, anything else for text).
//! - [`metrics_handle`]: the process-wide Prometheus recorder; roles record
//!   with the `metrics` macros and `/metrics` renders this handle.
//! - [`HealthCheck`]: a dependency that readiness checks.
//!
//! Secrets never reach these layers: types that hold a secret or token
//! redact it in their `Debug` output, and no call site logs a raw body.

use std::sync::OnceLock;

use async_trait::async_trait;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// A dependency that readiness (`/readyz`) checks: Redis, … The bus has
/// its own connection state and is checked directly.
#[async_trait]
pub trait HealthCheck: Send + Sync + 'static {
    /// Short name shown in the `/readyz` body.
    fn name(&self) -> &str;
    /// `Ok` when reachable; `Err` with a reason (no secrets) otherwise.
    async fn check(&self) -> Result<(), String>;
    /// Whether a failure makes the process not ready (`false`: the failure
    /// is only reported in the `/readyz` body).
    fn critical(&self) -> bool {
        true
    }
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl LogFormat {
    /// Read `RECTOKEN_LOG_FORMAT`-style text: `json` selects JSON, else text.
    pub fn from_name(name: Option<&str>) -> Self {
        match name.map(str::trim) {
            Some(s) if s.eq_ignore_ascii_case("json") => LogFormat::Json,
            _ => LogFormat::Text,
        }
    }
}

/// Errors from telemetry setup.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The filter string does not parse.
    #[error("invalid log filter {filter:?}: {source}")]
    BadFilter {
        /// The filter given.
        filter: String,
        /// Why it failed.
        source: tracing_subscriber::filter::ParseError,
    },
}

/// Install the global `tracing` subscriber. `filter` is an `EnvFilter`
/// directive such as `info` or `rectoken=debug,lapin=warn`. Calling it twice
/// is harmless: the second call keeps the first subscriber.
pub fn init_logging(filter: &str, format: LogFormat) -> Result<(), TelemetryError> {
    let env_filter = EnvFilter::try_new(filter).map_err(|source| TelemetryError::BadFilter {
        filter: filter.to_owned(),
        source,
    })?;
    // Colour only on a terminal: a log file or a pipe must not carry ANSI
    // escape codes. `NO_COLOR` (any value) turns colour off too.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    Ok(())
}

/// Buckets (seconds) for latency histograms: 0.5 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder, installed on first use.
///
/// Metrics whose name ends in `_seconds` are histograms with
/// [`LATENCY_BUCKETS`]. If another recorder is already installed (a test
/// harness), a detached handle is returned so `/metrics` still renders.
pub fn metrics_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only when a recorder is already installed; then this
            // handle renders nothing, which is the best available.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_format_names() {
        assert_eq!(LogFormat::from_name(Some("json")), LogFormat::Json);
        assert_eq!(LogFormat::from_name(Some(" JSON ")), LogFormat::Json);
        assert_eq!(LogFormat::from_name(Some("text")), LogFormat::Text);
        assert_eq!(LogFormat::from_name(None), LogFormat::Text);
    }

    #[test]
    fn bad_filter_is_an_error() {
        assert!(matches!(
            init_logging("rectoken=notalevel", LogFormat::Text),
            Err(TelemetryError::BadFilter { .. })
        ));
    }

    #[test]
    fn metrics_render_histograms() {
        let handle = metrics_handle();
        metrics::histogram!("telemetry_test_latency_seconds").record(0.003);
        metrics::counter!("telemetry_test_total", "outcome" => "ok").increment(2);
        let text = handle.render();
        assert!(
            text.contains("telemetry_test_latency_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("telemetry_test_total{outcome=\"ok\"} 2"),
            "{text}"
        );
    }
}
