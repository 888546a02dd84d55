//! The last account events of each account, kept bounded, for the admin
//! API and the console: [`AccountEventLog`], with an in-process backend
//! ([`crate::memory_events::MemoryEventLog`]) and a Redis one
//! ([`crate::redis_events`], on [`crate::RedisStore`]).
//!
//! Why apart from [`crate::Store`]: the log is a view for operators, not
//! state any decision reads; a failed write loses one line of history, never
//! a mapping or a credential. Its keys live in the account's hash slot
//! (`{a:ACCOUNT}:events`) and survive the account's deletion, so an
//! `account.deauthorized` stays visible after the app was removed.

use async_trait::async_trait;
use rectoken_domain::account_event::AccountEvent;

use crate::error::Result;

/// Events kept per account (older ones are dropped).
pub const EVENTS_KEPT: usize = 50;

/// How long an account's event list lives after its last event (90 days),
/// so lists of accounts long gone do not stay forever.
pub const EVENTS_TTL_SECS: u64 = 90 * 24 * 3600;

/// The bounded event history of each account.
#[async_trait]
pub trait AccountEventLog: Send + Sync + 'static {
    /// Append `event` to its account's history, dropping the oldest beyond
    /// [`EVENTS_KEPT`]. An event already in the history (same `id`) is not
    /// added again: deliveries are at least once.
    async fn record(&self, event: &AccountEvent) -> Result<()>;

    /// The account's newest events first, at most `limit` (and at most
    /// [`EVENTS_KEPT`]). Unknown accounts have none.
    async fn recent(&self, account_id: &str, limit: usize) -> Result<Vec<AccountEvent>>;
}
