//! attendee's and Recall.ai's token callbacks, played byte for byte as
//! their code sends them, through the ingress, the real queue and a real
//! token worker, with the simulator confirming every token:
//!
//! - attendee (`bots/external_callback_utils.py`): `requests.post(url,
//!   json=payload, headers={..., "X-Webhook-Signature": sign_payload(...)})`.
//!   The bodies and signatures below were produced by that very code
//!   (Python 3.11, requests 2.34.2, attendee's `sign_payload`) with the
//!   secret [`ATTENDEE_SECRET`]: default separators, keys in insertion
//!   order, non-ASCII as `\uXXXX`, signature over the sorted, compact,
//!   UTF-8 form.
//! - Recall.ai (`verify_requests_from_recall` sample): GET with the
//!   query string kept and `webhook-id`, `webhook-timestamp`,
//!   `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{ts}.">` keyed
//!   with the base64 part of the `whsec_…` secret; computed here
//!   independently of rectoken's own code.
//!
//! Needs the test RabbitMQ and Redis (`scripts/test`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use rectoken_domain::callback_auth::{attendee_key, recall_key};
use rectoken_domain::meeting_id::MeetingId;
use rectoken_ingress::apps::{App, AppKind, Apps};
use rectoken_ingress::callbacks::{CallbackKey, Callbacks};
use rectoken_ingress::services::derive_state_key;
use rectoken_ingress::{Ingress, IngressState, Services, router};
use rectoken_store::MapKey;
use rectoken_tests::harness::{ConnectedAccount, Harness};
use rectoken_tests::{amqp_url, redis_url, unique_prefix};
use rectoken_token::TokenOptions;
use rectoken_vault::ZoomLimits;
use secrecy::SecretString;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;
use zoom_sim::{NewAccount, NewMeeting, NewUser, TokenKind as SimKind};

const KEY: &str = "join-key-for-callback-tests";
/// attendee's project webhook secret, as attendee's UI shows it.
const ATTENDEE_SECRET: &str = "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=";
const RECALL_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The mapped meeting (hosted in the connected account) and the external one.
const MAPPED: u64 = 85_012_345_678;
const EXTERNAL: u64 = 86_098_765_432;
const SENDER_EMAIL: &str = "sender@example.com";

/// attendee's body for [`MAPPED`] (requests' `json=`), and its signature.
const ATTENDEE_BODY_MAPPED: &[u8] = br#"{"bot_id": "bot_3kfL9xQzW1", "bot_metadata": {"zoom_user": "sender@example.com", "team": "Z\u00fcrich \u2014 Ops \u2615", "note": "line\nbreak \"q\" \\ tab\t", "nested": {"b": 1, "a": [1.5, null, true, 1e+16]}}, "callback_type": "zoom_tokens", "meeting_url": "https://us05web.zoom.us/j/85012345678?pwd=aBcD.1"}"#;
const ATTENDEE_SIG_MAPPED: &str = "86DWviBw8piRNJ2l/x8EnVkhMdztGDBybZ6E6mNIJlQ=";
/// The same for [`EXTERNAL`].
const ATTENDEE_BODY_EXTERNAL: &[u8] = br#"{"bot_id": "bot_3kfL9xQzW1", "bot_metadata": {"zoom_user": "sender@example.com", "team": "Z\u00fcrich \u2014 Ops \u2615", "note": "line\nbreak \"q\" \\ tab\t", "nested": {"b": 1, "a": [1.5, null, true, 1e+16]}}, "callback_type": "zoom_tokens", "meeting_url": "https://us05web.zoom.us/j/86098765432?pwd=aBcD.1"}"#;
const ATTENDEE_SIG_EXTERNAL: &str = "k5XH33s7DGRkAJ8Ieu1aVkxbdHBpsonutx7Kb2GZvFw=";

struct Stack {
    h: Harness,
    base: String,
    stop: CancellationToken,
    http: reqwest::Client,
    account: ConnectedAccount,
    sender_id: String,
}

