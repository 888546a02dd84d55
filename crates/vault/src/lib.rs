//! The credential vault: OAuth tokens encrypted at rest, one safe refresh
//! at a time across every worker, and Zoom calls made within each
//! account's shared rate budget.
//!
//! # Layout
//! - [`crypto`]: AES-256-GCM sealing under `RECTOKEN_ENCRYPTION_KEY`, with a
//!   key ID beside each ciphertext so keys can be rotated.
//! - [`provider`]: [`Vault`], the one place that hands out access tokens and
//!   refreshes them under a fenced lock.
//! - [`access`]: [`ZoomAccess`], calls for an account: rate budget, 429
//!   `Retry-After` for all workers, one refresh on 401, retries until a
//!   deadline.
//! - [`events`]: [`AccountEvents`], where the role reports account events
//!   and keeps their history (reached through [`Vault::events`]).

pub mod access;
pub mod crypto;
pub mod events;
pub mod provider;

pub use access::{CallError, DEFAULT_RATE_FRACTION, Plan, ZoomAccess, ZoomLimits};
pub use crypto::Keyring;
pub use events::AccountEvents;
pub use provider::{Vault, VaultError, VaultOptions};
