//! The webhook sender: signature, success rule, retries, give-up, and the
//! event each control call fires.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};
use zoom_sim::generate::{DEMO_PMIS, demo_meeting_id};
use zoom_sim::{DeleteMeeting, DeliveryState, Event, NewMeeting, SimConfig, WebhookSettings};

use crate::common::{
    CLIENT_ID, Env, Receiver, WEBHOOK_SECRET, config, expected_signature, json_body,
};

async fn env_with(receiver: &Receiver, tweak: impl FnOnce(&mut SimConfig)) -> Env {
    let mut cfg = config();
    cfg.webhook_urls = vec![receiver.url.clone()];
    tweak(&mut cfg);
    Env::demo_with(cfg).await
}

#[tokio::test]
async fn signed_exactly_like_zoom() {
    let rx = Receiver::start(vec![(200, 0)]).await;
    let env = env_with(&rx, |_| {}).await;
    let fired = env
        .sim
        .create_meeting("demo-bob", NewMeeting::default())
        .unwrap();
    let records = fired.wait(&env.sim).await;
    assert_eq!(records[0].state, DeliveryState::Delivered);
    let got = rx.received();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    let ts = req.headers["x-zm-request-timestamp"].to_str().unwrap();
    let sig = req.headers["x-zm-signature"].to_str().unwrap();
    assert_eq!(sig, expected_signature(WEBHOOK_SECRET, ts, &req.body));
    assert_ne!(sig, expected_signature("wrong-secret", ts, &req.body));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ts: u64 = ts.parse().unwrap();
    assert!(ts.abs_diff(now) <= 5, "timestamp is Unix seconds");
    assert_eq!(req.headers["content-type"], "application/json");
    assert_eq!(req.headers["user-agent"], "Zoom Marketplace/1.0a");
    // Compact JSON, byte-identical to what the dispatch reports.
    assert_eq!(std::str::from_utf8(&req.body).unwrap(), fired.dispatch.body);
    let text = std::str::from_utf8(&req.body).unwrap();
    assert!(!text.contains(": ") && !text.contains('\n'));
    let v = json_body(req);
    assert_eq!(v["event"], "meeting.created");
    assert!(
        v["event_ts"].as_u64().unwrap() > 1_700_000_000_000,
        "milliseconds"
    );
}

#[tokio::test]
async fn only_200_or_204_count_and_retries_follow_the_schedule() {
    // 201 and 500 are failures; 204 is success.
    let rx = Receiver::start(vec![(201, 0), (500, 0), (204, 0)]).await;
    let env = env_with(&rx, |c| c.webhook_retry_scale = 0.001).await;
    let fired = env.sim.set_pmi("demo-bob", 5_551_234_000).unwrap();
    let records = fired.wait(&env.sim).await;
    let r = &records[0];
    assert_eq!(r.state, DeliveryState::Delivered);
    let statuses: Vec<_> = r.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![Some(201), Some(500), Some(204)]);
    assert_eq!(
        r.attempts.iter().map(|a| a.delivered).collect::<Vec<_>>(),
        vec![false, false, true]
    );
    let got = rx.received();
    assert_eq!(got.len(), 3);
    // 5 min and 20 min, scaled by 0.001: 300 ms and 1200 ms after the start
    // of the previous attempt.
    let gap1 = r.attempts[1].sent_at_ms - r.attempts[0].sent_at_ms;
    let gap2 = r.attempts[2].sent_at_ms - r.attempts[1].sent_at_ms;
    assert!((299..1100).contains(&gap1), "{gap1}");
    assert!((1199..2500).contains(&gap2), "{gap2}");
    // Every retry carries the same body, freshly signed.
    for req in &got {
        assert_eq!(req.body, got[0].body);
        let ts = req.headers["x-zm-request-timestamp"].to_str().unwrap();
        assert_eq!(
            req.headers["x-zm-signature"].to_str().unwrap(),
            expected_signature(WEBHOOK_SECRET, ts, &req.body)
        );
    }
}

#[tokio::test]
async fn slow_answers_count_as_failures() {
    // The first answer is 200 but too late; the retry is on time.
    let rx = Receiver::start(vec![(200, 900), (200, 0)]).await;
    let env = env_with(&rx, |c| {
        c.webhook_timeout_ms = 400;
        c.webhook_retry_scale = 0.0001;
    })
    .await;
    let fired = env.sim.send_event(Event {
        event: "custom.event".into(),
        event_ts: None,
        payload: json!({"x": 1}),
    });
    let records = env.sim.wait_deliveries(&fired.deliveries).await;
    let r = &records[0];
    assert_eq!(r.state, DeliveryState::Delivered);
    assert_eq!(r.attempts.len(), 2);
    assert!(!r.attempts[0].delivered);
    assert!(r.attempts[0].error.as_deref().unwrap().contains("400 ms"));
    assert!(r.attempts[1].delivered);
}

