//! The in-process store: one mutex over plain maps, for `rectoken dev` and
//! unit tests. It follows the same rules as Redis (the pure functions of
//! [`rules`](crate::rules)) and lists in the same order, so cursors and
//! outcomes agree; the contract tests check both.
//!
//! Lock TTLs and tombstone expiry use `tokio::time::Instant`, so tests can
//! drive them with `tokio::time::pause`/`advance`. The rate limiter uses
//! the wall clock, like Redis `TIME`, because blocks are given in Unix ms.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rectoken_domain::meeting_id::MeetingId;
use tokio::time::Instant;

use crate::directory::{self, DirectoryKey, DirectoryUser, StoredUser};
use crate::durability::Durability;
use crate::error::{Result, StoreError};
use crate::keys::{Position, parse_member};
use crate::model::{
    AccountRecord, AccountStatus, Admission, Lease, MapKey, MapKind, Mapping, RateLimit,
    StoredCredentials, SyncState, SyncStatus, WriteOutcome,
};
use crate::rules::{self, Stored, TOMBSTONE_TTL};
use crate::store::Store;
use rectoken_domain::clock::{now_ms, now_us};

/// What one map key holds.
#[derive(Clone, Debug)]
enum Entry {
    Live {
        mapping: Mapping,
        generation: Option<String>,
    },
    Tomb {
        version: i64,
        expires: Instant,
    },
}

/// What the directory holds for one user ID.
#[derive(Clone, Debug)]
enum DirEntry {
    Live(DirectoryUser),
    Tomb { version: i64, expires: Instant },
}

#[derive(Default)]
struct Inner {
    /// user ID → directory record or tombstone.
    directory: HashMap<String, DirEntry>,
    /// Normalized email → user ID (the last writer's, as on Redis).
    dir_email: HashMap<String, String>,
    /// Normalized vanity name → user ID.
    dir_vanity: HashMap<String, String>,
    /// The map, in listing order.
    maps: BTreeMap<Position, Entry>,
    /// (account, user) → (PMI, version).
    pmi_of_user: HashMap<(String, String), (MeetingId, i64)>,
    accounts: BTreeMap<String, AccountRecord>,
    credentials: HashMap<String, StoredCredentials>,
    /// name → (fence of the holder, expiry).
    locks: HashMap<String, (u64, Instant)>,
    /// name → last fence handed out.
    fences: HashMap<String, u64>,
    /// (account, label) → GCRA theoretical arrival time, µs.
    tats: HashMap<(String, String), i64>,
    /// account → blocked until, Unix ms.
    blocks: HashMap<String, i64>,
}

impl Inner {
    /// The entry at `pos`, dropping an expired tombstone.
    fn entry(&mut self, pos: &Position) -> Option<&Entry> {
        if let Some(Entry::Tomb { expires, .. }) = self.maps.get(pos)
            && *expires <= Instant::now()
        {
            self.maps.remove(pos);
        }
        self.maps.get(pos)
    }

    /// The directory entry of `user_id`, dropping an expired tombstone.
    fn dir_entry(&mut self, user_id: &str) -> Option<&DirEntry> {
        if let Some(DirEntry::Tomb { expires, .. }) = self.directory.get(user_id)
            && *expires <= Instant::now()
        {
            self.directory.remove(user_id);
        }
        self.directory.get(user_id)
    }

    /// Drop `u`'s index entries that still point to it.
    fn dir_unindex(&mut self, u: &DirectoryUser) {
        for (index, value) in [
            (&mut self.dir_email, &u.email),
            (&mut self.dir_vanity, &u.vanity_name),
        ] {
            if let Some(v) = value {
                let k = directory::normalize(v);
                if index.get(&k) == Some(&u.user_id) {
                    index.remove(&k);
                }
            }
        }
    }

    fn lock_held(&self, lease: &Lease) -> bool {
        matches!(self.locks.get(&lease.name), Some((fence, expires))
            if *fence == lease.fence && *expires > Instant::now())
    }

