//! The benchmark's webhook bodies: a realistic `meeting.created` event
//! (about 600 bytes, the shape of docs/zoom.md §3) with a unique meeting ID
//! per request, so every request gets its own message ID.
//!
//! Built with `format!` rather than a JSON serializer: building a body costs
//! the client as little as possible, since the client shares the machine's
//! cores with the server and the broker.

/// The routing key of every benchmark message.
pub const EVENT: &str = "meeting.created";

/// Meeting IDs start here (11 digits, like Zoom's).
const FIRST_MEETING_ID: u64 = 81_000_000_000;

/// The `meeting.created` body for request `n`, with `event_ts` in Unix
/// milliseconds. Distinct `n` give distinct bodies.
pub fn meeting_created(n: u64, event_ts_ms: u64) -> String {
    let id = FIRST_MEETING_ID + n;
    // Zoom's UUIDs are 24 base64 characters; derive a stable one from n.
    let uuid = format!("bEnCh{n:015x}rK==");
    format!(
        concat!(
            r#"{{"event":"meeting.created","event_ts":{ts},"payload":{{"#,
            r#""account_id":"AbCdEfGhIjKlMnOpQrStUv","operator":"scheduler.bench@example.com","#,
            r#""operator_id":"z8yAAAAA8bbbQ","operation":"single","object":{{"#,
            r#""uuid":"{uuid}","id":{id},"host_id":"z8yAAAAA8bbbQ","#,
            r#""topic":"Weekly engineering sync (benchmark)","type":2,"#,
            r#""start_time":"2026-11-29T10:00:00Z","duration":60,"timezone":"America/Los_Angeles","#,
            r#""join_url":"https://us02web.zoom.us/j/{id}?pwd=Qm5VcGZ3bGVhc2VkQmVuY2g","#,
            r#""password":"b3nch1","pmi":"3456789012","settings":{{"use_pmi":false,"#,
            r#""alternative_hosts":"","join_before_host":false,"jbh_time":0}}}}}}}}"#
        ),
        ts = event_ts_ms,
        uuid = uuid,
        id = id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rectoken_domain::event::Envelope;

    #[test]
    fn body_is_a_realistic_meeting_created_event() {
        let body = meeting_created(42, 1_739_923_528_000);
        assert!(
            (550..=700).contains(&body.len()),
            "body is {} bytes",
            body.len()
        );
        let env = Envelope::parse(body.as_bytes()).expect("valid event");
        assert_eq!(env.event, EVENT);
        assert_eq!(env.event_ts, Some(1_739_923_528_000));
        assert_eq!(env.account_id.as_deref(), Some("AbCdEfGhIjKlMnOpQrStUv"));
        assert_eq!(env.payload["object"]["id"], 81_000_000_042u64);
        assert_eq!(
            env.payload["object"]["uuid"].as_str().map(str::len),
            Some(24)
        );
    }

    #[test]
    fn distinct_requests_have_distinct_message_ids() {
        let id = |n| {
            rectoken_domain::event::webhook_message_id(
                "default",
                meeting_created(n, 1_739_923_528_000).as_bytes(),
            )
        };
        assert_ne!(id(1), id(2));
        assert_eq!(id(3), id(3));
    }
}