async fn stack(name: &str, allow_zak: bool) -> Stack {
    let prefix = unique_prefix(name);
    // Every scope rectoken can use: the OBF and ZAK ones are optional.
    let all_scopes = |c: &mut zoom_sim::SimConfig| {
        c.scopes = Some(zoom_sim::AppKind::Account.all_scopes().join(" "));
    };
    let h = Harness::start(
        &amqp_url(),
        &redis_url(),
        &prefix,
        all_scopes,
        ZoomLimits::default(),
    )
    .await
    .unwrap();
    let bus = h.bus(name).await.unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(rectoken_token::run(
        h.deps(bus.clone()),
        TokenOptions {
            allow_zak,
            ..TokenOptions::default()
        },
        stop.clone(),
    ));
    // The connected account hosts MAPPED; the sender is a member of it.
    let account = h.connect_account(0, None).await.unwrap();
    h.sim
        .create_meeting(
            &account.owner_id,
            NewMeeting {
                id: Some(MAPPED),
                ..NewMeeting::default()
            },
        )
        .unwrap();
    h.map(
        MapKey::meeting(MeetingId::new(MAPPED).unwrap()),
        &account.account_id,
        &account.owner_id,
    )
    .await
    .unwrap();
    let sender = h
        .sim
        .create_user(
            &account.account_id,
            NewUser {
                email: Some(SENDER_EMAIL.into()),
                ..NewUser::default()
            },
        )
        .unwrap();
    // Another company's account, not connected, hosts EXTERNAL.
    let other = h.sim.create_account(NewAccount::default()).unwrap();
    let other_host = h.sim.create_user(&other.id, NewUser::default()).unwrap();
    h.sim
        .create_meeting(
            &other_host.id,
            NewMeeting {
                id: Some(EXTERNAL),
                ..NewMeeting::default()
            },
        )
        .unwrap();

    let services = Services {
        store: h.store.clone(),
        vault: h.vault.clone(),
        zoom: h.zoom.clone(),
        public_url: "http://127.0.0.1".into(),
        state_key: derive_state_key(&[1; 32]),
        user_level: false,
        admin_token: None,
        join_key: Some(SecretString::from(KEY.to_owned())),
        join_timeout: Duration::from_secs(10),
        callbacks: Callbacks {
            allow_zak,
            attendee_key: Some(CallbackKey::new(attendee_key(ATTENDEE_SECRET).unwrap())),
            recall_key: Some(CallbackKey::new(recall_key(RECALL_SECRET).unwrap())),
            ..Callbacks::default()
        },
    };
    let apps = Apps::single(App::new("", "c", "s".into(), "w".into(), AppKind::Account));
    let state = IngressState::new(bus, apps, vec![]).with_services(services);
    let ingress = Ingress::bind("127.0.0.1:0".parse().unwrap(), router(state))
        .await
        .unwrap();
    let base = format!("http://{}", ingress.local_addr().unwrap());
    tokio::spawn(ingress.run(stop.clone()));
    Stack {
        h,
        base,
        stop,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        account,
        sender_id: sender.id,
    }
}

