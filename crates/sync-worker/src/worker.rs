//! [`SyncHandler`]: one step per `rectoken.sync` message. Webhook events
//! are planned by [`crate::plan`] and carried out here; sync jobs go to
//! [`crate::sync`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rectoken_bus::{Bus, Delivery};
use rectoken_domain::event::ZoomEvent;
use rectoken_runtime::{Handler, Outcome};
use rectoken_store::{
    DirectoryKey, DirectoryUser, MapKey, Mapping, Source, Store, StoreError, WriteOutcome,
};
use rectoken_vault::ZoomAccess;

use crate::plan::{self, EventPlan, Message, Op};
pub(crate) use rectoken_domain::clock::now_ms;

/// Metric: events and jobs handled, by `event` and `outcome`.
pub const METRIC_EVENTS: &str = "rectoken_sync_events_total";

/// Tunables of the handler (a subset of [`crate::SyncOptions`]).
#[derive(Debug, Clone)]
pub struct HandlerSettings {
    /// Deadline of one Zoom call, rate-limit waits and retries included.
    pub zoom_deadline: Duration,
    /// Floor of the time after which an in-progress sync counts as stuck.
    pub stale_floor: Duration,
    /// TTL of the per-account `sync:<account>` lock (renewed while held).
    pub sync_lock_ttl: Duration,
    /// Publishes of `sync_user` jobs in flight at once during a fan-out.
    pub fanout_concurrency: usize,
}

impl Default for HandlerSettings {
    fn default() -> Self {
        Self {
            zoom_deadline: Duration::from_secs(120),
            stale_floor: Duration::from_secs(3600),
            sync_lock_ttl: Duration::from_secs(60),
            fanout_concurrency: 64,
        }
    }
}

/// The sync worker's message handler.
#[derive(Clone)]
pub struct SyncHandler {
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) access: ZoomAccess,
    pub(crate) apps: Arc<HashMap<String, bool>>,
    pub(crate) settings: HandlerSettings,
}

/// What a step ended as: the runtime's outcome and the metric label.
pub(crate) struct Step {
    pub(crate) outcome: Outcome,
    pub(crate) label: &'static str,
}

impl Step {
    pub(crate) fn done(label: &'static str) -> Self {
        Self {
            outcome: Outcome::Done,
            label,
        }
    }
    pub(crate) fn skip(label: &'static str) -> Self {
        Self {
            outcome: Outcome::Skip(label),
            label,
        }
    }
    pub(crate) fn retry(reason: String) -> Self {
        Self {
            outcome: Outcome::Retry(reason),
            label: "retry",
        }
    }
    pub(crate) fn poison(reason: String) -> Self {
        Self {
            outcome: Outcome::Poison(reason),
            label: "poison",
        }
    }
    /// A store failure: retry while it may pass, else dead-letter. An
    /// account record that vanished meanwhile (deauthorized) is a skip.
    pub(crate) fn store_error(e: &StoreError) -> Self {
        if matches!(e, StoreError::AccountNotFound(_)) {
            Self::skip("unknown_account")
        } else if plan::store_failure_is_transient(e) {
            Self::retry(format!("store: {e}"))
        } else {
            Self::poison(format!("store: {e}"))
        }
    }
}

/// The combined result of an event's writes, for the metric label: applied
/// if any write changed something, else duplicate, else stale; `noop` when
/// there was nothing to write.
#[derive(Default)]
struct Writes {
    applied: bool,
    duplicate: bool,
    stale: bool,
}

/// A directory write's result as a map write outcome, for the metric label.
fn directory_outcome(applied: bool) -> WriteOutcome {
    if applied {
        WriteOutcome::Applied
    } else {
        WriteOutcome::Stale
    }
}

impl Writes {
    fn add(&mut self, w: WriteOutcome) {
        match w {
            WriteOutcome::Applied => self.applied = true,
            WriteOutcome::Duplicate => self.duplicate = true,
            WriteOutcome::Stale => self.stale = true,
        }
    }
    fn label(&self) -> &'static str {
        if self.applied {
            "applied"
        } else if self.duplicate {
            "duplicate"
        } else if self.stale {
            "stale"
        } else {
            "noop"
        }
    }
}

