//! What every rectoken role shares at run time.
//!
//! # Layout
//! - [`health`]: `/healthz`, `/readyz`, `/metrics` for any role (the
//!   ingress mounts them on its router; workers serve them on their own
//!   metrics port).
//! - [`consumer`]: the queue-consumer loop: bounded concurrency, retries with
//!   exponential backoff and jitter, dead-lettering, reconnects, and a drain
//!   on shutdown. A role supplies only a one-step [`consumer::Handler`].

pub mod consumer;
pub mod health;

pub use consumer::{Handler, Outcome, RetryPolicy};
pub use health::{HealthCheck, HealthState, health_routes, serve_health};
