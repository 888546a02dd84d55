//! The account events a completed OAuth connect reports (pure):
//! `account.connected` the first time, `account.reconnected` after that,
//! and `account.scopes_changed` when the grant differs from the last one or
//! lacks a scope rectoken needs.

use rectoken_domain::account_event::AccountEventKind;
use rectoken_store::{AccountRecord, AccountStatus};

/// The events of a connect that stored a record of `kind` with `scopes`
/// (lacking `missing`), over the `previous` record if there was one.
pub fn connect_events(
    previous: Option<&AccountRecord>,
    kind: &str,
    scopes: &[String],
    missing: &[String],
) -> Vec<AccountEventKind> {
    let mut events = Vec::new();
    let (added, removed) = match previous {
        None => {
            events.push(AccountEventKind::Connected {
                kind: kind.to_owned(),
                scopes: scopes.to_vec(),
                missing_scopes: missing.to_vec(),
            });
            (Vec::new(), Vec::new())
        }
        Some(p) => {
            events.push(AccountEventKind::Reconnected {
                kind: kind.to_owned(),
                previous_status: match p.status {
                    AccountStatus::Connected => "connected",
                    AccountStatus::Disconnected => "disconnected",
                }
                .to_owned(),
                scopes: scopes.to_vec(),
                missing_scopes: missing.to_vec(),
            });
            let added: Vec<String> = scopes
                .iter()
                .filter(|s| !p.scopes.contains(s))
                .cloned()
                .collect();
            let removed: Vec<String> = p
                .scopes
                .iter()
                .filter(|s| !scopes.contains(s))
                .cloned()
                .collect();
            (added, removed)
        }
    };
    if !added.is_empty() || !removed.is_empty() || !missing.is_empty() {
        events.push(AccountEventKind::ScopesChanged {
            added,
            removed,
            missing_scopes: missing.to_vec(),
        });
    }
    events
}

#[cfg(test)]
mod tests {
    use rectoken_store::SyncStatus;

    use super::*;

    fn record(status: AccountStatus, scopes: &[&str]) -> AccountRecord {
        AccountRecord {
            account_id: "a".into(),
            app: "default".into(),
            kind: "account".into(),
            user_id: None,
            status,
            connected_at_ms: 0,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            last_error: None,
            sync: SyncStatus::default(),
        }
    }

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn names(events: &[AccountEventKind]) -> Vec<&'static str> {
        events.iter().map(AccountEventKind::type_name).collect()
    }

    #[test]
    fn first_connect_with_a_full_grant_is_connected_only() {
        let e = connect_events(None, "account", &v(&["a", "b"]), &[]);
        assert_eq!(names(&e), ["account.connected"]);
    }

    #[test]
    fn first_connect_lacking_a_scope_says_so() {
        let e = connect_events(None, "account", &v(&["a"]), &v(&["b"]));
        assert_eq!(names(&e), ["account.connected", "account.scopes_changed"]);
        assert_eq!(
            e[1],
            AccountEventKind::ScopesChanged {
                added: vec![],
                removed: vec![],
                missing_scopes: v(&["b"]),
            }
        );
    }

    #[test]
    fn reconnect_after_a_disconnect_with_other_scopes() {
        let prev = record(AccountStatus::Disconnected, &["a", "b"]);
        let e = connect_events(Some(&prev), "account", &v(&["b", "c"]), &[]);
        assert_eq!(names(&e), ["account.reconnected", "account.scopes_changed"]);
        let AccountEventKind::Reconnected {
            previous_status, ..
        } = &e[0]
        else {
            panic!("{e:?}");
        };
        assert_eq!(previous_status, "disconnected");
        assert_eq!(
            e[1],
            AccountEventKind::ScopesChanged {
                added: v(&["c"]),
                removed: v(&["a"]),
                missing_scopes: vec![],
            }
        );
    }

    #[test]
    fn reconnect_with_the_same_scopes_is_reconnected_only() {
        let prev = record(AccountStatus::Connected, &["a", "b"]);
        let e = connect_events(Some(&prev), "user", &v(&["b", "a"]), &[]);
        assert_eq!(names(&e), ["account.reconnected"]);
    }
}
