//! Zoom has rotated the refresh token, and then the store fails: the vault
//! must keep retrying the write (the new refresh token exists nowhere else)
//! rather than drop it and disconnect the account at the next refresh.
//! In-process store with injected failures, and the Zoom simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rectoken_domain::meeting_id::MeetingId;
use rectoken_store::{
    AccountRecord, AccountStatus, Admission, Durability, Lease, MapKey, Mapping, MemoryStore,
    RateLimit, Result, Store, StoreError, StoredCredentials, SyncState, SyncStatus, WriteOutcome,
};
use rectoken_vault::{Keyring, Vault, VaultOptions};
use rectoken_zoom::{ZoomClient, ZoomConfig};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use zoom_sim::{Sim, SimConfig};

/// A memory store whose next `fail_puts` credential writes fail like a
/// Redis that went away.
struct Flaky {
    inner: MemoryStore,
    fail_puts: AtomicUsize,
    failed: AtomicUsize,
}

fn down() -> StoreError {
    StoreError::Redis(redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "injected: Redis is restarting",
    )))
}

#[async_trait]
impl Store for Flaky {
    async fn put_mapping(&self, k: MapKey, m: &Mapping, g: Option<&str>) -> Result<WriteOutcome> {
        self.inner.put_mapping(k, m, g).await
    }
    async fn remove_mapping(&self, k: MapKey, a: &str, v: i64) -> Result<WriteOutcome> {
        self.inner.remove_mapping(k, a, v).await
    }
    async fn get_mapping(&self, k: MapKey) -> Result<Option<Mapping>> {
        self.inner.get_mapping(k).await
    }
    async fn pmi_of_user(&self, a: &str, u: &str) -> Result<Option<MeetingId>> {
        self.inner.pmi_of_user(a, u).await
    }
    async fn list_mappings(
        &self,
        a: Option<&str>,
        c: Option<&str>,
        l: usize,
    ) -> Result<(Vec<(MapKey, Mapping)>, Option<String>)> {
        self.inner.list_mappings(a, c, l).await
    }
    async fn count_mappings(&self, a: &str) -> Result<u64> {
        self.inner.count_mappings(a).await
    }
    async fn prune_unseen(&self, a: &str, g: &str, s: i64) -> Result<u64> {
        self.inner.prune_unseen(a, g, s).await
    }
    async fn purge_account_mappings(&self, a: &str) -> Result<u64> {
        self.inner.purge_account_mappings(a).await
    }
    async fn put_directory_user(&self, u: &rectoken_store::DirectoryUser) -> Result<bool> {
        self.inner.put_directory_user(u).await
    }
    async fn remove_directory_user(&self, a: &str, u: &str, v: i64) -> Result<bool> {
        self.inner.remove_directory_user(a, u, v).await
    }
    async fn find_directory_user(
        &self,
        k: &rectoken_store::DirectoryKey,
    ) -> Result<Option<rectoken_store::DirectoryUser>> {
        self.inner.find_directory_user(k).await
    }
    async fn purge_account_directory(&self, a: &str) -> Result<u64> {
        self.inner.purge_account_directory(a).await
    }
    async fn prune_directory(&self, a: &str, s: i64) -> Result<u64> {
        self.inner.prune_directory(a, s).await
    }
    async fn upsert_account(&self, r: &AccountRecord) -> Result<()> {
        self.inner.upsert_account(r).await
    }
    async fn account(&self, a: &str) -> Result<Option<AccountRecord>> {
        self.inner.account(a).await
    }
    async fn list_accounts(&self) -> Result<Vec<AccountRecord>> {
        self.inner.list_accounts().await
    }
    async fn set_account_status(&self, a: &str, s: AccountStatus, e: Option<&str>) -> Result<()> {
        self.inner.set_account_status(a, s, e).await
    }
    async fn start_sync(&self, a: &str, g: &str, t: u64, s: i64) -> Result<()> {
        self.inner.start_sync(a, g, t, s).await
    }
    async fn add_sync_progress(&self, a: &str, g: &str, d: u64) -> Result<SyncStatus> {
        self.inner.add_sync_progress(a, g, d).await
    }
    async fn finish_sync(
        &self,
        a: &str,
        g: &str,
        s: SyncState,
        e: Option<&str>,
        t: i64,
    ) -> Result<()> {
        self.inner.finish_sync(a, g, s, e, t).await
    }
    async fn delete_account(&self, a: &str) -> Result<()> {
        self.inner.delete_account(a).await
    }
    async fn put_credentials(
        &self,
        a: &str,
        c: &StoredCredentials,
        f: Option<&Lease>,
    ) -> Result<bool> {
        if self
            .fail_puts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            self.failed.fetch_add(1, Ordering::SeqCst);
            return Err(down());
        }
        self.inner.put_credentials(a, c, f).await
    }
    async fn put_credentials_if_newer(&self, a: &str, c: &StoredCredentials) -> Result<bool> {
        self.inner.put_credentials_if_newer(a, c).await
    }
    async fn credentials(&self, a: &str) -> Result<Option<StoredCredentials>> {
        self.inner.credentials(a).await
    }
    async fn try_lock(&self, n: &str, t: Duration) -> Result<Option<Lease>> {
        self.inner.try_lock(n, t).await
    }
    async fn renew_lock(&self, l: &Lease, t: Duration) -> Result<bool> {
        self.inner.renew_lock(l, t).await
    }
    async fn unlock(&self, l: &Lease) -> Result<bool> {
        self.inner.unlock(l).await
    }
    async fn admit(&self, a: &str, l: &str, r: RateLimit) -> Result<Admission> {
        self.inner.admit(a, l, r).await
    }
    async fn block_account(&self, a: &str, u: i64) -> Result<()> {
        self.inner.block_account(a, u).await
    }
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
    async fn durability(&self) -> Result<Durability> {
        self.inner.durability().await
    }
}

