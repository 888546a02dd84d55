//! Pure per-kind decisions: which asked kinds need the meeting's owner and
//! which the sender, why a kind is refused before any call, and how a failed
//! call becomes a [`TokenError`] (status, reason code, Zoom code). No I/O;
//! unit-tested below.

use rectoken_domain::join::{FailureStatus, TokenError, TokenKind, reason};
use rectoken_store::DirectoryKey;
use rectoken_vault::{CallError, VaultError};
use rectoken_zoom::ApiError;
use rectoken_zoom::error::{CODE_MISSING_SCOPE, CODE_USER_NOT_FOUND};

use crate::classify::Verdict;
use rectoken_domain::jobs::{connection_id, is_user_level_connection, split_connection_id};

/// `expire_in` assumed for a ZAK, whose answer carries none: Zoom's ZAKs
/// live two hours (developers.zoom.us/docs/meeting-sdk/auth/zak/; the
/// simulator's `ZAK_TTL_SECS`). Only informs the bot.
pub const ZAK_EXPIRE_IN_SECS: u64 = 2 * 3600;

/// Whom a kind is minted through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The meeting's owning account (map or probe): the `jointoken` kinds,
    /// and `onbehalf` for the host when no sender is named.
    Owner,
    /// The sender's own account or connection: `onbehalf` and `zak` for
    /// `on_behalf_of`.
    Sender,
}

/// How each asked kind will be served: minted via the owner or the sender,
/// or refused at once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Kinds minted with the owner's credentials.
    pub owner: Vec<TokenKind>,
    /// Kinds minted with the sender's credentials.
    pub sender: Vec<TokenKind>,
    /// Kinds refused without a call.
    pub refused: Vec<(TokenKind, TokenError)>,
}

/// Plans `kinds` for a request with or without a sender, on a deployment
/// that does or does not allow ZAKs.
pub fn plan(kinds: impl IntoIterator<Item = TokenKind>, has_sender: bool, allow_zak: bool) -> Plan {
    let mut p = Plan::default();
    for kind in kinds {
        match (kind, has_sender) {
            (TokenKind::Zak, _) if !allow_zak => p.refused.push((
                kind,
                TokenError::new(
                    FailureStatus::InvalidRequest,
                    reason::ZAK_NOT_ALLOWED,
                    "this rectoken does not mint ZAKs (an operator can allow them with \
                     RECTOKEN_ALLOW_ZAK=true; a ZAK lets the bot act as that user)",
                ),
            )),
            (TokenKind::Zak, false) => p.refused.push((
                kind,
                TokenError::new(
                    FailureStatus::InvalidRequest,
                    reason::SENDER_REQUIRED,
                    "a ZAK is minted only for the user the request names: give \"on_behalf_of\"",
                ),
            )),
            (k, true) if k.is_user_token() => p.sender.push(k),
            (k, _) => p.owner.push(k),
        }
    }
    p
}

