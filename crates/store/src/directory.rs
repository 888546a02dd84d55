//! The user directory: every user of every connected account, with the
//! identifiers a bot or a meeting link may name them by (user ID, email,
//! vanity name of a personal link `zoom.us/my/NAME`) and their PMI.
//!
//! The full sync records every listed user; `user.*` webhook events keep
//! the directory current. Writes are versioned like the meeting map (Zoom's
//! `event_ts` for events, the time the sync read the list otherwise): an
//! older write never replaces a newer one, and a removal leaves a tombstone
//! (kept [`TOMBSTONE_TTL`](crate::rules::TOMBSTONE_TTL)) so that a late
//! retry of an older `user.updated` cannot bring a deleted user back.
//!
//! This module holds the values and the pure decision rules; both backends
//! apply them (the Redis scripts mirror them line by line).

use rectoken_domain::meeting_id::MeetingId;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::rules;

/// One user of a connected account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryUser {
    /// The Zoom account the user belongs to.
    pub account_id: String,
    /// Zoom's user ID (unique across Zoom).
    pub user_id: String,
    /// The user's email, as Zoom spells it (matched case-insensitively).
    pub email: Option<String>,
    /// The vanity name of the user's personal link `zoom.us/my/NAME`
    /// (matched case-insensitively).
    pub vanity_name: Option<String>,
    /// The user's personal meeting ID.
    pub pmi: Option<MeetingId>,
    /// The order of writes (ms): Zoom's `event_ts` for webhooks, the time
    /// the sync read the user list otherwise. Within ±2^53.
    pub version: i64,
}

/// What a directory lookup is by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DirectoryKey {
    /// Zoom's user ID, exactly.
    UserId(String),
    /// An email address, matched case-insensitively.
    Email(String),
    /// A personal link's vanity name, matched case-insensitively.
    Vanity(String),
}

/// The normal form under which emails and vanity names are indexed: Zoom
/// treats both case-insensitively (an email's domain always, and Zoom's
/// sign-in does for the local part too), so lowercase, trimmed.
pub fn normalize(s: &str) -> String {
    s.trim().to_lowercase()
}

/// What the directory holds for one user ID, for the decision rules.
#[derive(Clone, Copy, Debug)]
pub enum StoredUser<'a> {
    /// A live record.
    Live(&'a DirectoryUser),
    /// A tombstone of a removal by `account_id` at `version`.
    Tomb {
        /// The removal's version.
        version: i64,
    },
}

/// Decide a put of `new` over what is stored: applied only over nothing,
/// over an older live record (whatever its account: the newer claim wins,
/// e.g. a user who moved accounts) or over an older tombstone. Equal
/// versions do not apply: a redelivery changes nothing, and a tombstone
/// wins a tie with a put.
pub fn decide_put(stored: Option<StoredUser<'_>>, new: &DirectoryUser) -> bool {
    match stored {
        None => true,
        Some(StoredUser::Tomb { version }) => new.version > version,
        Some(StoredUser::Live(cur)) => new.version > cur.version,
    }
}

/// Decide a removal of `account_id`'s user at `version`: never of a live
/// record of another account (a user who left and joined another account
/// stays with the new one), never over a newer record; over nothing it
/// leaves a tombstone too, so an older put arriving later stays out.
pub fn decide_remove(stored: Option<StoredUser<'_>>, account_id: &str, version: i64) -> bool {
    match stored {
        None => true,
        Some(StoredUser::Tomb { version: v }) => version > v,
        Some(StoredUser::Live(cur)) => cur.account_id == account_id && version >= cur.version,
    }
}

/// Check a user before it is stored: IDs non-empty and within the store's
/// limits, the version exact in a double.
pub fn check_user(u: &DirectoryUser) -> Result<()> {
    rules::check_id("account_id", &u.account_id)?;
    rules::check_id("user_id", &u.user_id)?;
    rules::check_version(u.version)?;
    for (what, v) in [("email", &u.email), ("vanity_name", &u.vanity_name)] {
        if let Some(v) = v
            && (normalize(v).is_empty() || v.len() > 512)
        {
            return Err(StoreError::InvalidInput(format!(
                "{what} must be 1-512 bytes when present"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(account: &str, version: i64) -> DirectoryUser {
        DirectoryUser {
            account_id: account.into(),
            user_id: "u1".into(),
            email: Some("Jill@Example.com".into()),
            vanity_name: None,
            pmi: None,
            version,
        }
    }

    #[test]
    fn put_rules() {
        let cur = u("a", 10);
        assert!(decide_put(None, &cur));
        assert!(decide_put(Some(StoredUser::Live(&cur)), &u("a", 11)));
        assert!(decide_put(Some(StoredUser::Live(&cur)), &u("b", 11)));
        assert!(!decide_put(Some(StoredUser::Live(&cur)), &u("a", 10)));
        assert!(!decide_put(Some(StoredUser::Live(&cur)), &u("a", 9)));
        let tomb = StoredUser::Tomb { version: 10 };
        assert!(!decide_put(Some(tomb), &u("a", 10)));
        assert!(decide_put(Some(tomb), &u("a", 11)));
    }

    #[test]
    fn remove_rules() {
        let cur = u("a", 10);
        assert!(decide_remove(None, "a", 1));
        assert!(decide_remove(Some(StoredUser::Live(&cur)), "a", 10));
        assert!(decide_remove(Some(StoredUser::Live(&cur)), "a", 11));
        assert!(!decide_remove(Some(StoredUser::Live(&cur)), "a", 9));
        assert!(!decide_remove(Some(StoredUser::Live(&cur)), "b", 11));
        let tomb = StoredUser::Tomb { version: 10 };
        assert!(!decide_remove(Some(tomb), "a", 10));
        assert!(decide_remove(Some(tomb), "b", 11));
    }

    #[test]
    fn normal_form_ignores_case_and_edges() {
        assert_eq!(normalize(" Jill@Example.COM "), "jill@example.com");
        assert_eq!(normalize("JillSmith"), "jillsmith");
    }

    #[test]
    fn users_are_checked() {
        assert!(check_user(&u("a", 1)).is_ok());
        assert!(check_user(&u("", 1)).is_err());
        let mut bad = u("a", 1);
        bad.user_id.clear();
        assert!(check_user(&bad).is_err());
        bad = u("a", i64::MAX);
        assert!(check_user(&bad).is_err());
        bad = u("a", 1);
        bad.email = Some("  ".into());
        assert!(check_user(&bad).is_err());
    }
}
