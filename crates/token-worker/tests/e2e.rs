//! The token worker end to end: real RabbitMQ and Redis (see
//! `tests/lib.rs` of `rectoken-tests` for how to provide them), the Zoom
//! simulator, accounts connected through its OAuth code flow, requests over
//! direct reply-to.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use common::{Env, REPLY_WAIT, deadline_in};
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use rectoken_bus::topology::REASON_HEADER;
use rectoken_bus::{OutgoingMessage, Topology};
use rectoken_domain::join::{JoinStatus, TokenKind};
use rectoken_domain::meeting_id::MeetingId;
use rectoken_store::{AccountStatus, MapKey, Source};
use rectoken_tests::eventually;
use rectoken_token::TokenOptions;
use serde_json::json;
use time::OffsetDateTime;
use zoom_sim::{Behaviour, DeleteMeeting, Endpoint, TokenKind as SimKind};

fn unknown_meeting() -> MeetingId {
    // Simulated meeting numbers start at 81_000_000_000.
    MeetingId::new(80_999_999_123).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapped_meeting_gets_a_real_token_and_the_exact_reply() {
    let env = Env::new("tw-ok").await;
    let a = env.mapped_account(1).await;
    env.worker().await;
    let id = a.meetings[0];
    let before = OffsetDateTime::now_utc();
    let (reply, json) = env
        .request(json!({
            "request_id": "b-42",
            "meeting_url": format!("https://us02web.zoom.us/j/{id}?pwd=abc"),
            "tokens": ["local_recording"],
            "bypass_waiting_room": true,
            "deadline": deadline_in(10.0),
        }))
        .await;
    assert_eq!(reply.status(), JoinStatus::Ok, "{json}");
    let keys: BTreeSet<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "request_id",
            "status",
            "meeting_id",
            "account_id",
            "host_id",
            "tokens"
        ])
    );
    assert_eq!(json["request_id"], "b-42");
    assert_eq!(json["status"], "ok");
    assert_eq!(json["meeting_id"], id.to_string(), "a string");
    assert_eq!(json["account_id"], a.account_id.as_str());
    assert_eq!(json["host_id"], a.owner_id.as_str());
    let tokens = json["tokens"].as_object().unwrap();
    assert_eq!(tokens.len(), 1);
    let t = &tokens["local_recording"];
    assert_eq!(
        t.as_object().unwrap().len(),
        2,
        "token and expires_at only: {t}"
    );
    let token = t["token"].as_str().unwrap();
    let expires = OffsetDateTime::parse(
        t["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(t["expires_at"].as_str().unwrap().ends_with('Z'));
    let after = OffsetDateTime::now_utc();
    assert!(
        expires >= before + time::Duration::seconds(119)
            && expires <= after + time::Duration::seconds(121),
        "{expires}"
    );
    let record = env
        .h
        .sim
        .token(token)
        .expect("the simulator minted this token");
    assert_eq!(record.kind, SimKind::LocalRecording);
    assert_eq!(record.meeting_id, Some(id.get()));
    assert_eq!(record.account_id, a.account_id);
    assert_eq!(record.user_id, a.owner_id);
    assert_eq!(record.bypass_waiting_room, Some(true));
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_token_kind_is_minted_and_pmi_joins_work() {
    // The optional token kinds need their scopes (docs/zoom.md).
    let env = Env::with_sim("tw-kinds", |c| {
        c.scopes = Some(zoom_sim::AppKind::Account.all_scopes().join(" "));
    })
    .await;
    let a = env.mapped_account(1).await;
    env.worker().await;
    let (reply, json) = env
        .request(json!({
            "request_id": "all",
            "meeting_id": a.meetings[0].get(),
            "tokens": ["local_recording", "local_archiving", "live_streaming", "onbehalf"],
            "bypass_waiting_room": false,
        }))
        .await;
    assert_eq!(reply.status(), JoinStatus::Ok, "{json}");
    let want = [
        (TokenKind::LocalRecording, SimKind::LocalRecording),
        (TokenKind::LocalArchiving, SimKind::LocalArchiving),
        (TokenKind::LiveStreaming, SimKind::LiveStreaming),
        (TokenKind::OnBehalf, SimKind::Onbehalf),
    ];
    assert_eq!(reply.tokens().len(), want.len());
    for (kind, sim_kind) in want {
        let t = &reply.tokens()[&kind];
        let rec = env
            .h
            .sim
            .token(&t.token)
            .unwrap_or_else(|| panic!("{kind} not minted"));
        assert_eq!(rec.kind, sim_kind);
        assert_eq!(rec.meeting_id, Some(a.meetings[0].get()));
        if kind != TokenKind::OnBehalf {
            assert_eq!(rec.bypass_waiting_room, Some(false));
        } else {
            assert_eq!(rec.user_id, a.owner_id, "on behalf of the host");
        }
    }

    // PMI: the number, in a link.
    let (reply, json) = env
        .request(
            json!({ "request_id": "pmi", "meeting_url": format!("https://zoom.us/j/{}", a.pmi) }),
        )
        .await;
    assert_eq!(reply.status(), JoinStatus::Ok, "{json}");
    assert_eq!(reply.meeting_id(), Some(a.pmi));
    assert_eq!(reply.host_id(), Some(a.owner_id.as_str()));
    let rec = env
        .h
        .sim
        .token(&reply.tokens()[&TokenKind::LocalRecording].token)
        .unwrap();
    assert_eq!(rec.meeting_id, Some(a.pmi.get()));
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_forms_through_the_whole_path() {
    let env = Env::new("tw-urls").await;
    let a = env.mapped_account(1).await;
    env.worker().await;
    let id = a.meetings[0];
    let s = id.to_string();
    let grouped = format!("{} {} {}", &s[..3], &s[3..7], &s[7..]);
    let forms = [
        s.clone(),
        grouped,
        format!("https://zoom.us/j/{s}"),
        format!("https://acme.zoom.us/j/{s}?pwd=xyz#success"),
        format!("https://us02web.zoom.us/wc/join/{s}"),
        format!("zoommtg://zoom.us/join?confno={s}&pwd=abc"),
    ];
    for form in forms {
        let (reply, json) = env.request(json!({ "meeting_url": form })).await;
        assert_eq!(reply.status(), JoinStatus::Ok, "{form}: {json}");
        assert_eq!(reply.meeting_id(), Some(id), "{form}");
        assert_eq!(reply.request_id(), "", "{form}");
    }
    // A form the parser refuses comes back as invalid_request naming it.
    let (reply, json) = env
        .request(json!({ "request_id": "evil", "meeting_url": format!("https://zoom.us.evil.com/j/{s}") }))
        .await;
    assert_eq!(reply.status(), JoinStatus::InvalidRequest, "{json}");
    assert!(reply.error().unwrap().contains("not a Zoom host"), "{json}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_carry_their_status_and_error() {
    let env = Env::new("tw-fail").await;
    let a = env.mapped_account(2).await;
    let gone = env.mapped_account(1).await;
    env.worker().await;

    // not_found: nobody owns it (the probe asks both accounts).
    let m = unknown_meeting();
    let (reply, json) = env
        .request(json!({ "request_id": "nf", "meeting_id": m.to_string() }))
        .await;
    assert_eq!(reply.status(), JoinStatus::NotFound, "{json}");
    assert_eq!(
        reply.error(),
        Some(format!("no connected account owns meeting {m}; join without a token").as_str())
    );
    assert_eq!(json["request_id"], "nf");

    // account_disconnected, with the reason.
    env.h
        .store
        .set_account_status(
            &gone.account_id,
            AccountStatus::Disconnected,
            Some("the app was deauthorized"),
        )
        .await
        .unwrap();
    let (reply, json) = env
        .request(json!({ "meeting_id": gone.meetings[0].get() }))
        .await;
    assert_eq!(reply.status(), JoinStatus::AccountDisconnected, "{json}");
    assert!(
        reply.error().unwrap().contains("the app was deauthorized"),
        "{json}"
    );
    assert_eq!(reply.account_id(), Some(gone.account_id.as_str()));

    // invalid_request with reply_to: not JSON (no ID to echo), and a bad field.
    let bytes = env.request_raw("{not json", REPLY_WAIT).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(json["status"], "invalid_request", "{json}");
    assert_eq!(json["request_id"], "");
    assert!(
        json["error"].as_str().unwrap().contains("not valid JSON"),
        "{json}"
    );
    let (reply, json) = env
        .request(json!({ "request_id": "bad", "meeting_id": a.meetings[0].get(), "tokens": ["recording"] }))
        .await;
    assert_eq!(reply.status(), JoinStatus::InvalidRequest, "{json}");
    assert_eq!(reply.request_id(), "bad");
    assert!(
        reply
            .error()
            .unwrap()
            .contains("unknown token kind \"recording\""),
        "{json}"
    );

    // zoom_error: Zoom answers 500 until the deadline.
    env.h
        .sim
        .set_behaviour(
            Some(Endpoint::JoinToken),
            Behaviour {
                error_500: 1.0,
                ..Behaviour::default()
            },
        )
        .unwrap();
    let started = std::time::Instant::now();
    let (reply, json) = env
        .request(json!({ "meeting_id": a.meetings[0].get(), "deadline": deadline_in(1.0) }))
        .await;
    assert_eq!(reply.status(), JoinStatus::ZoomError, "{json}");
    assert!(reply.error().unwrap().contains("HTTP 500"), "{json}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered by the deadline"
    );
    assert!(
        env.h.sim.stats().injected_errors >= 2,
        "retried before giving up"
    );

    // rate_limited: Zoom answers 429 until the deadline.
    env.h
        .sim
        .set_behaviour(
            Some(Endpoint::JoinToken),
            Behaviour {
                rate_limited: 1.0,
                ..Behaviour::default()
            },
        )
        .unwrap();
    let (reply, json) = env
        .request(json!({ "meeting_id": a.meetings[1].get(), "deadline": deadline_in(1.5) }))
        .await;
    assert_eq!(reply.status(), JoinStatus::RateLimited, "{json}");
    assert!(reply.error().unwrap().contains(&a.account_id), "{json}");
    env.h.sim.reset_behaviours();
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_scope_is_a_zoom_error_that_says_so() {
    let env = Env::new("tw-scope").await;
    let scopes = vec![
        "meeting:read:meeting:admin".to_owned(),
        "user:read:user:admin".to_owned(),
    ];
    let a = env.h.connect_account(1, Some(scopes)).await.unwrap();
    env.h.map_all(&a).await.unwrap();
    env.worker().await;
    let (reply, json) = env
        .request(json!({ "meeting_id": a.meetings[0].get() }))
        .await;
    assert_eq!(reply.status(), JoinStatus::ZoomError, "{json}");
    let error = reply.error().unwrap();
    assert!(error.contains("lacks a scope"), "{error}");
    assert!(
        error.contains("meeting:read:local_recording_token"),
        "Zoom's text names it: {error}"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_then_success() {
    let env = Arc::new(Env::new("tw-429").await);
    let a = env.mapped_account(1).await;
    env.worker().await;
    env.h
        .sim
        .set_behaviour(
            Some(Endpoint::JoinToken),
            Behaviour {
                rate_limited: 1.0,
                ..Behaviour::default()
            },
        )
        .unwrap();
    let sim = env.h.sim.clone();
    let id = a.meetings[0];
    let requester = env.clone();
    let pending =
        tokio::spawn(async move { requester.request(json!({ "meeting_id": id.get() })).await.0 });
    assert!(
        eventually(Duration::from_secs(10), || {
            let sim = sim.clone();
            async move { sim.stats().injected_rate_limited >= 1 }
        })
        .await,
        "Zoom answered 429"
    );
    sim.reset_behaviours();
    let reply = pending.await.unwrap();
    assert_eq!(reply.status(), JoinStatus::Ok, "{reply:?}");
    assert!(
        sim.token(&reply.tokens()[&TokenKind::LocalRecording].token)
            .is_some()
    );
    Arc::into_inner(env).unwrap().finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_access_token_under_load_refreshes_once_across_two_workers() {
    let env = Env::new("tw-refresh").await;
    let a = env.mapped_account(1).await;
    env.worker().await;
    env.worker().await;
    // Zoom's clock moves past the access token's hour; ours does not, so
    // every worker learns it from a 401.
    env.h.sim.advance_clock(Duration::from_secs(2 * 3600));
    env.h.sim.reset_stats();
    let id = a.meetings[0];
    let requests = (0..50)
        .map(|i| env.request(json!({ "request_id": format!("c-{i}"), "meeting_id": id.get() })));
    let replies = futures_util::future::join_all(requests).await;
    let mut tokens = BTreeSet::new();
    for (reply, json) in &replies {
        assert_eq!(reply.status(), JoinStatus::Ok, "{json}");
        tokens.insert(reply.tokens()[&TokenKind::LocalRecording].token.clone());
    }
    assert_eq!(tokens.len(), 50, "every request gets its own fresh token");
    let stats = env.h.sim.stats();
    assert_eq!(stats.oauth_refreshes, 1, "{stats:?}");
    assert!(
        stats.by_status.get(&401).copied().unwrap_or(0) >= 1,
        "{stats:?}"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_request_leaves_it_to_another() {
    let env = Arc::new(Env::new("tw-kill").await);
    let a = env.mapped_account(1).await;
    let first = env.start_worker(TokenOptions::default()).await;
    // Zoom holds the first worker's call.
    env.h
        .sim
        .set_behaviour(
            Some(Endpoint::JoinToken),
            Behaviour {
                latency_ms: 30_000,
                ..Behaviour::default()
            },
        )
        .unwrap();
    let sim = env.h.sim.clone();
    let id = a.meetings[0];
    let requester = env.clone();
    let pending = tokio::spawn(async move {
        requester
            .request(json!({ "request_id": "k", "meeting_id": id.get() }))
            .await
            .0
    });
    assert!(
        eventually(Duration::from_secs(10), || {
            let sim = sim.clone();
            async move {
                sim.stats()
                    .by_endpoint
                    .get("join_token")
                    .copied()
                    .unwrap_or(0)
                    >= 1
            }
        })
        .await,
        "the first worker is at Zoom"
    );
    sim.reset_behaviours();
    first.abort();
    // A second worker, started after the crash, gets the request back.
    env.start_worker(TokenOptions::default()).await;
    let reply = tokio::time::timeout(REPLY_WAIT, pending)
        .await
        .expect("answered")
        .unwrap();
    assert_eq!(reply.status(), JoinStatus::Ok, "{reply:?}");
    assert_eq!(reply.request_id(), "k");
    assert!(
        sim.token(&reply.tokens()[&TokenKind::LocalRecording].token)
            .is_some()
    );
    assert!(
        sim.stats()
            .by_endpoint
            .get("join_token")
            .copied()
            .unwrap_or(0)
            >= 2,
        "minted by a second call"
    );
    Arc::into_inner(env).unwrap().finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmapped_meetings_are_probed_then_mapped() {
    let env = Env::new("tw-probe").await;
    let other = env.h.connect_account(1, None).await.unwrap();
    let a = env.h.connect_account(1, None).await.unwrap();
    env.worker().await;
    let id = a.meetings[0];
    assert_eq!(
        env.h.store.get_mapping(MapKey::meeting(id)).await.unwrap(),
        None
    );
    let (reply, json) = env.request(json!({ "meeting_id": id.get() })).await;
    assert_eq!(reply.status(), JoinStatus::Ok, "{json}");
    assert_eq!(reply.account_id(), Some(a.account_id.as_str()));
    assert_eq!(reply.host_id(), Some(a.owner_id.as_str()));
    let m = env
        .h
        .store
        .get_mapping(MapKey::meeting(id))
        .await
        .unwrap()
        .expect("mapped by the probe");
    assert_eq!(
        (m.account_id.as_str(), m.owner_id.as_str(), m.source),
        (a.account_id.as_str(), a.owner_id.as_str(), Source::Probe)
    );

    // A PMI is mapped as a PMI.
    let (reply, json) = env.request(json!({ "meeting_id": other.pmi.get() })).await;
    assert_eq!(reply.status(), JoinStatus::Ok, "{json}");
    assert_eq!(reply.account_id(), Some(other.account_id.as_str()));
    let m = env
        .h
        .store
        .get_mapping(MapKey::pmi(other.pmi))
        .await
        .unwrap()
        .expect("PMI mapped");
    assert_eq!(m.source, Source::Probe);
    assert_eq!(
        env.h
            .store
            .get_mapping(MapKey::meeting(other.pmi))
            .await
            .unwrap(),
        None
    );

    // Now mapped: the next request needs no probe.
    env.h.sim.reset_stats();
    let (reply, _) = env.request(json!({ "meeting_id": id.get() })).await;
    assert_eq!(reply.status(), JoinStatus::Ok);
    assert_eq!(env.h.sim.stats().by_endpoint.get("get_meeting"), None);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_mapping_is_removed_and_answered_not_found() {
    let env = Env::new("tw-stale").await;
    let a = env.mapped_account(1).await;
    env.worker().await;
    let id = a.meetings[0];
    env.h
        .sim
        .delete_meeting(id.get(), DeleteMeeting::default())
        .unwrap();
    let (reply, json) = env
        .request(json!({ "request_id": "st", "meeting_id": id.get() }))
        .await;
    assert_eq!(reply.status(), JoinStatus::NotFound, "{json}");
    assert!(reply.error().unwrap().contains("does not exist"), "{json}");
    assert_eq!(json["reason"], "meeting_gone", "{json}");
    assert_eq!(json["zoom_code"], 3001, "{json}");
    assert_eq!(
        env.h.store.get_mapping(MapKey::meeting(id)).await.unwrap(),
        None,
        "mapping removed"
    );
    env.finish().await;
}

/// Zoom's join-token refusals about the host (400/3000 with the host's
/// Local recording setting off, 400/3161 for a user who may not host) give
/// the bot a reason it can act on, Zoom's code and message, and leave the
/// mapping alone: the meeting exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_token_refusals_give_the_bot_a_reason_and_keep_the_mapping() {
    let env = Env::new("tw-refusals").await;
    let a = env.mapped_account(1).await;
    env.worker().await;
    let id = a.meetings[0];
    let set = |settings: zoom_sim::model::UserSettings| {
        env.h.sim.set_user_settings(&a.owner_id, settings).unwrap();
    };
    let on = zoom_sim::model::UserSettings::default();
    for (settings, kind, reason, code, says) in [
        (
            zoom_sim::model::UserSettings {
                local_recording: false,
                ..on
            },
            "local_recording",
            "recording_disabled",
            3000,
            "Local recording setting is off",
        ),
        (
            zoom_sim::model::UserSettings {
                host_allowed: false,
                ..on
            },
            "local_recording",
            "host_not_allowed",
            3161,
            "not allowed for this user",
        ),
    ] {
        set(settings);
        let (reply, json) = env
            .request(json!({ "request_id": reason, "meeting_id": id.get(), "tokens": [kind] }))
            .await;
        assert_eq!(reply.status(), JoinStatus::ZoomError, "{json}");
        assert_eq!(json["reason"], reason, "{json}");
        assert_eq!(json["zoom_code"], code, "{json}");
        assert!(reply.error().unwrap().contains(says), "{json}");
        assert!(
            env.h
                .store
                .get_mapping(MapKey::meeting(id))
                .await
                .unwrap()
                .is_some(),
            "{reason}: the mapping stays"
        );
    }
    set(on);
    let (reply, json) = env
        .request(json!({ "request_id": "on", "meeting_id": id.get() }))
        .await;
    assert_eq!(reply.status(), JoinStatus::Ok, "{json}");
    env.finish().await;
}

/// The join-token refusals no simulated data produces by itself (400/300
/// "Invalid meeting ID", 400/124 "only OAuth"), injected on the endpoint:
/// each gives the bot its reason and Zoom's code, and neither removes the
/// mapping; 404/3001 "meeting does not exist" does (docs/zoom.md
/// "Join-token errors").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_join_token_refusals_map_to_their_reasons() {
    use zoom_sim::{Behaviour, Endpoint, ZoomRefusal};
    let env = Env::new("tw-injected-refusals").await;
    let a = env.mapped_account(1).await;
    env.worker().await;
    let id = a.meetings[0];
    let mapped = || async {
        env.h
            .store
            .get_mapping(MapKey::meeting(id))
            .await
            .unwrap()
            .is_some()
    };
    for (refusal, status, reason, code, keeps) in [
        (
            ZoomRefusal::InvalidMeetingId,
            JoinStatus::NotFound,
            "invalid_meeting_id",
            300,
            true,
        ),
        (
            ZoomRefusal::OauthOnly,
            JoinStatus::ZoomError,
            "oauth_required",
            124,
            true,
        ),
        (
            ZoomRefusal::MeetingGone,
            JoinStatus::NotFound,
            "meeting_gone",
            3001,
            false,
        ),
    ] {
        env.h
            .sim
            .set_behaviour(
                Some(Endpoint::JoinToken),
                Behaviour {
                    refusal: Some(refusal),
                    ..Behaviour::default()
                },
            )
            .unwrap();
        let (reply, json) = env
            .request(json!({ "request_id": reason, "meeting_id": id.get() }))
            .await;
        assert_eq!(reply.status(), status, "{json}");
        assert_eq!(json["reason"], reason, "{json}");
        assert_eq!(json["zoom_code"], code, "{json}");
        assert_eq!(mapped().await, keeps, "{reason}: mapping kept = {keeps}");
    }
    env.finish().await;
}

/// A deployment with a commercial app (simulator A, the default app) and a
/// ZoomGov app from the apps file (simulator B, `cloud = "gov"`): a gov
/// account's meeting is minted at the gov cloud with the gov app's
/// credentials, only for a `zoomgov.com` link; the same number through a
/// commercial link, or a commercial account's meeting through a gov link,
/// is `other_cloud`; the gov account refreshes at the gov cloud.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gov_app_serves_only_gov_links_at_the_gov_cloud() {
    use rectoken_store::{AccountRecord, SyncStatus};
    use rectoken_zoom::apps::{App, AppKind, Apps};
    use rectoken_zoom::{ZoomClient, ZoomClients};

    let env = Env::new("tw-gov").await;
    let commercial = env.mapped_account(1).await;
    // The gov cloud: a simulator of its own with its own app (and its own
    // seed: the same meeting numbers in both clouds would make the map
    // hold one of them only).
    let (gov_sim, _) = zoom_sim::Sim::spawn(zoom_sim::SimConfig {
        seed: Some(0x60f),
        ..zoom_sim::SimConfig::for_tests("gov-client", "gov-client-secret", "gov-webhook-secret")
    })
    .await
    .unwrap();
    let mut apps = Apps::single(App::new(
        "",
        rectoken_tests::harness::CLIENT_ID,
        rectoken_tests::harness::CLIENT_SECRET.into(),
        rectoken_tests::harness::WEBHOOK_SECRET.into(),
        AppKind::Account,
    ));
    apps.add_from_toml(
        &format!(
            "[apps.gov]\nclient_id='gov-client'\nclient_secret='gov-client-secret'\n\
             webhook_secret='gov-webhook-secret'\napi_url='{}'\noauth_url='{}'\ncloud='gov'\n",
            gov_sim.api_url().unwrap(),
            gov_sim.oauth_url().unwrap()
        ),
        "apps.toml",
    )
    .unwrap();
    let clients = ZoomClients::for_apps(env.h.zoom.clone(), &apps).unwrap();
    let gov_zoom: ZoomClient = clients.get("gov").unwrap().clone();
    let vault = env.h.vault.clone().with_clients(clients);
    let access =
        rectoken_vault::ZoomAccess::new(vault.clone(), rectoken_vault::ZoomLimits::default());

    // Connect a gov account through the gov simulator's OAuth flow.
    let account = gov_sim
        .create_account(zoom_sim::NewAccount::default())
        .unwrap();
    let owner = gov_sim
        .create_user(&account.id, zoom_sim::NewUser::default())
        .unwrap();
    let meeting = gov_sim
        .create_meeting(&owner.id, zoom_sim::NewMeeting::default())
        .unwrap();
    let gov_meeting = MeetingId::new(meeting.value.id).unwrap();
    assert!(!commercial.meetings.contains(&gov_meeting));
    gov_sim.set_oauth_settings(zoom_sim::OAuthSettings {
        authorize_user: Some(owner.id.clone()),
        ..zoom_sim::OAuthSettings::default()
    });
    let redirect = rectoken_tests::harness::REDIRECT_URI;
    let code = rectoken_tests::harness::authorize_code(&gov_zoom, redirect)
        .await
        .unwrap();
    let tokens = gov_zoom.exchange_code(&code, redirect).await.unwrap();
    vault.save(&account.id, &tokens).await.unwrap();
    env.h
        .store
        .upsert_account(&AccountRecord {
            account_id: account.id.clone(),
            app: "gov".into(),
            kind: "account".into(),
            user_id: None,
            status: AccountStatus::Connected,
            connected_at_ms: 1,
            scopes: tokens.scope.clone(),
            last_error: None,
            sync: SyncStatus::default(),
        })
        .await
        .unwrap();
    env.h
        .map(MapKey::meeting(gov_meeting), &account.id, &owner.id)
        .await
        .unwrap();

    // A worker of this deployment.
    let bus = env.h.bus("gov-worker").await.unwrap();
    let deps = rectoken_token::TokenDeps {
        access,
        ..env.h.deps(bus.clone())
    };
    let worker = tokio::spawn(rectoken_token::run(
        deps,
        TokenOptions::default(),
        env.shutdown.clone(),
    ));

    let ask = |url: String| {
        let env = &env;
        async move {
            env.request(json!({ "request_id": url.clone(), "meeting_url": url }))
                .await
        }
    };
    let (reply, json) = ask(format!("https://agency.zoomgov.com/j/{gov_meeting}")).await;
    assert_eq!(reply.status(), JoinStatus::Ok, "{json}");
    let token = reply.tokens()[&TokenKind::LocalRecording].token.clone();
    assert!(gov_sim.token(&token).is_some(), "minted by the gov cloud");
    assert!(env.h.sim.token(&token).is_none());

    let (reply, json) = ask(format!("https://us02web.zoom.us/j/{gov_meeting}")).await;
    assert_eq!(reply.status(), JoinStatus::NotFound, "{json}");
    assert_eq!(json["reason"], "other_cloud", "{json}");

    let id = commercial.meetings[0];
    let (reply, json) = ask(format!("https://agency.zoomgov.com/j/{id}")).await;
    assert_eq!(reply.status(), JoinStatus::NotFound, "{json}");
    assert_eq!(json["reason"], "other_cloud", "{json}");
    let (reply, json) = ask(format!("https://us02web.zoom.us/j/{id}")).await;
    assert_eq!(reply.status(), JoinStatus::Ok, "{json}");
    let token = reply.tokens()[&TokenKind::LocalRecording].token.clone();
    assert!(
        env.h.sim.token(&token).is_some(),
        "minted by the commercial cloud"
    );

    // The gov account's refresh goes to the gov cloud with the gov app
    // (the commercial simulator would answer invalid_grant: disconnected).
    vault.refresh_now(&account.id).await.unwrap();
    let record = env.h.store.account(&account.id).await.unwrap().unwrap();
    assert_eq!(record.status, AccountStatus::Connected);

    env.shutdown.cancel();
    worker.await.unwrap();
    bus.close().await;
    env.finish().await;
}

/// A raw AMQP requester, to see exactly which replies arrive.
struct RawRequester {
    conn: Connection,
    channel: lapin::Channel,
    reply_queue: String,
    replies: lapin::Consumer,
}

impl RawRequester {
    async fn new() -> Self {
        let conn =
            Connection::connect(&rectoken_tests::amqp_url(), ConnectionProperties::default())
                .await
                .unwrap();
        let channel = conn.create_channel().await.unwrap();
        let q = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let reply_queue = q.name().as_str().to_owned();
        let replies = channel
            .basic_consume(
                reply_queue.as_str().into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        Self {
            conn,
            channel,
            reply_queue,
            replies,
        }
    }

    async fn send(
        &self,
        queue: &str,
        body: serde_json::Value,
        correlation: &str,
        reply_to: Option<&str>,
    ) {
        let mut props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_message_id(correlation.into())
            .with_correlation_id(correlation.into());
        if let Some(r) = reply_to {
            props = props.with_reply_to(r.into());
        }
        self.channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body.to_string().as_bytes(),
                props,
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    async fn next_correlation(&mut self) -> String {
        let d = tokio::time::timeout(REPLY_WAIT, self.replies.next())
            .await
            .expect("a reply")
            .unwrap()
            .unwrap();
        d.properties
            .correlation_id()
            .as_ref()
            .unwrap()
            .as_str()
            .to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_orphaned_requests_get_no_reply_and_are_not_kept() {
    let env = Env::new("tw-expired").await;
    let a = env.mapped_account(1).await;
    // One at a time, so the requests are handled in the order sent.
    env.start_worker(TokenOptions {
        concurrency: 1,
        ..TokenOptions::default()
    })
    .await;
    let queue = env.h.topology.join_queue();
    let mut raw = RawRequester::new().await;
    let reply_queue = raw.reply_queue.clone();
    let id = a.meetings[0].get();
    raw.send(
        &queue,
        json!({ "meeting_id": id, "deadline": deadline_in(-1.0) }),
        "expired",
        Some(&reply_queue),
    )
    .await;
    // A reply_to nobody consumes: the requester is gone.
    raw.send(
        &queue,
        json!({ "meeting_id": id }),
        "orphan",
        Some("amq.gen-no-such-queue"),
    )
    .await;
    raw.send(
        &queue,
        json!({ "meeting_id": id }),
        "live",
        Some(&reply_queue),
    )
    .await;
    assert_eq!(
        raw.next_correlation().await,
        "live",
        "the expired request got no reply"
    );
    let stats = env.h.sim.stats();
    assert_eq!(
        stats.tokens_minted, 2,
        "nothing minted for the expired request: {stats:?}"
    );
    let client = env.client.clone();
    let dlq = Topology::dlq(&queue);
    assert_eq!(client.queue_depth(&queue).await.unwrap(), 0);
    assert_eq!(
        client.queue_depth(&dlq).await.unwrap(),
        0,
        "neither was dead-lettered"
    );
    let _ = raw.conn.close(200, "bye".into()).await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswerable_requests_go_to_the_dead_letter_queue() {
    let env = Env::new("tw-dlq").await;
    let a = env.mapped_account(1).await;
    env.worker().await;
    let queue = env.h.topology.join_queue();
    let dlq = Topology::dlq(&queue);
    let mut dead = env.client.consume(&dlq, 10).await.unwrap();
    // Not JSON and no reply_to.
    env.client
        .publish(OutgoingMessage::json("", queue.clone(), "{broken", "m-bad"))
        .await
        .unwrap();
    // Valid, but no reply_to.
    let valid = json!({ "meeting_id": a.meetings[0].get() }).to_string();
    env.client
        .publish(OutgoingMessage::json("", queue.clone(), valid, "m-valid"))
        .await
        .unwrap();
    let mut reasons = HashMap::new();
    for _ in 0..2 {
        let d = tokio::time::timeout(REPLY_WAIT, dead.next())
            .await
            .expect("dead-lettered")
            .unwrap();
        reasons.insert(
            d.message_id.clone().unwrap(),
            d.headers.get(REASON_HEADER).cloned().unwrap(),
        );
        d.ack().await.unwrap();
    }
    assert!(
        reasons["m-bad"].contains("invalid join request without reply_to"),
        "{reasons:?}"
    );
    assert!(reasons["m-bad"].contains("not valid JSON"), "{reasons:?}");
    assert_eq!(reasons["m-valid"], "no reply_to");
    assert_eq!(
        env.h.sim.stats().tokens_minted,
        0,
        "nothing minted for nobody"
    );
    drop(dead);
    env.finish().await;
}

/// A personal link (`zoom.us/my/NAME`) resolves through the user directory
/// (which the sync fills from `GET /users/{id}`) to the user's PMI, and the
/// token is minted for that PMI; an unknown name is `not_found` with a
/// reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_personal_link_resolves_through_the_user_directory() {
    let env = Env::new("tw-mylink").await;
    let a = env.mapped_account(1).await;
    env.h
        .store
        .put_directory_user(&rectoken_store::DirectoryUser {
            account_id: a.account_id.clone(),
            user_id: a.owner_id.clone(),
            email: None,
            vanity_name: Some("JillSmith".into()),
            pmi: Some(a.pmi),
            version: 1,
        })
        .await
        .unwrap();
    env.worker().await;
    let (reply, json) = env
        .request(
            json!({ "request_id": "my", "meeting_url": "https://us02web.zoom.us/my/jillsmith" }),
        )
        .await;
    assert_eq!(reply.status(), JoinStatus::Ok, "{json}");
    assert_eq!(json["meeting_id"], a.pmi.to_string());
    assert_eq!(json["request_id"], "my");
    let token = &reply.tokens()[&TokenKind::LocalRecording].token;
    assert_eq!(
        env.h.sim.token(token).unwrap().meeting_id,
        Some(a.pmi.get())
    );

    let (reply, json) = env
        .request(json!({ "request_id": "nobody", "meeting_url": "https://zoom.us/my/nobody" }))
        .await;
    assert_eq!(reply.status(), JoinStatus::NotFound, "{json}");
    assert_eq!(json["reason"], "personal_link_unknown", "{json}");
    assert_eq!(json["request_id"], "nobody");
    env.finish().await;
}

/// ZoomGov is a separate cloud: a zoomgov.com link is never looked up or
/// minted among this (commercial) deployment's accounts, even when the
/// number is mapped here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zoomgov_link_is_not_looked_up_among_commercial_accounts() {
    let env = Env::new("tw-gov").await;
    let a = env.mapped_account(1).await;
    env.worker().await;
    let id = a.meetings[0];
    let minted = env.h.sim.stats().tokens_minted;
    let (reply, json) = env
        .request(json!({ "request_id": "gov", "meeting_url": format!("https://agency.zoomgov.com/j/{id}") }))
        .await;
    assert_eq!(reply.status(), JoinStatus::NotFound, "{json}");
    assert_eq!(json["reason"], "other_cloud", "{json}");
    assert_eq!(env.h.sim.stats().tokens_minted, minted, "nothing minted");
    let (reply, json) = env
        .request(json!({ "request_id": "us", "meeting_url": format!("https://zoom.us/j/{id}") }))
        .await;
    assert_eq!(reply.status(), JoinStatus::Ok, "{json}");
    env.finish().await;
}
