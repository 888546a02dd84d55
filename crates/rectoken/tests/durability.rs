//! Issue #9 against real Redis servers this test starts itself (so it can
//! choose their persistence settings and flush them without touching other
//! tests): start refused on an evicting or non-persistent Redis and allowed
//! with the override; export → flush → import → a join request succeeds
//! with the restored credentials; import over newer credentials keeps the
//! newer; the export file holds no token in clear.
//!
//! Needs `redis-server` on PATH and the test RabbitMQ (`scripts/test`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rectoken_bus::OutgoingMessage;
use rectoken_domain::join::{JoinReply, JoinStatus};
use rectoken_store::{MapKey, StoredCredentials};
use rectoken_tests::harness::Harness;
use rectoken_tests::{amqp_url, eventually, unique_prefix};
use rectoken_vault::ZoomLimits;
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_rectoken");
/// The token worker harness's key, so the binary can read what it sealed.
const KEY_B64: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// A redis-server of our own, killed on drop.
struct OwnRedis {
    child: Child,
    port: u16,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl OwnRedis {
    fn start(args: &[&str]) -> OwnRedis {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("rectoken-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
            .arg(&dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test installs it)");
        let r = OwnRedis {
            child,
            port,
            _dir: TempDir(dir),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The queue prefix of one test's processes; its queues and exchange are
/// deleted on drop, so a run leaves no quorum queues for RabbitMQ to
/// recover at its next (re)start.
struct Queues(String);

impl Queues {
    fn new() -> Self {
        Self(unique_prefix("durability"))
    }
}

impl Drop for Queues {
    fn drop(&mut self) {
        let topology = rectoken_bus::Topology::new(self.0.clone());
        // A thread of its own: drop may run inside or outside a runtime.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(rectoken_tests::delete_topology(&amqp_url(), &topology));
            }
        })
        .join();
    }
}

fn rectoken(args: &[&str], redis: &str, queues: &Queues, extra: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RECTOKEN_AMQP_URL", amqp_url())
        .env("RECTOKEN_REDIS_URL", redis)
        .env("RECTOKEN_ENCRYPTION_KEY", KEY_B64)
        .env("ZOOM_CLIENT_ID", "c")
        .env("ZOOM_CLIENT_SECRET", "durability-client-secret")
        .env("ZOOM_WEBHOOK_SECRET", "durability-webhook-secret")
        .env("RECTOKEN_QUEUE_PREFIX", &queues.0)
        .stdin(Stdio::null());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd
}

#[test]
fn start_is_refused_on_volatile_or_evicting_redis() {
    let queues = Queues::new();
    let evicting = OwnRedis::start(&["--appendonly", "yes", "--maxmemory-policy", "allkeys-lru"]);
    let out = rectoken(
        &["ingress"],
        &evicting.url(),
        &queues,
        &[("RECTOKEN_HTTP_ADDR", "127.0.0.1:0".into())],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("maxmemory-policy noeviction") && err.contains("--allow-volatile-redis"),
        "{err}"
    );

    let volatile = OwnRedis::start(&[
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxmemory-policy",
        "noeviction",
    ]);
    for role in ["ingress", "sync-worker", "token-worker"] {
        let out = rectoken(
            &[role],
            &volatile.url(),
            &queues,
            &[
                ("RECTOKEN_HTTP_ADDR", "127.0.0.1:0".into()),
                ("RECTOKEN_METRICS_ADDR", "127.0.0.1:0".into()),
            ],
        )
        .output()
        .unwrap();
        assert!(!out.status.success(), "{role} started on a volatile Redis");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("appendonly yes"), "{role}: {err}");
    }
}

/// Start a role, wait until its health endpoint answers, SIGTERM it and
/// return (exit status, readyz body).
fn run_until_ready(mut cmd: Command, port: u16) -> (std::process::ExitStatus, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let body = rt.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/readyz");
        let ready = eventually(Duration::from_secs(20), || async {
            matches!(client.get(&url).send().await, Ok(r) if r.status() == 200)
        })
        .await;
        assert!(ready, "the role never became ready");
        client.get(&url).send().await.unwrap().text().await.unwrap()
    });
    // Graceful shutdown: SIGTERM, then it must exit 0 by itself.
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, body)
}

