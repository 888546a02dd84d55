//! The token worker's test bed on the Zoom simulator, shared by the
//! end-to-end tests and the join benchmarks (`rectoken-bench`): a
//! simulator, a Redis store and a RabbitMQ topology under one unique
//! prefix, and accounts connected through the simulator's real OAuth code
//! flow. Not for production use.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use rectoken_bus::rabbit::{RabbitBus, RabbitOptions};
use rectoken_bus::{Bus, Topology};
use rectoken_domain::meeting_id::MeetingId;
use rectoken_store::{AccountRecord, MapKey, Mapping, Source, Store};
use rectoken_token::TokenDeps;
use rectoken_vault::{Keyring, Vault, VaultOptions, ZoomAccess, ZoomLimits};
use rectoken_zoom::{ZoomClient, ZoomConfig};
use secrecy::SecretString;
use zoom_sim::{
    Behaviour, Endpoint, NewAccount, NewMeeting, NewUser, OAuthSettings, Sim, SimConfig,
};

use crate::{account_record, now_ms};

/// The simulated app's client ID.
pub const CLIENT_ID: &str = "tw-client";
/// The simulated app's client secret.
pub const CLIENT_SECRET: &str = "tw-client-secret";
/// The simulated app's webhook secret.
pub const WEBHOOK_SECRET: &str = "tw-webhook-secret";
/// The OAuth redirect URI used by [`Harness::connect_account`].
pub const REDIRECT_URI: &str = "http://127.0.0.1:1/zoom/oauth/callback";
/// A fixed encryption key (base64 of 32 bytes): test data only.
const TEST_KEY_B64: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// A simulated account connected to rectoken.
#[derive(Debug, Clone)]
pub struct ConnectedAccount {
    /// Zoom account ID (also the connection ID: an account-level app).
    pub account_id: String,
    /// The owner, who authorized.
    pub owner_id: String,
    /// The owner's PMI.
    pub pmi: MeetingId,
    /// Meetings hosted by the owner.
    pub meetings: Vec<MeetingId>,
}

/// A simulator, store, vault and topology for one test or benchmark.
pub struct Harness {
    /// The simulator.
    pub sim: Sim,
    /// A client of the simulator.
    pub zoom: ZoomClient,
    /// The Redis store, under [`Harness::prefix`].
    pub store: Arc<dyn Store>,
    /// The vault over the store.
    pub vault: Vault,
    /// Zoom access through the vault.
    pub access: ZoomAccess,
    /// Queue names under [`Harness::prefix`].
    pub topology: Topology,
    /// The prefix of every queue and key.
    pub prefix: String,
    amqp_url: String,
    connect_lock: tokio::sync::Mutex<()>,
}

/// Builds a client of `sim` as this harness's app, with the configuration
/// changed by `change`.
pub fn sim_client(sim: &Sim, change: impl FnOnce(&mut ZoomConfig)) -> anyhow::Result<ZoomClient> {
    app_client(sim, CLIENT_ID, CLIENT_SECRET, change)
}

/// Builds a client of `sim` as the app `client_id`, with the configuration
/// changed by `change`.
pub fn app_client(
    sim: &Sim,
    client_id: &str,
    client_secret: &str,
    change: impl FnOnce(&mut ZoomConfig),
) -> anyhow::Result<ZoomClient> {
    let mut cfg = ZoomConfig::new(client_id, SecretString::from(client_secret.to_owned()));
    cfg.api_url = sim.api_url().context("the simulator is not serving")?;
    cfg.oauth_url = sim.oauth_url().context("the simulator is not serving")?;
    change(&mut cfg);
    Ok(ZoomClient::new(cfg)?)
}

/// Follows `zoom`'s authorize URL with redirects off (the simulator
/// authorizes the user its OAuth settings name) and takes the `code` from
/// the redirect back to `redirect_uri`, as a browser would hand it to the
/// ingress's callback.
pub async fn authorize_code(zoom: &ZoomClient, redirect_uri: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let resp = http
        .get(zoom.authorize_url(redirect_uri, "state"))
        .send()
        .await?;
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .with_context(|| format!("authorize answered {} without a redirect", resp.status()))?;
    let pairs: HashMap<String, String> = url::Url::parse(location)?
        .query_pairs()
        .into_owned()
        .collect();
    pairs
        .get("code")
        .cloned()
        .with_context(|| format!("no code in the redirect {location}"))
}

