//! The meeting-URL parser on arbitrary strings: a typed error or an ID that
//! appears among the input's digits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rectoken_domain::meeting_id::parse_meeting_ref;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(m) = parse_meeting_ref(s)
    {
        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
        assert!(digits.contains(&m.id.to_string()));
    }
});
