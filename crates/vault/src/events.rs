//! The account-event handles a role's code reaches through its [`Vault`]:
//! where to report an event (an [`AccountEventSink`]) and, for the admin
//! API, the bounded history ([`AccountEventLog`]).
//!
//! Why through the vault: every role holds one, and every place that
//! changes an account's connection (the OAuth callback, a refresh that
//! fails for good, a deauthorization, a sync, a mint) already reaches it;
//! no constructor of the roles' handlers or of the ingress state changes.
//!
//! [`Vault`]: crate::Vault

use std::sync::Arc;

use rectoken_domain::account_event::{AccountEventKind, AccountEventSink, NoAccountEvents};
use rectoken_store::AccountEventLog;

/// Where account events go, and where the last ones are kept. Cheap to
/// clone.
#[derive(Clone)]
pub struct AccountEvents {
    sink: Arc<dyn AccountEventSink>,
    log: Option<Arc<dyn AccountEventLog>>,
}

impl std::fmt::Debug for AccountEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountEvents")
            .field("log", &self.log.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for AccountEvents {
    /// Nowhere: events are dropped and no history is kept.
    fn default() -> Self {
        Self {
            sink: Arc::new(NoAccountEvents),
            log: None,
        }
    }
}

impl AccountEvents {
    /// Events go to `sink`; `log` (when given) is what the admin API reads.
    pub fn new(sink: Arc<dyn AccountEventSink>, log: Option<Arc<dyn AccountEventLog>>) -> Self {
        Self { sink, log }
    }

    /// Report `kind` for `account_id` (through `app`); returns at once.
    pub fn emit(&self, account_id: &str, app: &str, kind: AccountEventKind) {
        self.sink.emit(account_id, app, kind);
    }

    /// The history, when this role keeps one.
    pub fn log(&self) -> Option<&Arc<dyn AccountEventLog>> {
        self.log.as_ref()
    }
}
