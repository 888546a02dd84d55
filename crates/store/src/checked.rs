//! [`Checked`]: the one place the store's inputs are validated, in front of
//! either backend.
//!
//! The backends ([`MemoryStore`](crate::memory::MemoryStore),
//! [`RedisStore`](crate::redis_store::RedisStore)) trust their input;
//! [`connect`](crate::connect) hands out `Checked` backends, so every caller
//! gets the same refusals ([`StoreError::InvalidInput`]) whichever backend
//! runs: empty or oversized IDs, versions outside ±2^53 ms, lock names Redis
//! could not key, a page of zero. The rules themselves are
//! [`rules`](crate::rules) and [`directory::check_user`].

use std::ops::Deref;
use std::time::Duration;

use async_trait::async_trait;
use rectoken_domain::meeting_id::MeetingId;

use crate::directory::{self, DirectoryKey, DirectoryUser};
use crate::error::{Result, StoreError};
use crate::model::{
    AccountRecord, AccountStatus, Admission, Lease, MapKey, Mapping, RateLimit, StoredCredentials,
    SyncState, SyncStatus, WriteOutcome,
};
use crate::rules::{check_id, check_lock_name, check_version};
use crate::store::Store;

/// A backend behind the input checks. Derefs to the backend for its own
/// methods (key layout, cleanup in tests).
#[derive(Debug, Default)]
pub struct Checked<S>(S);

impl<S> Checked<S> {
    /// `backend` behind the checks.
    pub fn wrap(backend: S) -> Self {
        Self(backend)
    }
}

impl<S> Deref for Checked<S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.0
    }
}

fn account(account_id: &str) -> Result<()> {
    check_id("account_id", account_id)
}

#[async_trait]
impl<S: Store> Store for Checked<S> {
    async fn put_mapping(
        &self,
        key: MapKey,
        m: &Mapping,
        sync_generation: Option<&str>,
    ) -> Result<WriteOutcome> {
        account(&m.account_id)?;
        check_version(m.version_ms)?;
        self.0.put_mapping(key, m, sync_generation).await
    }

    async fn remove_mapping(
        &self,
        key: MapKey,
        account_id: &str,
        version_ms: i64,
    ) -> Result<WriteOutcome> {
        account(account_id)?;
        check_version(version_ms)?;
        self.0.remove_mapping(key, account_id, version_ms).await
    }

    async fn get_mapping(&self, key: MapKey) -> Result<Option<Mapping>> {
        self.0.get_mapping(key).await
    }

    async fn pmi_of_user(&self, account_id: &str, user_id: &str) -> Result<Option<MeetingId>> {
        self.0.pmi_of_user(account_id, user_id).await
    }

    async fn list_mappings(
        &self,
        account_id: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(MapKey, Mapping)>, Option<String>)> {
        if limit == 0 {
            return Err(StoreError::InvalidInput("limit must be at least 1".into()));
        }
        self.0.list_mappings(account_id, cursor, limit).await
    }

    async fn count_mappings(&self, account_id: &str) -> Result<u64> {
        self.0.count_mappings(account_id).await
    }

    async fn prune_unseen(
        &self,
        account_id: &str,
        sync_generation: &str,
        sync_started_ms: i64,
    ) -> Result<u64> {
        account(account_id)?;
        check_version(sync_started_ms)?;
        self.0
            .prune_unseen(account_id, sync_generation, sync_started_ms)
            .await
    }

    async fn purge_account_mappings(&self, account_id: &str) -> Result<u64> {
        account(account_id)?;
        self.0.purge_account_mappings(account_id).await
    }

    async fn put_directory_user(&self, user: &DirectoryUser) -> Result<bool> {
        directory::check_user(user)?;
        self.0.put_directory_user(user).await
    }

    async fn remove_directory_user(
        &self,
        account_id: &str,
        user_id: &str,
        version: i64,
    ) -> Result<bool> {
        account(account_id)?;
        check_id("user_id", user_id)?;
        check_version(version)?;
        self.0
            .remove_directory_user(account_id, user_id, version)
            .await
    }

    async fn find_directory_user(&self, key: &DirectoryKey) -> Result<Option<DirectoryUser>> {
        self.0.find_directory_user(key).await
    }

    async fn purge_account_directory(&self, account_id: &str) -> Result<u64> {
        account(account_id)?;
        self.0.purge_account_directory(account_id).await
    }

