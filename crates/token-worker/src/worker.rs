//! [`TokenWorker`]: one join request from delivery to reply.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use rectoken_bus::topology::reply_to_allowed;
use rectoken_bus::{Delivery, OutgoingMessage};
use rectoken_domain::join::{
    FailureStatus, JoinReply, JoinStatus, MintedToken, TokenError, TokenKind, ValidJoinRequest,
    decode_join_request, extract_request_id, reason,
};
use rectoken_domain::meeting_id::MeetingId;
use rectoken_runtime::consumer::{Handler, Outcome};
use rectoken_store::{DirectoryKey, MapKey, Mapping, Source};
use rectoken_vault::CallError;
use rectoken_zoom::ZoomClient;
use rectoken_zoom::apps::Cloud;
use rectoken_zoom::endpoint::{
    LABEL_GET_MEETING, LABEL_GET_USER, LABEL_JOIN_TOKEN, LABEL_USER_TOKEN,
};
use rectoken_zoom::{ApiError, UserTokenKind};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::accounts::{ACCOUNTS_TTL, AccountCache};
use crate::classify::{
    ONBEHALF_EXPIRE_IN_SECS, PublishFailure, Purpose, REASON_OTHER_CLOUD,
    REASON_PERSONAL_LINK_UNKNOWN, Verdict, classify_call_error, cloud_refusal, deadline_instant,
    link_cloud, owner_cloud_refusal, personal_link_request, pick_mapping, probe_miss, probed_key,
    publish_failure, with_resolved_pmi, zoom_account_id,
};
use crate::kinds::{self, Via};
use crate::telemetry::{
    self, InFlight, STATUS_BAD_REPLY_TO, STATUS_EXPIRED, STATUS_NO_REPLY_TO, STATUS_REQUESTER_GONE,
    STATUS_RETRY,
};
use crate::{TokenDeps, TokenOptions};

/// rectoken's own state failed (Redis): the request should be retried, not
/// answered with a guess.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transient(pub String);

/// The user who sends the bot, and the connection that mints for them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sender {
    /// The connection ID whose credentials mint (account-level: the
    /// account; user-level: `{account}~{user}`).
    connection: String,
    /// The sender's Zoom user ID.
    user_id: String,
}

/// Who owns a meeting, as the map or a probe said.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    key: MapKey,
    /// The connection ID (credentials key).
    account: String,
    /// Host (meeting) or PMI owner.
    host: String,
}

/// The token worker's request handler. Build one with [`TokenWorker::new`]
/// to call [`TokenWorker::answer`] directly; [`crate::run`] builds its own
/// and feeds it from `rectoken.join`.
pub struct TokenWorker {
    deps: TokenDeps,
    options: TokenOptions,
    accounts: AccountCache,
    /// The Zoom clouds the deployment's apps live in: a link of another
    /// cloud is refused at once.
    clouds: BTreeSet<Cloud>,
    /// Cancelled when the worker is torn down without a drain (its `run`
    /// future dropped): requests in flight stop and go back to the queue.
    killed: CancellationToken,
}

/// A duration in milliseconds rounded to 0.01, for log fields that a person
/// reads (`0.45`, not `0.44648499999999997`).
fn round_ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 1e2
}

