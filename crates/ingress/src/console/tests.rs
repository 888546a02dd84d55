//! The console through the router, with the in-process bus and store: the
//! session and CSRF rules, each page's figures and each action's effect.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use rectoken_bus::memory::MemoryBus;
use rectoken_bus::{Bus, Topology};
use rectoken_domain::meeting_id::MeetingId;
use rectoken_store::{
    AccountRecord, AccountStatus, JoinLog, JoinOutcome, MapKey, Mapping, MemoryJoinLog,
    MemoryStore, Source, Store, SyncStatus,
};
use secrecy::SecretString;
use tower::ServiceExt;

use super::{ConsoleOptions, session};
use crate::apps::{App, AppKind, Apps};
use crate::{IngressState, Services, router};

const ADMIN: &str = "console-test-admin-token";

struct Rig {
    app: axum::Router,
    store: Arc<dyn Store>,
    bus: Arc<MemoryBus>,
    joins: Arc<MemoryJoinLog>,
}

fn rig_with(admin: Option<&str>, dev: bool) -> Rig {
    rig_full(
        admin,
        dev,
        Apps::single(App::new("", "c", "s".into(), "w".into(), AppKind::Account)),
    )
}

fn rig_full(admin: Option<&str>, dev: bool, apps: Apps) -> Rig {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let zoom = rectoken_zoom::ZoomClient::new(rectoken_zoom::ZoomConfig::new(
        "c",
        SecretString::from("s".to_owned()),
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
    )
    .with_clients(rectoken_zoom::ZoomClients::for_apps(zoom.clone(), &apps).unwrap());
    let services = Services {
        store: store.clone(),
        vault,
        zoom,
        public_url: "http://127.0.0.1:8080".into(),
        state_key: [4u8; 32],
        user_level: false,
        admin_token: admin.map(|a| SecretString::from(a.to_owned())),
        join_key: None,
        join_timeout: std::time::Duration::from_secs(1),
        callbacks: Default::default(),
    };
    let bus = Arc::new(MemoryBus::new(Topology::default()));
    let joins = Arc::new(MemoryJoinLog::new());
    let state = IngressState::new(bus.clone(), apps, vec![])
        .with_services(services)
        .with_console(ConsoleOptions {
            joins: Some(joins.clone()),
            dev_signin: dev,
        });
    Rig {
        app: router(state),
        store,
        bus,
        joins,
    }
}

fn rig() -> Rig {
    rig_with(Some(ADMIN), false)
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn send(app: &axum::Router, req: Request<Body>) -> Answer {
    let r = app.clone().oneshot(req).await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let body =
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

fn get(uri: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::get(uri);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, format!("{}={c}", session::COOKIE));
    }
    b.body(Body::empty()).unwrap()
}

fn post(uri: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Request<Body> {
    let mut b =
        Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, format!("{}={c}", session::COOKIE));
    }
    b.body(Body::from(serde_urlencoded::to_string(form).unwrap()))
        .unwrap()
}

/// Signs in; the session cookie's value.
async fn sign_in(app: &axum::Router) -> String {
    let a = send(app, post("/console/signin", None, &[("token", ADMIN)])).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let set = a.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    set.split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[at..at + 64].to_owned()
}

async fn csrf(app: &axum::Router, cookie: &str) -> String {
    csrf_of(&send(app, get("/console", Some(cookie))).await.body)
}

fn account(id: &str) -> AccountRecord {
    AccountRecord {
        account_id: id.into(),
        app: String::new(),
        kind: "account".into(),
        user_id: None,
        status: AccountStatus::Connected,
        connected_at_ms: 1_700_000_000_000,
        scopes: vec!["meeting:read:admin".into()],
        last_error: None,
        sync: SyncStatus::default(),
    }
}

