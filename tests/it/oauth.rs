//! Connecting accounts, against real Redis and RabbitMQ and the simulator:
//! the whole OAuth flow, bad states, the admin declining, re-connects; the
//! vault's single refresh under concurrency, a refresh token that died
//! elsewhere, no token in clear in Redis, key rotation; the admin API.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use futures_util::StreamExt;
use rectoken_bus::rabbit::{RabbitBus, RabbitOptions};
use rectoken_bus::{Bus, Topology};
use rectoken_ingress::apps::{App, AppKind, Apps};
use rectoken_ingress::services::derive_state_key;
use rectoken_ingress::{Ingress, IngressState, router};
use rectoken_store::{AccountStatus, Store, StoredCredentials};
use rectoken_tests::{amqp_url, delete_topology, ingress_services, redis_url, unique_prefix};
use rectoken_vault::{Keyring, Vault, VaultError, VaultOptions};
use rectoken_zoom::{ZoomClient, ZoomConfig};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use tokio_util::sync::CancellationToken;
use zoom_sim::{DeadTokenAnswer, Sim, SimConfig};

const CLIENT_ID: &str = "it-client";
const CLIENT_SECRET: &str = "it-client-secret";
const WEBHOOK_SECRET: &str = "it-webhook-secret";
pub(crate) const ADMIN: &str = "admin-token-for-tests";

pub(crate) struct Env {
    pub(crate) sim: Sim,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) base: String,
    prefix: String,
    keyring: Arc<Keyring>,
    zoom: ZoomClient,
    /// A second simulator standing for ZoomGov, whose app `gov` is in the
    /// apps (only from [`Env::start_with_gov`]).
    gov_sim: Option<Sim>,
    /// Every app's client (the vault's).
    clients: rectoken_zoom::ZoomClients,
    shutdown: CancellationToken,
    pub(crate) http: reqwest::Client,
}

fn key(b: u8) -> SecretBox<[u8; 32]> {
    SecretBox::new(Box::new([b; 32]))
}

fn zoom_for(sim_addr: std::net::SocketAddr) -> ZoomClient {
    let mut cfg = ZoomConfig::new(CLIENT_ID, SecretString::from(CLIENT_SECRET.to_owned()));
    cfg.api_url = format!("http://{sim_addr}/v2");
    cfg.oauth_url = format!("http://{sim_addr}/oauth");
    ZoomClient::new(cfg).unwrap()
}

impl Env {
    /// An ingress with open connect (no link needed), as most tests want.
    pub(crate) async fn start(name: &str) -> Env {
        Self::start_with(name, true).await
    }

    async fn start_with(name: &str, open_connect: bool) -> Env {
        Self::start_full(name, open_connect, false).await
    }

    /// An ingress with a second Zoom app, `gov`, on ZoomGov (a simulator
    /// of its own); open connect off.
    async fn start_with_gov(name: &str) -> Env {
        Self::start_full(name, false, true).await
    }

