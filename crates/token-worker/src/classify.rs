//! Pure decisions of the token worker: what a failed call means for the
//! reply, which key a probed meeting is stored under, deadlines and expiry
//! times. No I/O; unit-tested below.

use std::time::Duration;

use rectoken_bus::BusError;
use rectoken_domain::join::{FailureStatus, TokenKind};
use rectoken_domain::meeting_id::MeetingId;
use rectoken_store::{MapKey, Mapping};
use rectoken_vault::{CallError, VaultError};
use rectoken_zoom::ApiError;
use rectoken_zoom::error::CODE_INVALID_MEETING;
use time::OffsetDateTime;
use tokio::time::Instant;

/// `expire_in` assumed for an on-behalf token, whose answer carries none
/// (UNCONFIRMED: zoom-api.md §7 gives no lifetime for OBF tokens; Zoom's
/// join-token example lives 120 s). Only informs the bot.
pub const ONBEHALF_EXPIRE_IN_SECS: u64 = 120;

/// The longest the worker keeps calling Zoom for one request, whatever the
/// caller's `deadline`: a bot asking for a token minutes ahead gains
/// nothing from retries that long (the token itself lives about 120 s).
pub const MAX_WORK: Duration = Duration::from_secs(120);

/// What a failed call means for the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Zoom says the meeting (or its host) does not exist for the account
    /// it is mapped to: drop the mapping, reply `not_found`.
    Stale {
        /// Zoom's reason, for the reply's `error`.
        message: String,
    },
    /// Reply with this failure.
    Reply {
        /// The reply's status.
        status: FailureStatus,
        /// The reply's `error`.
        message: String,
    },
    /// rectoken's own state (Redis) failed: retry the message later rather
    /// than give the bot a wrong answer.
    Transient {
        /// What failed (for logs).
        message: String,
    },
}

impl Verdict {
    fn reply(status: FailureStatus, message: String) -> Self {
        Verdict::Reply { status, message }
    }
}

/// What a call was for, in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Minting a token of this kind.
    Mint(TokenKind),
    /// `GET /meetings/{id}` while probing for the owner.
    Probe,
}

impl Purpose {
    fn describe(self) -> String {
        match self {
            Purpose::Mint(kind) => format!("the {kind} token"),
            Purpose::Probe => "the meeting lookup".to_owned(),
        }
    }
}

/// Classifies a failed [`ZoomAccess::call`](rectoken_vault::ZoomAccess::call)
/// made for `account` (a connection ID) about `meeting`.
pub fn classify_call_error(
    err: &CallError,
    account: &str,
    meeting: MeetingId,
    purpose: Purpose,
) -> Verdict {
    use FailureStatus as S;
    let what = purpose.describe();
    match err {
        CallError::Vault(v) => match v {
            VaultError::NotConnected(_) => Verdict::reply(
                S::AccountDisconnected,
                format!("account {account} has no stored credentials; connect it again"),
            ),
            VaultError::Disconnected { reason, .. } => Verdict::reply(
                S::AccountDisconnected,
                format!("account {account} is disconnected: {reason}"),
            ),
            VaultError::Transient(m) => Verdict::reply(
                S::ZoomError,
                format!("could not refresh the access token of account {account}: {m}"),
            ),
            VaultError::Crypto(e) => Verdict::reply(
                S::AccountDisconnected,
                format!(
                    "the stored credentials of account {account} cannot be decrypted ({e}); \
                     connect the account again or check RECTOKEN_ENCRYPTION_KEY"
                ),
            ),
            VaultError::Store(e) => Verdict::Transient {
                message: e.to_string(),
            },
        },
        CallError::Store(e) => Verdict::Transient {
            message: e.to_string(),
        },
        CallError::RateLimited => Verdict::reply(
            S::RateLimited,
            format!(
                "Zoom's rate limit for account {account} did not let {what} through before the \
                 deadline; retry later"
            ),
        ),
        CallError::Zoom(api) => classify_api_error(api, account, meeting, &what),
    }
}

