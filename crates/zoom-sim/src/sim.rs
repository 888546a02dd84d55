//! [`Sim`]: the cheap, cloneable handle to one simulated Zoom, with every
//! control method (the library twin of the `/_sim/` HTTP API).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::auth::{AuthState, Grant, Lifetimes, REFRESH_TOKEN_TTL_MS};
use crate::clock::{Clock, rfc3339_millis};
use crate::config::SimConfig;
use crate::error::{Result, SimError};
use crate::events::{self, Event};
use crate::faults::{Behaviour, BehaviourTable, Endpoint, Injected};
use crate::generate::{self, GenerateSpec, Generated};
use crate::model::{Account, Meeting, Occurrence, User, meeting_type};
use crate::ratelimit::{Decision, Label, Plan, SlidingWindow, per_second_limit};
use crate::rng::SplitMix64;
use crate::stats::Stats;
use crate::store::{MEETING_ID_RANGE, PMI_RANGE, Store, UserPatch};
use crate::webhook::{DeliveryRecord, EventDispatch, WebhookHub, WebhookSettings};

/// Kinds of token the REST API mints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// `jointoken/local_recording`.
    LocalRecording,
    /// `jointoken/local_archiving`.
    LocalArchiving,
    /// `jointoken/live_streaming`.
    LiveStreaming,
    /// `users/{id}/token?type=onbehalf`.
    Onbehalf,
    /// `users/{id}/token?type=zak`.
    Zak,
}

impl TokenKind {
    /// Snake-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LocalRecording => "local_recording",
            Self::LocalArchiving => "local_archiving",
            Self::LiveStreaming => "live_streaming",
            Self::Onbehalf => "onbehalf",
            Self::Zak => "zak",
        }
    }

    /// Parses a `jointoken/{kind}` path segment.
    #[must_use]
    pub fn join_kind(s: &str) -> Option<Self> {
        match s {
            "local_recording" => Some(Self::LocalRecording),
            "local_archiving" => Some(Self::LocalArchiving),
            "live_streaming" => Some(Self::LiveStreaming),
            _ => None,
        }
    }
}

/// A token minted by the REST API, as `GET /_sim/tokens/{token}` shows it:
/// proof that a token really came from this simulator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The token string.
    pub token: String,
    /// What kind of token.
    pub kind: TokenKind,
    /// Meeting it is for (join tokens; on-behalf tokens when given).
    pub meeting_id: Option<u64>,
    /// Account of the meeting host (join tokens) or of the user (ZAK, on-behalf).
    pub account_id: String,
    /// Meeting host (join tokens) or the user the token is for.
    pub user_id: String,
    /// The user whose authorization minted it.
    pub grant_user_id: String,
    /// Mint time, RFC 3339 with milliseconds.
    pub minted_at: String,
    /// Mint time, Unix ms (simulated clock).
    pub minted_at_ms: u64,
    /// Expiry, Unix ms, when known.
    pub expires_at_ms: Option<u64>,
    /// `bypass_waiting_room` of a join-token request.
    pub bypass_waiting_room: Option<bool>,
}

/// Who the authorize page consents as, and what it grants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OAuthSettings {
    /// User who consents; `None`: the owner of the first account.
    pub authorize_user: Option<String>,
    /// Decline instead: redirect with `error=access_denied`.
    pub decline: bool,
    /// Scopes granted; `None`: `--scopes` or the app kind's defaults.
    pub scopes: Option<Vec<String>>,
    /// How a dead refresh token is answered.
    pub dead_refresh_token: crate::auth::DeadTokenAnswer,
}

/// A new account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewAccount {
    /// Account ID (random 22 characters when absent).
    pub id: Option<String>,
    /// Plan (`--plan` when absent).
    pub plan: Option<Plan>,
}

/// A new user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewUser {
    /// User ID (random 22 characters when absent).
    pub id: Option<String>,
    /// Email (`{id}@{account}.example.com` when absent).
    pub email: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// PMI (random unused 10 digits when absent).
    pub pmi: Option<u64>,
    /// `"0"` owner, `"1"` admin, `"2"` member (default: owner for the
    /// account's first user, else member).
    pub role_id: Option<String>,
    /// 1 basic, 2 licensed (default 2).
    #[serde(rename = "type")]
    pub user_type: Option<u8>,
    /// `active` (default), `inactive` or `pending`.
    pub status: Option<String>,
}