    async fn start_full(name: &str, open_connect: bool, gov: bool) -> Env {
        let (sim, sim_addr) = Sim::spawn(SimConfig::for_tests(
            CLIENT_ID,
            CLIENT_SECRET,
            WEBHOOK_SECRET,
        ))
        .await
        .unwrap();
        sim.seed_demo().unwrap();
        let prefix = unique_prefix(name);
        let store = rectoken_store::connect(&redis_url(), &prefix).unwrap();
        let bus: Arc<dyn Bus> = Arc::new(RabbitBus::start(
            &amqp_url(),
            Topology::new(prefix.clone()),
            RabbitOptions::default(),
        ));
        tokio::time::timeout(Duration::from_secs(20), bus.wait_connected())
            .await
            .unwrap();
        let keyring = Arc::new(Keyring::new(&key(1), &[]));
        let zoom = zoom_for(sim_addr);
        let mut apps = Apps::single(App::new(
            "",
            CLIENT_ID,
            CLIENT_SECRET.into(),
            WEBHOOK_SECRET.into(),
            AppKind::Account,
        ));
        let gov_sim = if gov {
            let (gov_sim, gov_addr) = Sim::spawn(SimConfig {
                seed: Some(0x60f),
                ..SimConfig::for_tests("gov-client", "gov-client-secret", "gov-webhook")
            })
            .await
            .unwrap();
            apps.add_from_toml(
                &format!(
                    "[apps.gov]\nclient_id='gov-client'\nclient_secret='gov-client-secret'\n\
                     webhook_secret='gov-webhook'\napi_url='http://{gov_addr}/v2'\n\
                     oauth_url='http://{gov_addr}/oauth'\ncloud='gov'\n"
                ),
                "apps.toml",
            )
            .unwrap();
            Some(gov_sim)
        } else {
            None
        };
        let clients = rectoken_zoom::ZoomClients::for_apps(zoom.clone(), &apps).unwrap();
        let vault = Vault::new(
            store.clone(),
            keyring.clone(),
            zoom.clone(),
            VaultOptions::default(),
        )
        .with_clients(clients.clone());
        let listener_addr: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        // Bind first so the public URL (redirect_uri) is known.
        let std_listener = std::net::TcpListener::bind(listener_addr).unwrap();
        let addr = std_listener.local_addr().unwrap();
        drop(std_listener);
        let services = ingress_services(
            store.clone(),
            vault,
            zoom.clone(),
            format!("http://{addr}"),
            ADMIN,
        );
        let state = IngressState::new(bus.clone(), apps, vec![])
            .with_services(services)
            .with_open_connect(open_connect);
        let ingress = Ingress::bind(addr, router(state)).await.unwrap();
        let shutdown = CancellationToken::new();
        tokio::spawn(ingress.run(shutdown.clone()));
        Env {
            sim,
            store,
            bus,
            base: format!("http://{addr}"),
            prefix,
            keyring,
            zoom,
            gov_sim,
            clients,
            shutdown,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// Authorize → Zoom (sim) → callback; returns the callback's status and page.
    pub(crate) async fn connect(&self) -> (u16, String) {
        let (cookie, back) = self
            .start_flow(&format!("{}/zoom/oauth/authorize", self.base))
            .await;
        self.callback(&back, Some(&cookie)).await
    }

    /// `authorize_url` → the simulator's consent; returns the state cookie
    /// the ingress set and the callback URL Zoom sends the browser to.
    async fn start_flow(&self, authorize_url: &str) -> (String, String) {
        let authorize = self.http.get(authorize_url).send().await.unwrap();
        assert_eq!(authorize.status(), 302);
        let to_zoom = authorize.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            to_zoom.contains("response_type=code")
                && to_zoom.contains(&format!("client_id={CLIENT_ID}")),
            "{to_zoom}"
        );
        assert!(
            to_zoom.contains("redirect_uri=http%3A%2F%2F127.0.0.1"),
            "{to_zoom}"
        );
        // PKCE: the simulator, like Zoom, then wants the verifier.
        assert!(
            to_zoom.contains("code_challenge=") && to_zoom.contains("code_challenge_method=S256"),
            "{to_zoom}"
        );
        // Plain HttpOnly on http:// (a __Host- cookie needs HTTPS).
        let set_cookie = authorize.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            set_cookie.starts_with("rectoken_oauth=")
                && set_cookie.contains("HttpOnly")
                && set_cookie.contains("SameSite=Lax"),
            "{set_cookie}"
        );
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let consent = self.http.get(&to_zoom).send().await.unwrap();
        assert_eq!(consent.status(), 302, "the simulator redirects back");
        let back = consent.headers()["location"].to_str().unwrap().to_owned();
        assert!(back.starts_with(&self.base), "{back}");
        (cookie, back)
    }

    /// GET the callback URL, with the state cookie or without.
    async fn callback(&self, back: &str, cookie: Option<&str>) -> (u16, String) {
        let mut request = self.http.get(back);
        if let Some(c) = cookie {
            request = request.header("cookie", c);
        }
        let page = request.send().await.unwrap();
        (page.status().as_u16(), page.text().await.unwrap())
    }

