//! Per-account rate limits, injected faults and latency.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;
use zoom_sim::generate::demo_meeting_id;
use zoom_sim::{Behaviour, Endpoint, Plan, Sim};

use crate::common::{Env, config};

/// Sends `n` requests as fast as possible; returns (statuses, first 429's headers and body).
async fn burst(
    env: &Env,
    at: &str,
    path: &str,
    n: usize,
) -> (
    Vec<StatusCode>,
    Option<(reqwest::header::HeaderMap, serde_json::Value)>,
) {
    let mut statuses = Vec::new();
    let mut first_429 = None;
    for _ in 0..n {
        let (status, headers, body) = env.get_full(at, path).await;
        if status == StatusCode::TOO_MANY_REQUESTS && first_429.is_none() {
            first_429 = Some((headers, body));
        }
        statuses.push(status);
    }
    (statuses, first_429)
}

#[tokio::test]
async fn per_second_limit_answers_429_with_headers() {
    let mut cfg = config();
    cfg.plan = Plan::Pro;
    let env = Env::demo_with(cfg).await;
    let at = env.access_token().await;
    let path = format!(
        "/meetings/{}/jointoken/local_recording",
        demo_meeting_id(0, 1)
    );
    // Success answers carry the budget too.
    let (_, h, _) = env.get_full(&at, &path).await;
    assert_eq!(h["x-ratelimit-limit"], "30");
    assert_eq!(h["x-ratelimit-remaining"], "29");
    assert_eq!(h["x-ratelimit-category"], "Light");

    let started = Instant::now();
    let (statuses, first) = burst(&env, &at, &path, 60).await;
    let elapsed = started.elapsed();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count() + 1;
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(ok + limited, 61);
    // Never more than 30 per second (the window slides, so a slow machine
    // may see a second window's worth).
    let windows = elapsed.as_secs() as usize + 1;
    assert!(ok <= 30 * windows, "{ok} admitted in {elapsed:?}");
    assert!(
        limited > 0,
        "no 429 in a burst of 61 against 30/s ({elapsed:?})"
    );
    let (headers, body) = first.unwrap();
    assert_eq!(
        body,
        json!({"code": 429, "message": "You have reached the maximum per-second rate limit for this API. Try again later."})
    );
    assert_eq!(headers["x-ratelimit-category"], "Light");
    assert_eq!(headers["x-ratelimit-type"], "QPS");
    assert_eq!(headers["x-ratelimit-limit"], "30");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert_eq!(headers["retry-after"], "1");
    let stats = env.sim.stats();
    assert_eq!(stats.rate_limited as usize, limited);
    assert_eq!(stats.served_429 as usize, limited);
    assert_eq!(stats.by_account["demo"], 61);
}

#[tokio::test]
async fn limit_is_shared_by_tokens_of_one_account_only() {
    let mut cfg = config();
    cfg.plan = Plan::Pro;
    let env = Env::demo_with(cfg).await;
    let at1 = env.access_token().await;
    let at2 = env.access_token().await;
    assert_ne!(at1, at2);
    // List meetings is Medium: 20/s on Pro.
    let path = "/users/me/meetings";
    let started = Instant::now();
    let (s1, _) = burst(&env, &at1, path, 12).await;
    let (s2, _) = burst(&env, &at2, path, 12).await;
    let ok = s1
        .iter()
        .chain(&s2)
        .filter(|s| **s == StatusCode::OK)
        .count();
    assert!(
        ok <= 20 * (started.elapsed().as_secs() as usize + 1),
        "{ok}"
    );
    assert!(
        s2.contains(&StatusCode::TOO_MANY_REQUESTS),
        "second token shares the budget: {s2:?}"
    );
    // Another account's budget is untouched.
    let other = env.sim.generate(&zoom_sim::GenerateSpec {
        account_id: Some("other".into()),
        users: 1,
        meetings_per_user: 1,
        seed: 1,
        plan: Plan::Pro,
    });
    let owner = other.unwrap().owner_id.unwrap();
    env.sim.set_oauth_settings(zoom_sim::OAuthSettings {
        authorize_user: Some(owner),
        ..Default::default()
    });
    let at3 = env.access_token().await;
    let (_, h, _) = env.get_full(&at3, path).await;
    assert_eq!(h["x-ratelimit-remaining"], "19");
}