/// A new meeting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewMeeting {
    /// Meeting number (random unused 11 digits when absent).
    pub id: Option<u64>,
    /// Topic.
    pub topic: Option<String>,
    /// Meeting type (default 2, scheduled; 8 makes weekly occurrences).
    #[serde(rename = "type")]
    pub meeting_type: Option<u8>,
    /// Start, RFC 3339 (default: the next full hour one day from now).
    pub start_time: Option<String>,
    /// Duration in minutes (default 30).
    pub duration: Option<u32>,
    /// Number of weekly occurrences of a type-8 meeting (default 4, at most
    /// [`MAX_OCCURRENCES`]).
    pub occurrences: Option<u32>,
    /// Scheduled with the host's PMI.
    pub use_pmi: Option<bool>,
    /// Who scheduled it (default: the host); must be in the host's account.
    pub operator_id: Option<String>,
}

/// Deletion options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeleteMeeting {
    /// Delete only these occurrences of a recurring meeting.
    pub occurrence_ids: Option<Vec<String>>,
    /// Who deleted it (default: the host).
    pub operator_id: Option<String>,
}

/// The result of a control call plus the webhook event it fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WithEvent<T> {
    /// The created or changed object.
    pub value: T,
    /// The event fired and its deliveries.
    pub dispatch: EventDispatch,
}

impl<T> WithEvent<T> {
    /// Waits until every delivery of the fired event has an outcome.
    pub async fn wait(&self, sim: &Sim) -> Vec<DeliveryRecord> {
        sim.wait_deliveries(&self.dispatch.deliveries).await
    }
}

/// Counts of what a seed or generator inserted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratedSummary {
    /// The account created.
    pub account_id: String,
    /// Users created.
    pub users: usize,
    /// Meetings created.
    pub meetings: usize,
    /// The first user (the owner).
    pub owner_id: Option<String>,
}

pub(crate) struct State {
    pub(crate) store: Store,
    pub(crate) auth: AuthState,
    pub(crate) rng: SplitMix64,
    pub(crate) tokens: HashMap<String, TokenRecord>,
    pub(crate) oauth: OAuthSettings,
    /// (meeting number, user ID) of users in a meeting right now; see
    /// [`crate::admission`].
    pub(crate) present: std::collections::HashSet<(u64, String)>,
}

pub(crate) struct Inner {
    pub(crate) cfg: SimConfig,
    pub(crate) clock: Clock,
    mono: std::time::Instant,
    pub(crate) state: Mutex<State>,
    limiter: Mutex<HashMap<(String, Label), SlidingWindow>>,
    behaviours: Mutex<BehaviourTable>,
    fault_rng: Mutex<SplitMix64>,
    stats: Mutex<Stats>,
    hooks: Arc<WebhookHub>,
    base_url: Mutex<Option<String>>,
    /// How long a `next_page_token` stays valid, ms (simulated clock).
    page_token_ttl_ms: std::sync::atomic::AtomicU64,
}