#[tokio::test]
async fn off_without_the_admin_token() {
    let r = rig_with(None, true);
    for uri in ["/console", "/console/joins", "/console/console.css"] {
        assert_eq!(
            send(&r.app, get(uri, None)).await.status,
            StatusCode::NOT_FOUND,
            "{uri}"
        );
    }
    let a = send(&r.app, post("/console/signin", None, &[("dev", "1")])).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sign_in_sets_a_safe_cookie_and_wrong_tokens_are_refused() {
    let r = rig();
    let page = send(&r.app, get("/console", None)).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("Admin token"), "the sign-in form");
    assert!(
        !page.body.contains("dev-signin"),
        "no dev sign-in outside dev"
    );
    let wrong = send(&r.app, post("/console/signin", None, &[("token", "nope")])).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());
    let dev = send(&r.app, post("/console/signin", None, &[("dev", "1")])).await;
    assert_eq!(dev.status, StatusCode::UNAUTHORIZED, "dev sign-in is off");
    let ok = send(&r.app, post("/console/signin", None, &[("token", ADMIN)])).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let cookie = ok.headers[header::SET_COOKIE].to_str().unwrap();
    for attr in [
        "__Host-rectoken-console=",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Max-Age=28800",
        "Path=/",
    ] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert!(!cookie.contains(ADMIN));
    let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    let page = send(&r.app, get("/console", Some(value))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("form-action 'self'")
    );
    let forged = send(&r.app, get("/console", Some("v1.99999999999.00.00"))).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn dev_sign_in_is_one_click_in_dev_only() {
    let r = rig_with(Some(ADMIN), true);
    let page = send(&r.app, get("/console", None)).await;
    assert!(page.body.contains("dev-signin"));
    let a = send(&r.app, post("/console/signin", None, &[("dev", "1")])).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(
        a.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("HttpOnly")
    );
}

#[tokio::test]
async fn every_action_needs_the_session_and_its_csrf_token() {
    let r = rig();
    r.store.upsert_account(&account("acme")).await.unwrap();
    let cookie = sign_in(&r.app).await;
    let other = sign_in(&r.app).await;
    let other_csrf = csrf(&r.app, &other).await;
    for uri in [
        "/console/accounts/acme/resync",
        "/console/accounts/acme/disconnect",
        "/console/invite",
        "/console/lookup/mint",
        "/console/signout",
        "/console/queues/inspect",
        "/console/queues/redrive",
    ] {
        let none = send(&r.app, post(uri, Some(&cookie), &[])).await;
        assert_eq!(none.status, StatusCode::FORBIDDEN, "{uri} without a token");
        let foreign = send(&r.app, post(uri, Some(&cookie), &[("csrf", &other_csrf)])).await;
        assert_eq!(
            foreign.status,
            StatusCode::FORBIDDEN,
            "{uri} with another session's token"
        );
        let signed_out = send(&r.app, post(uri, None, &[("csrf", &other_csrf)])).await;
        assert_eq!(
            signed_out.status,
            StatusCode::FORBIDDEN,
            "{uri} without a session"
        );
    }
    assert_eq!(
        r.bus
            .queue_depth(&Topology::default().sync_queue())
            .await
            .unwrap(),
        0,
        "no sync queued"
    );
    assert!(
        r.store.account("acme").await.unwrap().is_some(),
        "not disconnected"
    );
}