impl SyncHandler {
    /// A handler over the given dependencies. `apps` maps each configured
    /// Zoom app's name to whether it is user-level.
    pub fn new(
        bus: Arc<dyn Bus>,
        store: Arc<dyn Store>,
        access: ZoomAccess,
        apps: HashMap<String, bool>,
        settings: HandlerSettings,
    ) -> Self {
        Self {
            bus,
            store,
            access,
            apps: Arc::new(apps),
            settings,
        }
    }

    async fn handle_event(&self, delivery: &Delivery, event: &ZoomEvent) -> Step {
        let user_level = match plan::app_user_level(&self.apps, plan::app_header(delivery)) {
            Ok(u) => u,
            Err(reason) => return Step::poison(reason),
        };
        let app = plan::app_name(plan::app_header(delivery));
        match plan::plan_event(event, user_level, now_ms()) {
            EventPlan::Skip(label) => Step::skip(label),
            EventPlan::Poison(reason) => Step::poison(reason),
            EventPlan::Apply {
                connection,
                version_ms,
                receipt_time,
                ops,
            } => {
                if receipt_time {
                    tracing::debug!(account_id = %connection, "event without a time: versioned by its receipt time");
                }
                match self.apply(&connection, app, version_ms, &ops).await {
                    Ok(step) => step,
                    Err(e) => Step::store_error(&e),
                }
            }
            EventPlan::Deauthorize { connection, at_ms } => {
                // Who removed the app, for the account.deauthorized event.
                let user_id = match event {
                    ZoomEvent::AppDeauthorized { user_id, .. } => user_id.clone(),
                    _ => None,
                };
                match self.deauthorize(&connection, app, at_ms, user_id).await {
                    Ok(step) => step,
                    Err(e) => Step::store_error(&e),
                }
            }
        }
    }

