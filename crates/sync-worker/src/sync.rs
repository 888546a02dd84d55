//! Full syncs: `full_sync` lists an account's users and fans out one
//! `sync_user` job per user; each `sync_user` writes the user's meetings
//! and PMI under the sync's generation and counts itself; the job whose
//! count completes the sync prunes what the generation did not see.
//!
//! Zoom calls go through [`ZoomAccess::call`], so every call of every
//! worker takes its share of the account's one rate budget in Redis, and a
//! 429 stops all of them until `Retry-After`. Within one job calls are
//! sequential; parallelism comes from many jobs on many workers.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use rectoken_bus::OutgoingMessage;
use rectoken_domain::account_event::AccountEventKind;
use rectoken_domain::jobs::{JOB_HEADER, SyncJob};
use rectoken_domain::meeting_id::MeetingId;
use rectoken_store::{
    AccountStatus, DirectoryUser, Lease, MapKey, Mapping, Source, Store, StoreError, SyncState,
};
use rectoken_zoom::endpoint::{LABEL_GET_USER, LABEL_LIST_MEETINGS, LABEL_LIST_USERS};
use rectoken_zoom::{ListType, UserSummary};
use secrecy::SecretString;
use tokio::time::Instant;

use crate::plan::{self, Failure, FullSyncDecision, SyncUserDecision};
use crate::worker::{Step, SyncHandler, now_ms};

/// Zoom's largest page (docs/zoom.md §5, §6).
pub const PAGE_SIZE: u32 = 300;
/// Metric: wall time of a full sync, start to finish.
pub const METRIC_DURATION: &str = "rectoken_sync_duration_seconds";
/// Metric: live mappings of an account after its last sync.
pub const METRIC_MAPPINGS: &str = "rectoken_sync_mappings";
/// Mapping writes in flight at once within one job.
const WRITE_CONCURRENCY: usize = 16;

/// What recording a synced user in the directory came to.
enum DirectoryOutcome {
    Recorded,
    /// Zoom says the user no longer exists.
    Gone,
    /// Try the job again.
    Retry(String),
}

/// The lock that keeps two full syncs of one account from starting at once.
pub fn sync_lock_name(account_id: &str) -> String {
    format!("sync:{account_id}")
}

/// A fresh, unique generation ID (time-ordered, with 64 random bits).
pub fn new_generation(now_ms: i64) -> String {
    format!("{now_ms:x}-{:016x}", rand::random::<u64>())
}

/// The `full_sync` job message for an account.
pub fn full_sync_message(
    sync_queue: &str,
    account_id: &str,
    reason: &str,
    requested_at_ms: i64,
) -> OutgoingMessage {
    job_message(
        sync_queue,
        &SyncJob::FullSync {
            account_id: account_id.to_owned(),
            reason: reason.to_owned(),
            requested_at_ms,
        },
    )
}

/// A job as a message to the default exchange, routed to `queue` (the sync
/// queue for full syncs, the sync-users queue for user jobs).
pub fn job_message(queue: &str, job: &SyncJob) -> OutgoingMessage {
    let kind = match job {
        SyncJob::FullSync { .. } => "full_sync",
        SyncJob::SyncUser { .. } => "sync_user",
    };
    let body = serde_json::to_vec(job).unwrap_or_default();
    OutgoingMessage::json("", queue, body, job.message_id()).with_header(JOB_HEADER, kind)
}

/// Run `work` while keeping `lease` alive (renewed every third of `ttl`).
/// A failed renewal is only logged: the generation check keeps a sync
/// that lost its lock from corrupting a newer one.
async fn holding<T>(
    store: &dyn Store,
    lease: &Lease,
    ttl: Duration,
    work: impl Future<Output = T>,
) -> T {
    let mut every = tokio::time::interval((ttl / 3).max(Duration::from_millis(10)));
    every.tick().await;
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = every.tick() => match store.renew_lock(lease, ttl).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!(lock = %lease.name, "lost the sync lock while listing users"),
                Err(e) => tracing::warn!(lock = %lease.name, error = %e, "could not renew the sync lock"),
            },
        }
    }
}