    /// Point `user` at `pmi` unless a newer version is recorded.
    fn pmi_set(&mut self, account: &str, user: &str, pmi: MeetingId, version: i64) {
        let slot = self
            .pmi_of_user
            .entry((account.to_owned(), user.to_owned()))
            .or_insert((pmi, version));
        if slot.1 <= version {
            *slot = (pmi, version);
        }
    }

    /// Forget `user`'s PMI if it is still `pmi` at a version up to `version`.
    fn pmi_del(&mut self, account: &str, user: &str, pmi: MeetingId, version: i64) {
        let k = (account.to_owned(), user.to_owned());
        if matches!(self.pmi_of_user.get(&k), Some((p, v)) if *p == pmi && *v <= version) {
            self.pmi_of_user.remove(&k);
        }
    }
}

/// The in-process [`Store`].
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-written
        // in a way later calls would misread (each call mutates at most a
        // few entries, in an order where every prefix is valid), so keep
        // serving rather than poisoning the whole dev process.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn ttl_ms(ttl: Duration) -> Duration {
    // Same granularity as Redis PX: whole milliseconds, at least one.
    Duration::from_millis(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
}

fn micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

#[async_trait]
impl Store for MemoryStore {
    async fn put_mapping(
        &self,
        key: MapKey,
        m: &Mapping,
        sync_generation: Option<&str>,
    ) -> Result<WriteOutcome> {
        let pos = Position::of(key);
        let mut inner = self.lock();
        let stored = inner.entry(&pos).cloned();
        let view = match &stored {
            None => None,
            Some(Entry::Live { mapping, .. }) => Some(Stored::Live(mapping)),
            Some(Entry::Tomb { version, .. }) => Some(Stored::Tomb { version: *version }),
        };
        let outcome = rules::decide_put(view, m);
        let previous = match stored {
            Some(Entry::Live { mapping, .. }) => Some(mapping),
            _ => None,
        };
        match outcome {
            WriteOutcome::Applied => {
                inner.maps.insert(
                    pos,
                    Entry::Live {
                        mapping: m.clone(),
                        generation: sync_generation.map(str::to_owned),
                    },
                );
            }
            WriteOutcome::Duplicate => {
                if let (Some(g), Some(Entry::Live { generation, .. })) =
                    (sync_generation, inner.maps.get_mut(&pos))
                {
                    *generation = Some(g.to_owned());
                }
            }
            WriteOutcome::Stale => {}
        }
        if key.kind == MapKind::Pmi && outcome != WriteOutcome::Stale {
            if let Some(prev) = previous
                && (prev.account_id != m.account_id || prev.owner_id != m.owner_id)
            {
                inner.pmi_del(&prev.account_id, &prev.owner_id, key.id, m.version_ms);
            }
            inner.pmi_set(&m.account_id, &m.owner_id, key.id, m.version_ms);
        }
        Ok(outcome)
    }

    async fn remove_mapping(
        &self,
        key: MapKey,
        account_id: &str,
        version_ms: i64,
    ) -> Result<WriteOutcome> {
        let pos = Position::of(key);
        let mut inner = self.lock();
        let stored = inner.entry(&pos).cloned();
        let view = match &stored {
            None => None,
            Some(Entry::Live { mapping, .. }) => Some(Stored::Live(mapping)),
            Some(Entry::Tomb { version, .. }) => Some(Stored::Tomb { version: *version }),
        };
        let outcome = rules::decide_remove(view, account_id, version_ms);
        if outcome == WriteOutcome::Applied {
            inner.maps.insert(
                pos,
                Entry::Tomb {
                    version: version_ms,
                    expires: Instant::now() + TOMBSTONE_TTL,
                },
            );
            if let (MapKind::Pmi, Some(Entry::Live { mapping, .. })) = (key.kind, stored) {
                inner.pmi_del(account_id, &mapping.owner_id, key.id, version_ms);
            }
        }
        Ok(outcome)
    }

    async fn get_mapping(&self, key: MapKey) -> Result<Option<Mapping>> {
        let mut inner = self.lock();
        Ok(match inner.entry(&Position::of(key)) {
            Some(Entry::Live { mapping, .. }) => Some(mapping.clone()),
            _ => None,
        })
    }

