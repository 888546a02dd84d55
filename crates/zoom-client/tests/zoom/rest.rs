//! Users, meetings and tokens: the successful paths.

use std::collections::BTreeSet;

use rectoken_domain::join::TokenKind;
use rectoken_zoom::{ApiError, ListType, UserTokenKind};
use secrecy::ExposeSecret;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zoom_sim::generate::{DEMO_PMIS, DEMO_USER_IDS, demo_meeting_id};
use zoom_sim::{GenerateSpec, NewMeeting, OAuthSettings, Plan};

use crate::common::{Env, mid};

#[tokio::test]
async fn list_users_pages_through_a_generated_account() {
    let env = Env::empty().await;
    let generated = env
        .sim
        .generate(&GenerateSpec {
            account_id: Some("big".into()),
            users: 25,
            meetings_per_user: 1,
            seed: 7,
            plan: Plan::Business,
        })
        .unwrap();
    env.sim.set_oauth_settings(OAuthSettings {
        authorize_user: generated.owner_id.clone(),
        ..OAuthSettings::default()
    });
    let tokens = env.connect().await;

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = env
            .zoom
            .list_users(&tokens.access_token, cursor.as_deref(), 10)
            .await
            .unwrap();
        assert_eq!(page.total_records, Some(25));
        assert_eq!(page.skipped, 0);
        sizes.push(page.users.len());
        seen.extend(page.users);
        match page.next_page_token {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(sizes.len() < 10, "paging does not end");
    }
    assert_eq!(sizes, [10, 10, 5]);
    let ids: BTreeSet<&str> = seen.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids.len(), 25, "no user twice");
    assert!(ids.contains(generated.owner_id.as_deref().unwrap()));
    for u in &seen {
        let truth = env.sim.user(&u.id).expect("a real user");
        assert_eq!(truth.account_id, "big");
        assert_eq!(u.pmi, Some(mid(truth.pmi)), "PMI as a number");
        assert_eq!(u.status.as_deref(), Some("active"));
        assert_eq!(u.email.as_deref(), Some(truth.email.as_str()));
    }

    // One big page holds everyone and ends the listing.
    let all = env
        .zoom
        .list_users(&tokens.access_token, None, 300)
        .await
        .unwrap();
    assert_eq!(all.users.len(), 25);
    assert_eq!(all.next_page_token, None);
}

#[tokio::test]
async fn list_meetings_pages_and_filters() {
    let env = Env::demo().await;
    let tokens = env.connect().await;
    let access = &tokens.access_token;

    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = env
            .zoom
            .list_meetings(
                access,
                "demo-bob",
                ListType::Scheduled,
                cursor.as_deref(),
                2,
            )
            .await
            .unwrap();
        pages += 1;
        for m in &page.meetings {
            assert_eq!(m.host_id, "demo-bob");
            assert!(m.uuid.is_some());
        }
        ids.extend(page.meetings.iter().map(|m| m.id));
        cursor = page.next_page_token;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(pages, 2);
    let want: Vec<_> = (1..=3).map(|n| mid(demo_meeting_id(1, n))).collect();
    assert_eq!(ids, want);

    // A meeting that ended two days ago is still "scheduled", no longer
    // "upcoming"; one scheduled with the PMI carries it as a string.
    let two_days_ago = OffsetDateTime::from_unix_timestamp(
        i64::try_from(env.sim.now_ms() / 1000).unwrap() - 2 * 24 * 3600,
    )
    .unwrap()
    .format(&Rfc3339)
    .unwrap();
    let past = env
        .sim
        .create_meeting(
            "demo-admin",
            NewMeeting {
                start_time: Some(two_days_ago),
                ..NewMeeting::default()
            },
        )
        .unwrap()
        .value;
    let with_pmi = env
        .sim
        .create_meeting(
            "demo-admin",
            NewMeeting {
                use_pmi: Some(true),
                ..NewMeeting::default()
            },
        )
        .unwrap()
        .value;
    let scheduled = env
        .zoom
        .list_meetings(access, "me", ListType::Scheduled, None, 300)
        .await
        .unwrap();
    let upcoming = env
        .zoom
        .list_meetings(access, "demo-admin", ListType::Upcoming, None, 300)
        .await
        .unwrap();
    let has = |p: &rectoken_zoom::MeetingsPage, id: u64| p.meetings.iter().any(|m| m.id == mid(id));
    assert!(has(&scheduled, past.id) && !has(&upcoming, past.id));
    assert!(has(&scheduled, with_pmi.id) && has(&upcoming, with_pmi.id));
    assert_eq!(scheduled.meetings.len(), 5);
    assert_eq!(scheduled.next_page_token, None);
    let item = scheduled
        .meetings
        .iter()
        .find(|m| m.id == mid(with_pmi.id))
        .unwrap();
    assert_eq!(item.pmi, Some(mid(DEMO_PMIS[0])), "PMI as a string");
    assert!(
        scheduled
            .meetings
            .iter()
            .filter(|m| m.pmi.is_some())
            .count()
            == 1
    );
}

