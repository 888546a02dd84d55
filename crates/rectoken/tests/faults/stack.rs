//! The real rectoken stack as separate processes, shared by the fault suite
//! (`tests/faults.rs`) and the soak run (`examples/soak.rs`):
//!
//! - the built `rectoken` binary as 1 ingress, 2 sync workers and 2 token
//!   workers, each with its own log file and port;
//! - a redis-server of our own (AOF with `appendfsync always`, noeviction,
//!   its own port and directory), so it can be killed and restarted without
//!   touching other tests and without losing credentials;
//! - the shared test RabbitMQ, under a unique queue prefix;
//! - the Zoom simulator in this process, its webhooks pointed at the
//!   ingress, an account connected through the ingress's real OAuth flow;
//! - [`Joiner`]: join requests over AMQP with a durable reply queue of our
//!   own (replies survive a broker restart), every reply recorded per
//!   correlation ID so missing and duplicated replies are visible;
//! - [`Driver`]: a steady mix of simulator changes that each fire one
//!   signed webhook (`meeting.created`, `meeting.deleted`, `user.updated`).
//!
//! Everything is on loopback; every child process is SIGKILLed on drop.

#![allow(dead_code)] // each includer uses a part

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rectoken_bus::rabbit::{RabbitBus, RabbitOptions};
use rectoken_bus::{Bus, OutgoingMessage, Topology};
use tokio_util::sync::CancellationToken;
use zoom_sim::{DeleteMeeting, NewAccount, NewMeeting, NewUser, OAuthSettings, Sim, SimConfig};

