//! The join-request decoder on arbitrary bytes: a typed error (whose reply
//! serializes) or a valid request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rectoken_domain::join::{JoinReply, decode_join_request, extract_request_id};

fuzz_target!(|data: &[u8]| {
    match decode_join_request(data) {
        Ok(_) => {}
        Err(e) => {
            let reply = JoinReply::invalid_request(extract_request_id(data).unwrap_or_default(), &e);
            assert!(serde_json::to_vec(&reply).is_ok());
        }
    }
});
