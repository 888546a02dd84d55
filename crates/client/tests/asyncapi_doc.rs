//! Keeps `docs/asyncapi.yaml` in step with the join types: every token kind
//! and status of join.rs, and only those, are in the document's enums, and
//! the queue names are the contract's. (The full schemas were checked with
//! `@asyncapi/parser` and a JSON Schema validator when written; those tools
//! are not part of the build.)

use std::collections::BTreeSet;

use rectoken_client::{JOIN_QUEUE, JoinStatus, TokenKind};

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/asyncapi.yaml");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `- item` lines of the first `enum:` list after the line `anchor`.
fn enum_after(doc: &str, anchor: &str) -> BTreeSet<String> {
    let mut lines = doc.lines().skip_while(|l| l.trim_end() != anchor);
    assert!(lines.next().is_some(), "no line {anchor:?} in the document");
    let mut lines = lines.skip_while(|l| l.trim() != "enum:");
    assert!(lines.next().is_some(), "no enum after {anchor:?}");
    lines
        .map_while(|l| l.trim().strip_prefix("- ").map(str::to_owned))
        .collect()
}

#[test]
fn token_kinds_match() {
    let want: BTreeSet<String> = TokenKind::ALL
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect();
    assert_eq!(enum_after(&doc(), "    TokenKind:"), want);
}

#[test]
fn statuses_match() {
    let all = [
        JoinStatus::Ok,
        JoinStatus::NotFound,
        JoinStatus::AccountDisconnected,
        JoinStatus::InvalidRequest,
        JoinStatus::ZoomError,
        JoinStatus::RateLimited,
    ];
    // Fails to compile when a status is added, pointing here.
    for s in all {
        match s {
            JoinStatus::Ok
            | JoinStatus::NotFound
            | JoinStatus::AccountDisconnected
            | JoinStatus::InvalidRequest
            | JoinStatus::ZoomError
            | JoinStatus::RateLimited => {}
        }
    }
    let want: BTreeSet<String> = all.iter().map(|s| s.as_str().to_owned()).collect();
    assert_eq!(enum_after(&doc(), "        status:"), want);
}

/// Every reply `reason` of the contract is named in the JoinReason schema
/// (a free string there: new codes may be added, but not silently).
#[test]
fn reasons_are_documented() {
    let doc = doc();
    let schema: String = doc
        .lines()
        .skip_while(|l| l.trim_end() != "    JoinReason:")
        .take_while(|l| l.trim_end() != "    TokenError:")
        .collect::<Vec<_>>()
        .join("\n");
    let missing: Vec<&str> = rectoken_domain::join::reason::ALL
        .into_iter()
        .filter(|r| !schema.contains(&format!("`{r}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in docs/asyncapi.yaml JoinReason: {missing:?}"
    );
}

#[test]
fn names_and_version() {
    let doc = doc();
    assert!(doc.contains("\nasyncapi: 3.0.0\n"));
    for address in [
        "rectoken.events",
        JOIN_QUEUE,
        "rectoken.sync",
        "rectoken.sync.dlq",
        "rectoken.join.dlq",
    ] {
        assert!(
            doc.contains(&format!("    address: {address}\n")),
            "no channel {address}"
        );
    }
    assert!(doc.contains("location: $message.header#/reply_to"));
    assert!(doc.contains("location: $message.header#/correlation_id"));
}

/// The lines of the block that starts with the line `anchor`, up to the
/// next line indented no deeper than it.
fn block<'a>(doc: &'a str, anchor: &str) -> Vec<&'a str> {
    let indent = anchor.len() - anchor.trim_start().len();
    let mut lines = doc.lines().skip_while(|l| l.trim_end() != anchor);
    assert!(lines.next().is_some(), "no line {anchor:?} in the document");
    lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
        .collect()
}

/// Every account event type is in the document, with a data schema that
/// names each field the type's `data` has (rectoken_domain::account_event).
#[test]
fn account_events_match() {
    use rectoken_domain::account_event::{AccountEvent, AccountEventKind, EVENT_TYPES};
    let doc = doc();
    let want: BTreeSet<String> = EVENT_TYPES.iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(enum_after(&doc, "    AccountEventType:"), want);
    for address in [
        "rectoken.account-events",
        "rectoken.account-events.webhooks",
        "rectoken.account-events.webhooks.dlq",
    ] {
        assert!(
            doc.contains(&format!("    address: {address}\n")),
            "no channel {address}"
        );
    }
    let v = || vec!["s".to_owned()];
    let samples = [
        AccountEventKind::Connected {
            kind: "account".into(),
            scopes: v(),
            missing_scopes: v(),
        },
        AccountEventKind::Reconnected {
            kind: "account".into(),
            previous_status: "connected".into(),
            scopes: v(),
            missing_scopes: v(),
        },
        AccountEventKind::Disconnected { reason: "r".into() },
        AccountEventKind::Deauthorized { user_id: None },
        AccountEventKind::ScopesChanged {
            added: v(),
            removed: v(),
            missing_scopes: v(),
        },
        AccountEventKind::SyncCompleted {
            users: 1,
            mappings: 1,
            pruned: 0,
            duration_ms: 1,
        },
        AccountEventKind::SyncFailed {
            reason: "r".into(),
            attempts: 1,
        },
        AccountEventKind::MintsFailing {
            failures: 5,
            last_status: "zoom_error".into(),
            last_error: "e".into(),
        },
    ];
    assert_eq!(samples.len(), EVENT_TYPES.len());
    for kind in samples {
        let t = kind.type_name();
        let json = AccountEvent::new("evt", 0, "a", "default", kind).to_json();
        let value: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
        // The oneOf line naming this type and its data schema.
        let line = doc
            .lines()
            .find(|l| l.contains(&format!("{{const: {t}}}")))
            .unwrap_or_else(|| panic!("no oneOf entry for {t}"));
        let schema = line
            .split("#/components/schemas/")
            .nth(1)
            .and_then(|r| r.split('\'').next())
            .unwrap_or_else(|| panic!("no data schema for {t}: {line}"));
        let body = block(&doc, &format!("    {schema}:")).join("\n");
        for field in value["data"].as_object().expect("data").keys() {
            assert!(
                body.contains(&format!("        {field}:")),
                "{schema} ({t}) does not document `{field}`"
            );
        }
    }
}