#[tokio::test]
async fn rotated_token_survives_a_store_outage_during_refresh() {
    let (sim, addr) = Sim::spawn(SimConfig::for_tests("cid", "csecret", "wsecret"))
        .await
        .unwrap();
    sim.seed_demo().unwrap();
    let mut cfg = ZoomConfig::new("cid", SecretString::from("csecret".to_owned()));
    cfg.api_url = format!("http://{addr}/v2");
    cfg.oauth_url = format!("http://{addr}/oauth");
    let zoom = ZoomClient::new(cfg).unwrap();
    // The OAuth code flow, by hand.
    let redirect = "http://127.0.0.1:1/cb";
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let consent = http
        .get(zoom.authorize_url(redirect, "s"))
        .send()
        .await
        .unwrap();
    let location = consent.headers()["location"].to_str().unwrap().to_owned();
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let tokens = zoom.exchange_code(&code, redirect).await.unwrap();

    let store = Arc::new(Flaky {
        inner: MemoryStore::new(),
        fail_puts: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
    });
    let keyring = Arc::new(Keyring::new(&SecretBox::new(Box::new([3u8; 32])), &[]));
    let vault = Vault::new(
        store.clone(),
        keyring,
        zoom.clone(),
        VaultOptions::default(),
    );
    vault.save("demo", &tokens).await.unwrap();
    let first = vault.access_token("demo").await.unwrap();

    // Force a refresh while the next 3 credential writes fail.
    store.fail_puts.store(3, Ordering::SeqCst);
    let refreshed = vault.after_unauthorized("demo", &first).await.unwrap();
    assert_eq!(
        store.failed.load(Ordering::SeqCst),
        3,
        "the outage happened"
    );
    assert_ne!(refreshed.expose_secret(), first.expose_secret());
    assert_eq!(zoom.me(&refreshed).await.unwrap().account_id, "demo");

    // The saved refresh token is the rotated one: the next refresh works
    // (with the old one Zoom would answer invalid_grant).
    let again = vault.after_unauthorized("demo", &refreshed).await.unwrap();
    assert_ne!(again.expose_secret(), refreshed.expose_secret());
    assert_eq!(sim.stats().oauth_refreshes, 2);
    let account = store.account("demo").await.unwrap();
    assert!(account.is_none_or(|a| a.status == AccountStatus::Connected));
}
