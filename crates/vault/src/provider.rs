//! One place that gives any worker a valid access token for an account.
//!
//! Zoom rotates the refresh token on every refresh and kills the old one at
//! once, so two workers refreshing together would disconnect the customer.
//! The protocol:
//!
//! 1. Serve the stored access token while it has more than
//!    [`VaultOptions::min_ttl`] to live.
//! 2. Otherwise take the account's refresh lock (a store lock with a
//!    fencing token and a TTL). The holder re-reads the credentials (someone
//!    may have just refreshed), refreshes at Zoom, and writes the rotated
//!    tokens *fenced by its lease* before anyone uses the new access token.
//! 3. Everyone else polls the stored credentials until they change (or the
//!    account is marked disconnected), then uses the new token.
//!
//! A refresh Zoom refuses for good (a dead refresh token in any of its
//! shapes, refused client credentials, a misconfigured app: everything
//! [`rectoken_zoom::OAuthError::refresh_disconnect_reason`] names) marks the account
//! disconnected with the reason; a 401 from the REST API forces one refresh, unless another
//! worker already replaced the rejected token.

use std::sync::Arc;
use std::time::Duration;

use rectoken_store::keys::account_lock_name;
use rectoken_store::{AccountStatus, Store, StoreError, StoredCredentials};
use rectoken_zoom::apps::DEFAULT_APP;
use rectoken_zoom::{TokenSet, ZoomClient, ZoomClients};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::crypto::{CryptoError, Keyring};
use rectoken_domain::clock::now_ms;

/// Why no access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// No credentials are stored for the account.
    #[error("account {0} is not connected")]
    NotConnected(String),
    /// The account was disconnected (refresh token dead, app deauthorized).
    #[error("account {account_id} is disconnected: {reason}")]
    Disconnected {
        /// The account.
        account_id: String,
        /// Why.
        reason: String,
    },
    /// Zoom or the lock holder did not come through in time; retry later.
    #[error("could not refresh the access token: {0}")]
    Transient(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The credentials do not decrypt (wrong or missing key).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl VaultError {
    /// Whether retrying later may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, VaultError::Transient(_) | VaultError::Store(_))
    }
}

/// Tunables.
#[derive(Debug, Clone)]
pub struct VaultOptions {
    /// Refresh when the access token has less than this to live (5 min).
    pub min_ttl: Duration,
    /// The refresh lock's TTL: longer than a refresh call can take.
    pub lock_ttl: Duration,
    /// How long a worker waits for another worker's refresh.
    pub wait_timeout: Duration,
    /// How often a waiting worker looks at the stored credentials.
    pub poll_interval: Duration,
}

impl Default for VaultOptions {
    fn default() -> Self {
        Self {
            min_ttl: Duration::from_secs(5 * 60),
            lock_ttl: Duration::from_secs(30),
            wait_timeout: Duration::from_secs(20),
            poll_interval: Duration::from_millis(25),
        }
    }
}

/// What is sealed inside [`StoredCredentials`].
#[derive(Serialize, Deserialize)]
struct Plain {
    access_token: String,
    refresh_token: String,
    #[serde(default)]
    scope: Vec<String>,
}

/// The credential vault. Cheap to clone.
#[derive(Clone)]
pub struct Vault {
    store: Arc<dyn Store>,
    keyring: Arc<Keyring>,
    /// One client per app: an account refreshes with its own app's
    /// credentials at its app's cloud.
    clients: ZoomClients,
    options: VaultOptions,
}

/// The lock name of an account's refresh (hash-tagged with the account so
/// the fenced write shares its Redis Cluster slot).
pub fn refresh_lock(account_id: &str) -> String {
    account_lock_name("refresh", account_id)
}

impl Vault {
    /// A vault over `store`, sealing with `keyring`, refreshing with `zoom`.
    pub fn new(
        store: Arc<dyn Store>,
        keyring: Arc<Keyring>,
        zoom: ZoomClient,
        options: VaultOptions,
    ) -> Self {
        Self {
            store,
            keyring,
            clients: ZoomClients::single(zoom),
            options,
        }
    }

    /// With a client per app (`RECTOKEN_APPS_FILE`): each account is then
    /// refreshed, and called for, with the app it was connected through.
    pub fn with_clients(mut self, clients: ZoomClients) -> Self {
        self.clients = clients;
        self
    }

    /// The default app's Zoom client.
    pub fn zoom(&self) -> &ZoomClient {
        self.clients.default_client()
    }

    /// Every app's Zoom client.
    pub fn clients(&self) -> &ZoomClients {
        &self.clients
    }

