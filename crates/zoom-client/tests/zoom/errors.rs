//! Zoom's refusals as the simulator serves them, and transport failures.

use std::time::Duration;

use rectoken_domain::join::TokenKind;
use rectoken_zoom::{ApiError, OAuthError, UserTokenKind};
use zoom_sim::generate::demo_meeting_id;
use zoom_sim::{Behaviour, Endpoint, NewAccount, NewMeeting, NewUser, OAuthSettings, Plan};

use crate::common::{Env, REDIRECT, client_for, mid};

#[tokio::test]
async fn not_found_carries_zooms_code() {
    let env = Env::demo().await;
    let tokens = env.connect().await;
    let access = &tokens.access_token;
    let missing = mid(99_999_999_999);

    let e = env.zoom.get_meeting(access, missing).await.unwrap_err();
    assert_eq!(
        e,
        ApiError::NotFound {
            code: Some(3001),
            message: "Meeting does not exist: 99999999999.".into()
        }
    );
    let e = env
        .zoom
        .join_token(access, missing, TokenKind::LocalRecording, true)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ApiError::NotFound {
                code: Some(3001),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.is_retryable());

    let e = env.zoom.get_user(access, "nobody").await.unwrap_err();
    assert!(
        matches!(
            e,
            ApiError::NotFound {
                code: Some(1001),
                ..
            }
        ),
        "{e:?}"
    );
    let e = env
        .zoom
        .list_meetings(
            access,
            "nobody",
            rectoken_zoom::ListType::Scheduled,
            None,
            30,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ApiError::NotFound {
                code: Some(1001),
                ..
            }
        ),
        "{e:?}"
    );

    // A meeting of another account is invisible to this grant: 404/3001.
    env.sim
        .create_account(NewAccount {
            id: Some("other".into()),
            plan: None,
        })
        .unwrap();
    let stranger = env
        .sim
        .create_user(
            "other",
            NewUser {
                id: Some("stranger".into()),
                ..NewUser::default()
            },
        )
        .unwrap();
    let theirs = env
        .sim
        .create_meeting(&stranger.id, NewMeeting::default())
        .unwrap()
        .value;
    let e = env
        .zoom
        .join_token(access, mid(theirs.id), TokenKind::LocalRecording, true)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ApiError::NotFound {
                code: Some(3001),
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(env.sim.stats().tokens_minted, 0);
}

#[tokio::test]
async fn missing_scope_is_recognised() {
    let env = Env::demo().await;
    env.sim.set_oauth_settings(OAuthSettings {
        scopes: Some(vec!["user:read:user:admin".into()]),
        ..OAuthSettings::default()
    });
    let tokens = env.connect().await;
    // The granted scope works …
    env.zoom.me(&tokens.access_token).await.unwrap();
    // … the others do not.
    let e = env
        .zoom
        .join_token(
            &tokens.access_token,
            mid(demo_meeting_id(0, 1)),
            TokenKind::LocalRecording,
            true,
        )
        .await
        .unwrap_err();
    let ApiError::MissingScope { message } = &e else {
        panic!("{e:?}")
    };
    assert!(
        message.contains("meeting:read:local_recording_token:admin"),
        "{message}"
    );
    assert_eq!(e.code(), Some(4711));
    assert!(!e.is_retryable());
    let e = env
        .zoom
        .list_users(&tokens.access_token, None, 30)
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::MissingScope { .. }), "{e:?}");
    let e = env
        .zoom
        .user_token(&tokens.access_token, "me", UserTokenKind::Zak, None)
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::MissingScope { .. }), "{e:?}");
}

#[tokio::test]
async fn injected_429_carries_retry_after_and_category() {
    let env = Env::demo().await;
    let tokens = env.connect().await;
    env.sim
        .set_behaviour(
            Some(Endpoint::JoinToken),
            Behaviour {
                rate_limited: 1.0,
                ..Behaviour::default()
            },
        )
        .unwrap();
    let e = env
        .zoom
        .join_token(
            &tokens.access_token,
            mid(demo_meeting_id(0, 1)),
            TokenKind::LocalRecording,
            true,
        )
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ApiError::RateLimited {
            retry_after: Some(Duration::from_secs(1)),
            category: Some("Light".into()),
            limit_type: Some("QPS".into()),
        }
    );
    assert!(e.is_retryable());
    assert_eq!(
        rectoken_zoom::Endpoint::JoinToken
            .label()
            .map(|l| l.as_str()),
        Some("Light"),
        "the client's label matches the category Zoom reports"
    );
    // Other endpoints are unaffected.
    env.zoom.me(&tokens.access_token).await.unwrap();
}

