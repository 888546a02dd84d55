//! Pure decisions of the token worker: what a failed call means for the
//! reply, which key a probed meeting is stored under, deadlines and expiry
//! times. No I/O; unit-tested below.

use std::collections::BTreeSet;
use std::time::Duration;

use rectoken_bus::BusError;
use rectoken_domain::join::{FailureStatus, TokenKind};
use rectoken_domain::meeting_id::MeetingId;
use rectoken_store::{MapKey, Mapping};
use rectoken_vault::{CallError, VaultError};
use rectoken_zoom::ApiError;
use rectoken_zoom::apps::Cloud;
use rectoken_zoom::error::CODE_INVALID_MEETING;
use time::OffsetDateTime;
use tokio::time::Instant;

/// `expire_in` assumed for an on-behalf token, whose answer carries none
/// (UNCONFIRMED: docs/zoom.md §7 gives no lifetime for OBF tokens; Zoom's
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
    /// Zoom refused with an error code the bot can act on: reply with
    /// this failure, its machine-readable reason and Zoom's code.
    Refused {
        /// The reply's status.
        status: FailureStatus,
        /// The reply's `reason` (see [`ZoomRefusal`]).
        reason: &'static str,
        /// Zoom's error code.
        zoom_code: Option<i64>,
        /// The reply's `error`, with Zoom's message.
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
        CallError::Zoom(api) => classify_api_error(api, account, meeting, &what, purpose),
    }
}

/// Reasons of join replies for Zoom's refusals (the reply's `reason`): the
/// contract's list, `rectoken_domain::join::reason`.
pub use rectoken_domain::join::reason as refusal_reason;

/// What a refused mint means for the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoomRefusal {
    /// The reply's status (within the contract's set).
    pub status: FailureStatus,
    /// The reply's `reason`.
    pub reason: &'static str,
    /// Whether the meeting's mapping is to be removed (versioned). Only
    /// "meeting does not exist" (404/3001) removes: a 404/300 or 400/300
    /// may come from a wrong ID in the request, 3000/3161/124 are about the
    /// host or the app, and none of them says the meeting is gone.
    pub removes_mapping: bool,
}

/// Maps Zoom's refusal of a join-token call (HTTP status and Zoom code,
/// docs/zoom.md §7 and "Errors seen in the wild") to the reply. Pure.
pub fn zoom_refusal(http_status: u16, code: Option<i64>, kind: TokenKind) -> ZoomRefusal {
    use FailureStatus as S;
    use refusal_reason as R;
    let r = |status, reason, removes_mapping| ZoomRefusal {
        status,
        reason,
        removes_mapping,
    };
    match (http_status, code) {
        (404, Some(3001)) => r(S::NotFound, R::MEETING_GONE, true),
        (404, Some(1001)) => r(S::NotFound, R::USER_NOT_FOUND, false),
        (404, _) => r(S::NotFound, R::MEETING_NOT_FOUND, false),
        (400, Some(300)) => r(S::NotFound, R::INVALID_MEETING_ID, false),
        (_, Some(3000)) => r(
            S::ZoomError,
            match kind {
                TokenKind::LocalArchiving => R::ARCHIVING_DISABLED,
                TokenKind::LiveStreaming => R::LIVE_STREAMING_DISABLED,
                _ => R::RECORDING_DISABLED,
            },
            false,
        ),
        (_, Some(3161)) => r(S::ZoomError, R::HOST_NOT_ALLOWED, false),
        (400, Some(124)) => r(S::ZoomError, R::OAUTH_REQUIRED, false),
        (_, Some(4711)) => r(S::ZoomError, R::MISSING_SCOPE, false),
        _ => r(S::ZoomError, R::ZOOM_ERROR, false),
    }
}