    /// The client of `app`, or why an account of that app cannot be used.
    fn client_of(&self, account_id: &str, app: &str) -> Result<&ZoomClient, VaultError> {
        self.clients
            .get(app)
            .ok_or_else(|| VaultError::Disconnected {
                account_id: account_id.to_owned(),
                reason: format!(
                    "connected through the Zoom app {app:?}, which this deployment does not have \
                 (ZOOM_* and RECTOKEN_APPS_FILE)"
                ),
            })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn seal(&self, account_id: &str, tokens: &TokenSet, now: i64) -> StoredCredentials {
        let plain = Plain {
            access_token: tokens.access_token.expose_secret().to_owned(),
            refresh_token: tokens.refresh_token.expose_secret().to_owned(),
            scope: tokens.scope.clone(),
        };
        let bytes = serde_json::to_vec(&plain).unwrap_or_default();
        let expires_in_ms =
            i64::try_from(tokens.expires_in.saturating_mul(1000)).unwrap_or(i64::MAX);
        StoredCredentials {
            sealed: self.keyring.seal(&bytes, account_id),
            refreshed_at_ms: now,
            access_expires_at_ms: now.saturating_add(expires_in_ms),
        }
    }

    fn open(&self, account_id: &str, creds: &StoredCredentials) -> Result<Plain, VaultError> {
        let bytes = self.keyring.open(&creds.sealed, account_id)?;
        serde_json::from_slice(&bytes).map_err(|_| VaultError::Crypto(CryptoError::Tampered))
    }

    /// Store freshly obtained tokens (after the OAuth code exchange),
    /// replacing whatever the account had.
    pub async fn save(&self, account_id: &str, tokens: &TokenSet) -> Result<(), VaultError> {
        let creds = self.seal(account_id, tokens, now_ms());
        self.store.put_credentials(account_id, &creds, None).await?;
        Ok(())
    }

    /// A valid access token for the account.
    pub async fn access_token(&self, account_id: &str) -> Result<SecretString, VaultError> {
        self.obtain(account_id, None).await.map(|(token, _)| token)
    }

    /// A valid access token for the account and the Zoom client of the app
    /// it was connected through (the one to call Zoom with).
    pub async fn access(&self, account_id: &str) -> Result<(SecretString, ZoomClient), VaultError> {
        self.obtain(account_id, None).await
    }

    /// Zoom answered 401 to `rejected`: refresh once, unless another worker
    /// already replaced that token, and return the new one.
    pub async fn after_unauthorized(
        &self,
        account_id: &str,
        rejected: &SecretString,
    ) -> Result<SecretString, VaultError> {
        self.obtain(account_id, Some(rejected))
            .await
            .map(|(token, _)| token)
    }

    /// Refresh now whatever the token's age (the keep-alive job), so refresh
    /// tokens never lapse.
    pub async fn refresh_now(&self, account_id: &str) -> Result<(), VaultError> {
        let (creds, _) = self.load(account_id).await?;
        let plain = self.open(account_id, &creds)?;
        let current = SecretString::from(plain.access_token);
        self.obtain(account_id, Some(&current)).await.map(drop)
    }

    /// The account's credentials and the name of its app.
    async fn load(&self, account_id: &str) -> Result<(StoredCredentials, String), VaultError> {
        // Both reads at once: this is on every join request's path.
        let (account, creds) = tokio::try_join!(
            self.store.account(account_id),
            self.store.credentials(account_id)
        )?;
        if let Some(account) = &account
            && account.status == AccountStatus::Disconnected
        {
            return Err(VaultError::Disconnected {
                account_id: account_id.to_owned(),
                reason: account
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "disconnected".into()),
            });
        }
        let creds = creds.ok_or_else(|| VaultError::NotConnected(account_id.to_owned()))?;
        // Credentials without a record (written before the record, or by an
        // import of an older export), or a record without an app name,
        // belong to the default app.
        let app = account
            .map(|a| a.app)
            .filter(|app| !app.is_empty())
            .unwrap_or_else(|| DEFAULT_APP.to_owned());
        Ok((creds, app))
    }

    /// Whether `creds` can be served as they are.
    fn usable(
        &self,
        plain: &Plain,
        creds: &StoredCredentials,
        rejected: Option<&SecretString>,
    ) -> bool {
        let min_ttl_ms = i64::try_from(self.options.min_ttl.as_millis()).unwrap_or(i64::MAX);
        let fresh = creds.access_expires_at_ms.saturating_sub(now_ms()) > min_ttl_ms;
        let is_rejected = rejected.is_some_and(|r| r.expose_secret() == plain.access_token);
        fresh && !is_rejected
    }

    async fn obtain(
        &self,
        account_id: &str,
        rejected: Option<&SecretString>,
    ) -> Result<(SecretString, ZoomClient), VaultError> {
        let deadline = tokio::time::Instant::now() + self.options.wait_timeout;
        loop {
            let (creds, app) = self.load(account_id).await?;
            let client = self.client_of(account_id, &app)?.clone();
            let plain = self.open(account_id, &creds)?;
            if self.usable(&plain, &creds, rejected) {
                return Ok((SecretString::from(plain.access_token), client));
            }
            if let Some(lease) = self
                .store
                .try_lock(&refresh_lock(account_id), self.options.lock_ttl)
                .await?
            {
                let result = self
                    .refresh_locked(account_id, &lease, rejected)
                    .await
                    .map(|token| (token, client));
                if let Err(e) = self.store.unlock(&lease).await {
                    tracing::warn!(account_id, error = %e, "could not release the refresh lock; it expires by itself");
                }
                return result;
            }
            // Someone else refreshes: wait for the stored credentials to
            // change (or the account to be disconnected).
            loop {
                if tokio::time::Instant::now() >= deadline {
                    return Err(VaultError::Transient(
                        "timed out waiting for another worker's refresh".into(),
                    ));
                }
                tokio::time::sleep(self.options.poll_interval).await;
                let (latest, _) = self.load(account_id).await?;
                if latest.refreshed_at_ms != creds.refreshed_at_ms || latest.sealed != creds.sealed
                {
                    break;
                }
                // The holder may have died: its lock expires and we take over.
                if !self.lock_held(account_id).await? {
                    break;
                }
            }
            // A refreshed token is no longer the rejected one.
        }
    }

