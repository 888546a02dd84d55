//! The router and the server that binds first and drains on shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rectoken_runtime::health_routes;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::hardening::{self, HttpLimits};
use crate::state::IngressState;
use crate::webhook::{self, MAX_BODY_BYTES};
use crate::{admin, callbacks, join, oauth};

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
        .merge(crate::console::router())
        .merge(health_routes())
        .layer(axum::middleware::from_fn_with_state(
            state.guard.clone(),
            hardening::harden,
        ))
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
        .route("/admin/connect-links", post(admin::create_connect_link))
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
    header_read_timeout: Duration,
}

impl Ingress {
    /// Bind `addr` (port 0 picks a free port) and build the router.
    pub async fn bind(addr: SocketAddr, router: Router) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            listener,
            router,
            header_read_timeout: HttpLimits::default().header_read_timeout,
        })
    }

    /// With the header read timeout of `limits` (the request limits are
    /// the router's: [`IngressState::with_limits`]).
    pub fn with_limits(mut self, limits: HttpLimits) -> Self {
        self.header_read_timeout = limits.header_read_timeout;
        self
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve HTTP/1.1 until `shutdown` fires, then stop accepting, let
    /// every connection finish its request in flight, and return.
    ///
    /// Not `axum::serve`: it sets no timer, so hyper's header read timeout
    /// (the slowloris guard) would never fire.
    pub async fn run(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let connections = TaskTracker::new();
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                () = shutdown.cancelled() => break,
            };
            let stream = match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead
                    // of spinning, as axum::serve does.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                        () = shutdown.cancelled() => break,
                    }
                }
            };
            let _ = stream.set_nodelay(true);
            let router = self.router.clone();
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let router = router.clone();
                async move { router.oneshot(request.map(axum::body::Body::new)).await }
            });
            let header_read_timeout = self.header_read_timeout;
            let shutdown = shutdown.clone();
            connections.spawn(async move {
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_read_timeout);
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                tokio::pin!(connection);
                let result = tokio::select! {
                    r = connection.as_mut() => r,
                    () = shutdown.cancelled() => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                };
                if let Err(e) = result {
                    // A header timeout, a reset by the peer: the client's
                    // problem, not ours.
                    tracing::debug!(error = %e, "HTTP connection ended with an error");
                }
            });
        }
        connections.close();
        connections.wait().await;
        Ok(())
    }
}