    async fn pmi_of_user(&self, account_id: &str, user_id: &str) -> Result<Option<MeetingId>> {
        let mut inner = self.lock();
        let Some((pmi, _)) = inner
            .pmi_of_user
            .get(&(account_id.to_owned(), user_id.to_owned()))
            .copied()
        else {
            return Ok(None);
        };
        Ok(match inner.entry(&Position::of(MapKey::pmi(pmi))) {
            Some(Entry::Live { mapping, .. })
                if mapping.account_id == account_id && mapping.owner_id == user_id =>
            {
                Some(pmi)
            }
            _ => None,
        })
    }

    async fn list_mappings(
        &self,
        account_id: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(MapKey, Mapping)>, Option<String>)> {
        let start = match cursor {
            Some(c) => Bound::Excluded(Position::from_cursor(c)?),
            None => Bound::Unbounded,
        };
        let inner = self.lock();
        let mut page = Vec::new();
        for (pos, entry) in inner.maps.range((start, Bound::Unbounded)) {
            let Entry::Live { mapping, .. } = entry else {
                continue;
            };
            if account_id.is_some_and(|a| a != mapping.account_id) {
                continue;
            }
            let key = parse_member(&pos.member)
                .ok_or_else(|| StoreError::corrupt(&pos.member, "bad member"))?;
            page.push((pos.clone(), key, mapping.clone()));
            if page.len() > limit {
                break;
            }
        }
        Ok(finish_page(page, limit))
    }

    async fn count_mappings(&self, account_id: &str) -> Result<u64> {
        let inner = self.lock();
        let n = inner
            .maps
            .values()
            .filter(
                |e| matches!(e, Entry::Live { mapping, .. } if mapping.account_id == account_id),
            )
            .count();
        Ok(n as u64)
    }

    async fn prune_unseen(
        &self,
        account_id: &str,
        sync_generation: &str,
        sync_started_ms: i64,
    ) -> Result<u64> {
        let tomb_version = sync_started_ms - 1;
        let mut inner = self.lock();
        let doomed: Vec<(Position, String)> = inner
            .maps
            .iter()
            .filter_map(|(pos, e)| match e {
                Entry::Live {
                    mapping,
                    generation,
                } if mapping.account_id == account_id
                    && generation.as_deref() != Some(sync_generation)
                    && mapping.version_ms < sync_started_ms =>
                {
                    Some((pos.clone(), mapping.owner_id.clone()))
                }
                _ => None,
            })
            .collect();
        let expires = Instant::now() + TOMBSTONE_TTL;
        for (pos, owner) in &doomed {
            inner.maps.insert(
                pos.clone(),
                Entry::Tomb {
                    version: tomb_version,
                    expires,
                },
            );
            if let Some(key) = parse_member(&pos.member)
                && key.kind == MapKind::Pmi
            {
                inner.pmi_del(account_id, owner, key.id, tomb_version);
            }
        }
        Ok(doomed.len() as u64)
    }

    async fn purge_account_mappings(&self, account_id: &str) -> Result<u64> {
        let mut inner = self.lock();
        let before = inner.maps.len();
        inner.maps.retain(
            |_, e| !matches!(e, Entry::Live { mapping, .. } if mapping.account_id == account_id),
        );
        inner.pmi_of_user.retain(|(a, _), _| a != account_id);
        Ok((before - inner.maps.len()) as u64)
    }

    async fn put_directory_user(&self, user: &DirectoryUser) -> Result<bool> {
        let mut inner = self.lock();
        let stored = inner.dir_entry(&user.user_id).cloned();
        let view = match &stored {
            None => None,
            Some(DirEntry::Live(u)) => Some(StoredUser::Live(u)),
            Some(DirEntry::Tomb { version, .. }) => Some(StoredUser::Tomb { version: *version }),
        };
        if !directory::decide_put(view, user) {
            return Ok(false);
        }
        if let Some(DirEntry::Live(prev)) = &stored {
            inner.dir_unindex(prev);
        }
        if let Some(e) = &user.email {
            inner
                .dir_email
                .insert(directory::normalize(e), user.user_id.clone());
        }
        if let Some(n) = &user.vanity_name {
            inner
                .dir_vanity
                .insert(directory::normalize(n), user.user_id.clone());
        }
        inner
            .directory
            .insert(user.user_id.clone(), DirEntry::Live(user.clone()));
        Ok(true)
    }