/// What the bot's operator can do about a refusal, for the reply's `error`.
fn refusal_hint(reason: &str) -> &'static str {
    use refusal_reason as R;
    match reason {
        R::RECORDING_DISABLED => {
            "the host's Local recording setting is off: the host or an account admin must turn on \
             Settings → Recording → Local recording (and allow it for internal participants)"
        }
        R::ARCHIVING_DISABLED => {
            "archiving is off for the host: an admin must turn on Archive meetings and webinars"
        }
        R::LIVE_STREAMING_DISABLED => {
            "live streaming is off for the host: turn on Allow livestreaming of meetings"
        }
        R::HOST_NOT_ALLOWED => "the host may not host or schedule meetings (Zoom 3161)",
        R::OAUTH_REQUIRED => "Zoom accepts only OAuth tokens for this call",
        R::MEETING_GONE => "the meeting no longer exists",
        R::INVALID_MEETING_ID | R::MEETING_NOT_FOUND => {
            "Zoom does not know this meeting for the mapped account; join without a token"
        }
        R::USER_NOT_FOUND => "Zoom does not know the user",
        _ => "Zoom refused",
    }
}

fn classify_mint_refusal(
    api: &ApiError,
    status: u16,
    code: Option<i64>,
    kind: TokenKind,
    account: &str,
    meeting: MeetingId,
) -> Verdict {
    let refusal = zoom_refusal(status, code, kind);
    if refusal.removes_mapping {
        return Verdict::Stale {
            message: format!(
                "meeting {meeting} does not exist at Zoom for account {account} ({api})"
            ),
        };
    }
    Verdict::Refused {
        status: refusal.status,
        reason: refusal.reason,
        zoom_code: code,
        message: format!(
            "{}: Zoom refused the {kind} token for meeting {meeting} (account {account}): {api}",
            refusal_hint(refusal.reason)
        ),
    }
}

fn classify_api_error(
    api: &ApiError,
    account: &str,
    meeting: MeetingId,
    what: &str,
    purpose: Purpose,
) -> Verdict {
    use FailureStatus as S;
    if let Purpose::Mint(kind) = purpose {
        match api {
            ApiError::NotFound { code, .. } => {
                return classify_mint_refusal(api, 404, *code, kind, account, meeting);
            }
            ApiError::Other { status, code, .. } => {
                return classify_mint_refusal(api, *status, *code, kind, account, meeting);
            }
            ApiError::MissingScope { message } => {
                return Verdict::Refused {
                    status: S::ZoomError,
                    reason: refusal_reason::MISSING_SCOPE,
                    zoom_code: Some(rectoken_zoom::error::CODE_MISSING_SCOPE),
                    message: format!(
                        "the Zoom app's authorization for account {account} lacks a scope needed for \
                         {what}; re-authorize the app with that scope (Zoom: {message})"
                    ),
                };
            }
            _ => {}
        }
    }
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
        Verdict::Reply { .. } | Verdict::Refused { .. } => 2,
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
            Verdict::Reply { status, .. } | Verdict::Refused { status, .. } => {
                !matches!(status, FailureStatus::AccountDisconnected)
            }
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
    rectoken_domain::jobs::split_connection_id(connection_id).0
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

/// The vanity name of a join request whose `meeting_url` is a personal
/// link (`zoom.us/my/NAME`), with the request as JSON; `None` for any other
/// body (which is decoded as usual).
pub fn personal_link_request(body: &[u8]) -> Option<(serde_json::Value, String)> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let url = value.get("meeting_url")?.as_str()?;
    let name = rectoken_domain::meeting_id::personal_link_name(url)?;
    Some((value, name))
}

/// The request with its personal link replaced by the PMI the link opens,
/// as the body to decode.
pub fn with_resolved_pmi(mut request: serde_json::Value, pmi: MeetingId) -> Vec<u8> {
    if let Some(o) = request.as_object_mut() {
        o.remove("meeting_url");
        o.insert("meeting_id".into(), serde_json::json!(pmi.to_string()));
    }
    serde_json::to_vec(&request).unwrap_or_default()
}