    pub(crate) async fn finish(self) {
        self.shutdown.cancel();
        self.bus.close().await;
        delete_topology(&amqp_url(), &Topology::new(self.prefix.clone())).await;
    }
}

#[tokio::test]
async fn connect_flow_stores_credentials_and_enqueues_a_sync() {
    let env = Env::start("oauth-flow").await;
    let (status, page) = env.connect().await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("demo") && page.contains("connected"),
        "{page}"
    );

    let account = env
        .store
        .account("demo")
        .await
        .unwrap()
        .expect("account recorded");
    assert_eq!(account.status, AccountStatus::Connected);
    assert_eq!(account.kind, "account");
    assert!(!account.scopes.is_empty());
    let creds = env
        .store
        .credentials("demo")
        .await
        .unwrap()
        .expect("credentials stored");
    assert_eq!(creds.sealed.key_id, env.keyring.current_id());

    // The first sync is enqueued on rectoken.sync.
    let mut stream = env
        .bus
        .consume(&env.bus.topology().sync_queue(), 1)
        .await
        .unwrap();
    let job = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&job.body).unwrap();
    assert_eq!(body["job"], "full_sync");
    assert_eq!(body["account_id"], "demo");
    job.ack().await.unwrap();
    drop(stream);

    // A re-connect replaces the credentials, never duplicates the account.
    let (status, _) = env.connect().await;
    assert_eq!(status, 200);
    let accounts = env.store.list_accounts().await.unwrap();
    assert_eq!(
        accounts.iter().filter(|a| a.account_id == "demo").count(),
        1
    );
    let again = env.store.credentials("demo").await.unwrap().unwrap();
    assert_ne!(again.sealed, creds.sealed, "new tokens stored");
    env.finish().await;
}