/// Zoom's error code in a failed call, when Zoom answered with one.
pub fn zoom_code(err: &CallError) -> Option<i64> {
    match err {
        CallError::Zoom(api) => match api {
            ApiError::Unauthorized { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Other { code, .. } => *code,
            ApiError::MissingScope { .. } => Some(CODE_MISSING_SCOPE),
            _ => None,
        },
        _ => None,
    }
}

/// The [`TokenError`] of a kind whose call failed with `err`, classified as
/// `verdict` (not [`Verdict::Transient`], which retries the request).
///
/// `via` decides what "not found" and "disconnected" mean: for the owner,
/// the meeting is gone (its stale mapping is removed) or the owning account
/// is disconnected; for the sender, the user or the meeting is unknown to
/// Zoom, or the sender's connection is disconnected.
pub fn token_error(verdict: Verdict, err: &CallError, via: Via) -> TokenError {
    let (status, message, refused_reason, refused_code) = match verdict {
        Verdict::Stale { message } => (FailureStatus::NotFound, message, None, None),
        Verdict::Reply { status, message } => (status, message, None, None),
        Verdict::Refused {
            status,
            reason,
            zoom_code,
            message,
        } => (status, message, Some(reason), zoom_code),
        Verdict::Transient { message } => (FailureStatus::ZoomError, message, None, None),
    };
    let code = refused_code.or_else(|| zoom_code(err));
    let is_scope = matches!(err, CallError::Zoom(ApiError::MissingScope { .. }));
    let is_not_found = matches!(err, CallError::Zoom(ApiError::NotFound { .. }));
    let reason = match (via, status) {
        _ if is_scope => reason::MISSING_SCOPE,
        // What "not found" and "disconnected" mean depends on whose
        // credentials were used, which the classifier cannot know.
        (Via::Sender, FailureStatus::NotFound) if code == Some(CODE_USER_NOT_FOUND) => {
            reason::SENDER_NOT_FOUND
        }
        (Via::Sender, FailureStatus::NotFound) => reason::MEETING_NOT_FOUND,
        (Via::Sender, FailureStatus::AccountDisconnected) => reason::SENDER_NOT_CONNECTED,
        (_, s) => match refused_reason {
            Some(r) => r,
            None if via == Via::Owner && s == FailureStatus::NotFound => reason::MEETING_GONE,
            None => reason::of_status(s),
        },
    };
    let message = match via {
        // classify's wording assumes the owner's meeting; say what it is.
        Via::Sender if is_not_found => {
            if code == Some(CODE_USER_NOT_FOUND) {
                format!("Zoom does not know the sender as a user of their account ({err})")
            } else {
                format!(
                    "Zoom does not know the meeting, so no on-behalf token can be minted ({err})"
                )
            }
        }
        _ => message,
    };
    let e = TokenError::new(status, reason, message);
    match code {
        Some(c) => e.with_zoom_code(c),
        None => e,
    }
}

/// Whether `err` says the connection itself cannot be used (so the next
/// candidate should be tried when looking for a sender).
pub fn is_connection_unusable(err: &CallError) -> bool {
    matches!(
        err,
        CallError::Vault(
            VaultError::NotConnected(_) | VaultError::Disconnected { .. } | VaultError::Crypto(_)
        ) | CallError::Zoom(ApiError::Unauthorized { .. })
    )
}

/// The `{userId}` to mint a sender's user token with: `me` on a user-level
/// connection (its grant is that user's own, the path attendee and Recall's
/// samples use), the user's ID on an account-level one (the `:admin`
/// scope's form).
pub fn user_path(connection_id: &str, user_id: &str) -> String {
    if is_user_level_connection(connection_id) {
        "me".to_owned()
    } else {
        user_id.to_owned()
    }
}

/// The connection that can mint for user `user_id` of account `account_id`,
/// among the connected ones: the account's own (account-level app), else
/// the user's (`{account_id}~{user_id}`, user-level app).
pub fn sender_connection<'a>(
    connected: &'a [String],
    account_id: &str,
    user_id: &str,
) -> Option<&'a str> {
    let user_level = connection_id(true, account_id, user_id);
    connected
        .iter()
        .find(|c| c.as_str() == account_id)
        .or_else(|| connected.iter().find(|c| **c == user_level))
        .map(String::as_str)
}

/// The user-level connection of the user whose ID is `name`, if connected.
pub fn user_level_connection<'a>(connected: &'a [String], name: &str) -> Option<&'a str> {
    connected
        .iter()
        .find(|c| split_connection_id(c).1 == Some(name))
        .map(String::as_str)
}

/// The directory key `on_behalf_of` names: an email when it has an `@`
/// (Zoom user IDs never do), else a user ID.
pub fn directory_key(name: &str) -> DirectoryKey {
    if name.contains('@') {
        DirectoryKey::Email(name.to_owned())
    } else {
        DirectoryKey::UserId(name.to_owned())
    }
}

/// The sender is unknown.
pub fn sender_not_found(name: &str) -> TokenError {
    TokenError::new(
        FailureStatus::NotFound,
        reason::SENDER_NOT_FOUND,
        format!(
            "no connected account has a user {name:?}: the sender must belong to a connected \
             account or have connected rectoken's Zoom app themselves"
        ),
    )
}

