//! The OAuth state verifier on arbitrary strings: never panics, never
//! accepts a state it did not issue.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rectoken_domain::oauth_state::verify;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    assert!(verify(b"fuzz-key", Some(&s), 1_800_000_000).is_err());
});
