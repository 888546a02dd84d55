//! The client against the Zoom simulator (`zoom-sim`), end to end over
//! HTTP on 127.0.0.1. Prerequisites: none; every test spawns its own
//! simulator on a free port, so tests run in parallel without sharing state.
//!
//! One binary (STYLE.md habit 16): `common` holds the helpers.

mod common;
mod errors;
mod oauth;
mod observability;
mod rest;