impl SyncHandler {
    pub(crate) async fn handle_job(&self, job: SyncJob, message_id: &str) -> (&'static str, Step) {
        match job {
            SyncJob::FullSync {
                account_id,
                reason,
                requested_at_ms,
            } => {
                tracing::info!(account_id = %account_id, reason = %reason, message_id, "full sync requested");
                let step = match self.full_sync(&account_id, requested_at_ms).await {
                    Ok(step) => step,
                    Err(e) => Step::store_error(&e),
                };
                ("full_sync", step)
            }
            SyncJob::SyncUser {
                account_id,
                generation,
                sync_started_ms,
                user_id,
                pmi,
                email,
            } => {
                let step = match self
                    .sync_user(
                        &account_id,
                        &generation,
                        sync_started_ms,
                        &user_id,
                        pmi,
                        email,
                    )
                    .await
                {
                    Ok(step) => step,
                    Err(e) => Step::store_error(&e),
                };
                ("sync_user", step)
            }
        }
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.settings.zoom_deadline
    }

    async fn full_sync(&self, account_id: &str, requested_at_ms: i64) -> Result<Step, StoreError> {
        let Some(record) = self.store.account(account_id).await? else {
            return Ok(Step::skip("unknown_account"));
        };
        if record.status == AccountStatus::Disconnected {
            return Ok(Step::skip("disconnected"));
        }
        let ttl = self.settings.sync_lock_ttl;
        let Some(lease) = self
            .store
            .try_lock(&sync_lock_name(account_id), ttl)
            .await?
        else {
            return Ok(Step::skip("sync_running"));
        };
        let result = holding(
            self.store.as_ref(),
            &lease,
            ttl,
            self.full_sync_locked(account_id, requested_at_ms),
        )
        .await;
        if let Err(e) = self.store.unlock(&lease).await {
            tracing::warn!(account_id, error = %e, "could not release the sync lock; it expires by itself");
        }
        result
    }