/// Reason of a reply to a meeting link of the other Zoom cloud (ZoomGov vs
/// commercial).
pub const REASON_OTHER_CLOUD: &str = refusal_reason::OTHER_CLOUD;

/// The Zoom cloud a join request's `meeting_url` names (`zoomgov.com`:
/// ZoomGov, any other link: commercial); `None` for a bare meeting ID,
/// which says nothing about its cloud.
pub fn link_cloud(body: &[u8]) -> Option<Cloud> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let url = value.get("meeting_url")?.as_str()?;
    if !url.contains(['.', '/']) {
        return None;
    }
    Some(Cloud::of_url(url))
}

/// Why a link of cloud `link` cannot be served by apps of `served` (the
/// deployment's apps' clouds), or `None` when some app is of that cloud.
/// ZoomGov is a separate cloud with its own apps and API, so a gov meeting
/// is never looked up (or minted) among commercial accounts, nor the other
/// way round (issue 14).
pub fn cloud_refusal(link: Cloud, served: &BTreeSet<Cloud>) -> Option<String> {
    (!served.contains(&link)).then(|| match link {
        Cloud::Gov => "the meeting is on ZoomGov (zoomgov.com), but this rectoken's Zoom apps are \
             on Zoom's commercial cloud; join without a token"
            .to_owned(),
        Cloud::Commercial => "the meeting is on Zoom's commercial cloud, but this rectoken's Zoom \
             apps are on ZoomGov; join without a token"
            .to_owned(),
    })
}

/// Why the account that owns a meeting cannot serve a link of cloud `link`
/// (its app is of the other cloud), or `None`.
pub fn owner_cloud_refusal(link: Cloud, owner: Cloud) -> Option<String> {
    (link != owner).then(|| {
        format!(
            "the meeting link is on Zoom's {} cloud, but the account mapped to this meeting ID \
             is connected through a {} app; join without a token",
            link.as_str(),
            owner.as_str()
        )
    })
}

/// [`cloud_refusal`] for a deployment whose only app calls `api_base`.
pub fn other_cloud(body: &[u8], api_base: &str) -> Option<String> {
    cloud_refusal(
        link_cloud(body)?,
        &BTreeSet::from([Cloud::of_url(api_base)]),
    )
}

/// Reason of a reply to a personal link no connected account's user has.
pub const REASON_PERSONAL_LINK_UNKNOWN: &str = refusal_reason::PERSONAL_LINK_UNKNOWN;

