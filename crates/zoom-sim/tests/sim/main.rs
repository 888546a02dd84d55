//! Integration tests: each test spawns its own simulator on 127.0.0.1:0 and
//! talks to it over HTTP with reqwest, as rectoken does.
//!
//! Prerequisites: none (no broker, no Redis, no network beyond loopback).
//! Time-dependent behaviour is driven by `Sim::advance_clock` or short
//! configured lifetimes; webhook outcomes are awaited through the
//! simulator's delivery notifications, never by sleeping.

// Helpers outside #[test] fns unwrap too: a panic here is a failed test,
// as clippy.toml allows for test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod control;
mod limits;
mod oauth;
mod rest;
mod webhooks;
