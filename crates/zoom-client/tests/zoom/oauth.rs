//! The authorization-code flow, refresh rotation, and OAuth failures.

use std::time::Duration;

use rectoken_zoom::{ApiError, OAuthError};
use secrecy::{ExposeSecret, SecretString};
use zoom_sim::{Behaviour, Endpoint, OAuthSettings};

use crate::common::{CLIENT_ID, Env, REDIRECT, mid};

#[tokio::test]
async fn code_flow_end_to_end() {
    let env = Env::demo().await;
    let code = env.authorize().await;
    let tokens = env.zoom.exchange_code(&code, REDIRECT).await.unwrap();
    assert_eq!(tokens.expires_in, 3600);
    assert!(tokens.has_scope("meeting:read:local_recording_token:admin"));
    assert!(tokens.has_scope("user:read:list_users:admin"));
    assert_ne!(
        tokens.access_token.expose_secret(),
        tokens.refresh_token.expose_secret()
    );

    let me = env.zoom.me(&tokens.access_token).await.unwrap();
    assert_eq!(me.id, "demo-admin");
    assert_eq!(me.account_id, "demo");
    assert_eq!(me.pmi, Some(mid(5_550_000_001)));
    assert_eq!(me.email.as_deref(), Some("ada@demo.example.com"));
    assert_eq!(me.role_id.as_deref(), Some("0"));

    let grants = env.sim.grants();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].account_id, "demo");
    assert_eq!(grants[0].user_id, "demo-admin");
    // Client ID and secret went as Basic auth: the simulator issued tokens.
    assert_eq!(env.sim.stats().oauth_tokens_issued, 1);
}

#[tokio::test]
async fn authorize_url_names_the_app_and_redirect() {
    let env = Env::empty().await;
    let url = url::Url::parse(&env.zoom.authorize_url(REDIRECT, "s")).unwrap();
    assert_eq!(url.path(), "/oauth/authorize");
    let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(
        q,
        [
            ("response_type".into(), "code".into()),
            ("client_id".into(), CLIENT_ID.into()),
            ("redirect_uri".into(), REDIRECT.into()),
            ("state".into(), "s".into()),
        ]
    );
}