    async fn full_sync_locked(
        &self,
        account_id: &str,
        requested_at_ms: i64,
    ) -> Result<Step, StoreError> {
        // Re-read under the lock: a sync may have started meanwhile.
        let Some(record) = self.store.account(account_id).await? else {
            return Ok(Step::skip("unknown_account"));
        };
        let started = now_ms();
        if let FullSyncDecision::Skip(label) = plan::full_sync_decision(
            &record.sync,
            requested_at_ms,
            started,
            self.settings.stale_floor,
        ) {
            return Ok(Step::skip(label));
        }
        // The start is taken before listing: a user created while we list
        // may be missed by the list, and the meetings webhooks add for them
        // meanwhile must then be newer than the start to survive the prune.
        let generation = new_generation(started);
        let users = match self.list_users(account_id).await {
            Ok(users) => users,
            Err(Failure::Transient(reason)) => return Ok(Step::retry(reason)),
            Err(failure) => {
                let reason = match failure {
                    Failure::Fatal(reason) | Failure::Transient(reason) => reason,
                    Failure::UserGone => "GET /users answered 404".to_owned(),
                };
                self.store
                    .start_sync(account_id, &generation, 0, started)
                    .await?;
                self.fail(account_id, &generation, &reason, 1).await?;
                return Ok(Step::skip("sync_failed"));
            }
        };
        let total = users.len() as u64;
        self.store
            .start_sync(account_id, &generation, total, started)
            .await?;
        tracing::info!(account_id, generation = %generation, users = total, "full sync started");
        if users.is_empty() {
            self.finish(account_id, &generation, started).await?;
            return Ok(Step::done("completed"));
        }
        // Their own queue: webhook events on the sync queue go on being
        // handled while thousands of these wait for the account's rate budget.
        let queue = self.bus.topology().sync_users_queue();
        let published = futures_util::stream::iter(users.into_iter().map(|u| {
            let job = SyncJob::SyncUser {
                account_id: account_id.to_owned(),
                generation: generation.clone(),
                sync_started_ms: started,
                user_id: u.id,
                pmi: u.pmi,
                email: u.email,
            };
            self.bus.publish(job_message(&queue, &job))
        }))
        .buffer_unordered(self.settings.fanout_concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await;
        if let Err(e) = published {
            // Fail this generation so the retried job starts a new one
            // instead of finding this one "running".
            let reason = format!("could not publish the sync_user jobs: {e}");
            self.fail(account_id, &generation, &reason, 1).await?;
            return Ok(Step::retry(reason));
        }
        Ok(Step::done("started"))
    }

    /// Every active user of the account, deduplicated (a user added while
    /// paging can shift a page boundary).
    async fn list_users(&self, account_id: &str) -> Result<Vec<UserSummary>, Failure> {
        // A user-managed app's connection (`account~user`) covers its own
        // user only, and such an app has no `user:read:list_users:admin`
        // to list with (docs/zoom.md, Scopes): read `/users/me` instead.
        if rectoken_domain::jobs::is_user_level_connection(account_id) {
            let me = self
                .access
                .call(
                    account_id,
                    LABEL_GET_USER,
                    self.deadline(),
                    |token: SecretString, zoom: rectoken_zoom::ZoomClient| async move {
                        zoom.me(&token).await
                    },
                )
                .await
                .map_err(|e| plan::classify_failure(&e))?;
            return Ok(vec![UserSummary {
                id: me.id,
                email: me.email,
                pmi: me.pmi,
                user_type: me.user_type,
                status: me.status,
            }]);
        }
        let mut users = Vec::new();
        let mut seen = HashSet::new();
        let mut page_token: Option<String> = None;
        let mut restarts = 0;
        loop {
            let result = self
                .access
                .call(
                    account_id,
                    LABEL_LIST_USERS,
                    self.deadline(),
                    |token: SecretString, zoom: rectoken_zoom::ZoomClient| {
                        let page_token = page_token.clone();
                        async move {
                            zoom.list_users(&token, page_token.as_deref(), PAGE_SIZE)
                                .await
                        }
                    },
                )
                .await;
            let page = match result {
                Ok(page) => page,
                // The cursor outlived Zoom's 15 minutes (a slow, rate-limited
                // listing): list again from the start; `seen` drops repeats.
                Err(e)
                    if page_token.is_some()
                        && plan::is_expired_cursor(&e)
                        && restarts < plan::MAX_CURSOR_RESTARTS =>
                {
                    restarts += 1;
                    tracing::warn!(
                        account_id,
                        restarts,
                        "user list cursor expired; listing again"
                    );
                    page_token = None;
                    continue;
                }
                Err(e) => return Err(plan::classify_failure(&e)),
            };
            if page.skipped > 0 {
                tracing::warn!(
                    account_id,
                    skipped = page.skipped,
                    "unreadable users left out of the sync"
                );
            }
            users.extend(page.users.into_iter().filter(|u| seen.insert(u.id.clone())));
            match page.next_page_token {
                Some(t) => page_token = Some(t),
                None => return Ok(users),
            }
        }
    }

    async fn sync_user(
        &self,
        account_id: &str,
        generation: &str,
        sync_started_ms: i64,
        user_id: &str,
        pmi: Option<MeetingId>,
        email: Option<String>,
    ) -> Result<Step, StoreError> {
        let Some(record) = self.store.account(account_id).await? else {
            return Ok(Step::skip("unknown_account"));
        };
        if let SyncUserDecision::Skip(label) = plan::sync_user_decision(&record.sync, generation) {
            return Ok(Step::skip(label));
        }
        let mut seen: HashSet<MeetingId> = HashSet::new();
        let mut gone = false;
        'lists: for kind in [ListType::Scheduled, ListType::Upcoming] {
            let mut page_token: Option<String> = None;
            let mut restarts = 0;
            loop {
                let result = self
                    .access
                    .call(
                        account_id,
                        LABEL_LIST_MEETINGS,
                        self.deadline(),
                        |token: SecretString, zoom: rectoken_zoom::ZoomClient| {
                            let page_token = page_token.clone();
                            async move {
                                // The version of what this page says: the time
                                // we asked, so a change Zoom made (and a webhook
                                // reported) after that wins over it.
                                let read_at = now_ms();
                                zoom.list_meetings(
                                    &token,
                                    user_id,
                                    kind,
                                    page_token.as_deref(),
                                    PAGE_SIZE,
                                )
                                .await
                                .map(|page| (read_at, page))
                            }
                        },
                    )
                    .await;
                let (read_at, page) = match result {
                    Ok(ok) => ok,
                    // An expired cursor: list again from the first page; the
                    // meetings already written are skipped by `seen`.
                    Err(e)
                        if page_token.is_some()
                            && plan::is_expired_cursor(&e)
                            && restarts < plan::MAX_CURSOR_RESTARTS =>
                    {
                        restarts += 1;
                        tracing::warn!(
                            account_id,
                            user_id,
                            restarts,
                            "meeting list cursor expired; listing again"
                        );
                        page_token = None;
                        continue;
                    }
                    Err(e) => match plan::classify_failure(&e) {
                        Failure::UserGone => {
                            gone = true;
                            break 'lists;
                        }
                        Failure::Transient(reason) => return Ok(Step::retry(reason)),
                        Failure::Fatal(reason) => {
                            let reason =
                                format!("listing the meetings of user {user_id}: {reason}");
                            self.fail(account_id, generation, &reason, 1).await?;
                            return Ok(Step::skip("sync_failed"));
                        }
                    },
                };
                let fresh: Vec<_> = page
                    .meetings
                    .into_iter()
                    .filter(|m| seen.insert(m.id))
                    .collect();
                futures_util::stream::iter(fresh.into_iter().map(|m| {
                    let mapping = Mapping {
                        account_id: account_id.to_owned(),
                        owner_id: m.host_id,
                        source: Source::Sync,
                        version_ms: read_at,
                        written_at_ms: now_ms(),
                    };
                    async move {
                        self.store
                            .put_mapping(MapKey::meeting(m.id), &mapping, Some(generation))
                            .await
                    }
                }))
                .buffer_unordered(WRITE_CONCURRENCY)
                .try_collect::<Vec<_>>()
                .await?;
                match page.next_page_token {
                    Some(t) => page_token = Some(t),
                    None => break,
                }
            }
        }
        if !gone {
            match self
                .record_directory_user(account_id, sync_started_ms, user_id, pmi, email)
                .await?
            {
                DirectoryOutcome::Recorded => {}
                DirectoryOutcome::Gone => gone = true,
                DirectoryOutcome::Retry(reason) => return Ok(Step::retry(reason)),
            }
        }
        if gone {
            tracing::info!(
                account_id,
                user_id,
                "user no longer exists; counted as synced"
            );
        } else if let Some(pmi) = pmi {
            // The PMI was read by the `full_sync` job's user listing, which
            // ran after the sync started: version it by the start, so a PMI
            // change reported by a webhook since then wins over it.
            let mapping = Mapping {
                account_id: account_id.to_owned(),
                owner_id: user_id.to_owned(),
                source: Source::Sync,
                version_ms: sync_started_ms,
                written_at_ms: now_ms(),
            };
            self.store
                .put_mapping(MapKey::pmi(pmi), &mapping, Some(generation))
                .await?;
        }
        if self.purged_meanwhile(account_id).await? {
            return Ok(Step::skip("unknown_account"));
        }
        let status = self
            .store
            .add_sync_progress(account_id, generation, 1)
            .await?;
        if plan::should_finish(&status, generation) {
            self.finish(
                account_id,
                generation,
                status.started_at_ms.unwrap_or(sync_started_ms),
            )
            .await?;
            return Ok(Step::done("completed"));
        }
        Ok(Step::done(if gone { "user_gone" } else { "synced" }))
    }