    async fn remove_directory_user(
        &self,
        account_id: &str,
        user_id: &str,
        version: i64,
    ) -> Result<bool> {
        let mut inner = self.lock();
        let stored = inner.dir_entry(user_id).cloned();
        let view = match &stored {
            None => None,
            Some(DirEntry::Live(u)) => Some(StoredUser::Live(u)),
            Some(DirEntry::Tomb { version, .. }) => Some(StoredUser::Tomb { version: *version }),
        };
        if !directory::decide_remove(view, account_id, version) {
            return Ok(false);
        }
        if let Some(DirEntry::Live(prev)) = &stored {
            inner.dir_unindex(prev);
        }
        inner.directory.insert(
            user_id.to_owned(),
            DirEntry::Tomb {
                version,
                expires: Instant::now() + TOMBSTONE_TTL,
            },
        );
        Ok(true)
    }

    async fn find_directory_user(&self, key: &DirectoryKey) -> Result<Option<DirectoryUser>> {
        let mut inner = self.lock();
        let user_id = match key {
            DirectoryKey::UserId(id) => Some(id.clone()),
            DirectoryKey::Email(e) => inner.dir_email.get(&directory::normalize(e)).cloned(),
            DirectoryKey::Vanity(n) => inner.dir_vanity.get(&directory::normalize(n)).cloned(),
        };
        let Some(user_id) = user_id else {
            return Ok(None);
        };
        Ok(match inner.dir_entry(&user_id) {
            Some(DirEntry::Live(u)) => Some(u.clone()),
            _ => None,
        })
    }

    async fn purge_account_directory(&self, account_id: &str) -> Result<u64> {
        let mut inner = self.lock();
        let doomed: Vec<DirectoryUser> = inner
            .directory
            .values()
            .filter_map(|e| match e {
                DirEntry::Live(u) if u.account_id == account_id => Some(u.clone()),
                _ => None,
            })
            .collect();
        for u in &doomed {
            inner.dir_unindex(u);
            inner.directory.remove(&u.user_id);
        }
        Ok(doomed.len() as u64)
    }

    async fn prune_directory(&self, account_id: &str, sync_started_ms: i64) -> Result<u64> {
        let mut inner = self.lock();
        let stale: Vec<DirectoryUser> = inner
            .directory
            .values()
            .filter_map(|e| match e {
                DirEntry::Live(u) if u.account_id == account_id && u.version < sync_started_ms => {
                    Some(u.clone())
                }
                _ => None,
            })
            .collect();
        for u in &stale {
            inner.dir_unindex(u);
            inner.directory.insert(
                u.user_id.clone(),
                DirEntry::Tomb {
                    version: sync_started_ms - 1,
                    expires: Instant::now() + TOMBSTONE_TTL,
                },
            );
        }
        Ok(stale.len() as u64)
    }

    async fn upsert_account(&self, rec: &AccountRecord) -> Result<()> {
        self.lock()
            .accounts
            .insert(rec.account_id.clone(), rec.clone());
        Ok(())
    }

    async fn account(&self, account_id: &str) -> Result<Option<AccountRecord>> {
        Ok(self.lock().accounts.get(account_id).cloned())
    }

    async fn list_accounts(&self) -> Result<Vec<AccountRecord>> {
        Ok(self.lock().accounts.values().cloned().collect())
    }

    async fn set_account_status(
        &self,
        account_id: &str,
        status: AccountStatus,
        last_error: Option<&str>,
    ) -> Result<()> {
        let mut inner = self.lock();
        let rec = inner
            .accounts
            .get_mut(account_id)
            .ok_or_else(|| StoreError::AccountNotFound(account_id.to_owned()))?;
        rec.status = status;
        rec.last_error = last_error.map(str::to_owned);
        Ok(())
    }