#[tokio::test]
async fn plan_sets_the_limit() {
    let env = Env::demo().await; // Business by default
    let at = env.access_token().await;
    let (_, h, _) = env.get_full(&at, "/users/me").await;
    assert_eq!(h["x-ratelimit-limit"], "80");
    let (_, h, _) = env.get_full(&at, "/users").await;
    assert_eq!(
        (
            h["x-ratelimit-limit"].to_str().unwrap(),
            h["x-ratelimit-category"].to_str().unwrap()
        ),
        ("60", "Medium")
    );
    env.sim.set_plan("demo", Plan::Pro).unwrap();
    let (_, h, _) = env.get_full(&at, "/users/me").await;
    assert_eq!(h["x-ratelimit-limit"], "30");
}

#[tokio::test]
async fn injected_faults_by_library_and_http() {
    let env = Env::demo().await;
    let at = env.access_token().await;
    let path = format!("/meetings/{}", demo_meeting_id(0, 1));
    env.sim
        .set_behaviour(
            Some(Endpoint::GetMeeting),
            Behaviour {
                error_500: 1.0,
                ..Behaviour::default()
            },
        )
        .unwrap();
    assert_eq!(
        env.get(&at, &path).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    // Other endpoints are unaffected.
    assert_eq!(env.get(&at, "/users/me").await.0, StatusCode::OK);

    let (status, _) = env
        .control(
            reqwest::Method::PUT,
            "/faults",
            Some(json!({"endpoint": "get_meeting", "error_503": 1.0})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(env.get(&at, &path).await.0, StatusCode::SERVICE_UNAVAILABLE);

    env.control(
        reqwest::Method::PUT,
        "/faults",
        Some(json!({"endpoint": "get_meeting", "rate_limited": 1.0})),
    )
    .await;
    let (status, h, body) = env.get_full(&at, &path).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], 429);
    assert_eq!(h["retry-after"], "1");
    assert_eq!(h["x-ratelimit-type"], "QPS");

    let (status, _) = env
        .control(
            reqwest::Method::PUT,
            "/faults",
            Some(json!({"error_500": 0.8, "rate_limited": 0.8})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "rates summing over 1 are refused"
    );

    let (status, _) = env.control(reqwest::Method::DELETE, "/faults", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(env.get(&at, &path).await.0, StatusCode::OK);
    let stats = env.sim.stats();
    assert_eq!(stats.injected_errors, 2);
    assert_eq!(stats.injected_rate_limited, 1);
    assert_eq!(stats.rate_limited, 0);
}

/// The statuses of 40 sequential `GET /meetings/{id}` with 50 % injected 500s.
async fn fault_sequence(seed: u64) -> Vec<u16> {
    let mut cfg = config();
    cfg.seed = Some(seed);
    let env = Env::demo_with(cfg).await;
    let at = env.access_token().await;
    env.sim
        .set_behaviour(
            None,
            Behaviour {
                error_500: 0.5,
                ..Behaviour::default()
            },
        )
        .unwrap();
    let path = format!("/meetings/{}", demo_meeting_id(0, 1));
    let mut out = Vec::new();
    for _ in 0..40 {
        out.push(env.get(&at, &path).await.0.as_u16());
    }
    out
}

#[tokio::test]
async fn fault_rates_are_reproducible_for_a_seed() {
    let a = fault_sequence(11).await;
    let b = fault_sequence(11).await;
    let c = fault_sequence(12).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    let errors = a.iter().filter(|s| **s == 500).count();
    assert!((8..=32).contains(&errors), "{errors} of 40 at rate 0.5");
    assert!(a.iter().all(|s| *s == 200 || *s == 500));
}

#[tokio::test]
async fn injected_latency_per_endpoint() {
    let env = Env::demo().await;
    let at = env.access_token().await;
    let (status, _) = env
        .control(
            reqwest::Method::PUT,
            "/faults",
            Some(json!({"endpoint": "get_user", "latency_ms": 300})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let started = Instant::now();
    assert_eq!(env.get(&at, "/users/me").await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(env.sim.behaviours()[&Endpoint::GetUser].latency_ms, 300);
    assert!(!env.sim.behaviours().contains_key(&Endpoint::JoinToken));
}

#[tokio::test]
async fn router_without_a_listener_serves_too() {
    // The router is usable with `oneshot` (no socket): the 401 path.
    use tower::ServiceExt;
    let sim = Sim::new(config());
    let resp = sim
        .router()
        .oneshot(
            axum::http::Request::get("/v2/users/me")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
