//! Build what every role shares from its configuration: the bus, the store,
//! the Zoom client, the vault and rate-limited Zoom access.

use std::sync::Arc;

use anyhow::Context;
use rectoken_bus::{Bus, Topology};
use rectoken_domain::origin::OriginKeys;
use rectoken_runtime::origin::SigningBus;
use rectoken_store::Store;
use rectoken_vault::{Keyring, Vault, VaultOptions, ZoomAccess, ZoomLimits};
use rectoken_zoom::apps::{App, Apps};
use rectoken_zoom::{ZoomClient, ZoomClients, ZoomConfig};

use crate::config::{CryptoArgs, LimitArgs, ZoomArgs};

/// The shared parts of a role.
pub struct Core {
    /// Message bus.
    pub bus: Arc<dyn Bus>,
    /// Shared state.
    pub store: Arc<dyn Store>,
    /// Zoom client of the default app.
    pub zoom: ZoomClient,
    /// Credential vault.
    pub vault: Vault,
    /// Rate-limited Zoom calls for accounts.
    pub access: ZoomAccess,
    /// The key the OAuth state is derived from.
    pub encryption_key: [u8; 32],
    /// The keys of the sync messages' proof of origin (derived from the
    /// encryption key and, during a rotation, the previous one). `bus`
    /// already signs with them.
    pub origin: OriginKeys,
    /// The recent-joins log (token workers write, the console reads).
    pub joins: Arc<dyn rectoken_store::JoinLog>,
}

/// The Zoom client for the `ZOOM_*` settings.
pub fn zoom_client(zoom: &ZoomArgs) -> anyhow::Result<ZoomClient> {
    let mut config = ZoomConfig::new(
        zoom.client_id().map_err(anyhow::Error::msg)?.to_owned(),
        zoom.client_secret().map_err(anyhow::Error::msg)?.clone(),
    );
    config.api_url = zoom.api_url().to_owned();
    config.oauth_url = zoom.oauth_url().to_owned();
    config.recording_token_path = zoom.recording_token_path.clone();
    ZoomClient::new(config).context("invalid Zoom settings")
}

/// Connect the bus and the store and build the rest; the vault gets a Zoom
/// client per app of `apps` (each account refreshes and calls with its own
/// app, at that app's cloud).
pub fn build(
    amqp_url: &str,
    redis_url: &str,
    topology: Topology,
    zoom: &ZoomArgs,
    crypto: &CryptoArgs,
    limits: &LimitArgs,
    apps: &Apps,
) -> anyhow::Result<Core> {
    let key = crypto.key().map_err(anyhow::Error::msg)?;
    let encryption_key = crate::config::decode_encryption_key(key).map_err(anyhow::Error::msg)?;
    let keyring = Keyring::from_base64(key, crypto.encryption_key_old.as_ref())
        .map_err(|e| anyhow::anyhow!("RECTOKEN_ENCRYPTION_KEY_OLD: {e}"))?;
    let previous_key = crypto
        .encryption_key_old
        .as_ref()
        .map(crate::config::decode_encryption_key)
        .transpose()
        .map_err(|e| anyhow::anyhow!("RECTOKEN_ENCRYPTION_KEY_OLD: {e}"))?;
    let origin = OriginKeys::new(&encryption_key, previous_key.as_ref());
    // Every message this role publishes to the sync queues carries its
    // proof of origin; sync workers refuse the others.
    let bus = SigningBus::wrap(
        rectoken_bus::connect(amqp_url, topology).context("RECTOKEN_AMQP_URL")?,
        origin.clone(),
    );
    let store = rectoken_store::connect(redis_url, "").context("RECTOKEN_REDIS_URL")?;
    let joins = rectoken_store::connect_join_log(redis_url, "").context("RECTOKEN_REDIS_URL")?;
    let zoom = zoom_client(zoom)?;
    let clients = ZoomClients::for_apps(zoom.clone(), apps).context("RECTOKEN_APPS_FILE")?;
    let vault = Vault::new(
        store.clone(),
        Arc::new(keyring),
        zoom.clone(),
        VaultOptions::default(),
    )
    .with_clients(clients);
    let access = ZoomAccess::new(
        vault.clone(),
        ZoomLimits::for_plan(limits.plan, limits.fraction),
    );
    Ok(Core {
        bus,
        store,
        zoom,
        vault,
        access,
        encryption_key,
        origin,
        joins,
    })
}

/// `/readyz` check of the store.
pub use rectoken_store::StoreCheck;

/// Every Zoom app a role knows: the `ZOOM_*` app (`default`, secrets
/// already resolved by the caller) plus those of `RECTOKEN_APPS_FILE`.
pub fn apps(default: App, apps_file: Option<&std::path::Path>) -> anyhow::Result<Apps> {
    let mut apps = Apps::single(default);
    if let Some(path) = apps_file {
        apps.add_from_file(path)?;
    }
    Ok(apps)
}

/// The apps by name → whether user-level, which is all the sync worker
/// needs to key events.
pub fn app_kinds(apps: &Apps) -> std::collections::HashMap<String, bool> {
    apps.names()
        .filter_map(|n| {
            apps.get(n)
                .map(|a| (n.to_owned(), a.kind == rectoken_zoom::apps::AppKind::User))
        })
        .collect()
}