/// One simulated Zoom: data, OAuth app, limits, faults and webhook sender.
///
/// Cloning is cheap (an `Arc`); all clones share the same simulator.
#[derive(Clone)]
pub struct Sim {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("config", &self.inner.cfg)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

const HOUR_MS: u64 = 3_600_000;
/// Most occurrences a simulated recurring meeting gets; larger requests are
/// clamped (Zoom caps recurring series too).
pub const MAX_OCCURRENCES: u32 = 60;
const WEEK_MS: u64 = 7 * 24 * HOUR_MS;

impl Sim {
    /// Builds a simulator; seeds the demo account and generates users as the
    /// configuration says (a failure there is logged, not fatal).
    #[must_use]
    pub fn new(config: SimConfig) -> Self {
        let rng = config
            .seed
            .map_or_else(SplitMix64::from_entropy, SplitMix64::new);
        let fault_rng = config.seed.map_or_else(SplitMix64::from_entropy, |s| {
            SplitMix64::new(s ^ 0x5EED_FA17_5EED_FA17)
        });
        let hooks = WebhookHub::new(
            config.webhook_secret.clone(),
            WebhookSettings::new(
                config.webhook_urls.clone(),
                config.webhook_retry_scale,
                config.webhook_timeout_ms,
            ),
        );
        let oauth = OAuthSettings {
            authorize_user: config.authorize_user.clone(),
            decline: config.decline_authorization,
            scopes: None,
            dead_refresh_token: crate::auth::DeadTokenAnswer::default(),
        };
        let sim = Self {
            inner: Arc::new(Inner {
                clock: Clock::new(),
                mono: std::time::Instant::now(),
                state: Mutex::new(State {
                    store: Store::default(),
                    auth: AuthState::default(),
                    rng,
                    tokens: HashMap::new(),
                    oauth,
                    present: std::collections::HashSet::new(),
                }),
                limiter: Mutex::new(HashMap::new()),
                behaviours: Mutex::new(BehaviourTable::new()),
                fault_rng: Mutex::new(fault_rng),
                stats: Mutex::new(Stats::default()),
                hooks: Arc::new(hooks),
                page_token_ttl_ms: std::sync::atomic::AtomicU64::new(
                    crate::paging::PAGE_TOKEN_TTL_MS,
                ),
                base_url: Mutex::new(None),
                cfg: config,
            }),
        };
        let cfg = &sim.inner.cfg;
        if cfg.seed_demo
            && let Err(e) = sim.seed_demo()
        {
            tracing::warn!(error = %e, "demo seed failed");
        }
        if cfg.generate_users > 0 {
            let spec = GenerateSpec {
                account_id: None,
                users: cfg.generate_users,
                meetings_per_user: cfg.meetings_per_user,
                seed: cfg.seed.unwrap_or(0),
                plan: cfg.plan,
            };
            match sim.generate(&spec) {
                Ok(s) => {
                    tracing::info!(account = %s.account_id, users = s.users, meetings = s.meetings, "generated account")
                }
                Err(e) => tracing::warn!(error = %e, "generation failed"),
            }
        }
        sim
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }

    /// The configuration the simulator was built with.
    #[must_use]
    pub fn config(&self) -> &SimConfig {
        &self.inner.cfg
    }

