//! Serving the simulator over HTTP: its router, `serve` and `spawn`.
//!
//! Apart from `sim.rs` so that the model never imports its HTTP face (the
//! handlers in `http/` use `sim`; `sim` uses nothing of `http`).

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

use crate::config::SimConfig;
use crate::http::router;
use crate::sim::Sim;

impl Sim {
    /// The axum router: `/oauth/*`, `/v2/*` and `/_sim/*`.
    pub fn router(&self) -> axum::Router {
        router(self.clone())
    }

    /// Serves on `listener` until `shutdown` fires, then drains in-flight
    /// requests and cancels pending webhook retries.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let addr = listener.local_addr()?;
        self.set_base_url(format!("http://{addr}"));
        tracing::info!(%addr, "zoom simulator listening");
        let app = self.router();
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await?;
        self.shutdown_webhooks().await;
        Ok(())
    }

    /// Test helper: builds a simulator, binds `127.0.0.1:0` and serves it in
    /// the background until the runtime ends.
    pub async fn spawn(config: SimConfig) -> std::io::Result<(Self, SocketAddr)> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let sim = Self::new(config);
        sim.set_base_url(format!("http://{addr}"));
        let serving = sim.clone();
        tokio::spawn(async move {
            if let Err(e) = serving.serve(listener, CancellationToken::new()).await {
                tracing::error!(error = %e, "simulator stopped");
            }
        });
        Ok((sim, addr))
    }
}
