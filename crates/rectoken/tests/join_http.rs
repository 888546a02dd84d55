//! The HTTP join endpoints of the ingress, through the real queue and a real
//! token worker: `POST /join` with every status mapping, and
//! `GET /zoom/join-token` (Recall.ai's `join_token_url` shape).
//!
//! Needs the test RabbitMQ, Redis and Redis Cluster (`scripts/test`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rectoken_ingress::apps::{App, AppKind, Apps};
use rectoken_ingress::services::derive_state_key;
use rectoken_ingress::{HttpLimits, Ingress, IngressState, Services, router};
use rectoken_tests::harness::Harness;
use rectoken_tests::{amqp_url, redis_cluster_url, redis_url, unique_prefix};
use rectoken_vault::ZoomLimits;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

const KEY: &str = "join-key-for-tests";

struct Stack {
    harness: Harness,
    base: String,
    stop: CancellationToken,
    http: reqwest::Client,
}

async fn stack(name: &str, with_worker: bool, join_key: Option<&str>) -> Stack {
    stack_on(&redis_url(), name, with_worker, join_key).await
}

async fn stack_on(redis: &str, name: &str, with_worker: bool, join_key: Option<&str>) -> Stack {
    stack_limited(redis, name, with_worker, join_key, HttpLimits::default()).await
}

async fn stack_limited(
    redis: &str,
    name: &str,
    with_worker: bool,
    join_key: Option<&str>,
    limits: HttpLimits,
) -> Stack {
    let prefix = unique_prefix(name);
    let harness = Harness::start(&amqp_url(), redis, &prefix, |_| {}, ZoomLimits::default())
        .await
        .unwrap();
    let bus = harness.bus(name).await.unwrap();
    let stop = CancellationToken::new();
    if with_worker {
        tokio::spawn(rectoken_token::run(
            harness.deps(bus.clone()),
            Default::default(),
            stop.clone(),
        ));
    }
    let services = Services {
        store: harness.store.clone(),
        vault: harness.vault.clone(),
        zoom: harness.zoom.clone(),
        public_url: "http://127.0.0.1".into(),
        state_key: derive_state_key(&[1; 32]),
        user_level: false,
        admin_token: None,
        join_key: join_key.map(|k| SecretString::from(k.to_owned())),
        join_timeout: Duration::from_secs(3),
        callbacks: Default::default(),
    };
    let apps = Apps::single(App::new("", "c", "s".into(), "w".into(), AppKind::Account));
    let state = IngressState::new(bus, apps, vec![])
        .with_services(services)
        .with_limits(limits);
    let ingress = Ingress::bind("127.0.0.1:0".parse().unwrap(), router(state))
        .await
        .unwrap()
        .with_limits(limits);
    let base = format!("http://{}", ingress.local_addr().unwrap());
    tokio::spawn(ingress.run(stop.clone()));
    Stack {
        harness,
        base,
        stop,
        http: reqwest::Client::new(),
    }
}

