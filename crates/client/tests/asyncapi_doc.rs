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
