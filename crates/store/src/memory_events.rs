//! [`AccountEventLog`] in process, for `rectoken dev` and unit tests.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use rectoken_domain::account_event::AccountEvent;

use crate::account_events::{AccountEventLog, EVENTS_KEPT};
use crate::error::Result;
use crate::rules::check_id;

/// The in-process event log: newest first, [`EVENTS_KEPT`] per account.
#[derive(Debug, Default)]
pub struct MemoryEventLog {
    accounts: Mutex<HashMap<String, VecDeque<AccountEvent>>>,
}

impl MemoryEventLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl AccountEventLog for MemoryEventLog {
    async fn record(&self, event: &AccountEvent) -> Result<()> {
        check_id("account_id", &event.account_id)?;
        // Every critical section is one push or pop: a poisoned lock holds
        // consistent data.
        let mut accounts = self
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let list = accounts.entry(event.account_id.clone()).or_default();
        if list.iter().any(|e| e.id == event.id) {
            return Ok(());
        }
        list.push_front(event.clone());
        list.truncate(EVENTS_KEPT);
        Ok(())
    }

    async fn recent(&self, account_id: &str, limit: usize) -> Result<Vec<AccountEvent>> {
        check_id("account_id", account_id)?;
        let accounts = self
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(accounts
            .get(account_id)
            .map(|l| l.iter().take(limit.min(EVENTS_KEPT)).cloned().collect())
            .unwrap_or_default())
    }
}
