//! docs/openapi.yaml states every route of the router, no more, no less.
//!
//! Paths: every `.route("…"` in the router's sources (the ingress's
//! server.rs and the runtime's health routes) must be documented, and
//! every documented path must exist. Methods: for each documented path the
//! router's own `Allow` header (on its answer to a method no route uses)
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
    for file in [
        "src/server.rs",
        "src/console/mod.rs",
        "../runtime/src/health.rs",
    ] {
        let text = read(file);
        for piece in text.split(".route(").skip(1) {
            // rustfmt may put the path on the next line.
            let Some(rest) = piece.trim_start().strip_prefix('"') else {
                continue;
            };
            if let Some(end) = rest.find('"') {
                out.insert(rest[..end].to_owned());
            }
        }
    }
    out
}

const ADMIN: &str = "openapi-doc-admin-token";

/// With the services on, so the admin routes answer (their middleware
/// says 404 while the admin API is off).
fn state() -> IngressState {
    let store: Arc<dyn rectoken_store::Store> =
        Arc::new(rectoken_store::memory::MemoryStore::new());
    let zoom = rectoken_zoom::ZoomClient::new(rectoken_zoom::ZoomConfig::new(
        "c",
        secrecy::SecretString::from("s".to_owned()),
    ))
    .unwrap();
    let vault = rectoken_vault::Vault::new(
        store.clone(),
        Arc::new(rectoken_vault::Keyring::new(
            &secrecy::SecretBox::new(Box::new([3u8; 32])),
            &[],
        )),
        zoom.clone(),
        rectoken_vault::VaultOptions::default(),
    );
    let services = rectoken_ingress::Services {
        store,
        vault,
        zoom,
        public_url: "http://127.0.0.1".into(),
        state_key: [4u8; 32],
        user_level: false,
        admin_token: Some(secrecy::SecretString::from(ADMIN.to_owned())),
        join_key: Some(secrecy::SecretString::from("join".to_owned())),
        join_timeout: std::time::Duration::from_secs(1),
        callbacks: Default::default(),
    };
    let apps = Apps::single(App::new("", "c", "s".into(), "w".into(), AppKind::Account));
    IngressState::new(Arc::new(MemoryBus::new(Topology::default())), apps, vec![])
        .with_services(services)
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
    let mut wrong = Vec::new();
    for (path, methods) in documented() {
        assert!(!methods.is_empty(), "{path} documents no method");
        let concrete = path.replace("{app}", "acme").replace("{id}", "x");
        let response = app
            .clone()
            .oneshot(
                Request::builder()
                    .method(Method::PATCH)
                    .uri(&concrete)
                    .header("authorization", format!("Bearer {ADMIN}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let allow: BTreeSet<String> = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(',')
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty() && m != "HEAD")
            .collect();
        // The `Allow` header comes only from the router's method routing
        // (an unrouted path has none). Behind the admin middleware the
        // status is its 404, the header the router's.
        if !matches!(
            status,
            StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_FOUND
        ) || allow != methods
        {
            wrong.push(format!(
                "{path}: the router answers {status} allowing {allow:?}, the document says {methods:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
