//! The sync worker's rig, shared by its end-to-end tests and the full-sync
//! benchmark (`rectoken-bench`): an in-process Zoom simulator, the real
//! RabbitMQ and Redis under a unique prefix, a vault, and accounts
//! connected through the simulator's OAuth code flow exactly as the
//! ingress would. Not for production use.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rectoken_bus::topology::APP_HEADER;
use rectoken_bus::{Bus, OutgoingMessage, Topology};
use rectoken_store::{AccountRecord, Store, SyncState, SyncStatus};
use rectoken_sync::{SyncDeps, SyncOptions, full_sync_message};
use rectoken_vault::{Keyring, Vault, VaultOptions, ZoomAccess, ZoomLimits};
use rectoken_zoom::ZoomClient;
use secrecy::SecretBox;
use tokio_util::sync::CancellationToken;
use zoom_sim::{OAuthSettings, Sim, SimConfig};

use crate::harness::authorize_code;
use crate::{account_record, now_ms};

/// OAuth client ID of the rig's app.
pub const CLIENT_ID: &str = "rectoken-sync-client";
/// Its client secret.
pub const CLIENT_SECRET: &str = "rectoken-sync-client-secret";
/// Its webhook secret.
pub const WEBHOOK_SECRET: &str = "rectoken-sync-webhook-secret";
/// The redirect URI of the connect flow (never contacted).
pub const REDIRECT: &str = "http://127.0.0.1:1/zoom/oauth/callback";

/// The proof-of-origin keys of every rig (a fixed test key).
pub fn rig_origin_keys() -> rectoken_domain::origin::OriginKeys {
    rectoken_domain::origin::OriginKeys::new(&[0x42; 32], None)
}

/// A simulator, the bus and store under one prefix, and a vault.
#[derive(Clone)]
pub struct Rig {
    /// The simulator.
    pub sim: Sim,
    /// A client of the simulator as the app.
    pub zoom: ZoomClient,
    /// The bus (declared topology under `prefix`), signing what it
    /// publishes to the sync queues as a rectoken role does.
    pub bus: Arc<dyn Bus>,
    /// The same connection without signing: what a party without the key
    /// publishes.
    pub unsigned_bus: Arc<dyn Bus>,
    /// The store (keys under `prefix`).
    pub store: Arc<dyn Store>,
    /// Calls for accounts within `limits`.
    pub access: ZoomAccess,
    /// The prefix of queues and keys.
    pub prefix: String,
}

impl Rig {
    /// Start a simulator with `sim_config` (its client ID and secrets are
    /// replaced by the rig's), connect to RabbitMQ and Redis under
    /// `prefix`, and build a vault with a random key.
    pub async fn start(
        amqp_url: &str,
        redis_url: &str,
        prefix: &str,
        mut sim_config: SimConfig,
        limits: ZoomLimits,
    ) -> anyhow::Result<Self> {
        sim_config.client_id = CLIENT_ID.into();
        sim_config.client_secret = CLIENT_SECRET.into();
        sim_config.webhook_secret = WEBHOOK_SECRET.into();
        let (sim, _addr) = Sim::spawn(sim_config)
            .await
            .context("spawn the simulator")?;
        let zoom = client_for(&sim)?;
        // Signed as a role's bus is, so the worker accepts what the rig
        // publishes.
        let unsigned_bus = rectoken_bus::connect(amqp_url, Topology::new(prefix))?;
        let bus =
            rectoken_runtime::origin::SigningBus::wrap(unsigned_bus.clone(), rig_origin_keys());
        tokio::time::timeout(Duration::from_secs(20), bus.wait_connected())
            .await
            .context("RabbitMQ did not connect within 20 s")?;
        let store = rectoken_store::connect(redis_url, prefix)?;
        store.ping().await.context("Redis")?;
        let key = SecretBox::new(Box::new(rand::random::<[u8; 32]>()));
        let vault = Vault::new(
            store.clone(),
            Arc::new(Keyring::new(&key, &[])),
            zoom.clone(),
            VaultOptions::default(),
        );
        Ok(Self {
            sim,
            zoom,
            bus,
            unsigned_bus,
            store,
            access: ZoomAccess::new(vault, limits),
            prefix: prefix.to_owned(),
        })
    }