#[tokio::test]
async fn bad_codes() {
    let env = Env::demo().await;
    let code = env.authorize().await;

    // redirect_uri must match the authorize request: a request error, not a
    // verdict on the account; the code stays usable.
    let e = env
        .zoom
        .exchange_code(&code, "http://127.0.0.1:1/elsewhere")
        .await
        .unwrap_err();
    assert!(matches!(e, OAuthError::Misconfigured(_)), "{e:?}");
    assert!(!e.is_permanent() && !e.is_retryable());

    env.zoom.exchange_code(&code, REDIRECT).await.unwrap();
    // Single use.
    let e = env.zoom.exchange_code(&code, REDIRECT).await.unwrap_err();
    assert!(matches!(e, OAuthError::InvalidGrant(_)), "{e:?}");
    assert!(e.is_permanent());

    // Codes live 5 minutes.
    let late = env.authorize().await;
    env.sim.advance_clock(Duration::from_secs(301));
    let e = env.zoom.exchange_code(&late, REDIRECT).await.unwrap_err();
    assert!(matches!(e, OAuthError::InvalidGrant(_)), "{e:?}");

    let e = env
        .zoom
        .exchange_code("never-issued", REDIRECT)
        .await
        .unwrap_err();
    assert!(matches!(e, OAuthError::InvalidGrant(_)), "{e:?}");
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client() {
    let env = Env::demo().await;
    let code = env.authorize().await;
    let wrong = env.client_with(|c| c.client_secret = SecretString::from("not-the-secret"));
    let e = wrong.exchange_code(&code, REDIRECT).await.unwrap_err();
    assert!(matches!(e, OAuthError::InvalidClient(_)), "{e:?}");
    assert!(e.is_permanent());
    assert!(!e.to_string().contains("not-the-secret"), "{e}");
}

#[tokio::test]
async fn refresh_rotates_and_the_old_token_dies() {
    let env = Env::demo().await;
    let first = env.connect().await;

    let second = env.zoom.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(
        second.refresh_token.expose_secret(),
        first.refresh_token.expose_secret()
    );
    assert_ne!(
        second.access_token.expose_secret(),
        first.access_token.expose_secret()
    );
    assert_eq!(second.expires_in, 3600);
    assert_eq!(second.scope, first.scope);
    env.zoom.me(&second.access_token).await.unwrap();

    // The used refresh token is dead: permanent, the account is disconnected.
    let e = env.zoom.refresh(&first.refresh_token).await.unwrap_err();
    assert_eq!(e, OAuthError::InvalidGrant("Invalid Token!".into()));
    assert!(e.is_permanent());

    // The newest one still works.
    let third = env.zoom.refresh(&second.refresh_token).await.unwrap();
    env.zoom.me(&third.access_token).await.unwrap();
    assert_eq!(env.sim.stats().oauth_refreshes, 2);
}

#[tokio::test]
async fn expired_access_token_is_unauthorized_until_refreshed() {
    let env = Env::demo().await;
    let tokens = env.connect().await;
    env.zoom.me(&tokens.access_token).await.unwrap();

    env.sim.advance_clock(Duration::from_secs(3600));
    let e = env.zoom.me(&tokens.access_token).await.unwrap_err();
    assert_eq!(
        e,
        ApiError::Unauthorized {
            code: Some(124),
            message: "Invalid access token.".into()
        }
    );
    assert!(!e.is_retryable(), "a 401 needs a refresh, not a retry");

    let fresh = env.zoom.refresh(&tokens.refresh_token).await.unwrap();
    let me = env.zoom.me(&fresh.access_token).await.unwrap();
    assert_eq!(me.account_id, "demo");
}

#[tokio::test]
async fn deauthorization_kills_both_tokens() {
    let env = Env::demo().await;
    let tokens = env.connect().await;
    env.sim.deauthorize("demo", None).unwrap();
    let e = env.zoom.me(&tokens.access_token).await.unwrap_err();
    assert!(
        matches!(
            e,
            ApiError::Unauthorized {
                code: Some(124),
                ..
            }
        ),
        "{e:?}"
    );
    let e = env.zoom.refresh(&tokens.refresh_token).await.unwrap_err();
    assert!(matches!(e, OAuthError::InvalidGrant(_)), "{e:?}");
}

#[tokio::test]
async fn token_endpoint_5xx_is_transient_and_keeps_the_refresh_token() {
    let env = Env::demo().await;
    let tokens = env.connect().await;
    env.sim
        .set_behaviour(
            Some(Endpoint::OauthToken),
            Behaviour {
                error_503: 1.0,
                ..Behaviour::default()
            },
        )
        .unwrap();
    let e = env.zoom.refresh(&tokens.refresh_token).await.unwrap_err();
    assert!(
        matches!(&e, OAuthError::Transient(d) if d.starts_with("HTTP 503")),
        "{e:?}"
    );
    assert!(e.is_retryable() && !e.is_permanent());

    env.sim
        .set_behaviour(
            Some(Endpoint::OauthToken),
            Behaviour {
                rate_limited: 1.0,
                ..Behaviour::default()
            },
        )
        .unwrap();
    let e = env.zoom.refresh(&tokens.refresh_token).await.unwrap_err();
    assert_eq!(
        e,
        OAuthError::RateLimited {
            retry_after: Some(Duration::from_secs(1))
        }
    );

    // Neither failure consumed the refresh token.
    env.sim.reset_behaviours();
    env.zoom.refresh(&tokens.refresh_token).await.unwrap();
}

#[tokio::test]
async fn scopes_come_from_the_grant() {
    let env = Env::demo().await;
    env.sim.set_oauth_settings(OAuthSettings {
        scopes: Some(vec!["user:read:user:admin".into()]),
        ..OAuthSettings::default()
    });
    let tokens = env.connect().await;
    assert_eq!(tokens.scope, ["user:read:user:admin"]);
}
