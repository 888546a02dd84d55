//! Per-kind join replies and the sender (`on_behalf_of`), end to end over
//! the real RabbitMQ and Redis with the Zoom simulator: OBF tokens for the
//! user who sends the bot, for meetings in no connected account too; ZAKs
//! only when allowed; a clear reason per kind; and the simulator's word
//! that each token is for that meeting and user, and admits a bot only
//! while that user is in the meeting.
//!
//! Needs the test RabbitMQ and Redis (`scripts/test`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Env;
use rectoken_domain::join::{JoinStatus, TokenKind, reason};
use rectoken_store::DirectoryUser;
use rectoken_token::TokenOptions;
use serde_json::json;
use zoom_sim::{AdmissionVerdict, NewAccount, NewMeeting, NewUser, TokenKind as SimKind};

/// An environment whose simulated Zoom grants every scope rectoken can use
/// (the OBF and ZAK scopes are optional in an app's set-up).
async fn all_scopes_env(name: &str) -> Env {
    Env::with_sim(name, |c| {
        c.scopes = Some(zoom_sim::AppKind::Account.all_scopes().join(" "));
    })
    .await
}

/// A meeting hosted in a simulated account rectoken is not connected to:
/// the "external" meeting Zoom demands OBF for.
fn external_meeting(env: &Env) -> u64 {
    let sim = &env.h.sim;
    let account = sim.create_account(NewAccount::default()).unwrap();
    let host = sim.create_user(&account.id, NewUser::default()).unwrap();
    sim.create_meeting(&host.id, NewMeeting::default())
        .unwrap()
        .value
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_gets_obf_for_mapped_and_external_meetings() {
    let env = all_scopes_env("tw-sender").await;
    let a = env.mapped_account(1).await;
    // The sender: a member (not the host) of the connected account.
    let sender = env
        .h
        .sim
        .create_user(
            &a.account_id,
            NewUser {
                email: Some("Sender.Jill@example.com".into()),
                ..NewUser::default()
            },
        )
        .unwrap();
    env.worker().await;

    // A mapped meeting: both tokens, the OBF one for the sender.
    let mapped = a.meetings[0].get();
    let (reply, json) = env
        .request(json!({"request_id": "s1", "meeting_id": mapped.to_string(),
            "tokens": ["local_recording", "onbehalf"], "on_behalf_of": sender.id}))
        .await;
    assert_eq!(reply.status(), JoinStatus::Ok, "{json}");
    assert!(reply.token_errors().is_empty(), "{json}");
    assert_eq!(reply.account_id(), Some(a.account_id.as_str()));
    let rec = env
        .h
        .sim
        .token(&reply.tokens()[&TokenKind::LocalRecording].token)
        .unwrap();
    assert_eq!(rec.kind, SimKind::LocalRecording);
    assert_eq!(rec.user_id, a.owner_id);
    let obf_token = reply.tokens()[&TokenKind::OnBehalf].token.clone();
    let obf = env.h.sim.token(&obf_token).unwrap();
    assert_eq!(obf.kind, SimKind::Onbehalf);
    assert_eq!(
        obf.user_id, sender.id,
        "minted for the sender, not the host"
    );
    assert_eq!(obf.meeting_id, Some(mapped));

    // An external meeting (no connected account owns it), sender named by
    // email in another case: the OBF token, and why no recording token.
    let external = external_meeting(&env);
    let (reply, json) = env
        .request(json!({"request_id": "s2", "meeting_url": format!("https://us02web.zoom.us/j/{external}?pwd=x"),
            "tokens": ["local_recording", "onbehalf"], "on_behalf_of": "sender.jill@EXAMPLE.com"}))
        .await;
    assert_eq!(reply.status(), JoinStatus::Ok, "{json}");
    assert_eq!(reply.account_id(), None, "nobody connected owns it: {json}");
    let obf_token = &reply.tokens()[&TokenKind::OnBehalf].token;
    let obf = env.h.sim.token(obf_token).unwrap();
    assert_eq!(
        (obf.user_id.as_str(), obf.meeting_id),
        (sender.id.as_str(), Some(external))
    );
    assert!(!reply.tokens().contains_key(&TokenKind::LocalRecording));
    let why = &reply.token_errors()[&TokenKind::LocalRecording];
    assert_eq!(why.status(), JoinStatus::NotFound, "{json}");
    assert_eq!(why.reason(), reason::MEETING_NOT_FOUND, "{json}");
    assert_eq!(
        json["token_errors"]["local_recording"]["reason"],
        "meeting_not_found"
    );

    // The simulator admits a bot with that OBF token only while the sender
    // is in the meeting.
    let sim = &env.h.sim;
    assert_eq!(
        sim.admission(obf_token, None).verdict,
        AdmissionVerdict::UserNotInMeeting
    );
    sim.set_in_meeting(external, &sender.id, true).unwrap();
    let admitted = sim.admission(obf_token, None);
    assert!(admitted.admitted, "{admitted:?}");
    assert_eq!(
        sim.admission(obf_token, Some(mapped)).verdict,
        AdmissionVerdict::WrongMeeting
    );
    sim.set_in_meeting(external, &sender.id, false).unwrap();
    assert!(!sim.admission(obf_token, None).admitted);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_sender_and_unknown_meeting_say_why_per_kind() {
    let env = all_scopes_env("tw-sender-why").await;
    let a = env.mapped_account(1).await;
    env.worker().await;
    let minted_before = env.h.sim.stats().tokens_minted;

    // Mapped meeting, unknown sender: the recording token, and why no OBF.
    let (reply, json) = env
        .request(json!({"meeting_id": a.meetings[0].to_string(),
            "tokens": ["local_recording", "onbehalf"], "on_behalf_of": "nobody@example.com"}))
        .await;
    assert_eq!(reply.status(), JoinStatus::Ok, "{json}");
    assert!(reply.tokens().contains_key(&TokenKind::LocalRecording));
    let why = &reply.token_errors()[&TokenKind::OnBehalf];
    assert_eq!(why.reason(), reason::SENDER_NOT_FOUND, "{json}");

    // External meeting, unknown sender: nothing minted, each kind says why.
    let external = external_meeting(&env);
    let (reply, json) = env
        .request(
            json!({"meeting_id": external, "tokens": ["local_recording", "onbehalf"],
            "on_behalf_of": "nobody@example.com"}),
        )
        .await;
    assert_eq!(reply.status(), JoinStatus::NotFound, "{json}");
    assert!(
        reply.tokens().is_empty() && json.get("tokens").is_none(),
        "{json}"
    );
    assert_eq!(
        reply.token_errors()[&TokenKind::LocalRecording].reason(),
        reason::MEETING_NOT_FOUND
    );
    assert_eq!(
        reply.token_errors()[&TokenKind::OnBehalf].reason(),
        reason::SENDER_NOT_FOUND
    );
    assert!(reply.reason().is_some(), "{json}");

    // A known sender, a meeting Zoom does not know: Zoom's 3001, per kind.
    let (reply, json) = env
        .request(json!({"meeting_id": "99912345678", "tokens": ["onbehalf"],
            "on_behalf_of": a.owner_id}))
        .await;
    assert_eq!(reply.status(), JoinStatus::NotFound, "{json}");
    let why = &reply.token_errors()[&TokenKind::OnBehalf];
    assert_eq!(
        (why.reason(), why.zoom_code()),
        (reason::MEETING_NOT_FOUND, Some(3001)),
        "{json}"
    );
    assert_eq!(reply.zoom_code(), Some(3001));

    // Only local_recording of an unmapped meeting: still not_found, as before.
    let (reply, json) = env.request(json!({"meeting_id": external})).await;
    assert_eq!(reply.status(), JoinStatus::NotFound, "{json}");
    assert_eq!(reply.reason(), Some(reason::MEETING_NOT_FOUND));
    assert_eq!(
        env.h.sim.stats().tokens_minted,
        minted_before + 1,
        "only the first request's recording token was minted"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_from_the_directory_and_disconnected_sender() {
    let env = all_scopes_env("tw-sender-dir").await;
    let a = env.mapped_account(1).await;
    let member = env
        .h
        .sim
        .create_user(&a.account_id, NewUser::default())
        .unwrap();
    let user = |account: &str, id: &str, email: &str| DirectoryUser {
        account_id: account.to_owned(),
        user_id: id.to_owned(),
        email: Some(email.to_owned()),
        vanity_name: None,
        pmi: None,
        version: 1,
    };
    // As the sync records them: the member by an email Zoom would not
    // resolve (so only the directory can), and a user of an account that
    // is not connected.
    env.h
        .store
        .put_directory_user(&user(&a.account_id, &member.id, "alias@corp.example"))
        .await
        .unwrap();
    env.h
        .store
        .put_directory_user(&user("gone-account", "u-gone", "gone@corp.example"))
        .await
        .unwrap();
    env.worker().await;
    let external = external_meeting(&env);

    let (reply, json) = env
        .request(json!({"meeting_id": external, "tokens": ["onbehalf"],
            "on_behalf_of": "Alias@Corp.example"}))
        .await;
    assert_eq!(reply.status(), JoinStatus::Ok, "{json}");
    let obf = env
        .h
        .sim
        .token(&reply.tokens()[&TokenKind::OnBehalf].token)
        .unwrap();
    assert_eq!(obf.user_id, member.id);

    let (reply, json) = env
        .request(json!({"meeting_id": external, "tokens": ["onbehalf"],
            "on_behalf_of": "gone@corp.example"}))
        .await;
    assert_eq!(reply.status(), JoinStatus::AccountDisconnected, "{json}");
    assert_eq!(reply.reason(), Some(reason::SENDER_NOT_CONNECTED), "{json}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zak_only_when_allowed_and_only_for_a_named_sender() {
    let env = all_scopes_env("tw-zak").await;
    let a = env.mapped_account(1).await;
    env.worker().await;
    let meeting = a.meetings[0].to_string();
    let (reply, json) = env
        .request(json!({"meeting_id": meeting, "tokens": ["zak"], "on_behalf_of": a.owner_id}))
        .await;
    assert_eq!(reply.status(), JoinStatus::InvalidRequest, "{json}");
    assert_eq!(reply.reason(), Some(reason::ZAK_NOT_ALLOWED));
    assert_eq!(env.h.sim.stats().tokens_minted, 0);
    env.finish().await;

    let env = all_scopes_env("tw-zak-on").await;
    let a = env.mapped_account(1).await;
    env.start_worker(TokenOptions {
        allow_zak: true,
        ..TokenOptions::default()
    })
    .await;
    let meeting = a.meetings[0].to_string();
    let (reply, json) = env
        .request(json!({"meeting_id": meeting, "tokens": ["local_recording", "zak"]}))
        .await;
    assert_eq!(reply.status(), JoinStatus::Ok, "{json}");
    assert_eq!(
        reply.token_errors()[&TokenKind::Zak].reason(),
        reason::SENDER_REQUIRED
    );
    let (reply, json) = env
        .request(json!({"meeting_id": meeting, "tokens": ["zak"], "on_behalf_of": a.owner_id}))
        .await;
    assert_eq!(reply.status(), JoinStatus::Ok, "{json}");
    let zak = &reply.tokens()[&TokenKind::Zak];
    let rec = env.h.sim.token(&zak.token).unwrap();
    assert_eq!(
        (rec.kind, rec.user_id.as_str()),
        (SimKind::Zak, a.owner_id.as_str())
    );
    assert!(
        env.h
            .sim
            .admission(&zak.token, Some(a.meetings[0].get()))
            .admitted
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn obf_without_the_scope_says_missing_scope() {
    let env = Env::new("tw-sender-scope").await;
    // The app was authorized without `user:read:token:admin`.
    let scopes: Vec<String> = zoom_sim::AppKind::Account
        .all_scopes()
        .into_iter()
        .filter(|s| !s.starts_with("user:read:token"))
        .collect();
    let a = env.h.connect_account(1, Some(scopes)).await.unwrap();
    env.h.map_all(&a).await.unwrap();
    env.worker().await;
    let (reply, json) = env
        .request(json!({"meeting_id": a.meetings[0].to_string(),
            "tokens": ["local_recording", "onbehalf"], "on_behalf_of": a.owner_id}))
        .await;
    assert_eq!(reply.status(), JoinStatus::Ok, "{json}");
    assert!(reply.tokens().contains_key(&TokenKind::LocalRecording));
    let why = &reply.token_errors()[&TokenKind::OnBehalf];
    assert_eq!(
        (why.status(), why.reason(), why.zoom_code()),
        (JoinStatus::ZoomError, reason::MISSING_SCOPE, Some(4711)),
        "{json}"
    );
    env.finish().await;
}