pub const CLIENT_ID: &str = "faults-client";
pub const CLIENT_SECRET: &str = "faults-client-secret";
pub const WEBHOOK_SECRET: &str = "faults-webhook-secret";
/// Test data only: base64 of 32 bytes.
pub const KEY_B64: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
pub const ADMIN_TOKEN: &str = "faults-admin-token";
pub const ACCOUNT_ID: &str = "faultsAcct0000000000001";

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A command that dies with the thread that started it: `setpriv
/// --pdeathsig KILL` (util-linux) when available, so a test process killed
/// from outside (a runner's timeout, Ctrl-C) leaves no role or Redis
/// behind. Drop guards cover the ordinary exits.
pub fn command(program: &Path) -> Command {
    static SETPRIV: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let have = *SETPRIV.get_or_init(|| {
        Command::new("setpriv")
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if have {
        let mut c = Command::new("setpriv");
        c.args(["--pdeathsig", "KILL", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A scratch directory: removed on drop unless the thread is panicking or
/// [`ScratchDir::keep`] was called (logs stay for a post-mortem).
pub struct ScratchDir {
    pub path: PathBuf,
    keep: bool,
}

impl ScratchDir {
    pub fn new(name: &str) -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("rectoken-{name}-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(Self { path, keep: false })
    }

    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if self.keep || std::thread::panicking() {
            eprintln!("logs kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The last `lines` lines of a file (for failure reports).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Resident set size of a process, kB (VmRSS of /proc/PID/status).
pub fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

// ------------------------------------------------------------------- Redis

/// A redis-server of our own: AOF on (`appendfsync always`), noeviction,
/// its own port and directory. SIGKILLed on drop.
pub struct OwnRedis {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl OwnRedis {
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let dir = dir.join("redis");
        std::fs::create_dir_all(&dir)?;
        let mut r = Self {
            child: None,
            port: free_port()?,
            dir,
        };
        r.launch()?;
        Ok(r)
    }

    fn launch(&mut self) -> anyhow::Result<()> {
        let child = command(Path::new("redis-server"))
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
                "--daemonize",
                "no",
                "--logfile",
                "redis.log",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("redis-server must be installed (scripts/services install)")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if redis_pong(self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("redis-server on port {} did not answer PING", self.port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: the crash, not a shutdown (no final AOF rewrite or save).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again on the same port and directory (the AOF is replayed).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill9();
        self.launch()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

fn redis_pong(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    // "-LOADING" while the AOF is replayed; "+PONG" when ready.
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill9();
    }
}

// --------------------------------------------------------------- processes

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Ingress,
    SyncWorker,
    TokenWorker,
}

impl Role {
    pub fn subcommand(self) -> &'static str {
        match self {
            Role::Ingress => "ingress",
            Role::SyncWorker => "sync-worker",
            Role::TokenWorker => "token-worker",
        }
    }
}

/// One role process. SIGKILLed on drop.
pub struct Proc {
    pub name: String,
    pub role: Role,
    /// HTTP port (ingress) or metrics port (workers).
    pub port: u16,
    pub log: PathBuf,
    child: Child,
    /// We killed it on purpose (a restart is due).
    pub killed: bool,
    /// How many times it was started.
    pub starts: u32,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Exit status if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.killed = true;
    }

    pub fn readyz_url(&self) -> String {
        format!("http://127.0.0.1:{}/readyz", self.port)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What every role process is started with.
#[derive(Clone)]
pub struct Env {
    pub bin: PathBuf,
    pub amqp_url: String,
    pub redis_url: String,
    pub prefix: String,
    pub api_url: String,
    pub oauth_url: String,
    pub dir: PathBuf,
    pub log_filter: String,
}

impl Env {
    pub fn spawn(&self, role: Role, name: &str, port: u16, starts: u32) -> anyhow::Result<Proc> {
        let log = self.dir.join(format!("{name}.log"));
        let out = File::options().create(true).append(true).open(&log)?;
        let err = out.try_clone()?;
        let mut cmd = command(&self.bin);
        cmd.arg(role.subcommand())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RECTOKEN_AMQP_URL", &self.amqp_url)
            .env("RECTOKEN_REDIS_URL", &self.redis_url)
            .env("RECTOKEN_QUEUE_PREFIX", &self.prefix)
            .env("RECTOKEN_ENCRYPTION_KEY", KEY_B64)
            .env("ZOOM_CLIENT_ID", CLIENT_ID)
            .env("ZOOM_CLIENT_SECRET", CLIENT_SECRET)
            .env("ZOOM_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("ZOOM_API_URL", &self.api_url)
            .env("ZOOM_OAUTH_URL", &self.oauth_url)
            .env("RECTOKEN_LOG", &self.log_filter)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        match role {
            Role::Ingress => {
                cmd.env("RECTOKEN_HTTP_ADDR", format!("127.0.0.1:{port}"))
                    .env("RECTOKEN_ADMIN_TOKEN", ADMIN_TOKEN)
                    .env("RECTOKEN_OPEN_CONNECT", "true");
            }
            Role::SyncWorker | Role::TokenWorker => {
                cmd.env("RECTOKEN_METRICS_ADDR", format!("127.0.0.1:{port}"));
            }
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))?;
        Ok(Proc {
            name: name.to_owned(),
            role,
            port,
            log,
            child,
            killed: false,
            starts,
        })
    }
}

// ------------------------------------------------------------------- stack

pub struct StackOptions {
    pub bin: PathBuf,
    /// One AMQP URL or a cluster's comma-separated node URLs.
    pub amqp_url: String,
    /// The roles' Redis; `None`: a redis-server of the stack's own
    /// ([`Stack::redis`], which is started either way).
    pub redis_url: Option<String>,
    pub prefix: String,
    pub dir: PathBuf,
    /// Simulator's webhook retry scale (Zoom's 5/20/60 min times this).
    pub webhook_retry_scale: f64,
    /// Lifetime of the simulator's access tokens (refreshes happen).
    pub access_token_ttl_secs: u64,
    pub users: usize,
    pub meetings_per_user: usize,
    pub seed: u64,
    pub log_filter: String,
}

pub struct Stack {
    pub env: Env,
    pub procs: Mutex<Vec<Proc>>,
    pub redis: Mutex<OwnRedis>,
    pub sim: Sim,
    pub ingress: String,
    pub users: Vec<String>,
    pub owner: String,
    pub initial_meetings: Vec<u64>,
    /// A bus of the test itself (depths, poison messages, join requests).
    pub bus: Arc<dyn Bus>,
    pub http: reqwest::Client,
}

impl Stack {
    /// Start everything and wait until every role answers `/readyz` 200.
    pub async fn start(o: StackOptions) -> anyhow::Result<Stack> {
        let mut cfg = SimConfig::for_tests(CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET);
        cfg.webhook_retry_scale = o.webhook_retry_scale;
        cfg.access_token_ttl_secs = o.access_token_ttl_secs;
        cfg.seed = Some(o.seed);
        let (sim, _addr) = Sim::spawn(cfg).await?;
        sim.create_account(NewAccount {
            id: Some(ACCOUNT_ID.to_owned()),
            plan: None,
        })?;
        let mut users = Vec::new();
        let mut initial_meetings = Vec::new();
        for i in 0..o.users.max(1) {
            let u = sim.create_user(
                ACCOUNT_ID,
                NewUser {
                    id: Some(format!("faultsUser{i:012}")),
                    ..NewUser::default()
                },
            )?;
            // No webhook target yet: these fire nothing; the connect-time
            // full sync maps them.
            for _ in 0..o.meetings_per_user {
                initial_meetings.push(sim.create_meeting(&u.id, NewMeeting::default())?.value.id);
            }
            users.push(u.id);
        }
        let owner = users[0].clone();
        sim.set_oauth_settings(OAuthSettings {
            authorize_user: Some(owner.clone()),
            ..OAuthSettings::default()
        });
        let redis = OwnRedis::start(&o.dir)?;
        let env = Env {
            bin: o.bin,
            amqp_url: o.amqp_url.clone(),
            redis_url: o.redis_url.clone().unwrap_or_else(|| redis.url()),
            prefix: o.prefix.clone(),
            api_url: sim.api_url().context("sim not serving")?,
            oauth_url: sim.oauth_url().context("sim not serving")?,
            dir: o.dir.clone(),
            log_filter: o.log_filter,
        };
        let mut procs = Vec::new();
        let ingress_port = free_port()?;
        procs.push(env.spawn(Role::Ingress, "ingress", ingress_port, 1)?);
        for i in 1..=2 {
            procs.push(env.spawn(Role::SyncWorker, &format!("sync-{i}"), free_port()?, 1)?);
        }
        for i in 1..=2 {
            procs.push(env.spawn(Role::TokenWorker, &format!("token-{i}"), free_port()?, 1)?);
        }
        let ingress = format!("http://127.0.0.1:{ingress_port}");
        let mut s = sim.webhook_settings();
        s.urls = vec![format!("{ingress}/zoom/webhook")];
        sim.set_webhook_settings(s);
        let bus: Arc<dyn Bus> = Arc::new(RabbitBus::start(
            &o.amqp_url,
            Topology::new(o.prefix),
            RabbitOptions {
                connection_name: "rectoken-faults-test".into(),
                ..RabbitOptions::default()
            },
        ));
        let stack = Stack {
            env,
            procs: Mutex::new(procs),
            redis: Mutex::new(redis),
            sim,
            ingress,
            users,
            owner,
            initial_meetings,
            bus,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
        };
        let not_ready = stack.wait_ready(Duration::from_secs(60)).await;
        if !not_ready.is_empty() {
            bail!("{}", stack.report_not_ready(&not_ready));
        }
        tokio::time::timeout(Duration::from_secs(30), stack.bus.wait_connected())
            .await
            .context("the test's own bus did not connect")?;
        Ok(stack)
    }

    /// Wait until every role answers `/readyz` 200; returns the names of
    /// those that did not within `limit`.
    pub async fn wait_ready(&self, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        loop {
            let targets: Vec<(String, String)> = lock(&self.procs)
                .iter()
                .map(|p| (p.name.clone(), p.readyz_url()))
                .collect();
            let mut missing = Vec::new();
            for (name, url) in targets {
                let ok = matches!(self.http.get(&url).send().await, Ok(r) if r.status() == 200);
                if !ok {
                    missing.push(name);
                }
            }
            if missing.is_empty() || Instant::now() >= deadline {
                return missing;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn report_not_ready(&self, names: &[String]) -> String {
        let mut out = format!("not ready: {names:?}");
        for p in lock(&self.procs).iter_mut() {
            if names.contains(&p.name) {
                let exit = p.exited();
                out.push_str(&format!(
                    "\n--- {} (exit {exit:?}) ---\n{}",
                    p.name,
                    tail(&p.log, 30)
                ));
            }
        }
        out
    }

    /// Connect the account the way an admin does: the ingress's authorize
    /// URL → the simulator's consent → the ingress's callback.
    pub async fn connect_account(&self) -> anyhow::Result<()> {
        // A browser's walk: the state cookie goes back with the callback.
        let (status, body) = rectoken_ingress::oauth::follow_connect_flow(&format!(
            "{}/zoom/oauth/authorize",
            self.ingress
        ))
        .await
        .map_err(|e| anyhow::anyhow!("OAuth connect: {e}"))?;
        if !(200..300).contains(&status) {
            bail!("OAuth connect failed: HTTP {status}: {body}");
        }
        Ok(())
    }

    /// `GET /admin/accounts/{id}`.
    pub async fn admin_account(&self) -> anyhow::Result<serde_json::Value> {
        let r = self
            .http
            .get(format!("{}/admin/accounts/{ACCOUNT_ID}", self.ingress))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("admin API: HTTP {}", r.status());
        }
        Ok(r.json().await?)
    }

    /// Wait until the connect-time full sync completed (admin API).
    pub async fn wait_synced(&self, limit: Duration) -> anyhow::Result<serde_json::Value> {
        let deadline = Instant::now() + limit;
        let mut last = serde_json::Value::Null;
        while Instant::now() < deadline {
            if let Ok(a) = self.admin_account().await {
                match a["sync"]["state"].as_str() {
                    Some("completed") => return Ok(a),
                    Some("failed") => bail!("the full sync failed: {a}"),
                    _ => {}
                }
                last = a;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("the full sync did not complete within {limit:?}: {last}")
    }

    pub fn topology(&self) -> &Topology {
        self.bus.topology()
    }

    pub async fn depth(&self, queue: &str) -> Option<u32> {
        self.bus.queue_depth(queue).await.ok()
    }

    /// SIGKILL the named role process (it stays dead until
    /// [`Stack::restart`]).
    pub fn kill9(&self, name: &str) -> anyhow::Result<u32> {
        let mut procs = lock(&self.procs);
        let p = procs
            .iter_mut()
            .find(|p| p.name == name)
            .with_context(|| format!("no process {name}"))?;
        let pid = p.pid();
        p.kill9();
        Ok(pid)
    }

    /// Start the named role again on the same port.
    pub fn restart(&self, name: &str) -> anyhow::Result<()> {
        let mut procs = lock(&self.procs);
        let i = procs
            .iter()
            .position(|p| p.name == name)
            .with_context(|| format!("no process {name}"))?;
        let (role, port, starts) = (procs[i].role, procs[i].port, procs[i].starts);
        procs[i].kill9();
        let fresh = self.env.spawn(role, name, port, starts + 1)?;
        procs[i] = fresh; // drops (reaps) the old one
        Ok(())
    }

    /// Processes that exited although nobody killed them.
    pub fn unexpected_exits(&self) -> Vec<String> {
        lock(&self.procs)
            .iter_mut()
            .filter(|p| !p.killed)
            .filter_map(|p| p.exited().map(|s| format!("{} exited: {s}", p.name)))
            .collect()
    }

    /// (name, role, pid) of every process.
    pub fn pids(&self) -> Vec<(String, Role, u32)> {
        lock(&self.procs)
            .iter()
            .map(|p| (p.name.clone(), p.role, p.pid()))
            .collect()
    }

    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for p in lock(&self.procs).iter() {
            out.push_str(&format!(
                "--- {} (started {}x) ---\n{}\n",
                p.name,
                p.starts,
                tail(&p.log, lines)
            ));
        }
        out
    }

    /// Delete the test's queues and exchange; stop the bus.
    pub async fn cleanup(&self, extra_queues: &[String]) {
        let amqp = first_node(&self.env.amqp_url);
        rectoken_tests::delete_topology(&amqp, self.topology()).await;
        if let Ok(conn) =
            lapin::Connection::connect(&amqp, lapin::ConnectionProperties::default()).await
        {
            if let Ok(ch) = conn.create_channel().await {
                for q in extra_queues {
                    let _ = ch
                        .queue_delete(
                            q.clone().into(),
                            lapin::options::QueueDeleteOptions::default(),
                        )
                        .await;
                }
            }
            let _ = conn.close(200, "bye".into()).await;
        }
        self.bus.close().await;
    }
}

// ------------------------------------------------------------ join requests

pub struct ReqRec {
    pub meeting: u64,
    pub sent: Instant,
    pub deadline: Instant,
    /// The broker's confirm: `Some(Ok)` confirmed, `Some(Err)` not
    /// (unknown whether it was enqueued), `None` still waiting.
    pub published: Option<Result<(), String>>,
}

pub struct ReplyRec {
    pub at: Instant,
    pub body: serde_json::Value,
    pub redelivered: bool,
}

#[derive(Default)]
pub struct JoinLog {
    pub requests: HashMap<String, ReqRec>,
    pub replies: HashMap<String, Vec<ReplyRec>>,
    /// Replies whose correlation ID names no request.
    pub stray: Vec<String>,
}

/// Join requests over AMQP, replies on a durable quorum queue of our own.
pub struct Joiner {
    bus: Arc<dyn Bus>,
    pub reply_queue: String,
    id_prefix: String,
    next: AtomicU64,
    pub log: Arc<Mutex<JoinLog>>,
    stop: CancellationToken,
    resubscribe: Arc<tokio::sync::Notify>,
}

impl Joiner {
    pub async fn start(stack: &Stack) -> anyhow::Result<Arc<Joiner>> {
        let reply_queue = format!("{}test.replies", stack.env.prefix);
        let conn = lapin::Connection::connect(
            &first_node(&stack.env.amqp_url),
            lapin::ConnectionProperties::default(),
        )
        .await?;
        let ch = conn.create_channel().await?;
        let mut args = lapin::types::FieldTable::default();
        args.insert(
            "x-queue-type".into(),
            lapin::types::AMQPValue::LongString("quorum".into()),
        );
        ch.queue_declare(
            reply_queue.clone().into(),
            lapin::options::QueueDeclareOptions {
                durable: true,
                ..lapin::options::QueueDeclareOptions::default()
            },
            args,
        )
        .await?;
        let _ = conn.close(200, "bye".into()).await;
        let joiner = Arc::new(Joiner {
            bus: stack.bus.clone(),
            reply_queue,
            id_prefix: stack.env.prefix.clone(),
            next: AtomicU64::new(1),
            log: Arc::new(Mutex::new(JoinLog::default())),
            stop: CancellationToken::new(),
            resubscribe: Arc::new(tokio::sync::Notify::new()),
        });
        tokio::spawn(consume_replies(
            joiner.bus.clone(),
            joiner.reply_queue.clone(),
            joiner.log.clone(),
            joiner.stop.clone(),
            joiner.resubscribe.clone(),
        ));
        Ok(joiner)
    }

    /// Send one request for `meeting` with a deadline `deadline` from now;
    /// returns its ID once the broker confirmed or refused it.
    pub async fn send(&self, meeting: u64, deadline: Duration) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}j{n}", self.id_prefix);
        let wall = time::OffsetDateTime::now_utc() + deadline;
        let body = serde_json::json!({
            "request_id": id,
            "meeting_id": meeting.to_string(),
            "deadline": wall.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        });
        let now = Instant::now();
        lock(&self.log).requests.insert(
            id.clone(),
            ReqRec {
                meeting,
                sent: now,
                deadline: now + deadline,
                published: None,
            },
        );
        let message = OutgoingMessage::json(
            "",
            self.bus.topology().join_queue(),
            body.to_string(),
            id.clone(),
        )
        .with_reply_to(self.reply_queue.clone())
        .with_correlation_id(id.clone());
        let result = self.bus.publish(message).await.map_err(|e| e.to_string());
        if let Some(r) = lock(&self.log).requests.get_mut(&id) {
            r.published = Some(result);
        }
        id
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Consume the reply queue afresh (after a broker restart).
    pub fn resubscribe(&self) {
        self.resubscribe.notify_one();
    }
}

async fn consume_replies(
    bus: Arc<dyn Bus>,
    queue: String,
    log: Arc<Mutex<JoinLog>>,
    stop: CancellationToken,
    resubscribe: Arc<tokio::sync::Notify>,
) {
    loop {
        tokio::select! {
            () = bus.wait_connected() => {}
            () = stop.cancelled() => return,
        }
        let mut stream = match bus.consume(&queue, 500).await {
            Ok(s) => s,
            Err(_) => {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(200)) => continue,
                    () = stop.cancelled() => return,
                }
            }
        };
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            let d = tokio::select! {
                d = stream.next() => d,
                () = stop.cancelled() => return,
                () = resubscribe.notified() => break,
                _ = tick.tick() => {
                    // A stream on a dead connection may end silently.
                    if bus.is_connected() { continue } else { break }
                }
            };
            let Some(d) = d else { break };
            let body: serde_json::Value =
                serde_json::from_slice(&d.body).unwrap_or(serde_json::Value::Null);
            let id = d
                .correlation_id
                .clone()
                .or_else(|| body["request_id"].as_str().map(str::to_owned))
                .unwrap_or_default();
            {
                let mut log = lock(&log);
                let seen = log.replies.get(&id).is_some_and(|v| !v.is_empty());
                // Our own redelivery (we took it, the ack was lost with the
                // connection) is not a second reply from rectoken.
                if !(d.redelivered && seen) {
                    if !log.requests.contains_key(&id) {
                        log.stray.push(id.clone());
                    }
                    log.replies.entry(id).or_default().push(ReplyRec {
                        at: Instant::now(),
                        body,
                        redelivered: d.redelivered,
                    });
                }
            }
            let _ = d.ack().await;
        }
    }
}

// ---------------------------------------------------------------- webhooks

/// Fires a steady mix of webhooks through the simulator: meetings created
/// (most kept as join targets, some doomed), doomed meetings deleted a
/// moment later, and PMI changes (`user.updated`).
pub struct Driver {
    sim: Sim,
    users: Vec<String>,
    rng: Mutex<StdRng>,
    /// Join targets: meetings never deleted.
    pub keep: Mutex<Vec<u64>>,
    doomed: Mutex<VecDeque<(u64, Instant)>>,
    next_pmi: AtomicU64,
    /// Fired events per name.
    pub fired: Mutex<BTreeMap<&'static str, u64>>,
    /// Control calls the simulator refused (none expected).
    pub errors: Mutex<Vec<String>>,
}

impl Driver {
    pub fn new(stack: &Stack, seed: u64) -> Driver {
        Driver {
            sim: stack.sim.clone(),
            users: stack.users.clone(),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            keep: Mutex::new(stack.initial_meetings.clone()),
            doomed: Mutex::new(VecDeque::new()),
            // Below the simulator's own random PMIs (2e9 and up).
            next_pmi: AtomicU64::new(1_100_000_000),
            fired: Mutex::new(BTreeMap::new()),
            errors: Mutex::new(Vec::new()),
        }
    }

    fn count(&self, name: &'static str) {
        *lock(&self.fired).entry(name).or_insert(0) += 1;
    }

    /// One change, one webhook.
    pub fn tick(&self) {
        let (roll, user, doom) = {
            let mut rng = lock(&self.rng);
            let user = self.users[rng.random_range(0..self.users.len())].clone();
            (rng.random::<f64>(), user, rng.random::<f64>() < 0.3)
        };
        let ripe = {
            let mut d = lock(&self.doomed);
            match d.front() {
                Some((_, at)) if at.elapsed() > Duration::from_millis(1500) && roll < 0.25 => {
                    d.pop_front().map(|(id, _)| id)
                }
                _ => None,
            }
        };
        let result = if let Some(id) = ripe {
            self.sim
                .delete_meeting(id, DeleteMeeting::default())
                .map(|_| self.count("meeting.deleted"))
        } else if roll > 0.85 {
            let pmi = self.next_pmi.fetch_add(1, Ordering::Relaxed);
            self.sim
                .set_pmi(&user, pmi)
                .map(|_| self.count("user.updated"))
        } else {
            self.sim
                .create_meeting(&user, NewMeeting::default())
                .map(|m| {
                    self.count("meeting.created");
                    if doom {
                        lock(&self.doomed).push_back((m.value.id, Instant::now()));
                    } else {
                        lock(&self.keep).push(m.value.id);
                    }
                })
        };
        if let Err(e) = result {
            lock(&self.errors).push(e.to_string());
        }
    }

    /// A random join target.
    pub fn target(&self) -> Option<u64> {
        let keep = lock(&self.keep);
        if keep.is_empty() {
            return None;
        }
        let i = lock(&self.rng).random_range(0..keep.len());
        Some(keep[i])
    }

    pub fn total_fired(&self) -> u64 {
        lock(&self.fired).values().sum()
    }
}

/// The first node of an AMQP URL list (the test's direct lapin calls).
pub fn first_node(amqp_url: &str) -> String {
    rectoken_bus::nodes::BrokerNodes::parse(amqp_url)
        .map(|n| n.urls()[0].clone())
        .unwrap_or_else(|_| amqp_url.to_owned())
}

/// The remote ports of the established IPv4 TCP connections of process
/// `pid` to 127.0.0.1 (which broker node a role talks to), from
/// `/proc/PID/fd` and `/proc/net/tcp`.
pub fn remote_ports(pid: u32) -> Vec<u16> {
    let mut inodes = std::collections::HashSet::new();
    if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let t = target.to_string_lossy();
                if let Some(inode) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                    inodes.insert(inode.to_owned());
                }
            }
        }
    }
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
    let mut ports = Vec::new();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
        if f.len() > 9
            && f[3] == "01"
            && inodes.contains(f[9])
            && let Some((addr, port)) = f[2].split_once(':')
            && addr == "0100007F"
            && let Ok(port) = u16::from_str_radix(port, 16)
        {
            ports.push(port);
        }
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// Percentile (nearest rank) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
