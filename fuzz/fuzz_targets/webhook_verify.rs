//! The webhook verifier on arbitrary headers and bodies: never panics; only
//! a correctly signed body verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rectoken_domain::webhook::{sign, verify};

const SECRET: &[u8] = b"fuzz-secret";
const NOW: i64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    // Split the input into timestamp, signature and body at the first two
    // zero bytes.
    let mut parts = data.splitn(3, |b| *b == 0);
    let ts = parts.next().map(String::from_utf8_lossy).unwrap_or_default();
    let sig = parts.next().map(String::from_utf8_lossy).unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let _ = verify(SECRET, Some(&ts), Some(&sig), body, NOW);
    // Our own signature over the same body always verifies.
    let good = sign(SECRET, &NOW.to_string(), body);
    assert!(verify(SECRET, Some(&NOW.to_string()), Some(&good), body, NOW).is_ok());
});