    /// Apply an event's writes for a connected account.
    ///
    /// Events of accounts without a record are skipped (`unknown_account`):
    /// no token could be minted for their meetings, and mapping them would
    /// only make a join answer `account_disconnected` instead of
    /// `not_found`. The full sync at connect time picks their meetings up.
    ///
    /// Apps are fenced: an event that came through app B changes nothing of
    /// an account connected through app A (`other_app`). Zoom signs each
    /// app's events with that app's secret, so without the fence one app's
    /// webhook secret would reach every account.
    async fn apply(
        &self,
        connection: &str,
        app: &str,
        version_ms: i64,
        ops: &[Op],
    ) -> Result<Step, StoreError> {
        match self.store.account(connection).await? {
            None => return Ok(Step::skip("unknown_account")),
            Some(record) if record.app != app => {
                tracing::info!(account_id = %connection, app, connected_through = %record.app, "event of another app than the account's; ignored");
                return Ok(Step::skip("other_app"));
            }
            Some(_) => {}
        }
        let mut writes = Writes::default();
        for op in ops {
            match op {
                Op::Put { key, owner_id } => {
                    let m = Mapping {
                        account_id: connection.to_owned(),
                        owner_id: owner_id.clone(),
                        source: Source::Webhook,
                        version_ms,
                        written_at_ms: now_ms(),
                    };
                    writes.add(self.store.put_mapping(*key, &m, None).await?);
                }
                Op::Remove { key } => {
                    writes.add(
                        self.store
                            .remove_mapping(*key, connection, version_ms)
                            .await?,
                    );
                }
                Op::RemoveUserPmi { user_id, keep } => {
                    if let Some(pmi) = self.store.pmi_of_user(connection, user_id).await?
                        && Some(pmi) != *keep
                    {
                        writes.add(
                            self.store
                                .remove_mapping(MapKey::pmi(pmi), connection, version_ms)
                                .await?,
                        );
                    }
                }
                Op::UpdateDirectory {
                    user_id,
                    email,
                    vanity_name,
                    pmi,
                } => {
                    // `user.updated` carries only the changed fields: merge
                    // them over what the directory holds. Two updates of one
                    // user racing may lose one's field until the next sync;
                    // the version keeps the newer one's.
                    let current = self
                        .store
                        .find_directory_user(&DirectoryKey::UserId(user_id.clone()))
                        .await?
                        .filter(|u| u.account_id == connection);
                    let mut user = current.unwrap_or_else(|| DirectoryUser {
                        account_id: connection.to_owned(),
                        user_id: user_id.clone(),
                        email: None,
                        vanity_name: None,
                        pmi: None,
                        version: version_ms,
                    });
                    if email.is_some() {
                        user.email.clone_from(email);
                    }
                    if let Some(v) = vanity_name {
                        user.vanity_name = Some(v.clone()).filter(|v| !v.is_empty());
                    }
                    if pmi.is_some() {
                        user.pmi = *pmi;
                    }
                    user.version = version_ms;
                    writes.add(directory_outcome(
                        self.store.put_directory_user(&user).await?,
                    ));
                }
                Op::RemoveDirectory { user_id } => {
                    writes.add(directory_outcome(
                        self.store
                            .remove_directory_user(connection, user_id, version_ms)
                            .await?,
                    ));
                }
                Op::FetchUser { user_id, email } => {
                    let deadline = tokio::time::Instant::now() + self.settings.zoom_deadline;
                    let fetched = self
                        .access
                        .call(
                            connection,
                            rectoken_zoom::endpoint::LABEL_GET_USER,
                            deadline,
                            |token: secrecy::SecretString, zoom: rectoken_zoom::ZoomClient| {
                                let user_id = user_id.clone();
                                async move { zoom.get_user(&token, &user_id).await }
                            },
                        )
                        .await;
                    let zoom_user = match fetched {
                        Ok(u) => u,
                        Err(e) => match plan::classify_failure(&e) {
                            plan::Failure::Transient(reason) => return Ok(Step::retry(reason)),
                            plan::Failure::UserGone => return Ok(Step::skip("user_gone")),
                            plan::Failure::Fatal(reason) => {
                                // A missing `user:read:user:admin`, say: keep
                                // what the event told (email), without PMI.
                                tracing::warn!(account_id = %connection, user_id = %user_id, reason = %reason, "could not read a new user; recording the event's fields only");
                                let user = DirectoryUser {
                                    account_id: connection.to_owned(),
                                    user_id: user_id.clone(),
                                    email: email.clone(),
                                    vanity_name: None,
                                    pmi: None,
                                    version: version_ms,
                                };
                                writes.add(directory_outcome(
                                    self.store.put_directory_user(&user).await?,
                                ));
                                continue;
                            }
                        },
                    };
                    let user = DirectoryUser {
                        account_id: connection.to_owned(),
                        user_id: user_id.clone(),
                        email: zoom_user.email.clone().or_else(|| email.clone()),
                        vanity_name: zoom_user.vanity_name.clone(),
                        pmi: zoom_user.pmi,
                        version: version_ms,
                    };
                    writes.add(directory_outcome(
                        self.store.put_directory_user(&user).await?,
                    ));
                    if let Some(pmi) = zoom_user.pmi {
                        let m = Mapping {
                            account_id: connection.to_owned(),
                            owner_id: user_id.clone(),
                            source: Source::Webhook,
                            version_ms,
                            written_at_ms: now_ms(),
                        };
                        writes.add(self.store.put_mapping(MapKey::pmi(pmi), &m, None).await?);
                    }
                }
            }
        }
        if writes.applied && self.purged_meanwhile(connection).await? {
            return Ok(Step::skip("unknown_account"));
        }
        Ok(Step::done(writes.label()))
    }

    /// After writing mappings of `connection`: if its record is gone now, a
    /// deauthorization ran concurrently; purge again so nothing we wrote
    /// outlives it. (Deauthorization deletes the record before purging, so
    /// a write that raced with it is either purged by it or seen here.)
    pub(crate) async fn purged_meanwhile(&self, connection: &str) -> Result<bool, StoreError> {
        if self.store.account(connection).await?.is_some() {
            return Ok(false);
        }
        let n = self.store.purge_account_mappings(connection).await?;
        self.store.purge_account_directory(connection).await?;
        tracing::info!(account_id = %connection, purged = n, "account deauthorized while writing; purged again");
        Ok(true)
    }