#[tokio::test]
async fn get_meeting_and_pmi() {
    let env = Env::demo().await;
    let tokens = env.connect().await;

    let id = demo_meeting_id(2, 1);
    let m = env
        .zoom
        .get_meeting(&tokens.access_token, mid(id))
        .await
        .unwrap();
    assert_eq!(m.id, mid(id));
    assert_eq!(m.host_id, DEMO_USER_IDS[2]);
    assert_eq!(m.meeting_type, Some(2));
    assert_eq!(
        m.uuid.as_deref(),
        Some(format!("demo{id}AAAAAAAAAAA==").as_str())
    );

    let recurring = env
        .zoom
        .get_meeting(&tokens.access_token, mid(demo_meeting_id(2, 3)))
        .await
        .unwrap();
    assert_eq!(recurring.meeting_type, Some(8));

    let pmi = env
        .zoom
        .get_meeting(&tokens.access_token, mid(DEMO_PMIS[1]))
        .await
        .unwrap();
    assert_eq!(pmi.host_id, DEMO_USER_IDS[1]);
    assert_eq!(pmi.meeting_type, Some(4));
    assert_eq!(pmi.pmi, Some(mid(DEMO_PMIS[1])));
}

#[tokio::test]
async fn every_join_token_kind_is_minted_by_the_simulator() {
    let env = Env::demo().await;
    let tokens = env.connect().await;
    let meeting = demo_meeting_id(1, 2);
    for (kind, sim_kind, bypass) in [
        (
            TokenKind::LocalRecording,
            zoom_sim::TokenKind::LocalRecording,
            true,
        ),
        (
            TokenKind::LocalRecording,
            zoom_sim::TokenKind::LocalRecording,
            false,
        ),
        (
            TokenKind::LocalArchiving,
            zoom_sim::TokenKind::LocalArchiving,
            true,
        ),
        (
            TokenKind::LiveStreaming,
            zoom_sim::TokenKind::LiveStreaming,
            false,
        ),
    ] {
        let t = env
            .zoom
            .join_token(&tokens.access_token, mid(meeting), kind, bypass)
            .await
            .unwrap();
        assert_eq!(t.expire_in, 120);
        assert_eq!(t.lifetime(), std::time::Duration::from_secs(120));
        let record = env
            .sim
            .token(t.token.expose_secret())
            .expect("the simulator minted this token");
        assert_eq!(record.kind, sim_kind);
        assert_eq!(record.meeting_id, Some(meeting));
        assert_eq!(record.account_id, "demo");
        assert_eq!(record.user_id, "demo-bob", "host of the meeting");
        assert_eq!(record.bypass_waiting_room, Some(bypass));
    }

    // A PMI works as well as a meeting number.
    let t = env
        .zoom
        .join_token(
            &tokens.access_token,
            mid(DEMO_PMIS[2]),
            TokenKind::LocalRecording,
            true,
        )
        .await
        .unwrap();
    let record = env.sim.token(t.token.expose_secret()).unwrap();
    assert_eq!(record.meeting_id, Some(DEMO_PMIS[2]));
    assert_eq!(record.user_id, "demo-carol");
    assert_eq!(env.sim.stats().tokens_minted, 5);
}