    /// Record a synced user in the user directory: `GET /users/{id}` for the
    /// personal link's vanity name (the user list lacks it), else what the
    /// list said. Versioned by the sync's start, so a `user.updated` since
    /// then wins.
    async fn record_directory_user(
        &self,
        account_id: &str,
        sync_started_ms: i64,
        user_id: &str,
        pmi: Option<MeetingId>,
        email: Option<String>,
    ) -> Result<DirectoryOutcome, StoreError> {
        let fetched = self
            .access
            .call(
                account_id,
                LABEL_GET_USER,
                self.deadline(),
                |token: SecretString, zoom: rectoken_zoom::ZoomClient| async move {
                    zoom.get_user(&token, user_id).await
                },
            )
            .await;
        let (email, vanity_name) = match fetched {
            Ok(u) => (u.email.or(email), u.vanity_name),
            Err(e) => match plan::classify_failure(&e) {
                Failure::UserGone => return Ok(DirectoryOutcome::Gone),
                Failure::Transient(reason) => return Ok(DirectoryOutcome::Retry(reason)),
                Failure::Fatal(reason) => {
                    tracing::warn!(account_id, user_id, reason = %reason, "could not read the user; the directory keeps the list's fields");
                    (email, None)
                }
            },
        };
        let user = DirectoryUser {
            account_id: account_id.to_owned(),
            user_id: user_id.to_owned(),
            email,
            vanity_name,
            pmi,
            version: sync_started_ms,
        };
        self.store.put_directory_user(&user).await?;
        Ok(DirectoryOutcome::Recorded)
    }