fn unix_ms() -> i64 {
    let now = OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl TokenWorker {
    /// A worker over `deps`.
    pub fn new(deps: TokenDeps, options: TokenOptions) -> Self {
        Self::with_kill_switch(deps, options, CancellationToken::new())
    }

    pub(crate) fn with_kill_switch(
        deps: TokenDeps,
        options: TokenOptions,
        killed: CancellationToken,
    ) -> Self {
        let accounts = AccountCache::new(deps.store.clone(), ACCOUNTS_TTL);
        let clouds = deps.access.vault().clients().clouds();
        Self {
            deps,
            options,
            accounts,
            clouds,
            killed,
        }
    }

    /// The reply to a valid request received at `received_at`: find the
    /// owning account (map, then probe), mint every asked kind, and build
    /// the reply. Never fails: when rectoken's own store is down the reply
    /// is a `zoom_error` saying so (the queue consumer retries instead).
    pub async fn answer(&self, req: ValidJoinRequest, received_at: OffsetDateTime) -> JoinReply {
        match self.try_answer(&req, received_at).await {
            Ok(reply) => reply,
            Err(Transient(m)) => JoinReply::failure(
                req.request_id(),
                FailureStatus::ZoomError,
                format!("rectoken's state store is unavailable ({m}); retry"),
            )
            .with_reason(reason::STORE_UNAVAILABLE)
            .with_meeting_id(req.meeting_id()),
        }
    }

    /// [`TokenWorker::answer`], with store trouble as `Err`.
    ///
    /// Each asked kind is served on its own (see [`crate::kinds::plan`]):
    /// the meeting-bound kinds through the meeting's owner, `onbehalf` and
    /// `zak` through the sender named by `on_behalf_of` (for meetings in no
    /// connected account too). The reply is `ok` when at least one kind was
    /// minted; `token_errors` says why each other one was not.
    pub async fn try_answer(
        &self,
        req: &ValidJoinRequest,
        received_at: OffsetDateTime,
    ) -> Result<JoinReply, Transient> {
        self.try_answer_in(req, None, received_at).await
    }

    /// [`Self::try_answer`] for a request whose link names Zoom cloud
    /// `link` (`None`: a bare meeting ID): only accounts of apps of that
    /// cloud may own it.
    async fn try_answer_in(
        &self,
        req: &ValidJoinRequest,
        link: Option<Cloud>,
        received_at: OffsetDateTime,
    ) -> Result<JoinReply, Transient> {
        let deadline = deadline_instant(
            req.deadline_or_default(received_at),
            OffsetDateTime::now_utc(),
            Instant::now(),
        );
        let id = req.meeting_id();
        let sender_name = req.on_behalf_of();
        let plan = kinds::plan(
            req.tokens().iter().copied(),
            sender_name.is_some(),
            self.options.allow_zak,
        );
        let mut failed: BTreeMap<TokenKind, TokenError> = plan.refused.into_iter().collect();
        let owner_work = async {
            if plan.owner.is_empty() {
                return Ok(None);
            }
            match self.find_owner(id, link, deadline).await {
                Ok(owner) => {
                    let results = self.mint_owner(req, &owner, &plan.owner, deadline).await;
                    Ok(Some((Ok(owner), results)))
                }
                Err(Verdict::Transient { message }) => Err(Transient(message)),
                Err(verdict) => Ok(Some((Err(verdict), Vec::new()))),
            }
        };
        let sender_work = async {
            let Some(name) = sender_name.filter(|_| !plan.sender.is_empty()) else {
                return Ok(None);
            };
            match self.resolve_sender(name, id, deadline).await? {
                Ok(sender) => Ok(Some(Ok(self
                    .mint_sender(id, &sender, &plan.sender, deadline)
                    .await))),
                Err(e) => Ok(Some(Err(e))),
            }
        };
        let (owner_outcome, sender_outcome) = tokio::join!(owner_work, sender_work);
        let mut minted = BTreeMap::new();
        let mut owner_fields = None;
        match owner_outcome? {
            None => {}
            Some((Err(verdict), _)) => {
                let error = match verdict {
                    Verdict::Reply { status, message } => {
                        TokenError::new(status, reason::of_status(status), message)
                    }
                    Verdict::Refused {
                        status,
                        reason,
                        zoom_code,
                        message,
                    } => {
                        let e = TokenError::new(status, reason, message);
                        match zoom_code {
                            Some(c) => e.with_zoom_code(c),
                            None => e,
                        }
                    }
                    Verdict::Stale { message } | Verdict::Transient { message } => {
                        TokenError::new(FailureStatus::NotFound, reason::MEETING_NOT_FOUND, message)
                    }
                };
                for &kind in &plan.owner {
                    failed.insert(kind, error.clone());
                }
            }
            Some((Ok(owner), results)) => {
                let mut stale = false;
                for (kind, result) in results {
                    match result.map_err(|failure| *failure) {
                        Ok(token) => {
                            minted.insert(kind, token);
                        }
                        Err((Verdict::Transient { message }, _)) => return Err(Transient(message)),
                        Err((verdict, err)) => {
                            stale |= matches!(verdict, Verdict::Stale { .. });
                            let e = match verdict {
                                Verdict::Stale { message } => Verdict::Stale {
                                    message: format!(
                                        "{message}; its stale mapping was removed; join without a token"
                                    ),
                                },
                                v => v,
                            };
                            failed.insert(kind, kinds::token_error(e, &err, Via::Owner));
                        }
                    }
                }
                if stale {
                    self.remove_stale(id, &owner).await;
                } else {
                    owner_fields = Some(owner);
                }
            }
        }
        match sender_outcome? {
            None => {}
            Some(Err(error)) => {
                for &kind in &plan.sender {
                    failed.insert(kind, error.clone());
                }
            }
            Some(Ok(results)) => {
                for (kind, result) in results {
                    match result.map_err(|failure| *failure) {
                        Ok(token) => {
                            minted.insert(kind, token);
                        }
                        Err((Verdict::Transient { message }, _)) => return Err(Transient(message)),
                        Err((verdict, err)) => {
                            failed.insert(kind, kinds::token_error(verdict, &err, Via::Sender));
                        }
                    }
                }
            }
        }
        let reply = JoinReply::per_kind(req.request_id(), id, minted, failed);
        Ok(match owner_fields {
            Some(o) => reply
                .with_account_id(zoom_account_id(&o.account))
                .with_host_id(o.host),
            None => reply,
        })
    }

    /// Drops a mapping Zoom says is stale (best effort: the next request
    /// finds it stale again).
    async fn remove_stale(&self, id: MeetingId, owner: &Owner) {
        match self
            .deps
            .store
            .remove_mapping(owner.key, &owner.account, unix_ms())
            .await
        {
            Ok(outcome) => tracing::info!(
                meeting_id = %id, account_id = %owner.account, key = %owner.key, ?outcome,
                "Zoom no longer knows the meeting; stale mapping removed"
            ),
            Err(e) => tracing::warn!(
                meeting_id = %id, account_id = %owner.account, error = %e,
                "could not remove a stale mapping"
            ),
        }
    }

    /// The owner from the map (meeting ID, then PMI), else from probing
    /// the connected accounts when there are few.
    async fn find_owner(
        &self,
        id: MeetingId,
        link: Option<Cloud>,
        deadline: Instant,
    ) -> Result<Owner, Verdict> {
        let store = &self.deps.store;
        let (meeting, pmi) = tokio::join!(
            store.get_mapping(MapKey::meeting(id)),
            store.get_mapping(MapKey::pmi(id))
        );
        let transient = |e: rectoken_store::StoreError| Verdict::Transient {
            message: e.to_string(),
        };
        if let Some((key, m)) =
            pick_mapping(id, meeting.map_err(transient)?, pmi.map_err(transient)?)
        {
            let owner = Owner {
                key,
                account: m.account_id,
                host: m.owner_id,
            };
            self.check_owner_cloud(&owner, link).await?;
            return Ok(owner);
        }
        self.probe(id, link, deadline).await
    }

    /// Whether the cloud of `app` may serve a link of cloud `link`: any
    /// app when the link names none or the deployment has one cloud only
    /// (links of another cloud were refused on arrival).
    fn serves(&self, app: &str, link: Option<Cloud>) -> bool {
        match link {
            Some(link) if self.clouds.len() > 1 => {
                self.deps.access.vault().clients().cloud(app) == Some(link)
            }
            _ => true,
        }
    }

    /// The connected accounts (cached), or the store's failure as a
    /// transient verdict.
    async fn connected_accounts(
        &self,
    ) -> Result<std::sync::Arc<Vec<crate::accounts::Connected>>, Verdict> {
        self.accounts
            .connected()
            .await
            .map_err(|e| Verdict::Transient {
                message: e.to_string(),
            })
    }

    /// In a deployment with apps of both clouds, a mapped owner whose app is
    /// of the other cloud than the link does not own it: the same number
    /// is a different meeting there.
    async fn check_owner_cloud(&self, owner: &Owner, link: Option<Cloud>) -> Result<(), Verdict> {
        let Some(link) = link.filter(|_| self.clouds.len() > 1) else {
            return Ok(());
        };
        let accounts = self.connected_accounts().await?;
        // An owner not connected is answered by the vault (disconnected).
        let Some(app) = accounts
            .iter()
            .find(|a| a.id == owner.account)
            .map(|a| &a.app)
        else {
            return Ok(());
        };
        let Some(owner_cloud) = self.deps.access.vault().clients().cloud(app) else {
            return Ok(());
        };
        match owner_cloud_refusal(link, owner_cloud) {
            None => Ok(()),
            Some(message) => Err(Verdict::Refused {
                status: FailureStatus::NotFound,
                reason: REASON_OTHER_CLOUD,
                zoom_code: None,
                message,
            }),
        }
    }

    /// Asks every connected account for the meeting, in parallel; the first
    /// that has it is recorded in the map.
    async fn probe(
        &self,
        id: MeetingId,
        link: Option<Cloud>,
        deadline: Instant,
    ) -> Result<Owner, Verdict> {
        let connected = self.connected_accounts().await?;
        // Only the accounts of the link's cloud can have it.
        let accounts: Vec<&String> = connected
            .iter()
            .filter(|a| self.serves(&a.app, link))
            .map(|a| &a.id)
            .collect();
        if accounts.len() > self.options.probe_max_accounts {
            return Err(Verdict::Reply {
                status: FailureStatus::NotFound,
                message: format!(
                    "no connected account is known to own meeting {id}; join without a token"
                ),
            });
        }
        // The probe's version is the time *before* asking Zoom: a meeting
        // deleted while the call was in flight has a delete event newer than
        // this, so the probe cannot bring it back.
        let asked_at = unix_ms();
        let mut asks: FuturesUnordered<_> = accounts
            .iter()
            .map(|&account| async move {
                let result = self
                    .deps
                    .access
                    .call(
                        account,
                        LABEL_GET_MEETING,
                        deadline,
                        |token: SecretString, zoom: ZoomClient| async move {
                            let started = std::time::Instant::now();
                            let r = zoom.get_meeting(&token, id).await;
                            telemetry::zoom_call(started.elapsed());
                            r
                        },
                    )
                    .await;
                (account, result)
            })
            .collect();
        let mut failures = Vec::new();
        while let Some((account, result)) = asks.next().await {
            match result {
                Ok(meeting) => {
                    let key = probed_key(id, meeting.meeting_type, meeting.pmi);
                    let mapping = Mapping {
                        account_id: account.clone(),
                        owner_id: meeting.host_id.clone(),
                        source: Source::Probe,
                        version_ms: asked_at,
                        written_at_ms: unix_ms(),
                    };
                    // Answer even if the write fails: the next request probes again.
                    match self.deps.store.put_mapping(key, &mapping, None).await {
                        Ok(outcome) => tracing::info!(
                            meeting_id = %id, account_id = %account, %key, ?outcome,
                            "probe found the owner of an unmapped meeting"
                        ),
                        Err(e) => tracing::warn!(
                            meeting_id = %id, account_id = %account, error = %e,
                            "probe found the owner but could not record the mapping"
                        ),
                    }
                    return Ok(Owner {
                        key,
                        account: account.clone(),
                        host: meeting.host_id,
                    });
                }
                Err(e) => failures.push(classify_call_error(&e, account, id, Purpose::Probe)),
            }
        }
        Err(probe_miss(id, accounts.len(), failures))
    }

    /// Mints `kinds` with the owner's credentials, in parallel: the join
    /// tokens, and `onbehalf` for the host (no sender named).
    async fn mint_owner(
        &self,
        req: &ValidJoinRequest,
        owner: &Owner,
        kinds: &[TokenKind],
        deadline: Instant,
    ) -> Vec<(TokenKind, MintResult)> {
        let id = req.meeting_id();
        let bypass = req.bypass_waiting_room();
        let account = owner.account.as_str();
        let mints = kinds.iter().map(|&kind| async move {
            let result = if kind.is_user_token() {
                self.user_token(account, &owner.host, kind, id, deadline)
                    .await
            } else {
                self.deps
                    .access
                    .call(
                        account,
                        LABEL_JOIN_TOKEN,
                        deadline,
                        |token: SecretString, zoom: ZoomClient| async move {
                            let started = std::time::Instant::now();
                            let r = zoom.join_token(&token, id, kind, bypass).await;
                            telemetry::zoom_call(started.elapsed());
                            r.map(|t| (t.token, t.expire_in))
                        },
                    )
                    .await
            };
            (kind, minted_or(result, account, id, kind))
        });
        futures_util::future::join_all(mints).await
    }

    /// Mints `kinds` (`onbehalf`, `zak`) for the sender, in parallel.
    async fn mint_sender(
        &self,
        id: MeetingId,
        sender: &Sender,
        kinds: &[TokenKind],
        deadline: Instant,
    ) -> Vec<(TokenKind, MintResult)> {
        let account = sender.connection.as_str();
        let user = kinds::user_path(account, &sender.user_id);
        let user = user.as_str();
        let mints = kinds.iter().map(|&kind| async move {
            let result = self.user_token(account, user, kind, id, deadline).await;
            (kind, minted_or(result, account, id, kind))
        });
        futures_util::future::join_all(mints).await
    }

    /// `GET /users/{user}/token?type=onbehalf&meeting_id={id}` or
    /// `?type=zak` through `account`'s credentials.
    async fn user_token(
        &self,
        account: &str,
        user: &str,
        kind: TokenKind,
        id: MeetingId,
        deadline: Instant,
    ) -> Result<(SecretString, u64), CallError> {
        let (user_kind, meeting, expire_in) = match kind {
            TokenKind::Zak => (UserTokenKind::Zak, None, kinds::ZAK_EXPIRE_IN_SECS),
            _ => (UserTokenKind::OnBehalf, Some(id), ONBEHALF_EXPIRE_IN_SECS),
        };
        self.deps
            .access
            .call(
                account,
                LABEL_USER_TOKEN,
                deadline,
                |token: SecretString, zoom: ZoomClient| async move {
                    let started = std::time::Instant::now();
                    let r = zoom.user_token(&token, user, user_kind, meeting).await;
                    telemetry::zoom_call(started.elapsed());
                    r.map(|t| (t, expire_in))
                },
            )
            .await
    }

    /// The connection and user ID that can mint for `name` (a Zoom user ID
    /// or email): through the user directory the sync keeps, when it lists
    /// the user; else a user-level connection of that user ID; else, when at
    /// most [`TokenOptions::probe_max_accounts`] accounts are connected,
    /// the first connection whose `GET /users/{name}` finds the user (an
    /// account-level connection sees its account's users, a user-level one
    /// only its own user). `Err` for rectoken's own store trouble; `Ok(Err)`
    /// when nobody can mint for the sender.
    async fn resolve_sender(
        &self,
        name: &str,
        id: MeetingId,
        deadline: Instant,
    ) -> Result<Result<Sender, TokenError>, Transient> {
        let key = kinds::directory_key(name);
        let (connected, listed) = tokio::join!(
            self.accounts.connected(),
            self.deps.store.find_directory_user(&key)
        );
        let connected: Vec<String> = connected
            .map_err(|e| Transient(e.to_string()))?
            .iter()
            .map(|a| a.id.clone())
            .collect();
        if let Some(user) = listed.map_err(|e| Transient(e.to_string()))? {
            // The sync's directory knows the user: mint through their
            // account (account-level app) or their own connection
            // (user-level app), or say neither is connected.
            return Ok(
                match kinds::sender_connection(&connected, &user.account_id, &user.user_id) {
                    Some(connection) => Ok(Sender {
                        connection: connection.to_owned(),
                        user_id: user.user_id,
                    }),
                    None => Err(kinds::sender_not_connected(name, &user.account_id)),
                },
            );
        }
        if let Some(connection) = kinds::user_level_connection(&connected, name) {
            return Ok(Ok(Sender {
                connection: connection.to_owned(),
                user_id: name.to_owned(),
            }));
        }
        if connected.len() > self.options.probe_max_accounts {
            return Ok(Err(kinds::sender_not_found(name)));
        }
        let mut asks: FuturesUnordered<_> = connected
            .iter()
            .map(|connection| async move {
                let r = self
                    .deps
                    .access
                    .call(
                        connection,
                        LABEL_GET_USER,
                        deadline,
                        |token: SecretString, zoom: ZoomClient| async move {
                            let started = std::time::Instant::now();
                            let r = zoom.get_user(&token, name).await;
                            telemetry::zoom_call(started.elapsed());
                            r
                        },
                    )
                    .await;
                (connection, r)
            })
            .collect();
        let mut inconclusive = None;
        while let Some((connection, result)) = asks.next().await {
            match result {
                Ok(user) => {
                    return Ok(Ok(Sender {
                        connection: connection.clone(),
                        user_id: user.id,
                    }));
                }
                Err(CallError::Store(e)) => return Err(Transient(e.to_string())),
                Err(CallError::Zoom(ApiError::NotFound { .. })) => {}
                Err(e) if kinds::is_connection_unusable(&e) => {}
                Err(e) => {
                    let verdict = classify_call_error(&e, connection, id, Purpose::Probe);
                    if let Verdict::Transient { message } = verdict {
                        return Err(Transient(message));
                    }
                    inconclusive.get_or_insert((verdict, e));
                }
            }
        }
        Ok(Err(match inconclusive {
            // Some connection could not be asked: the sender may be theirs.
            Some((verdict, e)) => {
                let e = kinds::token_error(verdict, &e, Via::Sender);
                TokenError::new(
                    match e.status() {
                        JoinStatus::RateLimited => FailureStatus::RateLimited,
                        _ => FailureStatus::ZoomError,
                    },
                    e.reason(),
                    format!("could not find the sender {name:?}: {}", e.error()),
                )
            }
            None => kinds::sender_not_found(name),
        }))
    }

    /// Publishes `reply` to `reply_to` (default exchange, correlation ID
    /// copied, transient, confirmed) and says how to settle the request.
    async fn deliver(
        &self,
        delivery: &Delivery,
        reply_to: &str,
        reply: JoinReply,
        started: std::time::Instant,
    ) -> Outcome {
        let body = match serde_json::to_vec(&reply) {
            Ok(b) => b,
            Err(e) => return Outcome::Poison(format!("cannot encode the reply: {e}")),
        };
        let message_id = format!(
            "join-reply-{}",
            delivery
                .correlation_id
                .as_deref()
                .or(delivery.message_id.as_deref())
                .unwrap_or("anonymous")
        );
        let mut message = OutgoingMessage::json("", reply_to, body, message_id).transient();
        message.correlation_id = delivery.correlation_id.clone();
        let elapsed = || started.elapsed();
        match self.deps.bus.publish(message).await {
            Ok(()) => {
                if let Some(log) = &self.options.join_log {
                    log.record(&reply, &delivery.body, elapsed(), unix_ms())
                        .await;
                }
                let status = reply.status().as_str();
                telemetry::count(status);
                telemetry::duration(elapsed());
                // Absent fields are left out (an `Option` records only
                // when `Some`), and milliseconds are rounded to 0.01.
                tracing::info!(
                    request_id = reply.request_id(),
                    meeting_id = reply.meeting_id().map(|m| m.get()),
                    account_id = reply.account_id(),
                    status,
                    duration_ms = round_ms(elapsed()),
                    error = reply.error(),
                    "join request answered"
                );
                Outcome::Done
            }
            Err(e) => match publish_failure(&e) {
                PublishFailure::RequesterGone => {
                    telemetry::count(STATUS_REQUESTER_GONE);
                    tracing::info!(
                        request_id = reply.request_id(),
                        status = STATUS_REQUESTER_GONE,
                        duration_ms = round_ms(elapsed()),
                        error = %e,
                        "the requester is gone; reply dropped"
                    );
                    Outcome::Skip(STATUS_REQUESTER_GONE)
                }
                PublishFailure::Retry => {
                    telemetry::count(STATUS_RETRY);
                    Outcome::Retry(format!("could not publish the join reply: {e}"))
                }
            },
        }
    }
}

/// A minted token, or why not (the verdict, and the error it came from;
/// boxed: the pair is large and the failure path is the rare one).
type MintResult = Result<MintedToken, Box<(Verdict, CallError)>>;

/// The token of a successful call, or its classified failure.
fn minted_or(
    result: Result<(SecretString, u64), CallError>,
    account: &str,
    id: MeetingId,
    kind: TokenKind,
) -> MintResult {
    match result {
        Ok((token, expire_in)) => Ok(MintedToken::expiring_in(
            token.expose_secret(),
            OffsetDateTime::now_utc(),
            expire_in,
        )),
        Err(e) => Err(Box::new((
            classify_call_error(&e, account, id, Purpose::Mint(kind)),
            e,
        ))),
    }
}

#[async_trait]
impl Handler for TokenWorker {
    fn name(&self) -> &'static str {
        "join"
    }

    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let received_at = OffsetDateTime::now_utc();
        let started = std::time::Instant::now();
        let _in_flight = InFlight::start();
        // An empty reply_to routes nowhere: the same as none.
        let reply_to = delivery.reply_to.as_deref().filter(|r| !r.is_empty());
        // The worker's broker user writes to every queue through the
        // default exchange: a reply_to naming one of rectoken's own queues
        // would let a bot drop replies there. Dead-letter instead.
        if let Some(r) = reply_to
            && let Err(why) = reply_to_allowed(self.deps.bus.topology(), r)
        {
            telemetry::count(STATUS_BAD_REPLY_TO);
            return Outcome::Poison(why);
        }
        // ZoomGov is a separate cloud: a link of a cloud none of this
        // deployment's apps is on is never looked up or minted here.
        let link = link_cloud(&delivery.body);
        if let (Some(message), Some(reply_to)) =
            (link.and_then(|c| cloud_refusal(c, &self.clouds)), reply_to)
        {
            let rid = extract_request_id(&delivery.body).unwrap_or_default();
            let reply = JoinReply::failure(rid, FailureStatus::NotFound, message)
                .with_reason(REASON_OTHER_CLOUD);
            return self.deliver(delivery, reply_to, reply, started).await;
        }
        // A personal link (`zoom.us/my/NAME`) names a user, not a meeting:
        // the user directory (vanity names from the sync and `user.updated`)
        // turns it into that user's PMI before the request is decoded.
        let mut resolved = None;
        if let Some((request, name)) = personal_link_request(&delivery.body) {
            match self
                .deps
                .store
                .find_directory_user(&DirectoryKey::Vanity(name.clone()))
                .await
            {
                Ok(Some(user)) if user.pmi.is_some() => {
                    if let Some(pmi) = user.pmi {
                        resolved = Some(with_resolved_pmi(request, pmi));
                    }
                }
                Ok(_) => {
                    if let Some(reply_to) = reply_to {
                        let rid = extract_request_id(&delivery.body).unwrap_or_default();
                        let reply = JoinReply::failure(
                            rid,
                            FailureStatus::NotFound,
                            format!(
                                "no user of a connected account has the personal link /my/{name}; join without a token"
                            ),
                        )
                        .with_reason(REASON_PERSONAL_LINK_UNKNOWN);
                        return self.deliver(delivery, reply_to, reply, started).await;
                    }
                }
                Err(e) => {
                    telemetry::count(STATUS_RETRY);
                    return Outcome::Retry(format!("user directory: {e}"));
                }
            }
        }
        let body = resolved.as_deref().unwrap_or(&delivery.body);
        let req = match decode_join_request(body) {
            Ok(req) => req,
            Err(e) => {
                let Some(reply_to) = reply_to else {
                    telemetry::count(JoinStatus::InvalidRequest.as_str());
                    return Outcome::Poison(format!("invalid join request without reply_to: {e}"));
                };
                let rid = extract_request_id(&delivery.body).unwrap_or_default();
                let reply = JoinReply::invalid_request(rid, &e);
                return self.deliver(delivery, reply_to, reply, started).await;
            }
        };
        if req.is_expired(received_at, received_at) {
            telemetry::count(STATUS_EXPIRED);
            tracing::info!(
                request_id = ?req.request_id(),
                meeting_id = req.meeting_id().get(),
                status = STATUS_EXPIRED,
                "join request past its deadline; dropped"
            );
            return Outcome::Skip(STATUS_EXPIRED);
        }
        let Some(reply_to) = reply_to else {
            telemetry::count(STATUS_NO_REPLY_TO);
            return Outcome::Poison("no reply_to".into());
        };
        let work = async {
            match self.try_answer_in(&req, link, received_at).await {
                Ok(reply) => self.deliver(delivery, reply_to, reply, started).await,
                Err(Transient(m)) => {
                    telemetry::count(STATUS_RETRY);
                    tracing::warn!(
                        request_id = ?req.request_id(),
                        meeting_id = req.meeting_id().get(),
                        error = %m,
                        "store unavailable; the join request will be retried"
                    );
                    Outcome::Retry(m)
                }
            }
        };
        tokio::select! {
            outcome = work => outcome,
            () = self.killed.cancelled() => {
                Outcome::Retry("the worker stopped before answering".into())
            }
        }
    }
}