impl Stack {
    /// POSTs as attendee does (its headers, its body bytes).
    async fn attendee(&self, query: &str, body: &[u8], sig: Option<&str>) -> (u16, String) {
        let mut r = self
            .http
            .post(format!("{}/attendee/zoom-tokens{query}", self.base))
            .header("Content-Type", "application/json")
            .header("User-Agent", "Attendee-Callback/1.0")
            .body(body.to_vec());
        if let Some(sig) = sig {
            r = r.header("X-Webhook-Signature", sig);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    /// GETs as Recall's bot does: the URL's query kept, signed when `signed`
    /// is `Some(timestamp)`.
    async fn recall(&self, path_and_query: &str, signed: Option<i64>) -> (u16, String, String) {
        let mut r = self.http.get(format!("{}{path_and_query}", self.base));
        if let Some(ts) = signed {
            let id = "msg_2tYx8QhZ3k";
            let ts = ts.to_string();
            let key = STANDARD.decode(&RECALL_SECRET["whsec_".len()..]).unwrap();
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            mac.update(format!("{id}.{ts}.").as_bytes());
            let sig = STANDARD.encode(mac.finalize().into_bytes());
            r = r
                .header("webhook-id", id)
                .header("webhook-timestamp", ts)
                .header("webhook-signature", format!("v1,{sig}"));
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let cache = resp
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (status, resp.text().await.unwrap(), cache)
    }

    fn minted(&self) -> u64 {
        self.h.sim.stats().tokens_minted
    }

    async fn finish(self) {
        self.stop.cancel();
        self.h.delete_queues().await;
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attendee_exact_callback_gets_recording_and_obf_tokens() {
    let s = stack("cb-attendee", false).await;

    let (status, body) = s
        .attendee("", ATTENDEE_BODY_MAPPED, Some(ATTENDEE_SIG_MAPPED))
        .await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let recording = answer["app_privilege_token"].as_str().unwrap();
    let rec = s.h.sim.token(recording).unwrap();
    assert_eq!(
        (rec.kind, rec.meeting_id, rec.user_id.as_str()),
        (
            SimKind::LocalRecording,
            Some(MAPPED),
            s.account.owner_id.as_str()
        )
    );
    let obf =
        s.h.sim
            .token(answer["onbehalf_token"].as_str().unwrap())
            .unwrap();
    assert_eq!(
        (obf.kind, obf.meeting_id, obf.user_id.as_str()),
        (SimKind::Onbehalf, Some(MAPPED), s.sender_id.as_str())
    );
    assert!(answer.get("zak_token").is_none(), "ZAKs are off: {answer}");

    // The external meeting: the sender's OBF token, no recording token.
    let (status, body) = s
        .attendee("", ATTENDEE_BODY_EXTERNAL, Some(ATTENDEE_SIG_EXTERNAL))
        .await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(answer.get("app_privilege_token").is_none(), "{answer}");
    let obf_token = answer["onbehalf_token"].as_str().unwrap();
    let obf = s.h.sim.token(obf_token).unwrap();
    assert_eq!(
        (obf.meeting_id, obf.user_id.as_str()),
        (Some(EXTERNAL), s.sender_id.as_str())
    );
    // A bot presenting it gets in once the sender is in the meeting.
    assert!(!s.h.sim.admission(obf_token, None).admitted);
    s.h.sim
        .set_in_meeting(EXTERNAL, &s.sender_id, true)
        .unwrap();
    assert!(s.h.sim.admission(obf_token, None).admitted);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attendee_bad_input_is_refused_and_mints_nothing() {
    let s = stack("cb-attendee-bad", false).await;
    let before = s.minted();
    // No signature, wrong signature, the other payload's signature, a
    // signature over the raw body instead of the canonical form.
    let raw_sig = {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&STANDARD.decode(ATTENDEE_SECRET).unwrap()).unwrap();
        mac.update(ATTENDEE_BODY_MAPPED);
        STANDARD.encode(mac.finalize().into_bytes())
    };
    for sig in [
        None,
        Some("AAAA"),
        Some(ATTENDEE_SIG_EXTERNAL),
        Some(raw_sig.as_str()),
        Some("not base64!"),
    ] {
        let (status, body) = s.attendee("", ATTENDEE_BODY_MAPPED, sig).await;
        assert_eq!(status, 401, "{sig:?}: {body}");
    }
    // One changed byte.
    let tampered = String::from_utf8(ATTENDEE_BODY_MAPPED.to_vec())
        .unwrap()
        .replace("bot_3kfL9xQzW1", "bot_3kfL9xQzW2");
    let (status, _) = s
        .attendee("", tampered.as_bytes(), Some(ATTENDEE_SIG_MAPPED))
        .await;
    assert_eq!(status, 401);
    // Malformed bodies: 400.
    let (status, body) = s
        .attendee("", b"{\"bot_id\": ", Some(ATTENDEE_SIG_MAPPED))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = s
        .attendee(&format!("?key={KEY}"), b"{\"bot_id\": \"b\"}", None)
        .await;
    assert_eq!(status, 400, "no meeting_url: {body}");
    assert_eq!(s.minted(), before, "nothing minted for bad input");

    // Installs without the secret use ?key=: a wrong key is 401, the right
    // one works; a non-Zoom meeting gets {} (nothing can be minted).
    let (status, _) = s.attendee("?key=wrong", ATTENDEE_BODY_MAPPED, None).await;
    assert_eq!(status, 401);
    let teams = br#"{"bot_id": "b", "bot_metadata": null, "callback_type": "zoom_tokens", "meeting_url": "https://teams.microsoft.com/l/meetup-join/x"}"#;
    let (status, body) = s.attendee(&format!("?key={KEY}"), teams, None).await;
    assert_eq!((status, body.as_str()), (200, "{}"));
    assert_eq!(s.minted(), before);
    let (status, body) = s
        .attendee(&format!("?key={KEY}"), ATTENDEE_BODY_MAPPED, None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("app_privilege_token"), "{body}");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recall_callbacks_answer_plain_text_with_key_or_signature() {
    let s = stack("cb-recall", true).await;
    let sender = SENDER_EMAIL;
    // Recall keeps every query parameter of the configured URL and adds
    // nothing we need; extra ones are ignored.
    let obf =
        format!("/zoom/obf-token?meeting_id={EXTERNAL}&user={sender}&bot_id=8f1c&recording=1");
    let (status, token, cache) = s.recall(&obf, Some(now())).await;
    assert_eq!((status, cache.as_str()), (200, "no-store"), "{token}");
    let rec = s.h.sim.token(&token).unwrap();
    assert_eq!(
        (rec.kind, rec.meeting_id, rec.user_id.as_str()),
        (SimKind::Onbehalf, Some(EXTERNAL), s.sender_id.as_str())
    );
    let (status, token, _) = s.recall(&format!("{obf}&key={KEY}"), None).await;
    assert_eq!(status, 200);
    assert!(s.h.sim.token(&token).is_some());

    let zak = format!(
        "/zoom/zak?user={}&meeting_id={MAPPED}&bot_id=8f1c",
        s.sender_id
    );
    let (status, token, cache) = s.recall(&zak, Some(now())).await;
    assert_eq!((status, cache.as_str()), (200, "no-store"), "{token}");
    let rec = s.h.sim.token(&token).unwrap();
    assert_eq!(
        (rec.kind, rec.user_id.as_str()),
        (SimKind::Zak, s.sender_id.as_str())
    );

    let join = format!("/zoom/join-token?meeting_id={MAPPED}&bot_id=8f1c");
    let (status, token, _) = s.recall(&join, Some(now())).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(s.h.sim.token(&token).unwrap().kind, SimKind::LocalRecording);

    // 404 when nothing can be made: an unknown user, an unmapped meeting.
    let (status, _, cache) = s
        .recall(
            &format!("/zoom/obf-token?meeting_id={EXTERNAL}&user=nobody@example.com"),
            Some(now()),
        )
        .await;
    assert_eq!((status, cache.as_str()), (404, "no-store"));
    let (status, _, _) = s
        .recall(
            &format!("/zoom/join-token?meeting_id={EXTERNAL}"),
            Some(now()),
        )
        .await;
    assert_eq!(status, 404);

    // Refused: stale or future timestamps, no credentials, a wrong key.
    let before = s.minted();
    for ts in [now() - 301, now() + 301] {
        for path in [&obf, &zak, &join] {
            let (status, body, _) = s.recall(path, Some(ts)).await;
            assert_eq!(status, 401, "{path} at {ts}: {body}");
        }
    }
    for path in [&obf, &zak, &join] {
        let (status, _, _) = s.recall(path, None).await;
        assert_eq!(status, 401, "{path} without credentials");
        let (status, _, _) = s.recall(&format!("{path}&key=wrong"), None).await;
        assert_eq!(status, 401, "{path} with a wrong key");
    }
    assert_eq!(s.minted(), before, "nothing minted for refused requests");
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zak_route_is_404_unless_allowed() {
    let s = stack("cb-zak-off", false).await;
    let (status, _, _) = s
        .recall(&format!("/zoom/zak?user={}", s.sender_id), Some(now()))
        .await;
    assert_eq!(status, 404);
    assert_eq!(s.minted(), 0);
    s.finish().await;
}
