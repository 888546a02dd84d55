//! The router and the server that binds first and drains on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use rectoken_bus::Bus;
use rectoken_runtime::{HealthCheck, HealthState, health_routes};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::apps::Apps;
use crate::services::Services;
use crate::webhook::{self, MAX_BODY_BYTES};
use crate::{admin, callbacks, join, oauth};

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
    /// The accepted range of `x-zm-request-timestamp`
    /// (`RECTOKEN_WEBHOOK_MAX_AGE` back, 5 minutes ahead).
    pub webhook_window: rectoken_domain::webhook::Window,
}

impl IngressState {
    /// State with the system clock and the process-wide metrics recorder.
    pub fn new(bus: Arc<dyn Bus>, apps: Apps, checks: Vec<Arc<dyn HealthCheck>>) -> Self {
        Self {
            bus,
            apps: Arc::new(apps),
            checks: Arc::new(checks),
            metrics: rectoken_telemetry::metrics_handle(),
            now: unix_now,
            services: None,
            webhook_window: rectoken_domain::webhook::Window::DEFAULT,
        }
    }

    /// With another webhook timestamp window.
    pub fn with_webhook_window(mut self, window: rectoken_domain::webhook::Window) -> Self {
        self.webhook_window = window;
        self
    }

    /// With the OAuth flow, admin API and join endpoints.
    pub fn with_services(mut self, services: Services) -> Self {
        self.services = Some(Arc::new(services));
        self
    }
}

/// Seconds since the Unix epoch by the system clock.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
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

/// The ingress routes.
pub fn router(state: IngressState) -> Router {
    Router::new()
        .route("/zoom/webhook", post(webhook::default_app))
        .route("/zoom/webhook/{app}", post(webhook::named_app))
        // 413 for larger bodies; axum checks Content-Length up front and
        // stops reading a chunked body at the limit.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .route("/zoom/oauth/authorize", get(oauth::authorize))
        .route("/zoom/oauth/callback", get(oauth::callback))
        .route("/join", post(join::post_join))
        .route("/zoom/join-token", get(join::get_join_token))
        .route("/zoom/obf-token", get(callbacks::get_obf_token))
        .route("/zoom/zak", get(callbacks::get_zak))
        .route("/attendee/zoom-tokens", post(callbacks::post_attendee))
        .merge(admin_routes(state.clone()))
        .merge(health_routes())
        .with_state(state)
}

fn admin_routes(state: IngressState) -> Router<IngressState> {
    Router::new()
        .route("/admin/accounts", get(admin::list_accounts))
        .route(
            "/admin/accounts/{id}",
            get(admin::get_account).delete(admin::delete_account),
        )
        .route("/admin/accounts/{id}/resync", post(admin::resync))
        .route("/admin/meetings", get(admin::list_meetings))
        .route("/admin/meetings/{id}", get(admin::get_meeting))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            admin::require_admin,
        ))
}

/// A bound ingress, ready to run.
pub struct Ingress {
    listener: TcpListener,
    router: Router,
}

impl Ingress {
    /// Bind `addr` (port 0 picks a free port) and build the router.
    pub async fn bind(addr: SocketAddr, router: Router) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self { listener, router })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until `shutdown` fires, then stop accepting and finish the
    /// requests in flight.
    pub async fn run(self, shutdown: CancellationToken) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    }
}