/// The sender is known, but nothing connected can mint for them.
pub fn sender_not_connected(name: &str, account_id: &str) -> TokenError {
    TokenError::new(
        FailureStatus::AccountDisconnected,
        reason::SENDER_NOT_CONNECTED,
        format!(
            "user {name:?} belongs to account {account_id}, which is not connected (or, for a \
             user-level app, the user has not connected rectoken's Zoom app)"
        ),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rectoken_domain::join::JoinStatus;

    use super::*;

    const ALL: [TokenKind; 5] = TokenKind::ALL;

    #[test]
    fn plans() {
        let p = plan(ALL, true, true);
        assert_eq!(
            p.owner,
            vec![
                TokenKind::LocalRecording,
                TokenKind::LocalArchiving,
                TokenKind::LiveStreaming
            ]
        );
        assert_eq!(p.sender, vec![TokenKind::OnBehalf, TokenKind::Zak]);
        assert!(p.refused.is_empty());

        // Without a sender, onbehalf goes to the host and zak is refused.
        let p = plan(ALL, false, true);
        assert!(p.owner.contains(&TokenKind::OnBehalf));
        assert!(p.sender.is_empty());
        assert_eq!(p.refused.len(), 1);
        assert_eq!(p.refused[0].0, TokenKind::Zak);
        assert_eq!(p.refused[0].1.reason(), reason::SENDER_REQUIRED);
        assert_eq!(p.refused[0].1.status(), JoinStatus::InvalidRequest);

        // ZAKs off: refused whoever asks.
        for has_sender in [true, false] {
            let p = plan([TokenKind::Zak], has_sender, false);
            assert!(p.owner.is_empty() && p.sender.is_empty());
            assert_eq!(p.refused[0].1.reason(), reason::ZAK_NOT_ALLOWED);
        }
        let p = plan([TokenKind::OnBehalf], true, false);
        assert_eq!(p.sender, vec![TokenKind::OnBehalf]);
    }

    fn not_found(code: i64) -> CallError {
        CallError::Zoom(ApiError::NotFound {
            code: Some(code),
            message: "x".into(),
        })
    }

    #[test]
    fn token_errors_per_via() {
        let stale = || Verdict::Stale {
            message: "gone".into(),
        };
        let e = token_error(stale(), &not_found(3001), Via::Owner);
        assert_eq!(
            (e.status(), e.reason(), e.zoom_code()),
            (JoinStatus::NotFound, reason::MEETING_GONE, Some(3001))
        );
        let e = token_error(stale(), &not_found(1001), Via::Sender);
        assert_eq!(
            (e.status(), e.reason(), e.zoom_code()),
            (JoinStatus::NotFound, reason::SENDER_NOT_FOUND, Some(1001))
        );
        assert!(e.error().contains("sender"), "{}", e.error());
        let e = token_error(stale(), &not_found(3001), Via::Sender);
        assert_eq!(e.reason(), reason::MEETING_NOT_FOUND);
        assert!(e.error().contains("meeting"), "{}", e.error());

        let disc = CallError::Vault(VaultError::NotConnected("a".into()));
        let v = Verdict::Reply {
            status: FailureStatus::AccountDisconnected,
            message: "m".into(),
        };
        assert_eq!(
            token_error(v.clone(), &disc, Via::Sender).reason(),
            reason::SENDER_NOT_CONNECTED
        );
        assert_eq!(
            token_error(v, &disc, Via::Owner).reason(),
            reason::ACCOUNT_DISCONNECTED
        );

        let scope = CallError::Zoom(ApiError::MissingScope {
            message: "scopes:[user:read:token]".into(),
        });
        let v = Verdict::Reply {
            status: FailureStatus::ZoomError,
            message: "needs a scope".into(),
        };
        let e = token_error(v, &scope, Via::Sender);
        assert_eq!(
            (e.status(), e.reason(), e.zoom_code(), e.error()),
            (
                JoinStatus::ZoomError,
                reason::MISSING_SCOPE,
                Some(4711),
                "needs a scope"
            )
        );

        let other = CallError::Zoom(ApiError::Other {
            status: 400,
            code: Some(3000),
            message: "local recording off".into(),
        });
        let v = Verdict::Reply {
            status: FailureStatus::ZoomError,
            message: "no".into(),
        };
        let e = token_error(v, &other, Via::Owner);
        assert_eq!(
            (e.reason(), e.zoom_code()),
            (reason::ZOOM_ERROR, Some(3000))
        );

        let v = Verdict::Reply {
            status: FailureStatus::RateLimited,
            message: "slow".into(),
        };
        let e = token_error(v, &CallError::RateLimited, Via::Owner);
        assert_eq!((e.reason(), e.zoom_code()), (reason::RATE_LIMITED, None));
    }

    #[test]
    fn connections() {
        let connected: Vec<String> = ["accA", "accB~u1", "accB~u2", "accC"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(sender_connection(&connected, "accA", "u9"), Some("accA"));
        assert_eq!(sender_connection(&connected, "accB", "u2"), Some("accB~u2"));
        assert_eq!(sender_connection(&connected, "accB", "u3"), None);
        assert_eq!(sender_connection(&connected, "accD", "u1"), None);
        assert_eq!(user_level_connection(&connected, "u1"), Some("accB~u1"));
        assert_eq!(user_level_connection(&connected, "accA"), None);
        assert_eq!(user_level_connection(&connected, "u7"), None);
        assert_eq!(user_path("accB~u2", "u2"), "me");
        assert_eq!(user_path("accA", "u9"), "u9");
        assert!(is_connection_unusable(&CallError::Vault(
            VaultError::NotConnected("a".into())
        )));
        assert!(!is_connection_unusable(&CallError::RateLimited));
        assert!(!is_connection_unusable(&not_found(1001)));
        assert_eq!(sender_not_found("x").status(), JoinStatus::NotFound);
        assert_eq!(
            directory_key("Jill@Example.com"),
            DirectoryKey::Email("Jill@Example.com".into())
        );
        assert_eq!(
            directory_key("z8yAAAAA8bbbQ"),
            DirectoryKey::UserId("z8yAAAAA8bbbQ".into())
        );
        assert_eq!(
            sender_not_connected("x", "acc").reason(),
            reason::SENDER_NOT_CONNECTED
        );
    }
}
