//! Noticing an account whose mints keep failing, for the
//! `account.mints_failing` event: each token worker counts, per account,
//! the consecutive replies that failed on the account's side
//! (`zoom_error`, `account_disconnected`) and reports after
//! [`THRESHOLD`] of them, then at most every [`COOLDOWN_MS`] while it goes
//! on; one `ok` reply resets the count.
//!
//! Per worker, not across workers: with N workers an account reports after
//! about N × [`THRESHOLD`] failures at worst, which is still within the
//! minute for an account bots keep asking for, and needs no shared state.

use std::collections::HashMap;
use std::sync::Mutex;

use rectoken_domain::account_event::{AccountEventKind, FailureStreak};
use rectoken_domain::join::JoinStatus;

/// Consecutive failed mints of one account before it is reported.
pub const THRESHOLD: u32 = 5;

/// Least time between two reports of the same account.
pub const COOLDOWN_MS: i64 = 15 * 60 * 1000;

/// Accounts tracked at most (a worker sees few accounts fail at once;
/// beyond this, the oldest streaks are forgotten).
const MAX_TRACKED: usize = 10_000;

/// The per-account failure streaks of one worker.
#[derive(Debug, Default)]
pub struct MintWatch {
    streaks: Mutex<HashMap<String, FailureStreak>>,
}

impl MintWatch {
    /// A reply of `status` (with `error`) for `account_id` at `now_ms`:
    /// the event to report, when one is due.
    pub fn observe(
        &self,
        account_id: &str,
        status: JoinStatus,
        error: &str,
        now_ms: i64,
    ) -> Option<AccountEventKind> {
        let mut streaks = self
            .streaks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match status {
            JoinStatus::Ok => {
                streaks.remove(account_id);
                None
            }
            JoinStatus::ZoomError | JoinStatus::AccountDisconnected => {
                if streaks.len() >= MAX_TRACKED && !streaks.contains_key(account_id) {
                    streaks.clear();
                }
                let failures = streaks.entry(account_id.to_owned()).or_default().failed(
                    now_ms,
                    THRESHOLD,
                    COOLDOWN_MS,
                )?;
                Some(AccountEventKind::MintsFailing {
                    failures,
                    last_status: status.as_str().to_owned(),
                    last_error: error.to_owned(),
                })
            }
            // Not the account's fault (the request, the map, our rate
            // budget): neither a failure nor a success of its credentials.
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_after_the_threshold_and_resets_on_ok() {
        let w = MintWatch::default();
        for i in 1..THRESHOLD {
            assert_eq!(
                w.observe("a", JoinStatus::ZoomError, "boom", i64::from(i)),
                None
            );
            // Another account's failures do not count for this one.
            assert_eq!(w.observe("b", JoinStatus::ZoomError, "x", 0), None);
        }
        let e = w.observe("a", JoinStatus::AccountDisconnected, "gone", 10);
        assert_eq!(
            e,
            Some(AccountEventKind::MintsFailing {
                failures: THRESHOLD,
                last_status: "account_disconnected".into(),
                last_error: "gone".into(),
            })
        );
        assert_eq!(
            w.observe("a", JoinStatus::ZoomError, "boom", 11),
            None,
            "cooldown"
        );
        // Neutral statuses change nothing; ok resets.
        assert_eq!(w.observe("a", JoinStatus::NotFound, "", 12), None);
        assert_eq!(w.observe("a", JoinStatus::Ok, "", 13), None);
        for i in 1..THRESHOLD {
            assert_eq!(
                w.observe("a", JoinStatus::ZoomError, "boom", 13 + i64::from(i)),
                None
            );
        }
        assert!(w.observe("a", JoinStatus::ZoomError, "boom", 20).is_some());
    }
}
