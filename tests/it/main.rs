//! End-to-end tests, one binary (see `tests/lib.rs` for prerequisites).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bus_contract;
mod console_browser;
mod ingress_rabbit;
mod join_log_contract;
mod oauth;
mod store_cluster;
mod store_contract;
mod zoom_fidelity;