fn classify_api_error(api: &ApiError, account: &str, meeting: MeetingId, what: &str) -> Verdict {
    use FailureStatus as S;
    match api {
        ApiError::NotFound { .. } => Verdict::Stale {
            message: format!(
                "meeting {meeting} does not exist at Zoom for account {account} ({api})"
            ),
        },
        ApiError::Other { code, .. } if *code == Some(CODE_INVALID_MEETING) => Verdict::Stale {
            message: format!(
                "Zoom says meeting {meeting} is invalid for account {account} ({api})"
            ),
        },
        ApiError::MissingScope { message } => Verdict::reply(
            S::ZoomError,
            format!(
                "the Zoom app's authorization for account {account} lacks a scope needed for \
                 {what}; re-authorize the app with that scope (Zoom: {message})"
            ),
        ),
        ApiError::Unauthorized { .. } => Verdict::reply(
            S::AccountDisconnected,
            format!(
                "Zoom rejected account {account}'s access token even after a refresh ({api}); \
                 connect the account again"
            ),
        ),
        ApiError::RateLimited { .. } => Verdict::reply(
            S::RateLimited,
            format!("Zoom rate-limited account {account} until the deadline ({api}); retry later"),
        ),
        ApiError::Server { .. } | ApiError::Transport(_) => Verdict::reply(
            S::ZoomError,
            format!("Zoom kept failing for {what} until the deadline: {api}"),
        ),
        ApiError::BadResponse(_) | ApiError::InvalidRequest(_) | ApiError::Other { .. } => {
            Verdict::reply(
                S::ZoomError,
                format!("Zoom could not provide {what}: {api}"),
            )
        }
    }
}

/// Of several verdicts (one per failed call), the one to act on: a stale
/// mapping first (it must be cleaned up), then transient trouble (retry),
/// then the first failure.
pub fn worst(verdicts: Vec<Verdict>) -> Option<Verdict> {
    let rank = |v: &Verdict| match v {
        Verdict::Stale { .. } => 0,
        Verdict::Transient { .. } => 1,
        Verdict::Reply { .. } => 2,
    };
    let mut best: Option<Verdict> = None;
    for v in verdicts {
        if best.as_ref().is_none_or(|b| rank(&v) < rank(b)) {
            best = Some(v);
        }
    }
    best
}

/// The outcome of probing every connected account for a meeting none of
/// the maps knows, when no account claimed it.
///
/// `failures` holds the verdict of each account that did not answer "found".
/// Only when every account said "not mine" (or cannot be used at all) is the
/// answer `not_found`; if some account could not be asked (rate limit, Zoom
/// failing, Redis trouble) the meeting may well be theirs, so that failure
/// is reported instead.
pub fn probe_miss(meeting: MeetingId, accounts: usize, failures: Vec<Verdict>) -> Verdict {
    let inconclusive: Vec<Verdict> = failures
        .into_iter()
        .filter(|v| match v {
            Verdict::Stale { .. } => false,
            Verdict::Transient { .. } => true,
            Verdict::Reply { status, .. } => !matches!(status, FailureStatus::AccountDisconnected),
        })
        .collect();
    let n = inconclusive.len();
    match worst(inconclusive) {
        Some(Verdict::Reply { status, message }) => Verdict::Reply {
            status,
            message: format!(
                "meeting {meeting} is not in rectoken's map, and {n} of {accounts} connected \
                 accounts could not be asked whether they own it: {message}"
            ),
        },
        Some(other) => other,
        None => not_found_unowned(meeting),
    }
}

/// The `not_found` of a meeting no connected account owns.
pub fn not_found_unowned(meeting: MeetingId) -> Verdict {
    Verdict::Reply {
        status: FailureStatus::NotFound,
        message: format!("no connected account owns meeting {meeting}; join without a token"),
    }
}

/// The map key a probed meeting is stored under: a PMI when Zoom's answer
/// says the requested number is the host's PMI (type 4, or `pmi` equal to
/// the number asked for), else a meeting ID.
pub fn probed_key(
    requested: MeetingId,
    meeting_type: Option<i64>,
    pmi: Option<MeetingId>,
) -> MapKey {
    const PMI_TYPE: i64 = 4;
    if pmi == Some(requested) || meeting_type == Some(PMI_TYPE) {
        MapKey::pmi(requested)
    } else {
        MapKey::meeting(requested)
    }
}

/// Of the two lookups (meeting ID, PMI), the mapping to use: the meeting
/// ID's when both exist (a scheduled meeting's number is what bots join
/// with; the namespaces are separate).
pub fn pick_mapping(
    id: MeetingId,
    meeting: Option<Mapping>,
    pmi: Option<Mapping>,
) -> Option<(MapKey, Mapping)> {
    meeting
        .map(|m| (MapKey::meeting(id), m))
        .or_else(|| pmi.map(|m| (MapKey::pmi(id), m)))
}

/// The Zoom account ID of a connection ID: a user-level connection is
/// `{account_id}~{user_id}` (see `rectoken_domain::jobs::connection_id`).
pub fn zoom_account_id(connection_id: &str) -> &str {
    connection_id
        .split_once('~')
        .map_or(connection_id, |(account, _)| account)
}

/// When a token minted at `minted_at` with `expire_in` seconds expires.
pub fn expires_at(minted_at: OffsetDateTime, expire_in: u64) -> OffsetDateTime {
    let secs = i64::try_from(expire_in).unwrap_or(i64::MAX);
    minted_at.saturating_add(time::Duration::seconds(secs))
}