#[tokio::test]
async fn a_low_limit_plan_answers_429_under_a_burst() {
    let env = Env::demo().await;
    env.sim.set_plan("demo", Plan::Pro).unwrap(); // Medium: 20 requests per second
    let tokens = env.connect().await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let zoom = env.zoom.clone();
        let access = tokens.access_token.clone();
        tasks.spawn(async move { zoom.list_users(&access, None, 1).await });
    }
    let (mut ok, mut limited) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok(_) => ok += 1,
            Err(ApiError::RateLimited {
                retry_after,
                category,
                limit_type,
            }) => {
                limited += 1;
                assert_eq!(retry_after, Some(Duration::from_secs(1)));
                assert_eq!(category.as_deref(), Some("Medium"));
                assert_eq!(limit_type.as_deref(), Some("QPS"));
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(ok >= 20, "the first 20 pass: {ok}");
    assert!(limited > 0, "100 requests in a burst exceed 20/s");
    assert_eq!(env.sim.stats().rate_limited, limited);
}

#[tokio::test]
async fn injected_5xx_is_a_retryable_server_error() {
    let env = Env::demo().await;
    let tokens = env.connect().await;
    for (behaviour, status) in [
        (
            Behaviour {
                error_500: 1.0,
                ..Behaviour::default()
            },
            500,
        ),
        (
            Behaviour {
                error_503: 1.0,
                ..Behaviour::default()
            },
            503,
        ),
    ] {
        env.sim.set_behaviour(None, behaviour).unwrap();
        let e = env
            .zoom
            .get_meeting(&tokens.access_token, mid(demo_meeting_id(0, 1)))
            .await
            .unwrap_err();
        assert_eq!(e, ApiError::Server { status });
        assert!(e.is_retryable());
        let e = env
            .zoom
            .list_users(&tokens.access_token, None, 30)
            .await
            .unwrap_err();
        assert_eq!(e, ApiError::Server { status });
    }
}

#[tokio::test]
async fn timeouts_are_transport_errors() {
    let env = Env::demo().await;
    let tokens = env.connect().await;
    env.sim
        .set_behaviour(
            Some(Endpoint::GetUser),
            Behaviour {
                latency_ms: 30_000,
                ..Behaviour::default()
            },
        )
        .unwrap();
    let hasty = env.client_with(|c| c.timeout = Duration::from_millis(200));
    let e = hasty.me(&tokens.access_token).await.unwrap_err();
    let ApiError::Transport(detail) = &e else {
        panic!("{e:?}")
    };
    assert!(detail.starts_with("timed out"), "{detail}");
    assert!(
        !detail.contains("127.0.0.1"),
        "no URL in the error: {detail}"
    );
    assert!(e.is_retryable());

    env.sim
        .set_behaviour(
            Some(Endpoint::OauthToken),
            Behaviour {
                latency_ms: 30_000,
                ..Behaviour::default()
            },
        )
        .unwrap();
    let e = hasty.refresh(&tokens.refresh_token).await.unwrap_err();
    assert!(
        matches!(&e, OAuthError::Transient(d) if d.starts_with("timed out")),
        "{e:?}"
    );
}

#[tokio::test]
async fn nobody_listening_is_a_transport_error() {
    let env = Env::demo().await;
    let tokens = env.connect().await;
    // A port that was just free: bind, read it, release it.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = client_for(&env.sim, |c| {
        c.api_url = format!("http://127.0.0.1:{port}/v2");
        c.oauth_url = format!("http://127.0.0.1:{port}/oauth");
    });
    let e = dead.me(&tokens.access_token).await.unwrap_err();
    assert!(
        matches!(&e, ApiError::Transport(d) if d.starts_with("could not connect")),
        "{e:?}"
    );
    let e = dead.exchange_code("c", REDIRECT).await.unwrap_err();
    assert!(matches!(e, OAuthError::Transient(_)), "{e:?}");
}

#[tokio::test]
async fn unusable_user_ids_are_refused_locally() {
    let env = Env::demo().await;
    let tokens = env.connect().await;
    env.sim.reset_stats();
    for id in ["", ".", ".."] {
        let e = env
            .zoom
            .get_user(&tokens.access_token, id)
            .await
            .unwrap_err();
        assert!(matches!(e, ApiError::InvalidRequest(_)), "{id:?}: {e:?}");
    }
    assert_eq!(env.sim.stats().requests, 0);
    // Anything else is sent as one segment: the simulator looks it up.
    let e = env
        .zoom
        .get_user(&tokens.access_token, "../meetings/85000000101")
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ApiError::NotFound {
                code: Some(1001),
                ..
            }
        ),
        "{e:?}"
    );
}