#[tokio::test]
async fn forged_expired_and_declined_callbacks_store_nothing() {
    let env = Env::start("oauth-bad").await;
    for query in [
        "code=abc",
        "code=abc&state=forged.state",
        "code=abc&state=",
        "code=abc&state=%0d%0aSet-Cookie:%20x=1",
    ] {
        let page = env
            .http
            .get(format!("{}/zoom/oauth/callback?{query}", env.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 400, "{query}");
        assert!(
            page.headers().get("set-cookie").is_none(),
            "no header injection"
        );
    }
    // A state signed with another key (a different deployment) is refused.
    let foreign =
        rectoken_domain::oauth_state::issue(b"another key", "default", 1_800_000_000, [0; 16]);
    let page = env
        .http
        .get(format!(
            "{}/zoom/oauth/callback?code=abc&state={foreign}",
            env.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    // An expired state: issued 11 minutes ago with our key.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let old = rectoken_domain::oauth_state::issue(
        &derive_state_key(&[9u8; 32]),
        "default",
        now - 11 * 60,
        [1; 16],
    );
    let page = env
        .http
        .get(format!(
            "{}/zoom/oauth/callback?code=abc&state={old}",
            env.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("expired"));
    // The admin declines at Zoom.
    let mut settings = env.sim.oauth_settings();
    settings.decline = true;
    env.sim.set_oauth_settings(settings);
    let (status, page) = env.connect().await;
    assert_eq!(status, 400);
    assert!(
        page.contains("access_denied") && page.contains("Nothing was stored"),
        "{page}"
    );
    // Zoom's error text is escaped, not rendered.
    let page = env
        .http
        .get(format!(
            "{}/zoom/oauth/callback?error=%3Cscript%3Ealert(1)%3C/script%3E",
            env.base
        ))
        .send()
        .await
        .unwrap();
    let text = page.text().await.unwrap();
    assert!(
        !text.contains("<script>") && text.contains("&lt;script&gt;"),
        "{text}"
    );

    assert!(
        env.store.list_accounts().await.unwrap().is_empty(),
        "nothing stored"
    );
    assert!(env.store.credentials("demo").await.unwrap().is_none());
    env.finish().await;
}

async fn expire_access_token(store: &Arc<dyn Store>, account: &str) -> StoredCredentials {
    let creds = store.credentials(account).await.unwrap().unwrap();
    let expired = StoredCredentials {
        access_expires_at_ms: 0,
        ..creds.clone()
    };
    assert!(
        store
            .put_credentials(account, &expired, None)
            .await
            .unwrap()
    );
    expired
}

#[tokio::test]
async fn concurrent_requests_for_an_expired_token_refresh_once() {
    let env = Env::start("oauth-refresh").await;
    assert_eq!(env.connect().await.0, 200);
    expire_access_token(&env.store, "demo").await;
    let before = env.sim.stats().oauth_refreshes;
    // Four "workers", each with its own vault over the same store.
    let vaults: Vec<Vault> = (0..4)
        .map(|_| {
            Vault::new(
                env.store.clone(),
                env.keyring.clone(),
                env.zoom.clone(),
                VaultOptions::default(),
            )
        })
        .collect();
    let asks = (0..32).map(|i| {
        let vault = vaults[i % 4].clone();
        async move { vault.access_token("demo").await }
    });
    let tokens: Vec<_> = futures_util::future::join_all(asks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        env.sim.stats().oauth_refreshes - before,
        1,
        "exactly one refresh for 32 requests"
    );
    let first = tokens[0].expose_secret().to_owned();
    assert!(
        tokens.iter().all(|t| t.expose_secret() == first),
        "everyone got the new token"
    );
    // And it works at Zoom.
    let me = env.zoom.me(&tokens[0]).await.unwrap();
    assert_eq!(me.account_id, "demo");
    env.finish().await;
}

#[tokio::test]
async fn refresh_token_that_died_elsewhere_disconnects_the_account() {
    // Every shape Zoom answers a dead refresh token with (issue 14): each
    // must end in `disconnected` with Zoom's reason, never in endless
    // retries behind a `connected` account.
    for (i, answer) in [
        DeadTokenAnswer::InvalidGrant,
        DeadTokenAnswer::InvalidGrant401,
        DeadTokenAnswer::InvalidRequest,
        DeadTokenAnswer::ReasonOnly401,
    ]
    .into_iter()
    .enumerate()
    {
        let env = Env::start(&format!("oauth-dead-{i}")).await;
        env.sim.set_oauth_settings(zoom_sim::OAuthSettings {
            dead_refresh_token: answer,
            ..env.sim.oauth_settings()
        });
        assert_eq!(env.connect().await.0, 200);
        // Someone else (an old deployment, a copied database) refreshes with our
        // refresh token: Zoom rotates it and ours is dead.
        let creds = env.store.credentials("demo").await.unwrap().unwrap();
        let plain: serde_json::Value =
            serde_json::from_slice(&env.keyring.open(&creds.sealed, "demo").unwrap()).unwrap();
        let stolen = SecretString::from(plain["refresh_token"].as_str().unwrap().to_owned());
        env.zoom.refresh(&stolen).await.unwrap();

        expire_access_token(&env.store, "demo").await;
        let vault = Vault::new(
            env.store.clone(),
            env.keyring.clone(),
            env.zoom.clone(),
            VaultOptions::default(),
        );
        let err = vault.access_token("demo").await.unwrap_err();
        assert!(
            matches!(err, VaultError::Disconnected { .. }),
            "{answer:?}: {err:?}"
        );
        let account = env.store.account("demo").await.unwrap().unwrap();
        assert_eq!(account.status, AccountStatus::Disconnected, "{answer:?}");
        let reason = account.last_error.unwrap();
        assert!(
            reason.contains("Invalid Token!") && reason.contains("reconnect the account"),
            "{answer:?}: {reason}"
        );
        // Later callers learn it without calling Zoom again.
        let refreshes = env.sim.stats().oauth_refreshes;
        assert!(matches!(
            vault.access_token("demo").await,
            Err(VaultError::Disconnected { .. })
        ));
        assert_eq!(env.sim.stats().oauth_refreshes, refreshes);
        env.finish().await;
    }
}

#[tokio::test]
async fn redis_holds_no_token_in_clear_and_old_keys_still_read() {
    let env = Env::start("oauth-clear").await;
    assert_eq!(env.connect().await.0, 200);
    let creds = env.store.credentials("demo").await.unwrap().unwrap();
    let plain: serde_json::Value =
        serde_json::from_slice(&env.keyring.open(&creds.sealed, "demo").unwrap()).unwrap();
    let secrets = [
        plain["access_token"].as_str().unwrap().to_owned(),
        plain["refresh_token"].as_str().unwrap().to_owned(),
    ];
    // Dump every key of this test's prefix, whatever its type.
    let client = redis::Client::open(redis_url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", env.prefix))
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    let mut dump = Vec::new();
    for k in &keys {
        let bytes: Vec<u8> = redis::cmd("DUMP")
            .arg(k)
            .query_async(&mut con)
            .await
            .unwrap();
        dump.extend(bytes);
    }
    for secret in &secrets {
        let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
        assert!(
            !dump.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "token in clear in Redis"
        );
        assert!(
            !dump.windows(b64.len()).any(|w| w == b64.as_bytes()),
            "token in base64 in Redis"
        );
    }
    // Key rotation: a vault with a new current key and the old key reads
    // what the old key sealed, and its next write uses the new key.
    let rotated = Arc::new(Keyring::new(&key(2), &[key(1)]));
    assert!(rotated.is_stale(&creds.sealed));
    assert_eq!(
        rotated.open(&creds.sealed, "demo").unwrap(),
        env.keyring.open(&creds.sealed, "demo").unwrap()
    );
    expire_access_token(&env.store, "demo").await;
    let vault = Vault::new(
        env.store.clone(),
        rotated.clone(),
        env.zoom.clone(),
        VaultOptions::default(),
    );
    vault.access_token("demo").await.unwrap();
    let resealed = env.store.credentials("demo").await.unwrap().unwrap();
    assert_eq!(resealed.sealed.key_id, rotated.current_id());
    env.finish().await;
}

#[tokio::test]
async fn admin_api_needs_the_token_and_shows_accounts() {
    let env = Env::start("oauth-admin").await;
    assert_eq!(env.connect().await.0, 200);
    let url = format!("{}/admin/accounts", env.base);
    assert_eq!(env.http.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        env.http
            .get(&url)
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        env.http
            .get(&url)
            .bearer_auth(&ADMIN[..ADMIN.len() - 1])
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let list: serde_json::Value = env
        .http
        .get(&url)
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["accounts"][0]["account_id"], "demo");
    assert_eq!(list["accounts"][0]["status"], "connected");
    let text = env
        .http
        .get(format!("{url}/demo"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("refreshed_at_ms") && !text.contains("access_token"),
        "{text}"
    );
    let resync = env
        .http
        .post(format!("{url}/demo/resync"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resync.status(), 202);
    assert_eq!(
        env.http
            .get(format!("{url}/nope"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let deleted = env
        .http
        .delete(format!("{url}/demo"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert!(env.store.account("demo").await.unwrap().is_none());
    assert!(env.store.credentials("demo").await.unwrap().is_none());
    env.finish().await;
}

/// Issue 14, ZoomGov: an admin's link for the apps file's gov app connects
/// through that app's own OAuth (at its own cloud); the account record
/// names the app, and its refresh goes to the gov cloud. Unknown apps are
/// refused by name.
#[tokio::test]
async fn a_gov_apps_link_connects_through_the_gov_cloud() {
    let env = Env::start_with_gov("oauth-gov").await;
    let gov_sim = env.gov_sim.clone().unwrap();
    let account = gov_sim
        .create_account(zoom_sim::NewAccount::default())
        .unwrap();
    let admin = gov_sim
        .create_user(&account.id, zoom_sim::NewUser::default())
        .unwrap();
    gov_sim.set_oauth_settings(zoom_sim::OAuthSettings {
        authorize_user: Some(admin.id.clone()),
        ..zoom_sim::OAuthSettings::default()
    });
    let links = format!("{}/admin/connect-links", env.base);
    let issue = |body: serde_json::Value| {
        let env = &env;
        let links = links.clone();
        async move {
            let r = env
                .http
                .post(&links)
                .bearer_auth(ADMIN)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, v) = issue(serde_json::json!({ "app": "nope" })).await;
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("nope"), "{v}");
    let (status, v) = issue(serde_json::json!({ "app": "gov", "expires_in": 600 })).await;
    assert_eq!(status, 201, "{v}");
    let link = v["url"].as_str().unwrap().to_owned();
    assert!(link.ends_with("&app=gov"), "{link}");

    let (status, page) = rectoken_ingress::oauth::follow_connect_flow(&link)
        .await
        .unwrap();
    assert_eq!(status, 200, "{page}");
    let record = env.store.account(&account.id).await.unwrap().unwrap();
    assert_eq!(record.app, "gov");
    assert_eq!(record.status, AccountStatus::Connected);
    // The commercial simulator never saw this account's tokens: a refresh
    // through the default app would be invalid_grant (disconnected).
    let vault = Vault::new(
        env.store.clone(),
        env.keyring.clone(),
        env.zoom.clone(),
        VaultOptions::default(),
    )
    .with_clients(env.clients.clone());
    vault.refresh_now(&account.id).await.unwrap();
    let record = env.store.account(&account.id).await.unwrap().unwrap();
    assert_eq!(record.status, AccountStatus::Connected);

    // An authorize URL naming an app the deployment lacks (a fresh link).
    let (_, v) = issue(serde_json::json!({ "app": "gov" })).await;
    let fresh = v["url"].as_str().unwrap().replace("&app=gov", "&app=nope");
    let r = env.http.get(fresh).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Unknown Zoom app"));
    env.finish().await;
}

/// Issue 15, finding 5: only an admin's one-time, expiring link starts the
/// connect flow (unless open connect is on); `state` is bound to the
/// browser's cookie and works once; the code needs the PKCE verifier.
#[tokio::test]
async fn connect_links_cookies_and_single_use_states() {
    let env = Env::start_with("oauth-links", false).await;
    let authorize = format!("{}/zoom/oauth/authorize", env.base);
    // Without a link: refused, nothing started.
    let r = env.http.get(&authorize).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());

    // Links come from the admin API only.
    let links = format!("{}/admin/connect-links", env.base);
    assert_eq!(env.http.post(&links).send().await.unwrap().status(), 401);
    let issue = || async {
        let r = env
            .http
            .post(&links)
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(
            v["expires_at"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{v}"
        );
        v["url"].as_str().unwrap().to_owned()
    };
    let link = issue().await;
    assert!(link.starts_with(&format!("{authorize}?link=")), "{link}");

    // The state must come back to the browser that started the flow.
    let (cookie, back) = env.start_flow(&link).await;
    let (status, page) = env.callback(&back, None).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not started in this browser"), "{page}");
    let (status, page) = env
        .callback(
            &back,
            Some("rectoken_oauth=00000000000000000000000000000000"),
        )
        .await;
    assert_eq!(status, 400, "{page}");
    // With its cookie it connects, once.
    let (status, page) = env.callback(&back, Some(&cookie)).await;
    assert_eq!(status, 200, "{page}");
    assert!(env.store.account("demo").await.unwrap().is_some());
    let (status, page) = env.callback(&back, Some(&cookie)).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("used already"), "{page}");

    // The link is spent.
    let r = env.http.get(&link).send().await.unwrap();
    assert_eq!(r.status(), 410);
    // An expired or foreign link is refused.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for token in [
        rectoken_domain::connect_link::issue(&derive_state_key(&[9u8; 32]), now - 1, [7; 16]),
        rectoken_domain::connect_link::issue(b"another deployment", now + 600, [7; 16]),
    ] {
        let r = env
            .http
            .get(format!("{authorize}?link={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    }

    // A fresh link works through a browser's whole walk.
    let (status, page) = rectoken_ingress::oauth::follow_connect_flow(&issue().await)
        .await
        .unwrap();
    assert_eq!(status, 200, "{page}");
    env.finish().await;
}
