//! The `/_sim/` control API: data creation, counters, generator determinism.

use axum::http::StatusCode;
use reqwest::Method;
use serde_json::json;

use crate::common::{Env, config};

#[tokio::test]
async fn create_account_user_meeting_over_http() {
    let env = Env::start(config()).await;
    let (status, a) = env
        .control(
            Method::POST,
            "/accounts",
            Some(json!({"id": "acme", "plan": "pro"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    assert_eq!(a["plan"], "pro");
    let (status, _) = env
        .control(Method::POST, "/accounts", Some(json!({"id": "acme"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, u) = env
        .control(
            Method::POST,
            "/accounts/acme/users",
            Some(json!({"id": "boss", "pmi": 5_550_001_234u64})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{u}");
    assert_eq!(u["role_id"], "0", "first user owns the account");
    let (status, _) = env
        .control(
            Method::POST,
            "/accounts/acme/users",
            Some(json!({"pmi": 5_550_001_234u64})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "PMI already in use");
    let (status, _) = env
        .control(Method::POST, "/accounts/nope/users", Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, m) = env
        .control(
            Method::POST,
            "/users/boss/meetings",
            Some(json!({"id": 85_555_555_555u64, "type": 8, "occurrences": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(m["value"]["occurrences"].as_array().unwrap().len(), 3);
    assert_eq!(
        m["dispatch"]["deliveries"],
        json!([]),
        "no target configured"
    );
    let (status, got) = env
        .control(Method::GET, "/meetings/85555555555", None)
        .await;
    assert_eq!(
        (status, got["host_id"].as_str()),
        (StatusCode::OK, Some("boss"))
    );
    let (_, acct) = env.control(Method::GET, "/accounts/acme", None).await;
    assert_eq!(acct["users"], 1);
    // The new owner can authorize and sees the meeting.
    let at = env.access_token().await;
    let (status, body) = env.get(&at, "/meetings/85555555555").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["type"], 8);
}

#[tokio::test]
async fn counters_per_endpoint_and_account() {
    let env = Env::demo().await;
    let at = env.access_token().await;
    env.get(&at, "/users/me").await;
    env.get(&at, "/users/me").await;
    env.get(&at, "/meetings/85000000101/jointoken/local_recording")
        .await;
    env.get("bad", "/users/me").await;
    let (status, s) = env.control(Method::GET, "/stats", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s["by_endpoint"]["get_user"], 3);
    assert_eq!(s["by_endpoint"]["join_token"], 1);
    assert_eq!(s["by_endpoint"]["oauth_authorize"], 1);
    assert_eq!(s["by_endpoint"]["oauth_token"], 1);
    assert_eq!(s["by_account"]["demo"], 3);
    assert_eq!(s["by_status"]["401"], 1);
    assert_eq!(s["tokens_minted"], 1);
    assert_eq!(s["oauth_tokens_issued"], 1);
    assert_eq!(s["served_429"], 0);
    let (status, _) = env.control(Method::DELETE, "/stats", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(env.sim.stats().requests, 0);
}

async fn generated_first_page(seed: u64) -> (String, serde_json::Value) {
    let env = Env::start(config()).await;
    let (status, summary) = env
        .control(
            Method::POST,
            "/generate",
            Some(json!({"users": 500, "meetings_per_user": 3, "seed": seed})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{summary}");
    assert_eq!(summary["meetings"], 1500);
    let at = env.access_token().await;
    let (_, page) = env.get(&at, "/users?page_size=50").await;
    (
        summary["account_id"].as_str().unwrap().to_owned(),
        page["users"].clone(),
    )
}

#[tokio::test]
async fn generator_is_deterministic_for_a_seed() {
    let (a_id, a) = generated_first_page(77).await;
    let (b_id, b) = generated_first_page(77).await;
    let (c_id, c) = generated_first_page(78).await;
    assert_eq!(a_id, b_id);
    // Creation times follow the clock; everything else is the seed's.
    let strip = |v: &serde_json::Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|u| (u["id"].clone(), u["email"].clone(), u["pmi"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&a), strip(&b));
    assert_ne!(a_id, c_id);
    assert_ne!(strip(&a), strip(&c));
}

#[tokio::test]
async fn config_flags_seed_and_generate_at_start() {
    let mut cfg = config();
    cfg.seed_demo = true;
    cfg.generate_users = 10_000;
    cfg.meetings_per_user = 10;
    let started = std::time::Instant::now();
    let env = Env::start(cfg).await;
    let build = started.elapsed();
    assert!(
        build.as_secs_f64() < 5.0,
        "10k users × 10 meetings took {build:?}"
    );
    assert!(env.sim.account(zoom_sim::DEMO_ACCOUNT_ID).is_some());
    let grants_before = env.sim.grants().len();
    assert_eq!(grants_before, 0);
    // Consents as the demo owner (first account).
    let at = env.access_token().await;
    assert_eq!(env.get(&at, "/users/me").await.1["account_id"], "demo");
}

#[tokio::test]
async fn clock_and_oauth_settings_over_http() {
    let env = Env::demo().await;
    let at = env.access_token().await;
    let (status, _) = env
        .control(
            Method::POST,
            "/clock/advance",
            Some(json!({"seconds": 3600})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(env.get(&at, "/users/me").await.0, StatusCode::UNAUTHORIZED);
    let (status, s) = env
        .control(
            Method::PUT,
            "/oauth",
            Some(json!({"authorize_user": "demo-carol"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s["authorize_user"], "demo-carol");
    let at = env.access_token().await;
    assert_eq!(env.get(&at, "/users/me").await.1["id"], "demo-carol");
    let (_, grants) = env.control(Method::GET, "/grants", None).await;
    assert_eq!(grants.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn generation_size_is_bounded() {
    let env = Env::start(config()).await;
    let (status, body) = env
        .control(
            Method::POST,
            "/generate",
            Some(json!({"users": 2_000_000, "seed": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Nothing was inserted: there is no user to consent as.
    let resp = env
        .http
        .get(format!("{}/oauth/authorize", env.base))
        .query(&[
            ("response_type", "code"),
            ("client_id", crate::common::CLIENT_ID),
            ("redirect_uri", crate::common::REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn serve_shuts_down_gracefully_and_cancels_retries() {
    use tokio_util::sync::CancellationToken;
    use zoom_sim::{DeliveryState, Sim};

    let rx = crate::common::Receiver::start(vec![(500, 0)]).await;
    let mut cfg = config();
    cfg.seed_demo = true;
    cfg.webhook_urls = vec![rx.url.clone()];
    cfg.webhook_retry_scale = 1.0; // next retry in 5 real minutes
    let sim = Sim::new(cfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(sim.clone().serve(listener, shutdown.clone()));
    let health = reqwest::get(format!("http://{addr}/_sim/health"))
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(sim.base_url(), Some(format!("http://{addr}")));
    assert_eq!(sim.api_url(), Some(format!("http://{addr}/v2")));

    let fired = sim.set_pmi("demo-bob", 5_551_000_111).unwrap();
    rx.wait_for(1).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();
    let records = fired.wait(&sim).await;
    assert_eq!(records[0].state, DeliveryState::Cancelled);
    assert!(
        reqwest::get(format!("http://{addr}/_sim/health"))
            .await
            .is_err()
    );
}
