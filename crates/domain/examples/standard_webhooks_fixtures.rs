//! Prints, as one JSON document, account-event webhook deliveries signed by
//! rectoken's own code (`rectoken_domain::account_event::signed_headers`),
//! for `scripts/checks/standard-webhooks.sh` to verify with the PyPI
//! `standardwebhooks` package: an independent implementation of the
//! Standard Webhooks signature.
//!
//! `cargo run -q -p rectoken-domain --example standard_webhooks_fixtures -- whsec_…`

use rectoken_domain::account_event::{
    AccountEvent, AccountEventKind, event_id, signed_headers, webhook_key,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::args()
        .nth(1)
        .ok_or("usage: standard_webhooks_fixtures whsec_…")?;
    let key = webhook_key(&secret)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let now = i64::try_from(now)?;
    let kinds = [
        AccountEventKind::Connected {
            kind: "account".into(),
            scopes: vec!["user:read:admin".into(), "meeting:read:admin".into()],
            missing_scopes: vec![],
        },
        AccountEventKind::Disconnected {
            reason: "invalid_grant: Invalid Token! — reconnect the account ✓".into(),
        },
        AccountEventKind::SyncCompleted {
            users: 3,
            mappings: 12,
            pruned: 1,
            duration_ms: 850,
        },
        AccountEventKind::MintsFailing {
            failures: 5,
            last_status: "zoom_error".into(),
            last_error: "Zoom said \"no\" (code 124)".into(),
        },
    ];
    let mut out = Vec::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        let random: [u8; 16] = std::array::from_fn(|b| (b as u8).wrapping_mul(31) ^ i as u8);
        let event = AccountEvent::new(event_id(random), now * 1000, "aBcD123", "default", kind);
        let body = String::from_utf8(event.to_json())?;
        let headers: serde_json::Map<String, serde_json::Value> =
            signed_headers(&key, &event.id, now, body.as_bytes())
                .into_iter()
                .map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)))
                .collect();
        out.push(serde_json::json!({ "body": body, "headers": headers }));
    }
    println!("{}", serde_json::Value::from(out));
    Ok(())
}
