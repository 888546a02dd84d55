//! `rediss://`: the binary talks to Redis over TLS, trusting the system's
//! CA store (which `SSL_CERT_FILE` replaces, as for any rustls-native-certs
//! program), and refuses a server whose certificate it cannot verify.
//!
//! Needs the test Redis's TLS port (`scripts/services`, see `tests/lib.rs`
//! of `rectoken-tests`). The account is written through the plain port and
//! read back through TLS by `rectoken accounts export`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use rectoken_store::{RedisStore, Store};
use rectoken_tests::{account_record, redis_tls_ca, redis_tls_url, redis_url, unique_prefix};

const BIN: &str = env!("CARGO_BIN_EXE_rectoken");

/// `rectoken accounts export --out -` against `url`, trusting only `ca`.
fn export(url: &str, ca: &str) -> Output {
    Command::new(BIN)
        .args(["accounts", "export", "--out", "-"])
        .env_clear()
        .env("RECTOKEN_REDIS_URL", url)
        .env("SSL_CERT_FILE", ca)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[tokio::test]
async fn export_over_tls_reads_what_the_plain_port_wrote_and_refuses_an_unknown_ca() {
    // The CLI reads the empty prefix; a unique account ID keeps this test
    // apart from others, and it is deleted at the end.
    let account = unique_prefix("tls").replace('.', "");
    let plain = RedisStore::new(&redis_url(), "").unwrap();
    plain
        .upsert_account(&account_record(&account))
        .await
        .unwrap();

    let trusted = export(&redis_tls_url(), &redis_tls_ca());
    let unknown_ca = export(&redis_tls_url(), "/dev/null");
    plain.delete_account(&account).await.unwrap();

    let stderr = String::from_utf8_lossy(&trusted.stderr);
    assert!(trusted.status.success(), "{stderr}");
    let file: serde_json::Value = serde_json::from_slice(&trusted.stdout).unwrap();
    assert!(
        file["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["record"]["account_id"] == account.as_str()),
        "the account written over the plain port is read over TLS: {file}"
    );

    let stderr = String::from_utf8_lossy(&unknown_ca.stderr);
    assert!(
        !unknown_ca.status.success(),
        "a certificate from an unknown CA is accepted"
    );
    assert!(
        stderr.to_lowercase().contains("certificate"),
        "the error says why: {stderr}"
    );
}
