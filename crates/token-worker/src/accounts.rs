//! The connected accounts a cache-miss probe may ask, read from the store at
//! most once per [`ACCOUNTS_TTL`] per process.

use std::sync::Arc;
use std::time::Duration;

use rectoken_store::{AccountStatus, Store, StoreError};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How long the list of connected accounts is reused. A newly connected
/// account is probed at most this much later; a disconnected one answers
/// `account_disconnected` through the vault meanwhile.
pub const ACCOUNTS_TTL: Duration = Duration::from_secs(5);

pub(crate) struct AccountCache {
    store: Arc<dyn Store>,
    ttl: Duration,
    // A tokio mutex: concurrent misses wait for one read instead of all
    // reading the account list at once.
    cached: Mutex<Option<(Instant, Arc<Vec<Connected>>)>>,
}

/// A connected account: its connection ID and the app it came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Connected {
    /// Connection ID (credentials key).
    pub(crate) id: String,
    /// The Zoom app's name (its cloud decides which links it serves).
    pub(crate) app: String,
}

impl AccountCache {
    pub(crate) fn new(store: Arc<dyn Store>, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            cached: Mutex::new(None),
        }
    }

    /// The connected accounts, sorted by connection ID.
    pub(crate) async fn connected(&self) -> Result<Arc<Vec<Connected>>, StoreError> {
        let mut cached = self.cached.lock().await;
        if let Some((at, list)) = cached.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(list.clone());
        }
        let list: Vec<Connected> = self
            .store
            .list_accounts()
            .await?
            .into_iter()
            .filter(|a| a.status == AccountStatus::Connected)
            .map(|a| Connected {
                id: a.account_id,
                app: a.app,
            })
            .collect();
        let list = Arc::new(list);
        *cached = Some((Instant::now(), list.clone()));
        Ok(list)
    }
}