    async fn start_sync(
        &self,
        account_id: &str,
        generation: &str,
        users_total: u64,
        started_at_ms: i64,
    ) -> Result<()> {
        let mut inner = self.lock();
        let rec = inner
            .accounts
            .get_mut(account_id)
            .ok_or_else(|| StoreError::AccountNotFound(account_id.to_owned()))?;
        rec.sync = SyncStatus {
            state: SyncState::InProgress,
            generation: generation.to_owned(),
            users_total,
            users_done: 0,
            started_at_ms: Some(started_at_ms),
            finished_at_ms: None,
            last_error: None,
        };
        Ok(())
    }

    async fn add_sync_progress(
        &self,
        account_id: &str,
        generation: &str,
        users_done: u64,
    ) -> Result<SyncStatus> {
        let mut inner = self.lock();
        let Some(rec) = inner.accounts.get_mut(account_id) else {
            return Ok(SyncStatus::default());
        };
        if rec.sync.generation == generation {
            rec.sync.users_done = rec.sync.users_done.saturating_add(users_done);
        }
        Ok(rec.sync.clone())
    }

    async fn finish_sync(
        &self,
        account_id: &str,
        generation: &str,
        state: SyncState,
        error: Option<&str>,
        at_ms: i64,
    ) -> Result<()> {
        let mut inner = self.lock();
        if let Some(rec) = inner.accounts.get_mut(account_id)
            && rec.sync.generation == generation
        {
            rec.sync.state = state;
            rec.sync.finished_at_ms = Some(at_ms);
            rec.sync.last_error = error.map(str::to_owned);
        }
        Ok(())
    }

    async fn delete_account(&self, account_id: &str) -> Result<()> {
        let mut inner = self.lock();
        inner.accounts.remove(account_id);
        inner.credentials.remove(account_id);
        inner.blocks.remove(account_id);
        Ok(())
    }

    async fn put_credentials(
        &self,
        account_id: &str,
        creds: &StoredCredentials,
        fence: Option<&Lease>,
    ) -> Result<bool> {
        let mut inner = self.lock();
        if let Some(lease) = fence
            && !inner.lock_held(lease)
        {
            return Ok(false);
        }
        inner
            .credentials
            .insert(account_id.to_owned(), creds.clone());
        Ok(true)
    }

    async fn put_credentials_if_newer(
        &self,
        account_id: &str,
        creds: &StoredCredentials,
    ) -> Result<bool> {
        let mut inner = self.lock();
        if let Some(current) = inner.credentials.get(account_id)
            && current.refreshed_at_ms >= creds.refreshed_at_ms
        {
            return Ok(false);
        }
        inner
            .credentials
            .insert(account_id.to_owned(), creds.clone());
        Ok(true)
    }

    async fn credentials(&self, account_id: &str) -> Result<Option<StoredCredentials>> {
        Ok(self.lock().credentials.get(account_id).cloned())
    }

    async fn try_lock(&self, name: &str, ttl: Duration) -> Result<Option<Lease>> {
        let mut inner = self.lock();
        let now = Instant::now();
        if matches!(inner.locks.get(name), Some((_, expires)) if *expires > now) {
            return Ok(None);
        }
        let fence = {
            let f = inner.fences.entry(name.to_owned()).or_insert(0);
            *f += 1;
            *f
        };
        inner
            .locks
            .insert(name.to_owned(), (fence, now + ttl_ms(ttl)));
        Ok(Some(Lease {
            name: name.to_owned(),
            fence,
        }))
    }

    async fn renew_lock(&self, lease: &Lease, ttl: Duration) -> Result<bool> {
        let mut inner = self.lock();
        if !inner.lock_held(lease) {
            return Ok(false);
        }
        inner.locks.insert(
            lease.name.clone(),
            (lease.fence, Instant::now() + ttl_ms(ttl)),
        );
        Ok(true)
    }

    async fn unlock(&self, lease: &Lease) -> Result<bool> {
        let mut inner = self.lock();
        if !inner.lock_held(lease) {
            return Ok(false);
        }
        inner.locks.remove(&lease.name);
        Ok(true)
    }