    async fn deauthorize(
        &self,
        connection: &str,
        app: &str,
        at_ms: i64,
        user_id: Option<String>,
    ) -> Result<Step, StoreError> {
        let record = self.store.account(connection).await?;
        // Deauthorizing app B says nothing of the connection made through
        // app A.
        if let Some(r) = &record
            && r.app != app
        {
            tracing::info!(account_id = %connection, app, connected_through = %r.app, "app_deauthorized of another app than the account's; ignored");
            return Ok(Step::skip("other_app"));
        }
        if !plan::deauthorization_applies(record.as_ref().map(|r| r.connected_at_ms), at_ms) {
            tracing::info!(account_id = %connection, "app_deauthorized older than the current connection; ignored");
            return Ok(Step::skip("stale"));
        }
        // Record and credentials first, then the mappings: see
        // `purged_meanwhile` for why this order is race-free.
        self.store.delete_account(connection).await?;
        // Reported once the record is gone (a retry of this message finds
        // none and reports nothing again); the purges below only tidy up.
        if let Some(r) = &record {
            self.access.vault().events().emit(
                connection,
                &r.app,
                rectoken_domain::account_event::AccountEventKind::Deauthorized { user_id },
            );
        }
        let purged = self.store.purge_account_mappings(connection).await?;
        let users = self.store.purge_account_directory(connection).await?;
        tracing::info!(account_id = %connection, purged, users, "app deauthorized: credentials, state, mappings and directory removed");
        Ok(Step::done("applied"))
    }
}

#[async_trait]
impl Handler for SyncHandler {
    fn name(&self) -> &'static str {
        "sync"
    }

    async fn gave_up(&self, delivery: &Delivery, reason: &str) {
        // Only jobs: an event past its retries is in the DLQ with its
        // reason, and the next full sync mends what it would have written.
        let Ok(Message::Job(job)) = plan::classify(&delivery.body) else {
            return;
        };
        let deliveries = delivery.delivery_count.saturating_add(1);
        if let Err(e) = self.job_given_up(&job, reason, deliveries).await {
            tracing::warn!(account_id = %job.account_id(), error = %e, "could not record a sync that gave up");
        }
    }

    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let message_id = delivery.message_id.as_deref().unwrap_or("");
        let (event, account_id, step) = match plan::classify(&delivery.body) {
            Err(reason) => (
                "unparseable".to_owned(),
                String::new(),
                Step::poison(reason),
            ),
            Ok(Message::Job(job)) => {
                let account = job.account_id().to_owned();
                let (name, step) = self.handle_job(job, message_id).await;
                (name.to_owned(), account, step)
            }
            Ok(Message::Event { name, event }) => {
                let account = event_account(&event).unwrap_or_default().to_owned();
                let step = self.handle_event(delivery, &event).await;
                (name, account, step)
            }
        };
        metrics::counter!(METRIC_EVENTS, "event" => event.clone(), "outcome" => step.label)
            .increment(1);
        match &step.outcome {
            Outcome::Retry(reason) | Outcome::Poison(reason) => {
                tracing::warn!(event = %event, account_id = %account_id, message_id, outcome = step.label, reason = %reason, "sync message failed");
            }
            _ => {
                tracing::info!(event = %event, account_id = %account_id, message_id, outcome = step.label, "sync message handled");
            }
        }
        step.outcome
    }
}

fn event_account(e: &ZoomEvent) -> Option<&str> {
    match e {
        ZoomEvent::MeetingCreated { account_id, .. }
        | ZoomEvent::MeetingDeleted { account_id, .. }
        | ZoomEvent::UserUpdated { account_id, .. }
        | ZoomEvent::UserAdded { account_id, .. }
        | ZoomEvent::MeetingUpdated { account_id, .. }
        | ZoomEvent::UserRemoved { account_id, .. }
        | ZoomEvent::AppDeauthorized { account_id, .. } => Some(account_id),
        ZoomEvent::UrlValidation { .. } | ZoomEvent::Other { .. } => None,
    }
}