#[test]
fn zoom_defaults_are_three_seconds_and_5_20_60_minutes() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimConfig,
    }
    let cli = Cli::try_parse_from([
        "sim",
        "--client-id",
        "a",
        "--client-secret",
        "b",
        "--webhook-secret",
        "c",
    ])
    .unwrap();
    assert_eq!(cli.sim.webhook_timeout_ms, 3000);
    assert!((cli.sim.webhook_retry_scale - 1.0).abs() < f64::EPSILON);
    assert_eq!(zoom_sim::webhook::RETRY_DELAYS_SECS, [300, 1200, 3600]);
}

#[tokio::test]
async fn gives_up_after_three_retries() {
    let rx = Receiver::start(vec![(503, 0)]).await;
    let env = env_with(&rx, |c| c.webhook_retry_scale = 0.0002).await;
    let fired = env
        .sim
        .delete_meeting(demo_meeting_id(0, 1), DeleteMeeting::default())
        .unwrap();
    let records = fired.wait(&env.sim).await;
    let r = &records[0];
    assert_eq!(r.state, DeliveryState::Failed);
    assert_eq!(r.attempts.len(), 4);
    assert_eq!(
        r.attempts.iter().map(|a| a.number).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    let got = rx.received();
    assert_eq!(got.len(), 4);
    // 60, 240 and 720 ms apart (each from the start of the previous
    // attempt, as the simulator records it): 5, 20, 60 minutes × 0.0002.
    let gaps: Vec<u64> = r
        .attempts
        .windows(2)
        .map(|w| w[1].sent_at_ms - w[0].sent_at_ms)
        .collect();
    assert!(gaps[0] >= 59, "{gaps:?}");
    assert!(gaps[1] >= 239, "{gaps:?}");
    assert!(gaps[2] >= 719, "{gaps:?}");
    assert!(gaps[2] > gaps[1] && gaps[1] > gaps[0]);
}

#[tokio::test]
async fn firing_does_not_block_the_control_call() {
    let rx = Receiver::start(vec![(200, 1500)]).await;
    let env = env_with(&rx, |_| {}).await;
    let started = Instant::now();
    let (status, body) = env
        .control(
            reqwest::Method::POST,
            "/users/demo-carol/meetings",
            Some(json!({"topic": "Quick"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    let id = body["dispatch"]["deliveries"][0].as_u64().unwrap();
    rx.wait_for(1).await;
    assert_eq!(env.sim.delivery(id).unwrap().state, DeliveryState::Pending);
    let done = env.sim.wait_deliveries(&[id]).await;
    assert_eq!(done[0].state, DeliveryState::Delivered);
}

#[tokio::test]
async fn meeting_created_shape_via_http_wait() {
    let rx = Receiver::start(vec![(200, 0)]).await;
    let env = env_with(&rx, |_| {}).await;
    let (status, body) = env
        .control(
            reqwest::Method::POST,
            "/users/demo-bob/meetings?wait=true",
            Some(json!({"topic": "Weekly sync", "start_time": "2030-03-01T15:00:00Z", "operator_id": "demo-admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deliveries"][0]["state"], "delivered");
    let id = body["value"]["id"].as_u64().unwrap();
    let v = json_body(&rx.received()[0]);
    assert_eq!(v["event"], "meeting.created");
    let p = &v["payload"];
    assert_eq!(p["account_id"], "demo");
    assert_eq!(p["operator_id"], "demo-admin");
    assert_eq!(p["operator"], "ada@demo.example.com");
    let o = &p["object"];
    assert_eq!(o["id"], id);
    assert!(o["id"].is_u64());
    assert_eq!(o["host_id"], "demo-bob");
    assert_eq!(o["topic"], "Weekly sync");
    assert_eq!(o["type"], 2);
    assert_eq!(o["start_time"], "2030-03-01T15:00:00Z");
    assert_eq!(o["pmi"], DEMO_PMIS[1].to_string());
    assert_eq!(o["join_url"], format!("https://zoom.us/j/{id}"));
    assert!(o["uuid"].is_string());
    assert_eq!(o["settings"]["use_pmi"], false);
}

#[tokio::test]
async fn user_updated_holds_only_changed_fields() {
    let rx = Receiver::start(vec![(200, 0)]).await;
    let env = env_with(&rx, |_| {}).await;
    let (status, body) = env
        .control(
            reqwest::Method::PATCH,
            "/users/demo-carol?wait=true",
            Some(json!({"pmi": 5_559_876_543u64})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v = json_body(&rx.received()[0]);
    assert_eq!(v["event"], "user.updated");
    let p = &v["payload"];
    assert_eq!(p["account_id"], "demo");
    assert_eq!(
        p["object"],
        json!({"id": "demo-carol", "pmi": 5_559_876_543u64})
    );
    assert_eq!(
        p["old_object"],
        json!({"id": "demo-carol", "pmi": DEMO_PMIS[2]})
    );
    assert!(p["time_stamp"].is_u64());
    // The new PMI resolves, the old one no longer does.
    let at = env.access_token().await;
    assert_eq!(env.get(&at, "/meetings/5559876543").await.0, StatusCode::OK);
    assert_eq!(
        env.get(&at, &format!("/meetings/{}", DEMO_PMIS[2])).await.0,
        StatusCode::NOT_FOUND
    );
    // A patch that changes nothing fires nothing.
    let (status, _) = env
        .control(
            reqwest::Method::PATCH,
            "/users/demo-carol",
            Some(json!({"pmi": 5_559_876_543u64})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(env.sim.deliveries().len(), 1);
}

#[tokio::test]
async fn meeting_deleted_whole_and_occurrences() {
    let rx = Receiver::start(vec![(200, 0)]).await;
    let env = env_with(&rx, |_| {}).await;
    let recurring = env.sim.meeting(demo_meeting_id(1, 3)).unwrap();
    let occ = recurring.occurrences[1].occurrence_id.clone();
    let (status, _) = env
        .control(
            reqwest::Method::DELETE,
            &format!("/meetings/{}?occurrence_ids={occ}&wait=true", recurring.id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let v = json_body(&rx.received()[0]);
    assert_eq!(v["event"], "meeting.deleted");
    let o = &v["payload"]["object"];
    assert_eq!(o["id"], recurring.id);
    assert_eq!(o["host_id"], "demo-bob");
    assert_eq!(o["type"], 8);
    assert_eq!(o["occurrences"].as_array().unwrap().len(), 1);
    assert_eq!(o["occurrences"][0]["occurrence_id"], occ);
    assert_eq!(env.sim.meeting(recurring.id).unwrap().occurrences.len(), 3);

    let single = demo_meeting_id(1, 1);
    let (status, _) = env
        .control(
            reqwest::Method::DELETE,
            &format!("/meetings/{single}?wait=true"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let v = json_body(&rx.received()[1]);
    assert_eq!(v["payload"]["object"]["id"], single);
    assert!(v["payload"]["object"].get("occurrences").is_none());
    assert_eq!(v["payload"]["account_id"], "demo");
    let at = env.access_token().await;
    assert_eq!(
        env.get(&at, &format!("/meetings/{single}")).await.1["code"],
        3001
    );
}

#[tokio::test]
async fn deauthorization_fires_and_revokes() {
    let rx = Receiver::start(vec![(200, 0)]).await;
    let env = env_with(&rx, |_| {}).await;
    let t = env.connect().await;
    let (status, body) = env
        .control(
            reqwest::Method::POST,
            "/accounts/demo/deauthorize?wait=true",
            Some(json!({"user_id": "demo-admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["value"].as_array().unwrap().len(),
        1,
        "one grant revoked"
    );
    let v = json_body(&rx.received()[0]);
    assert_eq!(v["event"], "app_deauthorized");
    let p = &v["payload"];
    assert_eq!(p["account_id"], "demo");
    assert_eq!(p["user_id"], "demo-admin");
    assert_eq!(p["client_id"], CLIENT_ID);
    assert!(p["deauthorization_time"].as_str().unwrap().ends_with('Z'));
    assert!(p["signature"].is_string());
    // As Zoom often sends it (issue 14): no event_ts anywhere, but
    // user_data_retention.
    assert!(
        p.get("event_ts").is_none() && v.get("event_ts").is_none(),
        "{v}"
    );
    assert_eq!(p["user_data_retention"], "false");
    // Tokens are dead.
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(env.get(at, "/users/me").await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = env
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn targets_change_at_runtime_and_events_can_be_arbitrary() {
    let first = Receiver::start(vec![(200, 0)]).await;
    let second = Receiver::start(vec![(204, 0)]).await;
    let env = env_with(&first, |_| {}).await;
    let (status, _) = env
        .control(
            reqwest::Method::PUT,
            "/webhooks/targets",
            Some(json!({"urls": [second.url]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = env
        .control(
            reqwest::Method::POST,
            "/events?wait=true",
            Some(json!({"event": "endpoint.url_validation", "payload": {"plainToken": "abc"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["deliveries"][0]["state"], "delivered");
    assert!(first.received().is_empty());
    let v: Value = json_body(&second.received()[0]);
    assert_eq!(v["payload"]["plainToken"], "abc");
    assert!(v["event_ts"].is_u64());
    let (_, list) = env.control(reqwest::Method::GET, "/webhooks", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["url"], second.url);
    // Several targets: one delivery each.
    env.sim.set_webhook_settings(WebhookSettings::new(
        vec![first.url.clone(), second.url.clone()],
        0.001,
        3000,
    ));
    let d = env.sim.send_event(Event {
        event: "x".into(),
        event_ts: Some(1),
        payload: json!({}),
    });
    assert_eq!(d.deliveries.len(), 2);
    let done = env.sim.wait_deliveries(&d.deliveries).await;
    assert!(done.iter().all(|r| r.state == DeliveryState::Delivered));
}