    /// The vault.
    pub fn vault(&self) -> &Vault {
        self.access.vault()
    }

    /// Dependencies of a sync worker on this rig (every app account-level).
    pub fn deps(&self) -> SyncDeps {
        SyncDeps {
            bus: self.bus.clone(),
            store: self.store.clone(),
            access: self.access.clone(),
            apps: HashMap::from([("default".to_owned(), false)]),
            origin: rig_origin_keys(),
        }
    }

    /// Connect the account of simulator user `user_id` like the ingress's
    /// OAuth callback: authorize as that user, exchange the code, read
    /// `/users/me`, store the sealed tokens and the account record.
    /// Returns the account ID.
    pub async fn connect_account(&self, user_id: &str) -> anyhow::Result<String> {
        self.sim.set_oauth_settings(OAuthSettings {
            authorize_user: Some(user_id.to_owned()),
            ..self.sim.oauth_settings()
        });
        let code = authorize_code(&self.zoom, REDIRECT).await?;
        let tokens = self.zoom.exchange_code(&code, REDIRECT).await?;
        let me = self.zoom.me(&tokens.access_token).await?;
        let account_id = me.account_id.clone();
        self.vault().save(&account_id, &tokens).await?;
        self.store
            .upsert_account(&AccountRecord {
                user_id: Some(me.id),
                connected_at_ms: now_ms(),
                scopes: tokens.scope.clone(),
                ..account_record(&account_id)
            })
            .await?;
        Ok(account_id)
    }

    /// Start `n` sync workers; cancel the token to stop them.
    pub fn spawn_workers(&self, n: usize, options: &SyncOptions) -> Workers {
        let shutdown = CancellationToken::new();
        let handles = (0..n)
            .map(|_| {
                tokio::spawn(rectoken_sync::run(
                    self.deps(),
                    options.clone(),
                    shutdown.clone(),
                ))
            })
            .collect();
        Workers { shutdown, handles }
    }

    /// Ask for a full sync of `account_id` now.
    pub async fn request_full_sync(&self, account_id: &str, reason: &str) -> anyhow::Result<()> {
        let queue = self.bus.topology().sync_queue();
        self.bus
            .publish(full_sync_message(&queue, account_id, reason, now_ms()))
            .await?;
        Ok(())
    }

    /// Publish a webhook event body as the ingress does (events exchange,
    /// routing key = event name, app header).
    pub async fn publish_event(&self, body: &str) -> anyhow::Result<()> {
        let env = rectoken_domain::event::Envelope::parse(body.as_bytes())?;
        let message = OutgoingMessage::json(
            self.bus.topology().events_exchange(),
            env.event.clone(),
            body.as_bytes().to_vec(),
            rectoken_domain::event::webhook_message_id("default", body.as_bytes()),
        )
        .with_header(APP_HEADER, "default");
        self.bus.publish(message).await?;
        Ok(())
    }

    /// Wait until the account's current sync is no longer in progress (and
    /// has started), polling every 50 ms; its final status.
    pub async fn wait_sync_done(
        &self,
        account_id: &str,
        limit: Duration,
    ) -> anyhow::Result<SyncStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(rec) = self.store.account(account_id).await?
                && matches!(rec.sync.state, SyncState::Completed | SyncState::Failed)
            {
                return Ok(rec.sync);
            }
            if Instant::now() >= deadline {
                bail!("the sync of {account_id} did not finish within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Running workers.
pub struct Workers {
    /// Cancels every worker.
    pub shutdown: CancellationToken,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Workers {
    /// Stop the workers and wait until they drained.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for h in self.handles {
            let _ = h.await;
        }
    }
}

/// A client of `sim` as the rig's app.
pub fn client_for(sim: &Sim) -> anyhow::Result<ZoomClient> {
    crate::harness::app_client(sim, CLIENT_ID, CLIENT_SECRET, |_| {})
}
