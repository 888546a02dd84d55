//! OAuth: authorize → code → token, code rules, refresh rotation, expiry,
//! client authentication, decline, and user-level apps.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use zoom_sim::auth::INVALID_REFRESH_TOKEN_BODY;
use zoom_sim::{AppKind, DEMO_ACCOUNT_ID, DEMO_ADMIN_USER_ID, OAuthSettings};

use crate::common::{CLIENT_ID, CLIENT_SECRET, Env, REDIRECT, config};

#[tokio::test]
async fn authorize_code_token_then_users_me() {
    let env = Env::demo().await;
    let q = env.authorize(REDIRECT, "xyz-state").await;
    assert_eq!(q["state"], "xyz-state");
    assert!(q.contains_key("code"));
    let (status, t) = env.exchange(&q["code"], REDIRECT).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["token_type"], "bearer");
    assert_eq!(t["expires_in"], 3600);
    assert!(t["refresh_token"].as_str().unwrap().len() > 20);
    let scope = t["scope"].as_str().unwrap();
    assert!(
        scope
            .split(' ')
            .any(|s| s == "meeting:read:local_recording_token:admin")
    );

    let (status, me) = env
        .get(t["access_token"].as_str().unwrap(), "/users/me")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["account_id"], DEMO_ACCOUNT_ID);
    assert_eq!(me["id"], DEMO_ADMIN_USER_ID);
    assert!(me["pmi"].is_u64(), "PMI is a number in user APIs: {me}");
}

#[tokio::test]
async fn client_credentials_in_form_and_wrong_ones() {
    let env = Env::demo().await;
    let q = env.authorize(REDIRECT, "s").await;
    let url = format!("{}/oauth/token", env.base);
    // Wrong secret in the Basic header.
    let resp = env
        .http
        .post(&url)
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    // No credentials at all.
    let resp = env
        .http
        .post(&url)
        .form(&[("grant_type", "authorization_code"), ("code", &q["code"])])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Credentials as form parameters work (the failures did not burn the code).
    let resp = env
        .http
        .post(&url)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn code_is_single_use() {
    let env = Env::demo().await;
    let q = env.authorize(REDIRECT, "s").await;
    assert_eq!(env.exchange(&q["code"], REDIRECT).await.0, StatusCode::OK);
    let (status, body) = env.exchange(&q["code"], REDIRECT).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Zoom labels a bad code `invalid_request` (issue 14), not RFC 6749's
    // `invalid_grant`.
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["reason"], "Invalid authorization code");
}

#[tokio::test]
async fn code_expires_after_five_minutes() {
    let env = Env::demo().await;
    let fresh = env.authorize(REDIRECT, "s").await;
    let stale = env.authorize(REDIRECT, "s").await;
    env.sim.advance_clock(Duration::from_secs(299));
    assert_eq!(
        env.exchange(&fresh["code"], REDIRECT).await.0,
        StatusCode::OK
    );
    env.sim.advance_clock(Duration::from_secs(2));
    let (status, body) = env.exchange(&stale["code"], REDIRECT).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn redirect_uri_must_match() {
    let env = Env::demo().await;
    let q = env.authorize(REDIRECT, "s").await;
    let (status, body) = env.exchange(&q["code"], "http://evil.example/cb").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"reason": "Redirect URI mismatch.", "error": "invalid_request"})
    );
    // Missing redirect_uri is a mismatch too.
    let (status, _) = env
        .token_request(&[("grant_type", "authorization_code"), ("code", &q["code"])])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(env.exchange(&q["code"], REDIRECT).await.0, StatusCode::OK);
}