#[test]
fn override_starts_and_readyz_reports_the_risk_and_sigterm_exits_zero() {
    let queues = Queues::new();
    let volatile = OwnRedis::start(&["--save", "", "--appendonly", "no"]);
    let port = free_port();
    let mut cmd = rectoken(
        &["token-worker", "--allow-volatile-redis"],
        &volatile.url(),
        &queues,
        &[],
    );
    cmd.env("RECTOKEN_METRICS_ADDR", format!("127.0.0.1:{port}"));
    let (status, body) = run_until_ready(cmd, port);
    assert!(status.success(), "exit {status:?}");
    assert!(
        body.contains("redis_durability") && body.contains("appendonly yes"),
        "{body}"
    );

    let durable = OwnRedis::start(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--maxmemory-policy",
        "noeviction",
    ]);
    let port = free_port();
    let mut cmd = rectoken(&["ingress"], &durable.url(), &queues, &[]);
    cmd.env("RECTOKEN_HTTP_ADDR", format!("127.0.0.1:{port}"));
    let (status, body) = run_until_ready(cmd, port);
    assert!(status.success(), "exit {status:?}");
    assert!(body.contains(r#""redis_durability":"ok""#), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_flush_import_then_join_succeeds() {
    let queues = Queues::new();
    let redis = OwnRedis::start(&["--appendonly", "yes", "--maxmemory-policy", "noeviction"]);
    let prefix = unique_prefix("export");
    // The CLI uses the empty prefix: so does this harness's store.
    let harness = Harness::start(&amqp_url(), &redis.url(), "", |_| {}, ZoomLimits::default())
        .await
        .unwrap();
    let account = harness.connect_account(1, None).await.unwrap();
    harness.map_all(&account).await.unwrap();
    let meeting = account.meetings[0];
    let creds = harness
        .store
        .credentials(&account.account_id)
        .await
        .unwrap()
        .unwrap();

    // Export with the binary; the file has ciphertexts only.
    let file = std::env::temp_dir().join(format!("{prefix}export.json"));
    let out = rectoken(
        &["accounts", "export", "--out", file.to_str().unwrap()],
        &redis.url(),
        &queues,
        &[],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let keyring =
        rectoken_vault::Keyring::from_base64(&secrecy::SecretString::from(KEY_B64), None).unwrap();
    let opened: serde_json::Value =
        serde_json::from_slice(&keyring.open(&creds.sealed, &account.account_id).unwrap()).unwrap();
    let plain: Vec<String> = ["access_token", "refresh_token"]
        .iter()
        .map(|k| opened[*k].as_str().unwrap().to_owned())
        .collect();
    assert!(plain.iter().all(|p| p.len() > 8));
    for secret in &plain {
        assert!(
            !text.contains(secret.as_str()),
            "token in clear in the export"
        );
    }
    assert!(text.contains(&account.account_id));

    // Lose everything.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut con).await.unwrap();
    assert!(
        harness
            .store
            .credentials(&account.account_id)
            .await
            .unwrap()
            .is_none()
    );

    // Restore, then a bot asks for a token: the worker uses the restored
    // credentials (the map is a cache: map the meeting again as a sync would).
    let out = rectoken(
        &["accounts", "import", file.to_str().unwrap()],
        &redis.url(),
        &queues,
        &[],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        harness
            .store
            .credentials(&account.account_id)
            .await
            .unwrap()
            .unwrap(),
        creds
    );
    harness
        .map(
            MapKey::meeting(meeting),
            &account.account_id,
            &account.owner_id,
        )
        .await
        .unwrap();
    let bus = harness.bus("export-worker").await.unwrap();
    let stop = CancellationToken::new();
    let worker = tokio::spawn(rectoken_token::run(
        harness.deps(bus.clone()),
        Default::default(),
        stop.clone(),
    ));
    let body =
        serde_json::json!({"request_id": "r1", "meeting_id": meeting.to_string()}).to_string();
    let reply = bus
        .request(
            OutgoingMessage::json("", bus.topology().join_queue(), body, "r1"),
            Duration::from_secs(15),
        )
        .await
        .unwrap();
    let reply: JoinReply = serde_json::from_slice(&reply).unwrap();
    assert_eq!(reply.status(), JoinStatus::Ok, "{:?}", reply.error());

    // Import over newer credentials keeps the newer ones.
    let newer = StoredCredentials {
        refreshed_at_ms: creds.refreshed_at_ms + 1_000,
        ..creds.clone()
    };
    harness
        .store
        .put_credentials(&account.account_id, &newer, None)
        .await
        .unwrap();
    let out = rectoken(
        &["accounts", "import", file.to_str().unwrap()],
        &redis.url(),
        &queues,
        &[],
    )
    .output()
    .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 kept"));
    assert_eq!(
        harness
            .store
            .credentials(&account.account_id)
            .await
            .unwrap()
            .unwrap(),
        newer
    );

    stop.cancel();
    worker.await.unwrap();
    bus.close().await;
    harness.delete_queues().await;
    let _ = std::fs::remove_file(&file);
}
