//! The event parser on arbitrary bytes: a typed error or an event, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rectoken_domain::event::{Envelope, ZoomEvent};

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::parse(data) {
        let _ = ZoomEvent::from_envelope(&env);
    }
});