    /// Simulated time, Unix ms.
    #[must_use]
    pub fn now_ms(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    /// Moves simulated time forward (expires codes and tokens without sleeping).
    pub fn advance_clock(&self, by: Duration) {
        self.inner.clock.advance(by);
    }

    /// `http://{addr}` once [`Sim::serve`] has a listener.
    #[must_use]
    pub fn base_url(&self) -> Option<String> {
        lock(&self.inner.base_url).clone()
    }

    /// `{base}/oauth`: the value for `ZOOM_OAUTH_URL`.
    #[must_use]
    pub fn oauth_url(&self) -> Option<String> {
        self.base_url().map(|b| format!("{b}/oauth"))
    }

    /// How long a `next_page_token` stays valid (Zoom: 15 minutes);
    /// tests shorten it.
    pub fn set_page_token_ttl(&self, ttl: Duration) {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self.inner
            .page_token_ttl_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn page_token_ttl_ms(&self) -> u64 {
        self.inner
            .page_token_ttl_ms
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `{base}/v2`: the value for `ZOOM_API_URL`.
    #[must_use]
    pub fn api_url(&self) -> Option<String> {
        self.base_url().map(|b| format!("{b}/v2"))
    }

    pub(crate) fn lifetimes(&self) -> Lifetimes {
        Lifetimes {
            access_secs: self.inner.cfg.access_token_ttl_secs,
            refresh_ms: REFRESH_TOKEN_TTL_MS,
        }
    }

    // ---- data ---------------------------------------------------------

    /// Creates an account (no webhook: Zoom sends none to the app).
    pub fn create_account(&self, new: NewAccount) -> Result<Account> {
        let mut st = self.state();
        let id = match new.id {
            Some(id) => id,
            None => st.rng.id(22),
        };
        let account = Account {
            id,
            plan: new.plan.unwrap_or(self.inner.cfg.plan),
            account_number: st.rng.range(10_000_000, 99_999_999),
            created_ms: self.now_ms(),
        };
        st.store.add_account(account.clone())?;
        Ok(account)
    }

    /// An account by ID.
    #[must_use]
    pub fn account(&self, id: &str) -> Option<Account> {
        self.state().store.account(id).cloned()
    }

    /// Changes an account's plan (and so its rate limits).
    pub fn set_plan(&self, account_id: &str, plan: Plan) -> Result<()> {
        self.state().store.set_plan(account_id, plan)
    }

    /// Creates a user in an account (no webhook).
    pub fn create_user(&self, account_id: &str, new: NewUser) -> Result<User> {
        let now = self.now_ms();
        let mut st = self.state();
        let st = &mut *st;
        if st.store.account(account_id).is_none() {
            return Err(SimError::not_found("account", account_id));
        }
        let id = new.id.unwrap_or_else(|| st.rng.id(22));
        let pmi = match new.pmi {
            Some(p) => p,
            None => loop {
                let p = st.rng.range(2_000_000_000, *PMI_RANGE.end());
                if !st.store.number_taken(p) {
                    break p;
                }
            },
        };
        let first = st.store.user_count(account_id) == 0;
        let status = new.status.unwrap_or_else(|| "active".to_owned());
        if !matches!(status.as_str(), "active" | "inactive" | "pending") {
            return Err(SimError::InvalidInput(format!("unknown status {status:?}")));
        }
        let user = User {
            email: new.email.unwrap_or_else(|| {
                format!(
                    "{}@{}.example.com",
                    id.to_lowercase(),
                    account_id.to_lowercase()
                )
            }),
            first_name: new.first_name.unwrap_or_else(|| "Sim".to_owned()),
            last_name: new.last_name.unwrap_or_else(|| "User".to_owned()),
            id,
            account_id: account_id.to_owned(),
            user_type: new.user_type.unwrap_or(2),
            role_id: new
                .role_id
                .unwrap_or_else(|| if first { "0" } else { "2" }.to_owned()),
            pmi,
            use_pmi: false,
            status,
            timezone: "UTC".to_owned(),
            created_ms: now,
            seq: 0,
            vanity_name: None,
            settings: crate::model::UserSettings::default(),
        };
        st.store.add_user(user).cloned()
    }

    /// Creates a user and fires `user.created` (Zoom's shape), the
    /// account's owner as operator.
    pub fn add_user(&self, account_id: &str, new: NewUser) -> Result<WithEvent<User>> {
        let user = self.create_user(account_id, new)?;
        let operator = self.state().store.owner(account_id).cloned();
        let event = events::user_lifecycle(
            "user.created",
            &user,
            operator.as_ref().unwrap_or(&user),
            crate::clock::wall_ms(),
        );
        Ok(WithEvent {
            value: user,
            dispatch: self.fire(&event),
        })
    }

    /// Deactivates (`active: false`) or activates a user and fires
    /// `user.deactivated` / `user.activated`.
    pub fn set_user_active(&self, user_id: &str, active: bool) -> Result<WithEvent<User>> {
        let (user, operator) = {
            let mut st = self.state();
            let user = st
                .store
                .set_user_status(user_id, if active { "active" } else { "inactive" })?;
            let operator = st.store.owner(&user.account_id).cloned();
            (user, operator)
        };
        let name = if active {
            "user.activated"
        } else {
            "user.deactivated"
        };
        let event = events::user_lifecycle(
            name,
            &user,
            operator.as_ref().unwrap_or(&user),
            crate::clock::wall_ms(),
        );
        Ok(WithEvent {
            value: user,
            dispatch: self.fire(&event),
        })
    }

    /// Deletes a user (or, with `disassociate`, takes them out of the
    /// account) with the meetings they host, and fires `user.deleted` /
    /// `user.disassociated` (no `meeting.deleted` per meeting).
    pub fn remove_user(&self, user_id: &str, disassociate: bool) -> Result<WithEvent<User>> {
        let (user, operator) = {
            let mut st = self.state();
            let (user, _meetings) = st.store.remove_user(user_id)?;
            let operator = st.store.owner(&user.account_id).cloned();
            (user, operator)
        };
        let name = if disassociate {
            "user.disassociated"
        } else {
            "user.deleted"
        };
        let event = events::user_lifecycle(
            name,
            &user,
            operator.as_ref().unwrap_or(&user),
            crate::clock::wall_ms(),
        );
        Ok(WithEvent {
            value: user,
            dispatch: self.fire(&event),
        })
    }

    /// Restores a deleted meeting (as `delete_meeting` returned it) and
    /// fires `meeting.recovered`.
    pub fn recover_meeting(&self, meeting: Meeting) -> Result<WithEvent<Meeting>> {
        let (m, host) = {
            let mut st = self.state();
            let host = st
                .store
                .user(&meeting.host_id)
                .cloned()
                .ok_or_else(|| SimError::not_found("user", &meeting.host_id))?;
            let m = st.store.add_meeting(meeting)?.clone();
            (m, host)
        };
        let event = events::meeting_recovered(&m, &host, &host, crate::clock::wall_ms());
        Ok(WithEvent {
            value: m,
            dispatch: self.fire(&event),
        })
    }

    /// A user by ID.
    #[must_use]
    pub fn user(&self, id: &str) -> Option<User> {
        self.state().store.user(id).cloned()
    }

    /// A stored meeting by number (PMIs are not stored meetings).
    #[must_use]
    pub fn meeting(&self, id: u64) -> Option<Meeting> {
        self.state().store.meeting(id).cloned()
    }

    fn operator(store: &Store, host: &User, operator_id: Option<&str>) -> Result<User> {
        match operator_id {
            None => Ok(host.clone()),
            Some(op) => {
                let u = store
                    .user(op)
                    .ok_or_else(|| SimError::not_found("user", op))?;
                if u.account_id != host.account_id {
                    return Err(SimError::InvalidInput(format!(
                        "operator {op} is not in account {}",
                        host.account_id
                    )));
                }
                Ok(u.clone())
            }
        }
    }

    /// Creates a meeting hosted by `host_id` and fires `meeting.created`.
    pub fn create_meeting(&self, host_id: &str, new: NewMeeting) -> Result<WithEvent<Meeting>> {
        let now = self.now_ms();
        let (event, meeting) = {
            let mut st = self.state();
            let st = &mut *st;
            let host = st
                .store
                .user(host_id)
                .cloned()
                .ok_or_else(|| SimError::not_found("user", host_id))?;
            let operator = Self::operator(&st.store, &host, new.operator_id.as_deref())?;
            let id = match new.id {
                Some(id) => id,
                None => loop {
                    let n = st.rng.range(81_000_000_000, *MEETING_ID_RANGE.end());
                    if !st.store.number_taken(n) {
                        break n;
                    }
                },
            };
            let mtype = new.meeting_type.unwrap_or(meeting_type::SCHEDULED);
            if !matches!(mtype, 1 | 2 | 3 | 8) {
                return Err(SimError::InvalidInput(format!(
                    "meeting type {mtype} (use 1, 2, 3 or 8; PMIs come from users)"
                )));
            }
            let start_ms = match &new.start_time {
                Some(s) => Some(parse_rfc3339_ms(s)?),
                None if mtype == meeting_type::RECURRING_NO_FIXED_TIME => None,
                None => Some(now - now % HOUR_MS + 25 * HOUR_MS),
            };
            let duration = new.duration.unwrap_or(30);
            let occurrences = match (mtype, start_ms) {
                (meeting_type::RECURRING_FIXED_TIME, Some(start)) => {
                    (0..new.occurrences.unwrap_or(4).clamp(1, MAX_OCCURRENCES))
                        .map(|k| {
                            let s = start + u64::from(k) * WEEK_MS;
                            Occurrence {
                                occurrence_id: s.to_string(),
                                start_ms: s,
                                duration,
                            }
                        })
                        .collect()
                }
                _ => Vec::new(),
            };
            let meeting = Meeting {
                id,
                uuid: format!("{}==", st.rng.id(22)),
                host_id: host.id.clone(),
                account_id: host.account_id.clone(),
                topic: new.topic.unwrap_or_else(|| "Simulated meeting".to_owned()),
                meeting_type: mtype,
                start_ms,
                duration,
                timezone: "UTC".to_owned(),
                created_ms: now,
                agenda: String::new(),
                password: st.rng.id(6),
                use_pmi: new.use_pmi.unwrap_or(false),
                occurrences,
            };
            let meeting = st.store.add_meeting(meeting)?.clone();
            (
                events::meeting_created(&meeting, &host, &operator, crate::clock::wall_ms()),
                meeting,
            )
        };
        Ok(WithEvent {
            value: meeting,
            dispatch: self.fire(&event),
        })
    }

    /// Changes a user's settings that the join-token endpoints check
    /// (Local recording off gives 3000, hosting barred gives 3161). Fires
    /// no event: Zoom's `user.settings_updated` is not simulated.
    pub fn set_user_settings(
        &self,
        user_id: &str,
        settings: crate::model::UserSettings,
    ) -> Result<User> {
        let patch = UserPatch {
            settings: Some(settings),
            ..UserPatch::default()
        };
        let (_, after) = self.state().store.update_user(user_id, &patch)?;
        Ok(after)
    }

    /// Changes a user and fires `user.updated` holding only the changed
    /// fields. A patch that changes nothing is refused.
    pub fn update_user(&self, user_id: &str, patch: UserPatch) -> Result<WithEvent<User>> {
        let (event, after) = {
            let mut st = self.state();
            let current = st
                .store
                .user(user_id)
                .cloned()
                .ok_or_else(|| SimError::not_found("user", user_id))?;
            let operator = Self::operator(&st.store, &current, patch.operator_id.as_deref())?;
            // A patch that changes nothing leaves the store as it was.
            let (before, after) = st.store.update_user(user_id, &patch)?;
            let event =
                events::user_updated(&before, &after, &operator, crate::clock::wall_ms())
                    .ok_or_else(|| SimError::InvalidInput("the patch changes nothing".into()))?;
            (event, after)
        };
        Ok(WithEvent {
            value: after,
            dispatch: self.fire(&event),
        })
    }

    /// Changes a user's PMI and fires `user.updated`.
    pub fn set_pmi(&self, user_id: &str, pmi: u64) -> Result<WithEvent<User>> {
        self.update_user(
            user_id,
            UserPatch {
                pmi: Some(pmi),
                ..UserPatch::default()
            },
        )
    }

    /// Deletes a meeting (or some occurrences) and fires `meeting.deleted`.
    pub fn delete_meeting(&self, id: u64, opts: DeleteMeeting) -> Result<WithEvent<Meeting>> {
        let (event, before) = {
            let mut st = self.state();
            let meeting = st
                .store
                .meeting(id)
                .cloned()
                .ok_or_else(|| SimError::not_found("meeting", id))?;
            let host = st
                .store
                .user(&meeting.host_id)
                .cloned()
                .ok_or_else(|| SimError::not_found("user", &meeting.host_id))?;
            let operator = Self::operator(&st.store, &host, opts.operator_id.as_deref())?;
            let (before, removed) = st
                .store
                .delete_meeting(id, opts.occurrence_ids.as_deref())?;
            (
                events::meeting_deleted(&before, &removed, &operator, crate::clock::wall_ms()),
                before,
            )
        };
        Ok(WithEvent {
            value: before,
            dispatch: self.fire(&event),
        })
    }

    /// Deauthorizes the app for an account and fires `app_deauthorized`.
    ///
    /// For an `account` app every grant of the account is revoked; for a
    /// `user` app only `user_id`'s (all of the account's when `None`). The
    /// payload's `user_id` is `user_id`, else the user of the newest revoked
    /// grant, else the account owner.
    pub fn deauthorize(
        &self,
        account_id: &str,
        user_id: Option<&str>,
    ) -> Result<WithEvent<Vec<Grant>>> {
        let (event, revoked) = {
            let mut st = self.state();
            if st.store.account(account_id).is_none() {
                return Err(SimError::not_found("account", account_id));
            }
            if let Some(u) = user_id
                && st.store.user(u).is_none_or(|u| u.account_id != account_id)
            {
                return Err(SimError::not_found("user", u));
            }
            let only_user = match self.inner.cfg.app_kind {
                crate::config::AppKind::Account => None,
                crate::config::AppKind::User => user_id,
            };
            let revoked = st.auth.revoke(account_id, only_user);
            let payload_user = user_id
                .map(str::to_owned)
                .or_else(|| revoked.last().map(|g| g.user_id.clone()))
                .or_else(|| st.store.owner(account_id).map(|u| u.id.clone()))
                .unwrap_or_default();
            let event = events::app_deauthorized(
                account_id,
                &payload_user,
                &self.inner.cfg.client_id,
                &self.inner.cfg.webhook_secret,
                crate::clock::wall_ms(),
            );
            (event, revoked)
        };
        Ok(WithEvent {
            value: revoked,
            dispatch: self.fire(&event),
        })
    }

    /// Sends an arbitrary event (signed and retried like any other).
    /// `event_ts` is set to now when absent.
    pub fn send_event(&self, mut event: Event) -> EventDispatch {
        if event.event_ts.is_none() {
            event.event_ts = Some(crate::clock::wall_ms());
        }
        self.fire(&event)
    }

    fn fire(&self, event: &Event) -> EventDispatch {
        tracing::info!(event = %event.event, "firing webhook event");
        self.inner.hooks.dispatch(event)
    }

    fn insert_generated(&self, g: Generated) -> Result<GeneratedSummary> {
        let mut st = self.state();
        let summary = GeneratedSummary {
            account_id: g.account.id.clone(),
            users: g.users.len(),
            meetings: g.meetings.len(),
            owner_id: g.users.first().map(|u| u.id.clone()),
        };
        // Validate on a copy so a clash leaves the store untouched.
        let mut store = st.store.clone();
        store.add_account(g.account)?;
        for u in g.users {
            store.add_user(u)?;
        }
        for m in g.meetings {
            store.add_meeting(m)?;
        }
        st.store = store;
        Ok(summary)
    }

    /// Generates a large account deterministically from `spec.seed` (no
    /// webhooks). Meetings start within 60 days of now.
    pub fn generate(&self, spec: &GenerateSpec) -> Result<GeneratedSummary> {
        spec.validate().map_err(SimError::InvalidInput)?;
        let base = self.now_ms();
        let g = {
            let st = self.state();
            generate::generate(spec, base, &|n| st.store.number_taken(n))
        };
        self.insert_generated(g)
    }

    /// Inserts the demo account ([`crate::generate::DEMO_ACCOUNT_ID`]).
    pub fn seed_demo(&self) -> Result<GeneratedSummary> {
        self.insert_generated(generate::demo(self.now_ms(), self.inner.cfg.plan))
    }

    // ---- OAuth --------------------------------------------------------

    /// Current authorize-page settings.
    #[must_use]
    pub fn oauth_settings(&self) -> OAuthSettings {
        self.state().oauth.clone()
    }

    /// Replaces the authorize-page settings (consenting user, decline mode, scopes).
    pub fn set_oauth_settings(&self, settings: OAuthSettings) {
        self.state().oauth = settings;
    }

    /// Every grant so far, oldest first.
    #[must_use]
    pub fn grants(&self) -> Vec<Grant> {
        self.state().auth.grants()
    }

    // ---- faults and limits -------------------------------------------

    /// Sets the injected behaviour of one endpoint, or of all when `None`.
    pub fn set_behaviour(&self, endpoint: Option<Endpoint>, behaviour: Behaviour) -> Result<()> {
        behaviour.validate().map_err(SimError::InvalidInput)?;
        let mut table = lock(&self.inner.behaviours);
        match endpoint {
            Some(e) => {
                table.insert(e, behaviour);
            }
            None => {
                for e in Endpoint::ALL {
                    table.insert(e, behaviour);
                }
            }
        }
        Ok(())
    }

    /// Injected behaviour of every endpoint that has one.
    #[must_use]
    pub fn behaviours(&self) -> BehaviourTable {
        lock(&self.inner.behaviours).clone()
    }

    /// Removes all injected latency and faults.
    pub fn reset_behaviours(&self) {
        lock(&self.inner.behaviours).clear();
    }

    pub(crate) fn behaviour(&self, endpoint: Endpoint) -> Behaviour {
        lock(&self.inner.behaviours)
            .get(&endpoint)
            .copied()
            .unwrap_or_default()
    }

    pub(crate) fn roll(&self, endpoint: Endpoint) -> Injected {
        let b = self.behaviour(endpoint);
        b.roll(&mut lock(&self.inner.fault_rng))
    }

    pub(crate) fn rate_check(&self, account_id: &str, label: Label) -> Decision {
        let plan = self
            .state()
            .store
            .account(account_id)
            .map_or(self.inner.cfg.plan, |a| a.plan);
        let limit = per_second_limit(plan, label);
        let now = u64::try_from(self.inner.mono.elapsed().as_millis()).unwrap_or(u64::MAX);
        lock(&self.inner.limiter)
            .entry((account_id.to_owned(), label))
            .or_default()
            .check(now, limit)
    }

    // ---- counters and tokens -----------------------------------------

    /// Request counters.
    #[must_use]
    pub fn stats(&self) -> Stats {
        lock(&self.inner.stats).clone()
    }

    /// Zeroes the request counters.
    pub fn reset_stats(&self) {
        *lock(&self.inner.stats) = Stats::default();
    }

    pub(crate) fn with_stats<R>(&self, f: impl FnOnce(&mut Stats) -> R) -> R {
        f(&mut lock(&self.inner.stats))
    }

    /// A token minted by the REST API, if this simulator minted it.
    #[must_use]
    pub fn token(&self, token: &str) -> Option<TokenRecord> {
        self.state().tokens.get(token).cloned()
    }

    pub(crate) fn record_token(st: &mut State, record: TokenRecord) {
        st.tokens.insert(record.token.clone(), record);
    }

    pub(crate) fn minted_at(ms: u64) -> String {
        rfc3339_millis(ms)
    }

    // ---- webhooks -----------------------------------------------------

    /// Every webhook delivery so far, oldest first.
    #[must_use]
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.inner.hooks.records()
    }

    /// One delivery.
    #[must_use]
    pub fn delivery(&self, id: u64) -> Option<DeliveryRecord> {
        self.inner.hooks.record(id)
    }

    /// A receiver that changes on every delivery update (for custom waits).
    #[must_use]
    pub fn subscribe_deliveries(&self) -> watch::Receiver<u64> {
        self.inner.hooks.subscribe()
    }

    /// Waits until every listed delivery is delivered, failed or cancelled.
    pub async fn wait_deliveries(&self, ids: &[u64]) -> Vec<DeliveryRecord> {
        self.inner.hooks.wait(ids).await
    }

    /// Current webhook settings.
    #[must_use]
    pub fn webhook_settings(&self) -> WebhookSettings {
        self.inner.hooks.settings()
    }

    /// Replaces the webhook settings (targets, retry scale, timeout); applies
    /// to events fired afterwards.
    pub fn set_webhook_settings(&self, settings: WebhookSettings) {
        self.inner.hooks.set_settings(settings);
    }

    /// Replaces the webhook target URLs.
    pub fn set_webhook_urls(&self, urls: Vec<String>) {
        let mut s = self.webhook_settings();
        s.urls = urls;
        self.set_webhook_settings(s);
    }

    /// Cancels pending webhook retries and waits for the senders to stop.
    pub async fn shutdown_webhooks(&self) {
        self.inner.hooks.shutdown().await;
    }

    /// Records the URL the simulator is served at (by [`crate::http`]).
    pub(crate) fn set_base_url(&self, url: String) {
        *lock(&self.inner.base_url) = Some(url);
    }
}

/// Parses an RFC 3339 time to Unix ms.
pub(crate) fn parse_rfc3339_ms(s: &str) -> Result<u64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| SimError::InvalidInput(format!("start_time {s:?}: {e}")))?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| SimError::InvalidInput(format!("start_time {s:?} before 1970")))
}