/// What to do when the reply could not be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishFailure {
    /// The broker could not route the reply: the requester is gone. Ack the
    /// request; nobody waits for it.
    RequesterGone,
    /// The broker is unavailable, did not confirm, or nacked the reply (a
    /// reply queue without a leader during a failover): try the request
    /// again rather than drop a reply someone still waits for.
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

    fn refused(status: FailureStatus, reason: &str, v: &Verdict) {
        match v {
            Verdict::Refused {
                status: s,
                reason: r,
                message,
                ..
            } => {
                assert_eq!(*s, status, "{message}");
                assert_eq!(*r, reason, "{message}");
            }
            other => panic!("expected {status:?}/{reason}, got {other:?}"),
        }
    }

    #[test]
    fn a_mixed_deployment_serves_both_clouds_but_each_owner_only_its_own() {
        let both = BTreeSet::from([Cloud::Gov, Cloud::Commercial]);
        let commercial_only = BTreeSet::from([Cloud::Commercial]);
        assert_eq!(cloud_refusal(Cloud::Gov, &both), None);
        assert_eq!(cloud_refusal(Cloud::Commercial, &both), None);
        assert!(cloud_refusal(Cloud::Gov, &commercial_only).is_some());
        assert_eq!(cloud_refusal(Cloud::Commercial, &commercial_only), None);
        assert_eq!(owner_cloud_refusal(Cloud::Gov, Cloud::Gov), None);
        let m = owner_cloud_refusal(Cloud::Gov, Cloud::Commercial).unwrap();
        assert!(
            m.contains("gov cloud") && m.contains("commercial app"),
            "{m}"
        );
        let body = |url: &str| format!(r#"{{"meeting_url":"{url}"}}"#).into_bytes();
        assert_eq!(
            link_cloud(&body("https://agency.zoomgov.com/j/1612345678")),
            Some(Cloud::Gov)
        );
        assert_eq!(
            link_cloud(&body("https://us02web.zoom.us/j/85012345678")),
            Some(Cloud::Commercial)
        );
        assert_eq!(link_cloud(br#"{"meeting_id":"85012345678"}"#), None);
        assert_eq!(link_cloud(&body("85012345678")), None);
        assert_eq!(link_cloud(b"not json"), None);
    }

    #[test]
    fn gov_and_commercial_links_stay_in_their_cloud() {
        let commercial = "https://api.zoom.us/v2";
        let gov = "https://api.zoomgov.com/v2";
        let body = |url: &str| format!(r#"{{"meeting_url":"{url}"}}"#).into_bytes();
        let gov_link = body("https://agency.zoomgov.com/j/1612345678");
        let link = body("https://us02web.zoom.us/j/85012345678");
        assert!(
            other_cloud(&gov_link, commercial)
                .unwrap()
                .contains("ZoomGov")
        );
        assert!(other_cloud(&link, gov).is_some());
        assert_eq!(other_cloud(&gov_link, gov), None);
        assert_eq!(other_cloud(&link, commercial), None);
        assert_eq!(
            other_cloud(&body("85012345678"), gov),
            None,
            "a bare ID says nothing"
        );
        assert_eq!(other_cloud(br#"{"meeting_id":"85012345678"}"#, gov), None);
        // The simulator's address counts as commercial.
        assert!(other_cloud(&gov_link, "http://127.0.0.1:9090/v2").is_some());
    }

    #[test]
    fn personal_links_are_recognised_and_rewritten_to_the_pmi() {
        let body = br#"{"request_id":"p","meeting_url":"https://zoom.us/my/JillSmith","tokens":["local_recording"]}"#;
        let (value, name) = personal_link_request(body).unwrap();
        assert_eq!(name, "JillSmith");
        let out: serde_json::Value =
            serde_json::from_slice(&with_resolved_pmi(value, id(5_551_112_222))).unwrap();
        assert_eq!(out["meeting_id"], "5551112222");
        assert!(out.get("meeting_url").is_none());
        assert_eq!(out["request_id"], "p");
        assert_eq!(out["tokens"][0], "local_recording");
        for other in [
            &br#"{"meeting_url":"https://zoom.us/j/85012345678"}"#[..],
            br#"{"meeting_id":"85012345678"}"#,
            br#"{"meeting_url":5}"#,
            b"not json",
        ] {
            assert!(personal_link_request(other).is_none());
        }
    }

    #[test]
    fn every_zoom_refusal_maps_to_a_reply_a_bot_can_act_on() {
        use FailureStatus as S;
        use TokenKind as K;
        // (HTTP status, Zoom code, kind) → (status, reason, removes mapping)
        type Case = (u16, Option<i64>, K, S, &'static str, bool);
        let cases: [Case; 14] = [
            (
                404,
                Some(3001),
                K::LocalRecording,
                S::NotFound,
                "meeting_gone",
                true,
            ),
            (
                404,
                Some(3001),
                K::LiveStreaming,
                S::NotFound,
                "meeting_gone",
                true,
            ),
            (
                404,
                Some(300),
                K::LocalRecording,
                S::NotFound,
                "meeting_not_found",
                false,
            ),
            (
                404,
                None,
                K::LocalRecording,
                S::NotFound,
                "meeting_not_found",
                false,
            ),
            (
                404,
                Some(1001),
                K::OnBehalf,
                S::NotFound,
                "user_not_found",
                false,
            ),
            (
                400,
                Some(300),
                K::LocalRecording,
                S::NotFound,
                "invalid_meeting_id",
                false,
            ),
            (
                400,
                Some(3000),
                K::LocalRecording,
                S::ZoomError,
                "recording_disabled",
                false,
            ),
            (
                400,
                Some(3000),
                K::LocalArchiving,
                S::ZoomError,
                "archiving_disabled",
                false,
            ),
            (
                400,
                Some(3000),
                K::LiveStreaming,
                S::ZoomError,
                "live_streaming_disabled",
                false,
            ),
            (
                400,
                Some(3161),
                K::LocalRecording,
                S::ZoomError,
                "host_not_allowed",
                false,
            ),
            (
                400,
                Some(124),
                K::LocalRecording,
                S::ZoomError,
                "oauth_required",
                false,
            ),
            (
                400,
                Some(4711),
                K::LocalRecording,
                S::ZoomError,
                "missing_scope",
                false,
            ),
            (
                400,
                Some(9999),
                K::LocalRecording,
                S::ZoomError,
                "zoom_error",
                false,
            ),
            (
                403,
                None,
                K::LocalRecording,
                S::ZoomError,
                "zoom_error",
                false,
            ),
        ];
        for (http, code, kind, status, reason, removes) in cases {
            let r = zoom_refusal(http, code, kind);
            assert_eq!(
                (r.status, r.reason, r.removes_mapping),
                (status, reason, removes),
                "{http} {code:?} {kind:?}"
            );
            assert!(!refusal_hint(r.reason).is_empty());
        }
        // Only 404/3001 ever removes a mapping, whatever the kind.
        for http in [400u16, 401, 403, 404, 409, 422, 500] {
            for code in [
                None,
                Some(124),
                Some(300),
                Some(1001),
                Some(3000),
                Some(3001),
                Some(3161),
            ] {
                for kind in [
                    K::LocalRecording,
                    K::LocalArchiving,
                    K::LiveStreaming,
                    K::OnBehalf,
                ] {
                    assert_eq!(
                        zoom_refusal(http, code, kind).removes_mapping,
                        http == 404 && code == Some(3001),
                        "{http} {code:?} {kind:?}"
                    );
                }
            }
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
        // Only "meeting does not exist" (404/3001) makes the mapping stale.
        assert!(matches!(
            zoom(ApiError::NotFound {
                code: Some(3001),
                message: "Meeting does not exist: 85012345678.".into(),
            }),
            Verdict::Stale { .. }
        ));
        for (kept, reason) in [
            (
                ApiError::NotFound {
                    code: Some(300),
                    message: "Meeting ID does not exist.".into(),
                },
                "meeting_not_found",
            ),
            (
                ApiError::Other {
                    status: 400,
                    code: Some(300),
                    message: "Invalid meeting ID.".into(),
                },
                "invalid_meeting_id",
            ),
        ] {
            refused(S::NotFound, reason, &zoom(kept));
        }
        refused(
            S::ZoomError,
            "missing_scope",
            &zoom(ApiError::MissingScope {
                message: "Invalid access token, does not contain scopes:[x].".into(),
            }),
        );
        // The probe's 404 and 400/300 still mean "not this account's".
        for not_mine in [
            ApiError::NotFound {
                code: Some(300),
                message: "x".into(),
            },
            ApiError::Other {
                status: 400,
                code: Some(300),
                message: "Invalid meeting ID.".into(),
            },
        ] {
            assert!(matches!(
                classify_call_error(&CallError::Zoom(not_mine), "a", m, Purpose::Probe),
                Verdict::Stale { .. }
            ));
        }
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
        refused(
            S::ZoomError,
            "recording_disabled",
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
        assert_eq!(
            publish_failure(&BusError::Nacked("broker nacked the publish".into())),
            PublishFailure::Retry
        );
    }
}