impl Harness {
    /// Spawns a simulator (configured by `sim_config`) and opens the store
    /// under `prefix`; `limits` are rectoken's own per-account limits.
    pub async fn start(
        amqp_url: &str,
        redis_url: &str,
        prefix: &str,
        sim_config: impl FnOnce(&mut SimConfig),
        limits: ZoomLimits,
    ) -> anyhow::Result<Self> {
        let mut cfg = SimConfig::for_tests(CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET);
        sim_config(&mut cfg);
        let (sim, _addr) = Sim::spawn(cfg).await.context("spawn the simulator")?;
        let zoom = sim_client(&sim, |_| {})?;
        let store = rectoken_store::connect(redis_url, prefix)?;
        let keyring = Keyring::from_base64(&SecretString::from(TEST_KEY_B64), None)?;
        let vault = Vault::new(
            store.clone(),
            Arc::new(keyring),
            zoom.clone(),
            VaultOptions::default(),
        );
        let access = ZoomAccess::new(vault.clone(), limits);
        Ok(Self {
            sim,
            zoom,
            store,
            vault,
            access,
            topology: Topology::new(prefix),
            prefix: prefix.to_owned(),
            amqp_url: amqp_url.to_owned(),
            connect_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Make the simulator answer every join-token call after `latency`
    /// (Zoom publishes none; the benches take it as an option).
    pub fn set_join_token_latency(&self, latency: Duration) -> anyhow::Result<()> {
        let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.sim.set_behaviour(
            Some(Endpoint::JoinToken),
            Behaviour {
                latency_ms,
                ..Behaviour::default()
            },
        )?;
        Ok(())
    }

    /// A new RabbitMQ connection with this harness's topology, connected.
    pub async fn bus(&self, name: &str) -> anyhow::Result<Arc<dyn Bus>> {
        let options = RabbitOptions {
            connection_name: name.to_owned(),
            ..RabbitOptions::default()
        };
        let bus: Arc<dyn Bus> = Arc::new(RabbitBus::start(
            &self.amqp_url,
            self.topology.clone(),
            options,
        ));
        tokio::time::timeout(Duration::from_secs(20), bus.wait_connected())
            .await
            .map_err(|_| anyhow!("RabbitMQ at {} did not connect", self.amqp_url))?;
        Ok(bus)
    }

    /// The worker's dependencies over `bus`, with `zoom` (defaults to
    /// [`Harness::zoom`]).
    pub fn deps(&self, bus: Arc<dyn Bus>) -> TokenDeps {
        TokenDeps {
            bus,
            store: self.store.clone(),
            access: self.access.clone(),
            zoom: self.zoom.clone(),
        }
    }

    /// Creates a simulated account with an owner hosting `meetings`
    /// meetings, connects it through the OAuth code flow (granting
    /// `scopes`, or the app's defaults), stores its credentials and a
    /// Connected record. The meetings are not mapped: see
    /// [`Harness::map_all`].
    pub async fn connect_account(
        &self,
        meetings: usize,
        scopes: Option<Vec<String>>,
    ) -> anyhow::Result<ConnectedAccount> {
        let _one_at_a_time = self.connect_lock.lock().await;
        let account = self.sim.create_account(NewAccount::default())?;
        let owner = self.sim.create_user(&account.id, NewUser::default())?;
        let mut ids = Vec::with_capacity(meetings);
        for _ in 0..meetings {
            let m = self.sim.create_meeting(&owner.id, NewMeeting::default())?;
            ids.push(MeetingId::new(m.value.id)?);
        }
        self.sim.set_oauth_settings(OAuthSettings {
            authorize_user: Some(owner.id.clone()),
            decline: false,
            scopes: scopes.clone(),
            ..OAuthSettings::default()
        });
        let code = authorize_code(&self.zoom, REDIRECT_URI).await?;
        let tokens = self.zoom.exchange_code(&code, REDIRECT_URI).await?;
        let me = self.zoom.me(&tokens.access_token).await?;
        if me.account_id != account.id {
            bail!(
                "authorized as account {} instead of {}",
                me.account_id,
                account.id
            );
        }
        self.vault.save(&account.id, &tokens).await?;
        self.store
            .upsert_account(&AccountRecord {
                app: String::new(),
                connected_at_ms: now_ms(),
                scopes: tokens.scope.clone(),
                ..account_record(&account.id)
            })
            .await?;
        Ok(ConnectedAccount {
            account_id: account.id,
            owner_id: owner.id,
            pmi: MeetingId::new(owner.pmi)?,
            meetings: ids,
        })
    }

    /// Maps `key` to `account` (host `owner`) as a sync would.
    pub async fn map(&self, key: MapKey, account: &str, owner: &str) -> anyhow::Result<()> {
        let now = now_ms();
        self.store
            .put_mapping(
                key,
                &Mapping {
                    account_id: account.to_owned(),
                    owner_id: owner.to_owned(),
                    source: Source::Sync,
                    version_ms: now,
                    written_at_ms: now,
                },
                None,
            )
            .await?;
        Ok(())
    }

    /// Maps every meeting and the PMI of `account`.
    pub async fn map_all(&self, account: &ConnectedAccount) -> anyhow::Result<()> {
        for &m in &account.meetings {
            self.map(MapKey::meeting(m), &account.account_id, &account.owner_id)
                .await?;
        }
        self.map(
            MapKey::pmi(account.pmi),
            &account.account_id,
            &account.owner_id,
        )
        .await
    }

    /// Deletes this harness's queues and every Redis key under its prefix
    /// on `redis_url` (best effort): a benchmark leaves the broker and
    /// Redis as it found them.
    pub async fn delete_everything(&self, redis_url: &str) {
        self.delete_queues().await;
        match rectoken_store::RedisStore::new(redis_url, &self.prefix) {
            Ok(store) => {
                if let Err(e) = store.delete_prefixed_keys().await {
                    tracing::warn!(error = %e, prefix = %self.prefix, "could not delete the Redis keys");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not delete the Redis keys"),
        }
    }

    /// Deletes this harness's queues (best effort).
    pub async fn delete_queues(&self) {
        crate::delete_topology(&self.amqp_url, &self.topology).await;
    }
}
