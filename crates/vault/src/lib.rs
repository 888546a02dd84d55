//! The credential vault: OAuth tokens encrypted at rest, and one safe
//! refresh at a time across every worker.
//!
//! # Layout
//! - [`crypto`]: AES-256-GCM sealing under `RECTOKEN_ENCRYPTION_KEY`, with a
//!   key ID beside each ciphertext so keys can be rotated.

pub mod crypto;
