//! The [`Store`] trait: everything rectoken keeps in shared state.

use std::time::Duration;

use async_trait::async_trait;
use rectoken_domain::meeting_id::MeetingId;

use crate::directory::{DirectoryKey, DirectoryUser};
use crate::error::Result;
use crate::model::{
    AccountRecord, AccountStatus, Admission, Lease, MapKey, Mapping, RateLimit, StoredCredentials,
    SyncState, SyncStatus, WriteOutcome,
};

/// Shared state of all rectoken processes: the meeting/PMI map, account
/// state and sealed credentials, distributed locks and the per-account rate
/// limiter.
///
/// Every write is safe with any number of concurrent callers in any number
/// of processes: map writes are compare-and-set on a version (one atomic
/// script each), so a late or repeated event never overwrites newer state
/// and a redelivered message can simply be applied again.
///
/// Two implementations keep the same contract (checked by
/// `tests/it/store_contract.rs` against both): [`RedisStore`](crate::RedisStore)
/// and [`MemoryStore`](crate::MemoryStore).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ----------------------------------------------------------- meeting map

    /// Write a mapping if it is newer than what is stored (rules in
    /// [`rules`](crate::rules)). A sync passes its generation, which
    /// [`Store::prune_unseen`] uses to tell what the sync saw; a duplicate
    /// put from a sync also marks the mapping as seen by that generation.
    /// For a PMI the PMI-of-user index is updated too.
    async fn put_mapping(
        &self,
        key: MapKey,
        m: &Mapping,
        sync_generation: Option<&str>,
    ) -> Result<WriteOutcome>;

    /// Remove `account_id`'s mapping as of `version_ms`, leaving a tombstone
    /// (kept for [`TOMBSTONE_TTL`](crate::rules::TOMBSTONE_TTL)) so that an
    /// older put arriving later cannot resurrect it; a newer put replaces
    /// the tombstone. [`WriteOutcome::Stale`] if the stored mapping is newer
    /// or belongs to another account.
    async fn remove_mapping(
        &self,
        key: MapKey,
        account_id: &str,
        version_ms: i64,
    ) -> Result<WriteOutcome>;

    /// The live mapping of a key; `None` when absent or removed.
    async fn get_mapping(&self, key: MapKey) -> Result<Option<Mapping>>;

    /// The PMI of a user of an account, as last written by a PMI put. Only
    /// returned while the PMI's mapping still names this account and user.
    async fn pmi_of_user(&self, account_id: &str, user_id: &str) -> Result<Option<MeetingId>>;

    /// One page of live mappings, of one account or of all, in a stable
    /// order (by bucket, then ID). Pass the returned cursor to get the next
    /// page; `None` means there is no more. Mappings written while paging
    /// may or may not appear; none appears twice.
    async fn list_mappings(
        &self,
        account_id: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(MapKey, Mapping)>, Option<String>)>;

    /// The number of live mappings (meetings and PMIs) of an account.
    async fn count_mappings(&self, account_id: &str) -> Result<u64>;

    /// After a full sync of generation `sync_generation` that started at
    /// `sync_started_ms`: remove the account's mappings that this
    /// generation did not write *and* whose version is older than the
    /// sync's start (so whatever a webhook wrote meanwhile survives). Each
    /// removal leaves a tombstone at version `sync_started_ms - 1`. Returns
    /// how many were removed.
    async fn prune_unseen(
        &self,
        account_id: &str,
        sync_generation: &str,
        sync_started_ms: i64,
    ) -> Result<u64>;

    /// Delete every mapping of an account (no tombstones) and its
    /// PMI-of-user index: the account was deauthorized. Returns how many
    /// mappings were deleted.
    async fn purge_account_mappings(&self, account_id: &str) -> Result<u64>;

    // -------------------------------------------------------- user directory

    /// Record a user of an account if `user.version` is newer than what is
    /// stored for that user ID (rules in [`directory`](crate::directory)):
    /// its email and vanity name become findable, the previous ones no
    /// longer. `true` if applied.
    async fn put_directory_user(&self, user: &DirectoryUser) -> Result<bool>;

    /// Remove `account_id`'s user as of `version`, leaving a tombstone so
    /// that an older put arriving later stays out. Not applied (`false`)
    /// over a newer record or a live record of another account.
    async fn remove_directory_user(
        &self,
        account_id: &str,
        user_id: &str,
        version: i64,
    ) -> Result<bool>;

    /// The live user a key names; `None` when absent or removed. Emails and
    /// vanity names match case-insensitively.
    async fn find_directory_user(&self, key: &DirectoryKey) -> Result<Option<DirectoryUser>>;

    /// Delete every directory user of an account (no tombstones): the
    /// account was deauthorized. Returns how many were deleted.
    async fn purge_account_directory(&self, account_id: &str) -> Result<u64>;

    /// After a full sync that started at `sync_started_ms` (and wrote every
    /// user it listed at that version): remove the account's users whose
    /// version is older, i.e. neither the sync nor an event since its start
    /// wrote them (deleted while their webhook was lost). Each removal
    /// leaves a tombstone at `sync_started_ms - 1`. Returns how many.
    async fn prune_directory(&self, account_id: &str, sync_started_ms: i64) -> Result<u64>;

    // -------------------------------------------------------------- accounts

    /// Create or replace an account's record, sync status included. To
    /// change only the status or the sync, use the methods below: they are
    /// atomic against concurrent writers, this is not.
    async fn upsert_account(&self, rec: &AccountRecord) -> Result<()>;

    /// An account's record.
    async fn account(&self, account_id: &str) -> Result<Option<AccountRecord>>;

    /// Every account's record, sorted by account ID.
    async fn list_accounts(&self) -> Result<Vec<AccountRecord>>;

    /// Set the status and last error (`None` clears it).
    /// [`StoreError::AccountNotFound`](crate::StoreError::AccountNotFound)
    /// when there is no record.
    async fn set_account_status(
        &self,
        account_id: &str,
        status: AccountStatus,
        last_error: Option<&str>,
    ) -> Result<()>;

    /// Make `generation` the account's current sync, in progress with
    /// `users_total` users to visit; whatever sync ran before is superseded.
    /// `AccountNotFound` without a record.
    async fn start_sync(
        &self,
        account_id: &str,
        generation: &str,
        users_total: u64,
        started_at_ms: i64,
    ) -> Result<()>;

    /// Add `users_done` visited users to the sync of `generation`,
    /// atomically; ignored if `generation` is no longer current (or the
    /// account has no record). Returns the status after the call (the
    /// default status without a record).
    async fn add_sync_progress(
        &self,
        account_id: &str,
        generation: &str,
        users_done: u64,
    ) -> Result<SyncStatus>;

    /// End the sync of `generation` as `state` (with `error` for a failure);
    /// ignored if `generation` is no longer current or there is no record.
    async fn finish_sync(
        &self,
        account_id: &str,
        generation: &str,
        state: SyncState,
        error: Option<&str>,
        at_ms: i64,
    ) -> Result<()>;

    /// Delete an account's record and credentials (its mappings stay until
    /// [`Store::purge_account_mappings`]).
    async fn delete_account(&self, account_id: &str) -> Result<()>;

    /// Store an account's sealed credentials. With `Some(lease)`, write only
    /// if that lease still holds its lock (checked atomically with the
    /// write) and return `false` otherwise: a worker that stalled past its
    /// lock's TTL cannot overwrite the newer refresh token of the worker
    /// that took over. On Redis Cluster the lock must be named with
    /// [`account_lock_name`](crate::keys::account_lock_name) so the check
    /// and the write share a slot.
    async fn put_credentials(
        &self,
        account_id: &str,
        creds: &StoredCredentials,
        fence: Option<&Lease>,
    ) -> Result<bool>;

    /// Store credentials only if they are newer (by `refreshed_at_ms`) than
    /// the stored ones, atomically: an import never replaces fresher
    /// credentials with an old backup. `true` if written.
    async fn put_credentials_if_newer(
        &self,
        account_id: &str,
        creds: &StoredCredentials,
    ) -> Result<bool>;

    /// An account's sealed credentials.
    async fn credentials(&self, account_id: &str) -> Result<Option<StoredCredentials>>;

    // ----------------------------------------------------------------- locks

    /// Take lock `name` for `ttl` if nobody holds it. Each success gets a
    /// fencing token greater than every earlier one of the same name.
    async fn try_lock(&self, name: &str, ttl: Duration) -> Result<Option<Lease>>;

    /// Extend a held lock to `ttl` from now; `false` if it is no longer
    /// held by this lease (expired, or taken over).
    async fn renew_lock(&self, lease: &Lease, ttl: Duration) -> Result<bool>;

    /// Release a held lock; `false` if it was no longer held by this lease.
    async fn unlock(&self, lease: &Lease) -> Result<bool>;

    // ----------------------------------------------------------- rate limits

    /// Take one request's budget for `(account_id, label)` under `limit`
    /// (GCRA on the store's clock), or say how long to wait. While the
    /// account is blocked ([`Store::block_account`]) every label waits
    /// until the block ends.
    async fn admit(&self, account_id: &str, label: &str, limit: RateLimit) -> Result<Admission>;

    /// Zoom answered 429 with `Retry-After`: block every label of the
    /// account until `until_ms` (Unix ms). A later block extends the
    /// current one; an earlier one does not shorten it.
    async fn block_account(&self, account_id: &str, until_ms: i64) -> Result<()>;

    // ------------------------------------------------------------------- ops

    /// Check the store answers.
    async fn ping(&self) -> Result<()>;

    /// How durable the store is: persistence and eviction settings, which
    /// decide whether OAuth credentials survive a restart or memory
    /// pressure.
    async fn durability(&self) -> Result<crate::durability::Durability>;
}