#[tokio::test]
async fn refresh_rotates_and_old_token_fails_at_once() {
    let env = Env::demo().await;
    let t1 = env.connect().await;
    let rt1 = t1["refresh_token"].as_str().unwrap();
    let (status, t2) = env
        .token_request(&[("grant_type", "refresh_token"), ("refresh_token", rt1)])
        .await;
    assert_eq!(status, StatusCode::OK);
    let rt2 = t2["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2);
    assert_ne!(t1["access_token"], t2["access_token"]);
    assert_eq!(t2["scope"], t1["scope"]);

    // The old refresh token fails with exactly Zoom's body.
    let resp = env
        .http
        .post(format!("{}/oauth/token", env.base))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", rt1)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.text().await.unwrap(), INVALID_REFRESH_TOKEN_BODY);

    let (status, _) = env
        .get(t2["access_token"].as_str().unwrap(), "/users/me")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = env
        .token_request(&[("grant_type", "refresh_token"), ("refresh_token", rt2)])
        .await;
    assert_eq!(status, StatusCode::OK);
    let stats = env.sim.stats();
    assert_eq!(stats.oauth_refreshes, 2);
}

#[tokio::test]
async fn access_token_expires_with_code_124() {
    let env = Env::demo().await;
    let at = env.access_token().await;
    env.sim.advance_clock(Duration::from_secs(3599));
    assert_eq!(env.get(&at, "/users/me").await.0, StatusCode::OK);
    env.sim.advance_clock(Duration::from_secs(1));
    let (status, body) = env.get(&at, "/users/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"code": 124, "message": "Invalid access token."})
    );
    // Garbage and missing tokens get the same answer.
    assert_eq!(env.get("nope", "/users/me").await.1["code"], 124);
    let resp = env
        .http
        .get(format!("{}/v2/users/me", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn configurable_access_token_ttl() {
    let mut cfg = config();
    cfg.access_token_ttl_secs = 60;
    let env = Env::demo_with(cfg).await;
    let t = env.connect().await;
    assert_eq!(t["expires_in"], 60);
    env.sim.advance_clock(Duration::from_secs(60));
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(env.get(at, "/users/me").await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unsupported_grant_type() {
    let env = Env::demo().await;
    let (status, body) = env.token_request(&[("grant_type", "password")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn decline_mode_redirects_with_access_denied() {
    let env = Env::demo().await;
    env.sim.set_oauth_settings(OAuthSettings {
        decline: true,
        ..OAuthSettings::default()
    });
    let q = env.authorize(REDIRECT, "st8").await;
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st8");
    assert!(!q.contains_key("code"));
}

#[tokio::test]
async fn authorize_rejects_wrong_client_id() {
    let env = Env::demo().await;
    let resp = env
        .http
        .get(format!("{}/oauth/authorize", env.base))
        .query(&[
            ("response_type", "code"),
            ("client_id", "other"),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn consenting_user_is_configurable() {
    let env = Env::demo().await;
    env.sim.set_oauth_settings(OAuthSettings {
        authorize_user: Some("demo-bob".into()),
        ..OAuthSettings::default()
    });
    let at = env.access_token().await;
    let (_, me) = env.get(&at, "/users/me").await;
    assert_eq!(me["id"], "demo-bob");
}

#[tokio::test]
async fn user_level_app_sees_only_its_user() {
    let mut cfg = config();
    cfg.app_kind = AppKind::User;
    cfg.scopes = None;
    cfg.authorize_user = Some("demo-bob".into());
    let env = Env::demo_with(cfg).await;
    let t = env.connect().await;
    assert!(!t["scope"].as_str().unwrap().contains(":admin"));
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(env.get(at, "/users/me").await.1["id"], "demo-bob");
    let (status, body) = env.get(at, "/users/demo-carol").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], 1001);
    // Bob's own meeting is visible, Carol's is not.
    let bob = zoom_sim::generate::demo_meeting_id(1, 1);
    let carol = zoom_sim::generate::demo_meeting_id(2, 1);
    assert_eq!(
        env.get(at, &format!("/meetings/{bob}")).await.0,
        StatusCode::OK
    );
    let (status, body) = env
        .get(at, &format!("/meetings/{carol}/jointoken/local_recording"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"code": 3001, "message": format!("Meeting does not exist: {carol}.")})
    );
    // Listing all users needs an admin scope a user app does not have.
    let (status, body) = env.get(at, "/users").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], 4711);
}
