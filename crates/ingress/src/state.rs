//! The ingress's shared state: what every handler receives, and the
//! checks that say which optional parts (OAuth, admin API, join endpoints,
//! token callbacks) are on.

use std::sync::Arc;

use axum::extract::FromRef;
use metrics_exporter_prometheus::PrometheusHandle;
use rectoken_bus::Bus;
use rectoken_domain::clock::now_secs;
use rectoken_runtime::{HealthCheck, HealthState};

use crate::apps::Apps;
use crate::error::ApiError;
use crate::hardening::{Guard, HttpLimits};
use crate::services::Services;

/// Everything a handler needs. Cheap to clone.
#[derive(Clone)]
pub struct IngressState {
    /// Where webhook events are published.
    pub bus: Arc<dyn Bus>,
    /// The apps whose webhooks are accepted.
    pub apps: Arc<Apps>,
    /// Extra readiness checks (Redis, …).
    pub checks: Arc<Vec<Arc<dyn HealthCheck>>>,
    /// The Prometheus recorder `/metrics` renders.
    pub metrics: PrometheusHandle,
    /// The clock for the replay window and OAuth state (Unix seconds); a
    /// parameter so tests can move it.
    pub now: fn() -> i64,
    /// OAuth, admin API and HTTP join (need the store); `None` in a
    /// webhook-only ingress.
    pub services: Option<Arc<Services>>,
    /// Request timeout and concurrency limit (see [`IngressState::with_limits`]).
    pub guard: Guard,
    /// Whether `GET /zoom/oauth/authorize` works without a connect link
    /// (`RECTOKEN_OPEN_CONNECT=true`, set by `rectoken dev`). Off: only an
    /// admin's one-time link starts the connect flow.
    pub open_connect: bool,
    /// The accepted range of `x-zm-request-timestamp`
    /// (`RECTOKEN_WEBHOOK_MAX_AGE` back, 5 minutes ahead).
    pub webhook_window: rectoken_domain::webhook::Window,
    /// The operator console's extras (recent-joins log, dev sign-in).
    pub console: crate::console::ConsoleOptions,
}

impl IngressState {
    /// State with the system clock and the process-wide metrics recorder.
    pub fn new(bus: Arc<dyn Bus>, apps: Apps, checks: Vec<Arc<dyn HealthCheck>>) -> Self {
        Self {
            bus,
            apps: Arc::new(apps),
            checks: Arc::new(checks),
            metrics: rectoken_telemetry::metrics_handle(),
            now: now_secs,
            services: None,
            guard: Guard::new(HttpLimits::default()),
            open_connect: false,
            webhook_window: rectoken_domain::webhook::Window::DEFAULT,
            console: Default::default(),
        }
    }

    /// With another webhook timestamp window.
    pub fn with_webhook_window(mut self, window: rectoken_domain::webhook::Window) -> Self {
        self.webhook_window = window;
        self
    }

    /// Let anyone start the connect flow, without a connect link.
    pub fn with_open_connect(mut self, open: bool) -> Self {
        self.open_connect = open;
        self
    }

    /// With other request limits than [`HttpLimits::default`] (the header
    /// read timeout is the server's: [`Ingress::with_limits`]).
    pub fn with_limits(mut self, limits: HttpLimits) -> Self {
        self.guard = Guard::new(limits);
        self
    }

    /// With the console's recent-joins log and dev sign-in.
    pub fn with_console(mut self, console: crate::console::ConsoleOptions) -> Self {
        self.console = console;
        self
    }

    /// With the OAuth flow, admin API and join endpoints.
    pub fn with_services(mut self, services: Services) -> Self {
        self.services = Some(Arc::new(services));
        self
    }
}

impl FromRef<IngressState> for HealthState {
    fn from_ref(state: &IngressState) -> Self {
        HealthState {
            bus: state.bus.clone(),
            checks: state.checks.clone(),
            metrics: state.metrics.clone(),
        }
    }
}

impl IngressState {
    /// The services of the OAuth connect flow, or the refusal that says
    /// they are not configured on this ingress.
    pub(crate) fn oauth(&self) -> Result<&Services, ApiError> {
        self.services.as_deref().ok_or_else(ApiError::oauth_off)
    }

    /// The services of the admin API, or the refusal that says it is off.
    pub(crate) fn admin(&self) -> Result<&Services, ApiError> {
        match self.services.as_deref() {
            Some(s) if s.admin_token.is_some() => Ok(s),
            _ => Err(ApiError::admin_off()),
        }
    }

    /// The services of the HTTP join endpoints, or the refusal that says
    /// they are off.
    pub(crate) fn join(&self) -> Result<&Services, ApiError> {
        match self.services.as_deref() {
            Some(s) if s.join_key.is_some() => Ok(s),
            _ => Err(ApiError::join_off()),
        }
    }
}
