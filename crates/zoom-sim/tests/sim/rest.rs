//! `/v2`: paging, field types, scopes, ownership, join tokens, user tokens.

use std::collections::HashSet;

use axum::http::StatusCode;
use reqwest::Method;
use serde_json::{Value, json};
use zoom_sim::generate::{DEMO_PMIS, demo_meeting_id};
use zoom_sim::{GenerateSpec, NewAccount, NewMeeting, NewUser, OAuthSettings, Plan, TokenKind};

use crate::common::Env;

/// Walks every page of `path` (which already has a `?`), returning the items
/// and the number of pages.
async fn walk(env: &Env, at: &str, path: &str, key: &str) -> (Vec<Value>, usize, u64) {
    let mut items = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    let total = loop {
        let (status, body) = env
            .get(at, &format!("{path}&next_page_token={token}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages += 1;
        let total = body["total_records"].as_u64().unwrap();
        items.extend(body[key].as_array().unwrap().iter().cloned());
        token = body["next_page_token"].as_str().unwrap().to_owned();
        if token.is_empty() {
            break total;
        }
        assert!(pages < 100, "paging does not end");
    };
    (items, pages, total)
}

#[tokio::test]
async fn users_page_with_exact_totals() {
    let env = Env::start(crate::common::config()).await;
    let summary = env
        .sim
        .generate(&GenerateSpec {
            account_id: Some("big".into()),
            users: 95,
            meetings_per_user: 2,
            seed: 5,
            plan: Plan::Business,
        })
        .unwrap();
    assert_eq!(summary.users, 95);
    let at = env.access_token().await;
    let (users, pages, total) = walk(&env, &at, "/users?page_size=30", "users").await;
    assert_eq!(pages, 4);
    assert_eq!(total, 95);
    assert_eq!(users.len(), 95);
    let ids: HashSet<_> = users.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 95, "no user twice");
    assert!(users.iter().all(|u| u["pmi"].is_u64()));
    assert!(users.iter().all(|u| u.get("account_id").is_none()));
    let (_, first) = env.get(&at, "/users?page_size=30").await;
    assert_eq!(first["page_count"], 4);
    assert_eq!(first["page_size"], 30);
    // Default page size 30, maximum 300.
    let (_, d) = env.get(&at, "/users").await;
    assert_eq!(d["page_size"], 30);
    assert_eq!(d["users"].as_array().unwrap().len(), 30);
    let (_, m) = env.get(&at, "/users?page_size=1000").await;
    assert_eq!(m["page_size"], 300);
    assert_eq!(m["users"].as_array().unwrap().len(), 95);
    assert_eq!(m["next_page_token"], "");
}

#[tokio::test]
async fn meetings_page_with_exact_totals() {
    let env = Env::start(crate::common::config()).await;
    let s = env
        .sim
        .generate(&GenerateSpec {
            account_id: Some("acct".into()),
            users: 1,
            meetings_per_user: 25,
            seed: 9,
            plan: Plan::Business,
        })
        .unwrap();
    let at = env.access_token().await;
    let owner = s.owner_id.unwrap();
    let (meetings, pages, total) = walk(
        &env,
        &at,
        &format!("/users/{owner}/meetings?page_size=10&type=scheduled"),
        "meetings",
    )
    .await;
    assert_eq!((pages, total, meetings.len()), (3, 25, 25));
    let mut ids: Vec<u64> = meetings.iter().map(|m| m["id"].as_u64().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 25);
    assert!(
        ids.iter()
            .all(|id| (10_000_000_000..100_000_000_000).contains(id))
    );
    // `me` works, and the default type is `scheduled`.
    let (_, me) = env.get(&at, "/users/me/meetings?page_size=300").await;
    assert_eq!(me["total_records"], 25);
    // A token from another listing is refused.
    let (_, p1) = env
        .get(&at, &format!("/users/{owner}/meetings?page_size=10"))
        .await;
    let tok = p1["next_page_token"].as_str().unwrap();
    let (status, body) = env
        .get(
            &at,
            &format!("/users/{owner}/meetings?type=upcoming&next_page_token={tok}"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], 300);
    let (status, _) = env.get(&at, "/users/me/meetings?type=bogus").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn meeting_items_and_webhook_disagree_on_pmi_type_like_zoom() {
    let env = Env::demo().await;
    let at = env.access_token().await;
    let m = env
        .sim
        .create_meeting(
            "demo-admin",
            NewMeeting {
                use_pmi: Some(true),
                ..NewMeeting::default()
            },
        )
        .unwrap();
    let (_, list) = env.get(&at, "/users/me/meetings?page_size=300").await;
    let item = list["meetings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == m.value.id)
        .unwrap()
        .clone();
    assert_eq!(
        item["pmi"],
        json!(DEMO_PMIS[0].to_string()),
        "string in list items"
    );
    assert_eq!(
        item["join_url"],
        format!("https://zoom.us/j/{}", m.value.id)
    );
    let created: Value = serde_json::from_str(&m.dispatch.body).unwrap();
    assert!(created["payload"]["object"]["pmi"].is_string());
    let (_, me) = env.get(&at, "/users/me").await;
    assert_eq!(me["pmi"], json!(DEMO_PMIS[0]), "number in user APIs");
}

#[tokio::test]
async fn pmi_resolves_as_a_meeting_for_its_owner() {
    let env = Env::demo().await;
    let at = env.access_token().await;
    let (status, m) = env.get(&at, &format!("/meetings/{}", DEMO_PMIS[1])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(m["type"], 4);
    assert_eq!(m["host_id"], "demo-bob");
    assert_eq!(m["id"], DEMO_PMIS[1]);
    let (status, t) = env
        .get(
            &at,
            &format!("/meetings/{}/jointoken/local_recording", DEMO_PMIS[1]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let rec = env.sim.token(t["token"].as_str().unwrap()).unwrap();
    assert_eq!(rec.meeting_id, Some(DEMO_PMIS[1]));
    assert_eq!(rec.user_id, "demo-bob");
}

#[tokio::test]
async fn missing_scope_is_4711() {
    let env = Env::demo().await;
    env.sim.set_oauth_settings(OAuthSettings {
        scopes: Some(vec!["meeting:read:meeting:admin".into()]),
        ..OAuthSettings::default()
    });
    let at = env.access_token().await;
    let id = demo_meeting_id(0, 1);
    assert_eq!(
        env.get(&at, &format!("/meetings/{id}")).await.0,
        StatusCode::OK
    );
    let (status, body) = env
        .get(&at, &format!("/meetings/{id}/jointoken/local_recording"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"code": 4711, "message": "Invalid access token, does not contain scopes:[meeting:read:local_recording_token:admin]."})
    );
    assert_eq!(env.sim.stats().tokens_minted, 0);
    assert_eq!(env.sim.stats().missing_scope, 1);
}

/// The default grant is rectoken's README list, nothing more: the optional
/// token kinds are refused with 4711, and an account-level app's plain
/// (user-level) scope reaches only the authorizing user.
#[tokio::test]
async fn the_default_grant_is_the_readme_list_and_scopes_are_checked_everywhere() {
    let env = Env::start(zoom_sim::SimConfig::for_tests(
        crate::common::CLIENT_ID,
        crate::common::CLIENT_SECRET,
        crate::common::WEBHOOK_SECRET,
    ))
    .await;
    env.sim.seed_demo().unwrap();
    let at = env.access_token().await;
    let id = demo_meeting_id(0, 1);
    for ok in [
        "/users/me".to_owned(),
        "/users/demo-bob".to_owned(),
        "/users?page_size=300".to_owned(),
        "/users/demo-bob/meetings".to_owned(),
        format!("/meetings/{id}"),
        format!("/meetings/{id}/jointoken/local_recording"),
    ] {
        assert_eq!(env.get(&at, &ok).await.0, StatusCode::OK, "{ok}");
    }
    for (refused, scope) in [
        (
            format!("/meetings/{id}/jointoken/local_archiving"),
            "meeting:read:local_archiving_token:admin",
        ),
        (
            format!("/meetings/{id}/jointoken/live_streaming"),
            "meeting:read:live_streaming_token:admin",
        ),
        (
            "/users/demo-bob/token?type=zak".to_owned(),
            "user:read:zak:admin",
        ),
        (
            format!("/users/demo-bob/token?type=onbehalf&meeting_id={id}"),
            "user:read:token:admin",
        ),
    ] {
        let (status, body) = env.get(&at, &refused).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(body["code"], 4711, "{refused}");
        assert!(body["message"].as_str().unwrap().contains(scope), "{body}");
    }
    // An account-level grant with only the plain user scope reads its own
    // user, nobody else.
    env.sim.set_oauth_settings(OAuthSettings {
        scopes: Some(vec!["user:read:user".into()]),
        ..OAuthSettings::default()
    });
    let at = env.access_token().await;
    assert_eq!(env.get(&at, "/users/me").await.0, StatusCode::OK);
    let (status, body) = env.get(&at, "/users/demo-bob").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], 4711);
}

/// The join-token endpoints check the host's settings: 3000 with the
/// setting of the token kind off, 3161 for a user who may not host.
#[tokio::test]
async fn host_settings_refuse_join_tokens_like_zoom() {
    let env = Env::demo().await;
    let at = env.access_token().await;
    let id = demo_meeting_id(0, 1);
    let path = |kind: &str| format!("/meetings/{id}/jointoken/{kind}");
    let host = env.sim.meeting(id).unwrap().host_id;
    let off = zoom_sim::model::UserSettings {
        local_recording: false,
        ..zoom_sim::model::UserSettings::default()
    };
    env.sim.set_user_settings(&host, off).unwrap();
    let (status, body) = env.get(&at, &path("local_recording")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], 3000, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Local Recording"),
        "{body}"
    );
    assert_eq!(
        env.get(&at, &path("live_streaming")).await.0,
        StatusCode::OK,
        "other kinds unaffected"
    );
    let barred = zoom_sim::model::UserSettings {
        host_allowed: false,
        ..zoom_sim::model::UserSettings::default()
    };
    env.sim.set_user_settings(&host, barred).unwrap();
    let (status, body) = env.get(&at, &path("local_recording")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], 3161, "{body}");
}

#[tokio::test]
async fn other_accounts_meetings_are_3001_and_users_1001() {
    let env = Env::demo().await;
    env.sim
        .create_account(NewAccount {
            id: Some("other".into()),
            plan: None,
        })
        .unwrap();
    env.sim.create_user("other", NewUser::default()).unwrap();
    let outsider = env.sim.create_user("other", NewUser::default()).unwrap();
    let theirs = env
        .sim
        .create_meeting(&outsider.id, NewMeeting::default())
        .unwrap()
        .value;
    let at = env.access_token().await;
    for path in [
        format!("/meetings/{}", theirs.id),
        format!("/meetings/{}/jointoken/local_recording", theirs.id),
        format!("/meetings/{}", outsider.pmi),
        "/meetings/99999999999".to_owned(),
    ] {
        let (status, body) = env.get(&at, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        let id = path.split('/').nth(2).unwrap();
        assert_eq!(
            body,
            json!({"code": 3001, "message": format!("Meeting does not exist: {id}.")})
        );
    }
    for path in [
        format!("/users/{}", outsider.id),
        "/users/nobody".to_owned(),
        "/users/nobody/meetings".to_owned(),
    ] {
        let (status, body) = env.get(&at, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["code"], 1001);
    }
    let (status, body) = env.get(&at, "/meetings/abc").await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (StatusCode::BAD_REQUEST, Some(300))
    );
}

#[tokio::test]
async fn join_tokens_of_every_kind_are_recorded() {
    let env = Env::demo().await;
    let at = env.access_token().await;
    let id = demo_meeting_id(2, 1);
    let before = env.sim.now_ms();
    for (kind, expect) in [
        ("local_recording", TokenKind::LocalRecording),
        ("local_archiving", TokenKind::LocalArchiving),
        ("live_streaming", TokenKind::LiveStreaming),
    ] {
        let (status, body) = env
            .get(&at, &format!("/meetings/{id}/jointoken/{kind}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["expire_in"], 120);
        assert_eq!(body.as_object().unwrap().len(), 2);
        let token = body["token"].as_str().unwrap();
        let (status, rec) = env
            .control(reqwest::Method::GET, &format!("/tokens/{token}"), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(rec["meeting_id"], id);
        assert_eq!(rec["kind"], kind);
        assert_eq!(rec["account_id"], "demo");
        assert_eq!(rec["user_id"], "demo-carol");
        assert!(rec["minted_at"].as_str().unwrap().ends_with('Z'));
        assert!(rec["minted_at_ms"].as_u64().unwrap() >= before);
        assert_eq!(env.sim.token(token).unwrap().kind, expect);
    }
    let (status, _) = env
        .get(&at, &format!("/meetings/{id}/jointoken/bogus"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let stats = env.sim.stats();
    assert_eq!(stats.tokens_minted, 3);
    assert_eq!(stats.tokens_by_kind["live_streaming"], 1);
    let (status, _) = env
        .control(reqwest::Method::GET, "/tokens/not-a-token", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bypass_waiting_room_is_honoured() {
    let env = Env::demo().await;
    let at = env.access_token().await;
    let id = demo_meeting_id(0, 2);
    let path = format!("/meetings/{id}/jointoken/local_recording");
    let (_, with) = env
        .get(&at, &format!("{path}?bypass_waiting_room=true"))
        .await;
    let (_, without) = env.get(&at, &path).await;
    let rec = |b: &Value| env.sim.token(b["token"].as_str().unwrap()).unwrap();
    assert_eq!(rec(&with).bypass_waiting_room, Some(true));
    assert_eq!(rec(&without).bypass_waiting_room, Some(false));
    assert_ne!(with["token"], without["token"]);
    let (status, body) = env
        .get(&at, &format!("{path}?bypass_waiting_room=maybe"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], 300);
}

#[tokio::test]
async fn onbehalf_and_zak_tokens() {
    let env = Env::demo().await;
    let at = env.access_token().await;
    // A meeting of another company's account: OBF is for exactly those.
    let other = env
        .sim
        .create_account(zoom_sim::NewAccount::default())
        .unwrap();
    let host = env
        .sim
        .create_user(&other.id, zoom_sim::NewUser::default())
        .unwrap();
    let external = 81_234_567_890u64;
    env.sim
        .create_meeting(
            &host.id,
            zoom_sim::NewMeeting {
                id: Some(external),
                ..Default::default()
            },
        )
        .unwrap();
    let (status, obf) = env
        .get(
            &at,
            &format!("/users/me/token?type=onbehalf&meeting_id={external}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{obf}");
    assert_eq!(obf.as_object().unwrap().len(), 1);
    let rec = env.sim.token(obf["token"].as_str().unwrap()).unwrap();
    assert_eq!(rec.kind, TokenKind::Onbehalf);
    assert_eq!(rec.meeting_id, Some(external));
    assert_eq!(rec.user_id, "demo-admin");

    let (status, zak) = env.get(&at, "/users/demo-bob/token?type=zak").await;
    assert_eq!(status, StatusCode::OK);
    let rec = env.sim.token(zak["token"].as_str().unwrap()).unwrap();
    assert_eq!(
        (rec.kind, rec.user_id.as_str()),
        (TokenKind::Zak, "demo-bob")
    );

    assert_eq!(
        env.get(&at, "/users/me/token?type=onbehalf").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        env.get(&at, "/users/me/token?type=bogus").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        env.get(&at, "/users/nobody/token?type=zak").await.1["code"],
        1001
    );
    // Zoom cannot mint OBF for a meeting that does not exist anywhere.
    let (status, body) = env
        .get(&at, "/users/me/token?type=onbehalf&meeting_id=81234567891")
        .await;
    assert_eq!(
        (status, body["code"].as_i64()),
        (StatusCode::NOT_FOUND, Some(3001))
    );

    // The control API says whether a bot presenting the OBF token gets in:
    // only while its user is in the meeting.
    let obf_token = obf["token"].as_str().unwrap();
    let admission_path = format!("/tokens/{obf_token}/admission");
    let (status, a) = env.control(Method::GET, &admission_path, None).await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!(
        (a["admitted"].as_bool(), a["verdict"].as_str()),
        (Some(false), Some("user_not_in_meeting"))
    );
    assert_eq!(a["token"]["user_id"], "demo-admin");
    let path = format!("/meetings/{external}/participants/demo-admin");
    let (status, _) = env.control(Method::PUT, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, a) = env.control(Method::GET, &admission_path, None).await;
    assert_eq!(
        (a["admitted"].as_bool(), a["verdict"].as_str()),
        (Some(true), Some("admitted"))
    );
    let (_, a) = env
        .control(
            Method::GET,
            &format!(
                "/tokens/{obf_token}/admission?meeting_id={}",
                demo_meeting_id(1, 3)
            ),
            None,
        )
        .await;
    assert_eq!(a["verdict"], "wrong_meeting");
    let (status, _) = env.control(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, a) = env.control(Method::GET, &admission_path, None).await;
    assert_eq!(a["admitted"], false);
    let (status, _) = env
        .control(
            Method::PUT,
            "/meetings/81234567891/participants/demo-admin",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, a) = env
        .control(Method::GET, "/tokens/sim_bogus/admission", None)
        .await;
    assert_eq!(a["verdict"], "unknown_token");
}

#[tokio::test]
async fn user_and_meeting_fields() {
    let env = Env::demo().await;
    let at = env.access_token().await;
    let (_, u) = env.get(&at, "/users/demo-bob").await;
    for field in [
        "id",
        "account_id",
        "account_number",
        "pmi",
        "use_pmi",
        "email",
        "type",
        "status",
        "role_id",
        "personal_meeting_url",
        "timezone",
    ] {
        assert!(u.get(field).is_some(), "user lacks {field}: {u}");
    }
    let id = demo_meeting_id(1, 3);
    let (_, m) = env.get(&at, &format!("/meetings/{id}")).await;
    assert_eq!(m["type"], 8);
    assert_eq!(m["occurrences"].as_array().unwrap().len(), 4);
    assert_eq!(m["host_id"], "demo-bob");
    assert!(m["uuid"].is_string());
}