    async fn lock_held(&self, account_id: &str) -> Result<bool, VaultError> {
        // Probe without keeping it: if we get it, nobody holds it.
        match self
            .store
            .try_lock(&refresh_lock(account_id), Duration::from_millis(1))
            .await?
        {
            Some(lease) => {
                let _ = self.store.unlock(&lease).await;
                Ok(false)
            }
            None => Ok(true),
        }
    }

    /// Write freshly rotated credentials. Zoom has already killed the old
    /// refresh token, so this copy is the only one: a store error does not
    /// give up at once but retries, renewing the lock, for as long as the
    /// lock's TTL allows (a Redis restart takes well under that).
    async fn save_rotated(
        &self,
        account_id: &str,
        sealed: &StoredCredentials,
        lease: &rectoken_store::Lease,
    ) -> Result<(), VaultError> {
        let give_up = tokio::time::Instant::now() + self.options.lock_ttl.mul_f32(0.8);
        let mut delay = Duration::from_millis(50);
        loop {
            match self
                .store
                .put_credentials(account_id, sealed, Some(lease))
                .await
            {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    metrics::counter!("rectoken_token_refresh_total", "outcome" => "lost_lock")
                        .increment(1);
                    tracing::error!(
                        account_id,
                        "refresh lock lost before the rotated token was saved"
                    );
                    return Err(VaultError::Transient(
                        "refresh lock lost before saving".into(),
                    ));
                }
                Err(e) if tokio::time::Instant::now() + delay < give_up => {
                    tracing::warn!(account_id, error = %e, "cannot save the rotated token yet; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                    // Keep the lock ours while we wait (an error means Redis
                    // is still down; the fenced write decides in the end).
                    if let Ok(false) = self.store.renew_lock(lease, self.options.lock_ttl).await {
                        tracing::error!(
                            account_id,
                            "refresh lock expired while Redis was unavailable"
                        );
                    }
                }
                Err(e) => {
                    metrics::counter!("rectoken_token_refresh_total", "outcome" => "unsaved")
                        .increment(1);
                    tracing::error!(
                        account_id,
                        error = %e,
                        "the rotated refresh token could not be saved; the account will need reconnecting"
                    );
                    return Err(VaultError::Store(e));
                }
            }
        }
    }

    async fn refresh_locked(
        &self,
        account_id: &str,
        lease: &rectoken_store::Lease,
        rejected: Option<&SecretString>,
    ) -> Result<SecretString, VaultError> {
        // Re-read under the lock: another worker may have refreshed between
        // our read and our lock.
        let (creds, app) = self.load(account_id).await?;
        let plain = self.open(account_id, &creds)?;
        if self.usable(&plain, &creds, rejected) {
            return Ok(SecretString::from(plain.access_token));
        }
        let refresh_token = SecretString::from(plain.refresh_token);
        match self
            .client_of(account_id, &app)?
            .refresh(&refresh_token)
            .await
        {
            Ok(tokens) => {
                let sealed = self.seal(account_id, &tokens, now_ms());
                // The rotated refresh token is written before anyone uses
                // the new access token, and only while we still hold the
                // lock (fenced).
                self.save_rotated(account_id, &sealed, lease).await?;
                metrics::counter!("rectoken_token_refresh_total", "outcome" => "ok").increment(1);
                tracing::info!(account_id, "access token refreshed");
                Ok(tokens.access_token)
            }
            // Classified by meaning (`OAuthError::refresh_disconnect_reason`):
            // whatever the same refresh token would get again ends the
            // account, with Zoom's reason, instead of retrying forever.
            Err(e) if e.refresh_disconnect_reason().is_some() => {
                metrics::counter!("rectoken_token_refresh_total", "outcome" => e.outcome())
                    .increment(1);
                let reason = e.refresh_disconnect_reason().unwrap_or_default();
                tracing::warn!(account_id, reason = %reason, "marking account disconnected");
                self.store
                    .set_account_status(account_id, AccountStatus::Disconnected, Some(&reason))
                    .await
                    .or_else(|e| match e {
                        StoreError::AccountNotFound(_) => Ok(()),
                        other => Err(other),
                    })?;
                Err(VaultError::Disconnected {
                    account_id: account_id.to_owned(),
                    reason,
                })
            }
            Err(e) => {
                metrics::counter!("rectoken_token_refresh_total", "outcome" => e.outcome())
                    .increment(1);
                Err(VaultError::Transient(e.to_string()))
            }
        }
    }
}