    async fn prune_directory(&self, account_id: &str, sync_started_ms: i64) -> Result<u64> {
        account(account_id)?;
        check_version(sync_started_ms)?;
        self.0.prune_directory(account_id, sync_started_ms).await
    }

    async fn upsert_account(&self, rec: &AccountRecord) -> Result<()> {
        account(&rec.account_id)?;
        self.0.upsert_account(rec).await
    }

    async fn account(&self, account_id: &str) -> Result<Option<AccountRecord>> {
        self.0.account(account_id).await
    }

    async fn list_accounts(&self) -> Result<Vec<AccountRecord>> {
        self.0.list_accounts().await
    }

    async fn set_account_status(
        &self,
        account_id: &str,
        status: AccountStatus,
        last_error: Option<&str>,
    ) -> Result<()> {
        self.0
            .set_account_status(account_id, status, last_error)
            .await
    }

    async fn start_sync(
        &self,
        account_id: &str,
        generation: &str,
        users_total: u64,
        started_at_ms: i64,
    ) -> Result<()> {
        check_id("generation", generation)?;
        self.0
            .start_sync(account_id, generation, users_total, started_at_ms)
            .await
    }

    async fn add_sync_progress(
        &self,
        account_id: &str,
        generation: &str,
        users_done: u64,
    ) -> Result<SyncStatus> {
        self.0
            .add_sync_progress(account_id, generation, users_done)
            .await
    }

    async fn finish_sync(
        &self,
        account_id: &str,
        generation: &str,
        state: SyncState,
        error: Option<&str>,
        at_ms: i64,
    ) -> Result<()> {
        self.0
            .finish_sync(account_id, generation, state, error, at_ms)
            .await
    }

    async fn delete_account(&self, account_id: &str) -> Result<()> {
        self.0.delete_account(account_id).await
    }

    async fn put_credentials(
        &self,
        account_id: &str,
        creds: &StoredCredentials,
        fence: Option<&Lease>,
    ) -> Result<bool> {
        account(account_id)?;
        self.0.put_credentials(account_id, creds, fence).await
    }

    async fn put_credentials_if_newer(
        &self,
        account_id: &str,
        creds: &StoredCredentials,
    ) -> Result<bool> {
        account(account_id)?;
        self.0.put_credentials_if_newer(account_id, creds).await
    }

    async fn credentials(&self, account_id: &str) -> Result<Option<StoredCredentials>> {
        self.0.credentials(account_id).await
    }

    async fn try_lock(&self, name: &str, ttl: Duration) -> Result<Option<Lease>> {
        check_lock_name(name)?;
        self.0.try_lock(name, ttl).await
    }

    async fn renew_lock(&self, lease: &Lease, ttl: Duration) -> Result<bool> {
        self.0.renew_lock(lease, ttl).await
    }

    async fn unlock(&self, lease: &Lease) -> Result<bool> {
        self.0.unlock(lease).await
    }

    async fn admit(&self, account_id: &str, label: &str, limit: RateLimit) -> Result<Admission> {
        self.0.admit(account_id, label, limit).await
    }

    async fn block_account(&self, account_id: &str, until_ms: i64) -> Result<()> {
        self.0.block_account(account_id, until_ms).await
    }

    async fn ping(&self) -> Result<()> {
        self.0.ping().await
    }

    async fn durability(&self) -> Result<crate::durability::Durability> {
        self.0.durability().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    /// The drift issue 18 found: the Redis backend refused an empty account
    /// ID in `prune_unseen`, the in-process one did not. Behind `Checked`
    /// both refuse it, and valid input still reaches the backend.
    #[tokio::test]
    async fn bad_input_is_refused_before_the_backend() {
        let store = Checked::wrap(MemoryStore::new());
        for result in [
            store.prune_unseen("", "gen", 1).await,
            store.purge_account_mappings("").await,
            store.prune_unseen("acc", "gen", i64::MAX).await,
        ] {
            assert!(
                matches!(result, Err(StoreError::InvalidInput(_))),
                "{result:?}"
            );
        }
        assert!(matches!(
            store.list_mappings(None, None, 0).await,
            Err(StoreError::InvalidInput(_))
        ));
        assert!(matches!(
            store.try_lock("", Duration::from_secs(1)).await,
            Err(StoreError::InvalidInput(_))
        ));
        assert_eq!(store.prune_unseen("acc", "gen", 1).await.ok(), Some(0));
    }
}