#[tokio::test]
async fn onbehalf_is_refused_locally_by_join_token() {
    let env = Env::demo().await;
    let tokens = env.connect().await;
    env.sim.reset_stats();
    let e = env
        .zoom
        .join_token(
            &tokens.access_token,
            mid(demo_meeting_id(0, 1)),
            TokenKind::OnBehalf,
            true,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::InvalidRequest(_)), "{e:?}");
    assert_eq!(env.sim.stats().requests, 0, "nothing was sent");
}

#[tokio::test]
async fn recording_token_path_is_configurable() {
    let env = Env::demo().await;
    let tokens = env.connect().await;
    // Point the recording token at another jointoken endpoint: the minted
    // token's kind proves which path was called.
    let zoom = env.client_with(|c| {
        c.recording_token_path = "/meetings/{meetingId}/jointoken/live_streaming".into();
    });
    let t = zoom
        .join_token(
            &tokens.access_token,
            mid(demo_meeting_id(0, 1)),
            TokenKind::LocalRecording,
            true,
        )
        .await
        .unwrap();
    let record = env.sim.token(t.token.expose_secret()).unwrap();
    assert_eq!(record.kind, zoom_sim::TokenKind::LiveStreaming);
    assert_eq!(record.meeting_id, Some(demo_meeting_id(0, 1)));
}

#[tokio::test]
async fn user_tokens() {
    let env = Env::demo().await;
    let tokens = env.connect().await;
    // OBF tokens are for meetings outside the account; Zoom still needs
    // the meeting to exist (3001 otherwise).
    let meeting = mid(99_912_345_678);
    let other = env
        .sim
        .create_account(zoom_sim::NewAccount::default())
        .unwrap();
    let host = env
        .sim
        .create_user(&other.id, zoom_sim::NewUser::default())
        .unwrap();
    env.sim
        .create_meeting(
            &host.id,
            zoom_sim::NewMeeting {
                id: Some(meeting.get()),
                ..Default::default()
            },
        )
        .unwrap();
    let obf = env
        .zoom
        .user_token(
            &tokens.access_token,
            "me",
            UserTokenKind::OnBehalf,
            Some(meeting),
        )
        .await
        .unwrap();
    let record = env
        .sim
        .token(obf.expose_secret())
        .expect("minted by the simulator");
    assert_eq!(record.kind, zoom_sim::TokenKind::Onbehalf);
    assert_eq!(record.meeting_id, Some(meeting.get()));
    assert_eq!(record.user_id, "demo-admin");

    let zak = env
        .zoom
        .user_token(&tokens.access_token, "demo-bob", UserTokenKind::Zak, None)
        .await
        .unwrap();
    let record = env.sim.token(zak.expose_secret()).unwrap();
    assert_eq!(record.kind, zoom_sim::TokenKind::Zak);
    assert_eq!(record.user_id, "demo-bob");
    assert_eq!(record.meeting_id, None);
}

#[tokio::test]
async fn clones_share_one_client() {
    let env = Env::demo().await;
    let tokens = env.connect().await;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 1..=3 {
        let zoom = env.zoom.clone();
        let access = tokens.access_token.clone();
        tasks.spawn(async move { zoom.get_meeting(&access, mid(demo_meeting_id(0, n))).await });
    }
    let mut hosts = Vec::new();
    while let Some(r) = tasks.join_next().await {
        hosts.push(r.unwrap().unwrap().host_id);
    }
    assert_eq!(hosts, ["demo-admin"; 3]);
}