impl Stack {
    async fn post(&self, body: serde_json::Value, key: &str) -> (u16, serde_json::Value) {
        let r = self
            .http
            .post(format!("{}/join", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// An `ok` reply for `account` whose token the simulator minted.
    fn assert_minted(&self, reply: &serde_json::Value, account: &str) {
        assert_eq!(reply["status"], "ok", "{reply}");
        assert_eq!(reply["account_id"], account, "{reply}");
        let token = reply["tokens"]["local_recording"]["token"]
            .as_str()
            .unwrap();
        assert!(
            self.harness.sim.token(token).is_some(),
            "a token the simulator minted"
        );
    }

    async fn finish(self) {
        self.stop.cancel();
        self.harness.delete_queues().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_join_maps_every_status() {
    let s = stack("join-http", true, Some(KEY)).await;
    let account = s.harness.connect_account(2, None).await.unwrap();
    s.harness.map_all(&account).await.unwrap();
    let meeting = account.meetings[0];

    let (status, reply) = s.post(serde_json::json!({"request_id": "h1", "meeting_url": format!("https://zoom.us/j/{meeting}")}), KEY).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["request_id"], "h1");
    s.assert_minted(&reply, &account.account_id);

    let (status, reply) = s
        .post(serde_json::json!({"meeting_id": "99999999999"}), KEY)
        .await;
    assert_eq!(
        (status, reply["status"].as_str()),
        (404, Some("not_found")),
        "{reply}"
    );
    let (status, reply) = s
        .post(
            serde_json::json!({"meeting_url": "https://evil.com/j/1"}),
            KEY,
        )
        .await;
    assert_eq!(
        (status, reply["status"].as_str()),
        (400, Some("invalid_request")),
        "{reply}"
    );
    assert!(reply["error"].as_str().unwrap().contains("zoom"), "{reply}");

    // A disconnected account: 409.
    s.harness
        .store
        .set_account_status(
            &account.account_id,
            rectoken_store::AccountStatus::Disconnected,
            Some("refresh token refused"),
        )
        .await
        .unwrap();
    let (status, reply) = s
        .post(serde_json::json!({"meeting_id": meeting.to_string()}), KEY)
        .await;
    assert_eq!(
        (status, reply["status"].as_str()),
        (409, Some("account_disconnected")),
        "{reply}"
    );

    let (status, _) = s
        .post(
            serde_json::json!({"meeting_id": meeting.to_string()}),
            "wrong",
        )
        .await;
    assert_eq!(status, 401);
    let r = s
        .http
        .post(format!("{}/join", s.base))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no key at all");
    s.finish().await;
}

/// The whole join path with the store on Redis Cluster: the account's
/// credentials, rate limiter and block live in its slot, the meeting's
/// mapping in its bucket's slot, on other nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_join_on_redis_cluster() {
    let s = stack_on(&redis_cluster_url(), "join-cluster", true, Some(KEY)).await;
    let account = s.harness.connect_account(3, None).await.unwrap();
    s.harness.map_all(&account).await.unwrap();
    for (n, meeting) in account.meetings.iter().enumerate() {
        let (status, reply) = s
            .post(
                serde_json::json!({"request_id": format!("c{n}"), "meeting_id": meeting.to_string()}),
                KEY,
            )
            .await;
        assert_eq!(status, 200, "{reply}");
        s.assert_minted(&reply, &account.account_id);
    }
    let (status, reply) = s
        .post(serde_json::json!({"meeting_id": "99999999999"}), KEY)
        .await;
    assert_eq!((status, reply["status"].as_str()), (404, Some("not_found")));
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_token_url_answers_plain_token_or_404() {
    let s = stack("join-token-url", true, Some(KEY)).await;
    let account = s.harness.connect_account(1, None).await.unwrap();
    s.harness.map_all(&account).await.unwrap();
    let meeting = account.meetings[0];
    let r = s
        .http
        .get(format!(
            "{}/zoom/join-token?meeting_id={meeting}&key={KEY}",
            s.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let token = r.text().await.unwrap();
    assert_eq!(
        s.harness.sim.token(&token).unwrap().meeting_id,
        Some(meeting.get())
    );
    let r = s
        .http
        .get(format!(
            "{}/zoom/join-token?meeting_id=99999999999&key={KEY}",
            s.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = s
        .http
        .get(format!(
            "{}/zoom/join-token?meeting_id=nonsense&key={KEY}",
            s.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = s
        .http
        .get(format!(
            "{}/zoom/join-token?meeting_id={meeting}&key=wrong",
            s.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The key as a bearer header instead of in the URL.
    let r = s
        .http
        .get(format!("{}/zoom/join-token?meeting_id={meeting}", s.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = r.text().await.unwrap();
    assert!(s.harness.sim.token(&token).is_some(), "a minted token");
    let r = s
        .http
        .get(format!("{}/zoom/join-token?meeting_id={meeting}", s.base))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_worker_is_504_and_no_key_is_off() {
    let s = stack("join-504", false, Some(KEY)).await;
    let deadline = (time::OffsetDateTime::now_utc() + time::Duration::milliseconds(300))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, body) = s
        .post(
            serde_json::json!({"meeting_id": "85000000001", "deadline": deadline}),
            KEY,
        )
        .await;
    assert_eq!(status, 504, "{body}");
    s.finish().await;

    let off = stack("join-off", false, None).await;
    let (status, _) = off
        .post(serde_json::json!({"meeting_id": "85000000001"}), KEY)
        .await;
    assert_eq!(status, 404);
    let r = off
        .http
        .get(format!(
            "{}/zoom/join-token?meeting_id=85000000001&key={KEY}",
            off.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    off.finish().await;
}

/// Reads from `stream` until the server closes it; what it sent. The
/// close is the signal: a server that keeps the connection open fails the
/// test at the outer timeout instead.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut got))
        .await
        .expect("the server closed the connection")
        .ok();
    String::from_utf8_lossy(&got).into_owned()
}

async fn connect(base: &str) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Issue 15, finding 4: a client that sends headers slowly (slowloris), a
/// body slowly, or a big body without the key, cannot hold the ingress.
#[tokio::test]
async fn slow_or_keyless_clients_are_cut_off() {
    use tokio::io::AsyncWriteExt;
    let limits = HttpLimits {
        header_read_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        ..HttpLimits::default()
    };
    let s = stack_limited(&redis_url(), "join-slow", false, Some(KEY), limits).await;

    // Half a request line and headers, then nothing: closed without an
    // answer once the header read timeout passes.
    let mut slow = connect(&s.base).await;
    slow.write_all(b"POST /join HTTP/1.1\r\nHost: x\r\nX-Slow: 1")
        .await
        .unwrap();
    let answer = read_until_closed(&mut slow).await;
    assert!(!answer.contains("200"), "{answer}");

    // An idle connection (nothing sent at all) goes the same way.
    let mut idle = connect(&s.base).await;
    read_until_closed(&mut idle).await;

    // A wrong key with a large declared body that never comes: 401 at
    // once, nothing of the body read.
    let mut keyless = connect(&s.base).await;
    keyless
        .write_all(
            b"POST /join HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong-key\r\n\
              Connection: close\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{",
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut keyless).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    // The right key and a body over 64 KiB: 413 without reading it.
    let mut big = connect(&s.base).await;
    big.write_all(
        format!(
            "POST /join HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\
             Connection: close\r\nContent-Type: application/json\r\nContent-Length: 65537\r\n\r\n{{"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut big).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // The right key and a body that trickles: the request timeout answers.
    let mut trickle = connect(&s.base).await;
    trickle
        .write_all(
            format!(
                "POST /join HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\
                 Connection: close\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut trickle).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // Every answer carries the headers that keep it out of caches.
    let r = s
        .http
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    s.finish().await;
}

/// A personal link over HTTP (`POST /join` and Recall.ai's
/// `join_token_url`): the ingress lets it through and the token worker
/// resolves it through the user directory to the user's PMI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_links_work_over_http() {
    let s = stack("join-http-mylink", true, Some(KEY)).await;
    let account = s.harness.connect_account(1, None).await.unwrap();
    s.harness.map_all(&account).await.unwrap();
    s.harness
        .store
        .put_directory_user(&rectoken_store::DirectoryUser {
            account_id: account.account_id.clone(),
            user_id: account.owner_id.clone(),
            email: None,
            vanity_name: Some("jill".into()),
            pmi: Some(account.pmi),
            version: 1,
        })
        .await
        .unwrap();
    let (status, reply) = s
        .post(
            serde_json::json!({"request_id": "my", "meeting_url": "https://zoom.us/my/Jill"}),
            KEY,
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    s.assert_minted(&reply, &account.account_id);
    assert_eq!(reply["meeting_id"], account.pmi.to_string());
    let (status, reply) = s
        .post(
            serde_json::json!({"meeting_url": "https://zoom.us/my/nobody"}),
            KEY,
        )
        .await;
    assert_eq!(
        (status, reply["status"].as_str()),
        (404, Some("not_found")),
        "{reply}"
    );
    let r = s
        .http
        .get(format!(
            "{}/zoom/join-token?meeting_id=https://zoom.us/my/jill&key={KEY}",
            s.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = r.text().await.unwrap();
    assert_eq!(
        s.harness.sim.token(&token).unwrap().meeting_id,
        Some(account.pmi.get())
    );
    s.finish().await;
}