/// Whether a request with this deadline is past it at `now`.
pub fn is_expired(deadline: OffsetDateTime, now: OffsetDateTime) -> bool {
    deadline <= now
}

/// The monotonic instant of `deadline` (measured at `now` / `now_instant`),
/// capped at [`MAX_WORK`] from now. A deadline already past maps to `now`.
pub fn deadline_instant(
    deadline: OffsetDateTime,
    now: OffsetDateTime,
    now_instant: Instant,
) -> Instant {
    let left = Duration::try_from(deadline - now).unwrap_or(Duration::ZERO);
    now_instant + left.min(MAX_WORK)
}

/// What to do when the reply could not be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishFailure {
    /// The broker refused or could not route the reply: the requester is
    /// gone. Ack the request; nobody waits for it.
    RequesterGone,
    /// The broker is unavailable or did not confirm: try the request again.
    Retry,
}

/// Classifies a failed reply publish.
pub fn publish_failure(e: &BusError) -> PublishFailure {
    match e {
        BusError::Rejected(_) => PublishFailure::RequesterGone,
        _ => PublishFailure::Retry,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rectoken_store::{Source, StoreError};
    use time::macros::datetime;

    use super::*;

    fn id(n: u64) -> MeetingId {
        MeetingId::new(n).unwrap()
    }

    fn reply(status: FailureStatus, needle: &str, v: &Verdict) {
        match v {
            Verdict::Reply { status: s, message } => {
                assert_eq!(*s, status, "{message}");
                assert!(message.contains(needle), "{message:?} lacks {needle:?}");
            }
            other => panic!("expected {status:?}, got {other:?}"),
        }
    }

    #[test]
    fn call_errors_map_to_statuses() {
        let m = id(85012345678);
        let mint = Purpose::Mint(TokenKind::LocalRecording);
        let c = |e: CallError| classify_call_error(&e, "acct", m, mint);
        use FailureStatus as S;

        reply(S::RateLimited, "acct", &c(CallError::RateLimited));
        reply(
            S::AccountDisconnected,
            "refresh token was refused",
            &c(CallError::Vault(VaultError::Disconnected {
                account_id: "acct".into(),
                reason: "the refresh token was refused".into(),
            })),
        );
        reply(
            S::AccountDisconnected,
            "no stored credentials",
            &c(CallError::Vault(VaultError::NotConnected("acct".into()))),
        );
        reply(
            S::ZoomError,
            "could not refresh",
            &c(CallError::Vault(VaultError::Transient("timeout".into()))),
        );
        assert!(matches!(
            c(CallError::Store(StoreError::Unsupported("x".into()))),
            Verdict::Transient { .. }
        ));
        assert!(matches!(
            c(CallError::Vault(VaultError::Store(
                StoreError::Unsupported("x".into())
            ))),
            Verdict::Transient { .. }
        ));

        let zoom = |e: ApiError| c(CallError::Zoom(e));
        for stale in [
            ApiError::NotFound {
                code: Some(3001),
                message: "Meeting does not exist: 85012345678.".into(),
            },
            ApiError::NotFound {
                code: Some(300),
                message: "Meeting ID does not exist.".into(),
            },
            ApiError::Other {
                status: 400,
                code: Some(300),
                message: "Invalid meeting ID.".into(),
            },
        ] {
            assert!(
                matches!(zoom(stale.clone()), Verdict::Stale { .. }),
                "{stale:?}"
            );
        }
        reply(
            S::ZoomError,
            "lacks a scope needed for the local_recording token",
            &zoom(ApiError::MissingScope {
                message: "Invalid access token, does not contain scopes:[x].".into(),
            }),
        );
        reply(
            S::AccountDisconnected,
            "even after a refresh",
            &zoom(ApiError::Unauthorized {
                code: Some(124),
                message: "Invalid access token.".into(),
            }),
        );
        reply(
            S::RateLimited,
            "rate-limited",
            &zoom(ApiError::RateLimited {
                retry_after: None,
                category: None,
                limit_type: None,
            }),
        );
        reply(
            S::ZoomError,
            "HTTP 500",
            &zoom(ApiError::Server { status: 500 }),
        );
        reply(
            S::ZoomError,
            "kept failing",
            &zoom(ApiError::Transport("reset".into())),
        );
        reply(
            S::ZoomError,
            "Not allowed to start local recording",
            &zoom(ApiError::Other {
                status: 400,
                code: Some(3000),
                message: "Not allowed to start local recording.".into(),
            }),
        );
        reply(
            S::ZoomError,
            "the meeting lookup",
            &classify_call_error(
                &CallError::Zoom(ApiError::BadResponse("x".into())),
                "a",
                m,
                Purpose::Probe,
            ),
        );
    }

    #[test]
    fn worst_prefers_stale_then_transient() {
        let r = Verdict::reply(FailureStatus::ZoomError, "z".into());
        let t = Verdict::Transient {
            message: "t".into(),
        };
        let s = Verdict::Stale {
            message: "s".into(),
        };
        assert_eq!(worst(vec![]), None);
        assert_eq!(worst(vec![r.clone()]), Some(r.clone()));
        assert_eq!(worst(vec![r.clone(), t.clone()]), Some(t.clone()));
        assert_eq!(worst(vec![t, r.clone(), s.clone()]), Some(s));
        let r2 = Verdict::reply(FailureStatus::RateLimited, "r".into());
        assert_eq!(worst(vec![r.clone(), r2]), Some(r), "first of equals");
    }

    #[test]
    fn probe_misses() {
        let m = id(85012345678);
        let not_mine = Verdict::Stale {
            message: "404".into(),
        };
        let gone = Verdict::reply(FailureStatus::AccountDisconnected, "gone".into());
        reply(
            FailureStatus::NotFound,
            "no connected account owns meeting 85012345678; join without a token",
            &probe_miss(m, 2, vec![not_mine.clone(), gone.clone()]),
        );
        reply(
            FailureStatus::NotFound,
            "no connected account",
            &probe_miss(m, 0, vec![]),
        );
        let limited = Verdict::reply(FailureStatus::RateLimited, "slow down".into());
        reply(
            FailureStatus::RateLimited,
            "1 of 3 connected accounts could not be asked",
            &probe_miss(m, 3, vec![not_mine, gone, limited]),
        );
        let t = Verdict::Transient {
            message: "redis".into(),
        };
        assert_eq!(probe_miss(m, 1, vec![t.clone()]), t);
    }

    #[test]
    fn probed_keys() {
        let n = id(5551234567);
        assert_eq!(probed_key(n, Some(4), Some(n)), MapKey::pmi(n));
        assert_eq!(probed_key(n, None, Some(n)), MapKey::pmi(n));
        assert_eq!(probed_key(n, Some(4), None), MapKey::pmi(n));
        // A scheduled meeting that uses the host's PMI keeps its own number.
        assert_eq!(
            probed_key(n, Some(2), Some(id(5559999999))),
            MapKey::meeting(n)
        );
        assert_eq!(probed_key(n, Some(8), None), MapKey::meeting(n));
    }

    #[test]
    fn meeting_mapping_wins_over_pmi() {
        let n = id(5551234567);
        let mapping = |a: &str| Mapping {
            account_id: a.into(),
            owner_id: "u".into(),
            source: Source::Sync,
            version_ms: 1,
            written_at_ms: 1,
        };
        assert_eq!(pick_mapping(n, None, None), None);
        assert_eq!(
            pick_mapping(n, Some(mapping("m")), Some(mapping("p"))),
            Some((MapKey::meeting(n), mapping("m")))
        );
        assert_eq!(
            pick_mapping(n, None, Some(mapping("p"))),
            Some((MapKey::pmi(n), mapping("p")))
        );
    }

    #[test]
    fn account_part_of_connection_ids() {
        assert_eq!(zoom_account_id("aBcD123"), "aBcD123");
        assert_eq!(zoom_account_id("aBcD123~z8yAAAAA8bbbQ"), "aBcD123");
        assert_eq!(zoom_account_id(""), "");
    }

    #[test]
    fn times() {
        let t = datetime!(2026-11-29 10:00:00 UTC);
        assert_eq!(expires_at(t, 120), datetime!(2026-11-29 10:02:00 UTC));
        assert_eq!(
            expires_at(t, u64::MAX),
            OffsetDateTime::new_utc(time::Date::MAX, time::Time::MAX)
        );
        assert!(is_expired(t, t));
        assert!(!is_expired(t + time::Duration::SECOND, t));
        let now = Instant::now();
        assert_eq!(deadline_instant(t - time::Duration::SECOND, t, now), now);
        assert_eq!(
            deadline_instant(t + time::Duration::seconds(5), t, now),
            now + Duration::from_secs(5)
        );
        assert_eq!(
            deadline_instant(t + time::Duration::days(300), t, now),
            now + MAX_WORK
        );
    }

    #[test]
    fn publish_failures() {
        assert_eq!(
            publish_failure(&BusError::Rejected("unroutable: NO_ROUTE".into())),
            PublishFailure::RequesterGone
        );
        assert_eq!(
            publish_failure(&BusError::Unavailable("down".into())),
            PublishFailure::Retry
        );
        assert_eq!(
            publish_failure(&BusError::ConfirmTimeout(Duration::from_secs(2))),
            PublishFailure::Retry
        );
    }
}
