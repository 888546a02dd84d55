//! The in-process [`JoinLog`], for `rectoken dev` and unit tests.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::Result;
use crate::join_log::{CAPACITY, JoinFilter, JoinLog, JoinOutcome};

/// The last [`CAPACITY`] outcomes in a ring, newest at the front.
#[derive(Debug, Default)]
pub struct MemoryJoinLog {
    entries: Mutex<VecDeque<JoinOutcome>>,
}

impl MemoryJoinLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl JoinLog for MemoryJoinLog {
    async fn record(&self, outcome: &JoinOutcome) -> Result<()> {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.push_front(outcome.clone());
        entries.truncate(CAPACITY);
        Ok(())
    }

    async fn recent(&self, filter: &JoinFilter, limit: usize) -> Result<Vec<JoinOutcome>> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(entries
            .iter()
            .filter(|o| filter.matches(o))
            .take(limit)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_the_contract() {
        crate::join_log::contract(&MemoryJoinLog::new()).await;
    }
}
