//! docs/openapi.yaml states every route of the router, no more, no less.
//!
//! Paths: every `.route("…"` in the router's sources (the ingress's
//! server.rs and the runtime's health routes) must be documented, and
//! every documented path must exist. Methods: for each documented path the
//! router's own `Allow` header (its 405 answer to a method no route uses)
//! must list exactly the documented methods. No external service needed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use rectoken_bus::Topology;
use rectoken_bus::memory::MemoryBus;
use rectoken_ingress::apps::{App, AppKind, Apps};
use rectoken_ingress::{IngressState, router};
use tower::ServiceExt;

fn read(rel: &str) -> String {
    let path = format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// path → methods, from the `paths:` section of docs/openapi.yaml.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let doc = read("../../docs/openapi.yaml");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut in_paths = false;
    let mut current: Option<String> = None;
    for line in doc.lines() {
        if line == "paths:" {
            in_paths = true;
            continue;
        }
        if !in_paths {
            continue;
        }
        if !line.starts_with(' ') && !line.trim().is_empty() {
            break; // the next top-level key
        }
        if let Some(p) = line.strip_prefix("  /").and_then(|p| p.strip_suffix(':')) {
            current = Some(format!("/{p}"));
            out.entry(format!("/{p}")).or_default();
            continue;
        }
        for m in ["get", "post", "put", "delete", "patch"] {
            if line == format!("    {m}:") {
                let path = current.clone().expect("a method under a path");
                out.entry(path).or_default().insert(m.to_uppercase());
            }
        }
    }
    out
}

/// Every `.route("…"` literal in the router's sources.
fn routed_paths() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for file in ["src/server.rs", "../runtime/src/health.rs"] {
        let text = read(file);
        for piece in text.split(".route(\"").skip(1) {
            if let Some(end) = piece.find('"') {
                out.insert(piece[..end].to_owned());
            }
        }
    }
    out
}

fn state() -> IngressState {
    let apps = Apps::single(App {
        name: String::new(),
        client_id: "c".into(),
        client_secret: "s".into(),
        webhook_secret: "w".into(),
        kind: AppKind::Account,
    });
    IngressState::new(Arc::new(MemoryBus::new(Topology::default())), apps, vec![])
}

#[test]
fn every_routed_path_is_documented_and_back() {
    let doc: BTreeSet<String> = documented().into_keys().collect();
    assert_eq!(
        routed_paths(),
        doc,
        "docs/openapi.yaml and the router disagree on the paths"
    );
}

#[tokio::test]
async fn documented_methods_are_exactly_the_routers() {
    let app = router(state());
    for (path, methods) in documented() {
        assert!(!methods.is_empty(), "{path} documents no method");
        let concrete = path.replace("{app}", "acme").replace("{id}", "x");
        let response = app
            .clone()
            .oneshot(
                Request::builder()
                    .method(Method::PATCH)
                    .uri(&concrete)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{path}: not routed"
        );
        let allow: BTreeSet<String> = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(',')
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty() && m != "HEAD")
            .collect();
        assert_eq!(allow, methods, "{path}: methods differ");
    }
}