    async fn admit(&self, account_id: &str, label: &str, limit: RateLimit) -> Result<Admission> {
        let interval = rules::emission_interval_us(limit)?;
        let now = now_us();
        let mut inner = self.lock();
        if let Some(until_ms) = inner.blocks.get(account_id).copied() {
            let until_us = until_ms.saturating_mul(1000);
            if until_us > now {
                return Ok(Admission::Wait(micros(until_us - now)));
            }
        }
        let k = (account_id.to_owned(), label.to_owned());
        match rules::gcra(now, inner.tats.get(&k).copied(), interval, limit.burst) {
            Ok(new_tat) => {
                inner.tats.insert(k, new_tat);
                Ok(Admission::Allowed)
            }
            Err(wait_us) => Ok(Admission::Wait(micros(wait_us))),
        }
    }

    async fn block_account(&self, account_id: &str, until_ms: i64) -> Result<()> {
        if until_ms <= now_ms() {
            return Ok(());
        }
        let mut inner = self.lock();
        let slot = inner
            .blocks
            .entry(account_id.to_owned())
            .or_insert(until_ms);
        *slot = (*slot).max(until_ms);
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
    async fn durability(&self) -> Result<Durability> {
        Ok(Durability::InProcess)
    }
}

/// Cut a page fetched with one extra item: the extra one only tells that
/// there is more, and the cursor is the last item kept.
pub(crate) fn finish_page(
    mut page: Vec<(Position, MapKey, Mapping)>,
    limit: usize,
) -> (Vec<(MapKey, Mapping)>, Option<String>) {
    let more = page.len() > limit;
    page.truncate(limit);
    let cursor = if more {
        page.last().map(|(pos, _, _)| pos.to_cursor())
    } else {
        None
    };
    (page.into_iter().map(|(_, k, m)| (k, m)).collect(), cursor)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::model::Source;

    fn key() -> MapKey {
        MapKey::meeting(MeetingId::new(85_012_345_678).unwrap())
    }

    fn m(v: i64) -> Mapping {
        Mapping {
            account_id: "acc".into(),
            owner_id: "host".into(),
            source: Source::Webhook,
            version_ms: v,
            written_at_ms: 0,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn locks_expire_with_their_ttl() {
        let s = MemoryStore::new();
        let first = s
            .try_lock("l", Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(
            s.try_lock("l", Duration::from_secs(10))
                .await
                .unwrap()
                .is_none()
        );
        assert!(s.renew_lock(&first, Duration::from_secs(10)).await.unwrap());
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(
            s.try_lock("l", Duration::from_secs(10))
                .await
                .unwrap()
                .is_none()
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        // Expired: the holder can neither renew nor write fenced; a new
        // holder gets a greater fence.
        assert!(!s.renew_lock(&first, Duration::from_secs(10)).await.unwrap());
        let second = s
            .try_lock("l", Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();
        assert!(second.fence > first.fence);
        assert!(!s.unlock(&first).await.unwrap());
        assert!(s.unlock(&second).await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn tombstones_expire_after_seven_days() {
        let s = MemoryStore::new();
        assert_eq!(
            s.remove_mapping(key(), "acc", 10).await.unwrap(),
            WriteOutcome::Applied
        );
        tokio::time::advance(TOMBSTONE_TTL - Duration::from_secs(1)).await;
        assert_eq!(
            s.put_mapping(key(), &m(5), None).await.unwrap(),
            WriteOutcome::Stale
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        // Gone: an old event (long past Zoom's retries) is accepted again.
        assert_eq!(
            s.put_mapping(key(), &m(5), None).await.unwrap(),
            WriteOutcome::Applied
        );
    }

    #[test]
    fn pages_cut_at_the_limit_with_a_cursor_only_when_more_remain() {
        let row = |n: u64| {
            let k = MapKey::meeting(MeetingId::new(100_000_000 + n).unwrap());
            (Position::of(k), k, m(1))
        };
        let (page, next) = finish_page(vec![row(1), row(2), row(3)], 2);
        assert_eq!(page.len(), 2);
        assert_eq!(next, Some(Position::of(page[1].0).to_cursor()));
        let (page, next) = finish_page(vec![row(1), row(2)], 2);
        assert_eq!((page.len(), next), (2, None));
    }
}