#[tokio::test]
async fn accounts_show_the_stores_figures_escaped_and_actions_work() {
    let r = rig();
    let mut rec = account("acme");
    rec.last_error = Some("<script>alert(1)</script>".into());
    rec.sync = SyncStatus {
        state: rectoken_store::SyncState::InProgress,
        generation: "g".into(),
        users_total: 10,
        users_done: 4,
        started_at_ms: Some(1_700_000_000_000),
        finished_at_ms: None,
        last_error: None,
    };
    r.store.upsert_account(&rec).await.unwrap();
    let id = MeetingId::new(85_012_345_678).unwrap();
    let m = Mapping {
        account_id: "acme".into(),
        owner_id: "host-1".into(),
        source: Source::Sync,
        version_ms: 1,
        written_at_ms: 1,
    };
    r.store
        .put_mapping(MapKey::meeting(id), &m, None)
        .await
        .unwrap();
    let cookie = sign_in(&r.app).await;
    let page = send(&r.app, get("/console", Some(&cookie))).await.body;
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped"
    );
    assert!(!page.contains("<script>"));
    assert!(page.contains("4 of 10 users visited"));
    assert!(page.contains("in_progress"));
    assert!(
        page.contains("http-equiv=\"refresh\""),
        "reloads while syncing"
    );
    assert!(page.contains("class=\"mappings\">1<"), "one mapping");
    let token = csrf_of(&page);

    let a = send(
        &r.app,
        post(
            "/console/accounts/acme/resync",
            Some(&cookie),
            &[("csrf", &token)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.bus
            .queue_depth(&Topology::default().sync_queue())
            .await
            .unwrap(),
        1,
        "a sync is queued"
    );

    let a = send(
        &r.app,
        post("/console/invite", Some(&cookie), &[("csrf", &token)]),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let location = a.headers[header::LOCATION].to_str().unwrap().to_owned();
    let page = send(&r.app, get(&location, Some(&cookie))).await.body;
    assert!(
        page.contains("http://127.0.0.1:8080/zoom/oauth/authorize?link="),
        "the connect link"
    );

    let a = send(
        &r.app,
        post(
            "/console/accounts/acme/disconnect",
            Some(&cookie),
            &[("csrf", &token)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(r.store.account("acme").await.unwrap().is_none());
    assert_eq!(r.store.count_mappings("acme").await.unwrap(), 0);
}

#[tokio::test]
async fn lookup_reads_the_reference_and_names_the_owner() {
    let r = rig();
    r.store.upsert_account(&account("acme")).await.unwrap();
    let id = MeetingId::new(85_012_345_678).unwrap();
    let m = Mapping {
        account_id: "acme".into(),
        owner_id: "host-1".into(),
        source: Source::Webhook,
        version_ms: 1,
        written_at_ms: 1,
    };
    r.store
        .put_mapping(MapKey::meeting(id), &m, None)
        .await
        .unwrap();
    let cookie = sign_in(&r.app).await;
    let q = "https%3A%2F%2Fus02web.zoom.us%2Fj%2F85012345678%3Fpwd%3Dsecret";
    let page = send(
        &r.app,
        get(&format!("/console/lookup?q={q}"), Some(&cookie)),
    )
    .await
    .body;
    assert!(page.contains("Meeting 85012345678"), "{page}");
    assert!(page.contains("host-1") && page.contains("webhook"));
    assert!(page.contains("passcode (not shown)"));
    assert!(
        !page.contains(">secret<"),
        "the passcode is not shown on its own"
    );
    assert!(page.contains("none recorded among the recent joins"));
    r.joins
        .record(&JoinOutcome {
            at_ms: 1_700_000_000_000,
            request_id: "b-1".into(),
            meeting_id: Some("85012345678".into()),
            account_id: Some("acme".into()),
            kinds_asked: vec!["local_recording".into()],
            kinds_got: vec![],
            status: "zoom_error".into(),
            reason: Some("host_not_in_account".into()),
            error: Some("Zoom says no".into()),
            latency_ms: 3.0,
        })
        .await
        .unwrap();
    let page = send(
        &r.app,
        get(&format!("/console/lookup?q={q}"), Some(&cookie)),
    )
    .await
    .body;
    assert!(
        page.contains("host_not_in_account") && page.contains("Zoom says no"),
        "the last join and why"
    );
    let page = send(&r.app, get("/console/lookup?q=85099999999", Some(&cookie)))
        .await
        .body;
    assert!(page.contains("not in the map"));
    let page = send(&r.app, get("/console/lookup?q=hello", Some(&cookie)))
        .await
        .body;
    assert!(page.contains("rectoken cannot read this"));
}

#[tokio::test]
async fn joins_are_listed_filtered_and_charted() {
    let r = rig();
    let now = rectoken_domain::clock::now_ms();
    for (i, (status, account)) in [("ok", "acme"), ("not_found", ""), ("ok", "beta")]
        .iter()
        .enumerate()
    {
        r.joins
            .record(&JoinOutcome {
                at_ms: now,
                request_id: format!("r{i}"),
                meeting_id: Some(format!("8501234567{i}")),
                account_id: (!account.is_empty()).then(|| (*account).to_owned()),
                kinds_asked: vec!["local_recording".into()],
                kinds_got: if *status == "ok" {
                    vec!["local_recording".into()]
                } else {
                    vec![]
                },
                status: (*status).into(),
                reason: None,
                error: (*status == "not_found").then(|| "no connected account owns meeting".into()),
                latency_ms: 12.5,
            })
            .await
            .unwrap();
    }
    let cookie = sign_in(&r.app).await;
    let page = send(&r.app, get("/console/joins", Some(&cookie)))
        .await
        .body;
    assert!(page.contains("3 shown"));
    assert!(page.contains("3 in all"), "the chart counts them");
    assert!(page.contains("no connected account owns meeting"));
    let page = send(
        &r.app,
        get("/console/joins?status=ok&account=acme", Some(&cookie)),
    )
    .await
    .body;
    assert!(page.contains("1 shown"));
    assert!(page.contains("85012345670"));
    assert!(!page.contains("85012345672"));
}

#[tokio::test]
async fn queues_show_each_queue_and_its_dlq() {
    let r = rig();
    let cookie = sign_in(&r.app).await;
    let page = send(&r.app, get("/console/queues", Some(&cookie)))
        .await
        .body;
    for q in [
        "rectoken.sync",
        "rectoken.sync.dlq",
        "rectoken.join",
        "rectoken.join.dlq",
    ] {
        assert!(page.contains(&format!("<code>{q}</code>")), "{q}");
    }
}

#[tokio::test]
async fn a_dead_letter_queue_is_inspected_and_redriven() {
    let r = rig();
    let work = Topology::default().sync_queue();
    let dlq = Topology::dlq(&work);
    let m = rectoken_bus::OutgoingMessage::json("", &dlq, "{\"type\":\"full_sync\"}", "m-1")
        .with_header(
            rectoken_bus::topology::REASON_HEADER,
            "<b>handler</b> failed",
        );
    r.bus.publish(m).await.unwrap();
    let cookie = sign_in(&r.app).await;
    let page = send(&r.app, get("/console/queues", Some(&cookie)))
        .await
        .body;
    assert!(page.contains("Redrive to rectoken.sync"));
    let token = csrf_of(&page);
    let bad = send(
        &r.app,
        post(
            "/console/queues/redrive",
            Some(&cookie),
            &[("csrf", &token), ("queue", &work)],
        ),
    )
    .await;
    assert_eq!(
        bad.status,
        StatusCode::BAD_REQUEST,
        "only dead-letter queues"
    );
    let seen = send(
        &r.app,
        post(
            "/console/queues/inspect",
            Some(&cookie),
            &[("csrf", &token), ("queue", &dlq)],
        ),
    )
    .await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(
        seen.body.contains("&lt;b&gt;handler&lt;/b&gt; failed"),
        "the reason, escaped"
    );
    assert_eq!(
        r.bus.queue_depth(&dlq).await.unwrap(),
        1,
        "inspecting removes nothing"
    );
    let moved = send(
        &r.app,
        post(
            "/console/queues/redrive",
            Some(&cookie),
            &[("csrf", &token), ("queue", &dlq)],
        ),
    )
    .await;
    assert!(
        moved.body.contains("Redrove 1 of 1 messages"),
        "{}",
        moved.body
    );
    assert_eq!(r.bus.queue_depth(&dlq).await.unwrap(), 0);
    assert_eq!(r.bus.queue_depth(&work).await.unwrap(), 1);
}

/// With a ZoomGov app next to the default one, the invite form offers
/// both, and the link connects through the one chosen (as
/// `POST /admin/connect-links {"app"}` does); an unknown app is refused.
#[tokio::test]
async fn invite_offers_each_app_and_links_through_the_chosen_one() {
    let mut apps = Apps::single(App::new(
        crate::apps::DEFAULT_APP,
        "c",
        "s".into(),
        "w".into(),
        AppKind::Account,
    ));
    apps.add_from_toml(
        "[apps.gov]\nclient_id='gc'\nclient_secret='gs'\nwebhook_secret='gw'\n\
         api_url='https://api.zoomgov.com/v2'\noauth_url='https://zoomgov.com/oauth'\n",
        "apps.toml",
    )
    .unwrap();
    let r = rig_full(Some(ADMIN), false, apps);
    let cookie = sign_in(&r.app).await;
    let page = send(&r.app, get("/console", Some(&cookie))).await.body;
    assert!(
        page.contains("<select id=\"invite-app\" name=\"app\">"),
        "{page}"
    );
    assert!(page.contains(">gov (gov)</option>"), "{page}");
    assert!(
        page.contains(&format!(
            "<option value=\"{0}\" selected>{0} (commercial)</option>",
            crate::apps::DEFAULT_APP
        )),
        "the default app is preselected: {page}"
    );
    let token = csrf_of(&page);

    let a = send(
        &r.app,
        post(
            "/console/invite",
            Some(&cookie),
            &[("csrf", &token), ("app", "gov")],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let location = a.headers[header::LOCATION].to_str().unwrap().to_owned();
    let page = send(&r.app, get(&location, Some(&cookie))).await.body;
    let anchor = "id=\"invite-link\" href=\"";
    let at = page.find(anchor).expect("the link") + anchor.len();
    let link = &page[at..at + page[at..].find('"').unwrap()];
    assert!(
        link.starts_with("http://127.0.0.1:8080/zoom/oauth/authorize?link=")
            && link.ends_with("&amp;app=gov"),
        "{link}"
    );

    let a = send(
        &r.app,
        post(
            "/console/invite",
            Some(&cookie),
            &[("csrf", &token), ("app", "nope")],
        ),
    )
    .await;
    let location = a.headers[header::LOCATION].to_str().unwrap().to_owned();
    let page = send(&r.app, get(&location, Some(&cookie))).await.body;
    assert!(page.contains("There is no Zoom app named"), "{page}");
    assert!(!page.contains("id=\"invite-link\""), "no link for it");
}

/// With one app, the form asks nothing.
#[tokio::test]
async fn invite_with_one_app_has_no_choice() {
    let r = rig();
    let cookie = sign_in(&r.app).await;
    let page = send(&r.app, get("/console", Some(&cookie))).await.body;
    assert!(!page.contains("invite-app"), "{page}");
}