    /// Complete a sync: prune what the generation did not see, mark it
    /// completed, record its duration and the account's mapping count.
    async fn finish(
        &self,
        account_id: &str,
        generation: &str,
        started_ms: i64,
    ) -> Result<(), StoreError> {
        let pruned = self
            .store
            .prune_unseen(account_id, generation, started_ms)
            .await?;
        // Users the sync did not list (and no event wrote since its start)
        // left the account while their webhook was lost.
        let users_pruned = self.store.prune_directory(account_id, started_ms).await?;
        let now = now_ms();
        self.store
            .finish_sync(account_id, generation, SyncState::Completed, None, now)
            .await?;
        let seconds = (now.saturating_sub(started_ms)).max(0) as f64 / 1000.0;
        metrics::histogram!(METRIC_DURATION).record(seconds);
        let mappings = self.store.count_mappings(account_id).await?;
        metrics::gauge!(METRIC_MAPPINGS, "account" => account_id.to_owned()).set(mappings as f64);
        tracing::info!(
            account_id,
            generation,
            pruned,
            users_pruned,
            mappings,
            seconds,
            "full sync completed"
        );
        // The event needs the app; a failed read costs the event, never the
        // sync's own outcome.
        if let Ok(Some(record)) = self.store.account(account_id).await {
            self.access.vault().events().emit(
                account_id,
                &record.app,
                AccountEventKind::SyncCompleted {
                    users: record.sync.users_total,
                    mappings,
                    pruned,
                    duration_ms: u64::try_from(now.saturating_sub(started_ms)).unwrap_or(0),
                },
            );
        }
        Ok(())
    }

    /// A sync job's retries ran out (a transient failure, such as Zoom
    /// answering 5xx, that lasted the whole retry budget: at the defaults
    /// 10 deliveries x 5 attempts, each waiting up to `zoom_deadline` on
    /// Zoom, so well over an hour): the sync failed for good. Recorded on the account's sync
    /// status and reported as `account.sync_failed`, so an operator hears of
    /// a sync failing for hours and not only of one that fails at once.
    ///
    /// A full sync usually fails before its generation starts (listing the
    /// users), so it gets a generation of its own to carry the failure;
    /// unless a sync is running meanwhile (another request's), which then
    /// speaks for the account. A user job fails its generation if that is
    /// still the running one.
    pub(crate) async fn job_given_up(
        &self,
        job: &SyncJob,
        reason: &str,
        deliveries: u32,
    ) -> Result<(), StoreError> {
        let account_id = job.account_id();
        let Some(record) = self.store.account(account_id).await? else {
            return Ok(());
        };
        let running = record.sync.state == SyncState::InProgress;
        match job {
            SyncJob::FullSync { .. } if !running => {
                let now = now_ms();
                let generation = new_generation(now);
                self.store
                    .start_sync(account_id, &generation, 0, now)
                    .await?;
                self.fail(account_id, &generation, reason, deliveries).await
            }
            SyncJob::SyncUser {
                generation,
                user_id,
                ..
            } if running && record.sync.generation == *generation => {
                let reason = format!("syncing user {user_id}: {reason}");
                self.fail(account_id, generation, &reason, deliveries).await
            }
            _ => Ok(()),
        }
    }

    /// End `generation` as failed for `reason` after `attempts` deliveries,
    /// and report it (`account.sync_failed`).
    async fn fail(
        &self,
        account_id: &str,
        generation: &str,
        reason: &str,
        attempts: u32,
    ) -> Result<(), StoreError> {
        tracing::warn!(account_id, generation, reason, "full sync failed");
        self.store
            .finish_sync(
                account_id,
                generation,
                SyncState::Failed,
                Some(reason),
                now_ms(),
            )
            .await?;
        // The event needs the app; a failed read costs the event, never the
        // sync's own outcome.
        if let Ok(Some(record)) = self.store.account(account_id).await {
            // Callers fail the generation on a failure no retry of the same
            // step mends (or whose retry starts a new generation), or once
            // the retries ran out (`job_given_up`).
            self.access.vault().events().emit(
                account_id,
                &record.app,
                AccountEventKind::SyncFailed {
                    reason: reason.to_owned(),
                    attempts,
                },
            );
        }
        Ok(())
    }
}
