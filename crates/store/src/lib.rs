//! Redis access for rectoken.
//!
//! # Layout
//! - [`health`]: the Redis readiness probe used by `/readyz`.

pub mod health;

pub use health::RedisCheck;
