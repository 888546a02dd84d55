//! What every rectoken role shares at run time.
//!
//! # Layout
//! - [`health`]: `/healthz`, `/readyz`, `/metrics` for any role (the
//!   ingress mounts them on its router; workers serve them on their own
//!   metrics port).
//! - [`consumer`]: the queue-consumer loop: bounded concurrency, retries with
//!   exponential backoff and jitter, dead-lettering, reconnects, and a drain
//!   on shutdown. A role supplies only a one-step [`consumer::Handler`].
//! - [`origin`]: signing what roles publish to the sync queues and
//!   refusing what was not signed.
//! - [`account_events`]: the publisher every role reports account events
//!   to (history in Redis, confirmed publish, off the caller's path).
//! - [`webhook_delivery`]: the consumer that POSTs account events to the
//!   operator's webhook URLs, Standard-Webhooks signed.

pub mod account_events;
pub mod consumer;
pub mod health;
pub mod origin;
pub mod webhook_delivery;

pub use consumer::{Handler, Outcome, RetryPolicy};
pub use health::{HealthCheck, HealthState, health_routes, serve_health};
