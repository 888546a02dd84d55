//! Pure domain logic of rectoken: no I/O, no async runtime.
//!
//! # Layout
//! - [`clock`]: the system clock in milliseconds/seconds (the one place it is read).
//! - [`meeting_id`]: meeting IDs, PMIs and parsing every meeting-URL form Zoom uses.
//! - [`join`]: the join request and reply messages of the public contract.
//! - [`webhook`]: Zoom webhook signature verification and URL validation.
//! - [`event`]: typed Zoom webhook events.
//! - [`jobs`]: sync jobs and connection IDs.
//! - [`oauth_state`]: the signed, expiring OAuth `state` parameter and PKCE.
//! - [`connect_link`]: one-time, expiring connect links for customers' admins.
//! - [`origin`]: proof of origin of the messages on the sync queues.
//! - [`pyjson`]: Python's `json.loads`/`json.dumps(sort_keys=True, …)`, for
//!   attendee's callback signature.
//! - [`callback_auth`]: verifying attendee's and Recall.ai's token-callback
//!   signatures.

pub mod callback_auth;
pub mod clock;
pub mod connect_link;
pub mod event;
pub mod jobs;
pub mod join;
pub mod meeting_id;
pub mod oauth_state;
pub mod origin;
pub mod pyjson;
pub mod webhook;
