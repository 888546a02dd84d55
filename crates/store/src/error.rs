//! The store's one error type.

/// Errors of the store layer. Expected outcomes (a stale write, a lock held
/// by someone else, a rate limit) are values, not errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis could not be reached or answered with an error. Transient:
    /// the caller should retry (nack the message, answer 503).
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Data read from the store does not have the expected shape (written by
    /// an incompatible version, or edited by hand).
    #[error("corrupt data at {key}: {reason}")]
    Corrupt {
        /// The key (without prefix) that holds the bad data.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// The caller passed a value the store cannot keep (empty account ID,
    /// a version outside ±2^53, a malformed cursor, …).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The account has no record (for operations that update one).
    #[error("account {0} not found")]
    AccountNotFound(String),
    /// A concurrent writer kept changing the same key; retry the write.
    #[error("contention on {0}: gave up after repeated retries")]
    Contention(String),
    /// The store URL is not one this build understands.
    #[error("invalid store URL: {0}")]
    InvalidUrl(String),
    /// The URL names a backend that is not implemented yet.
    #[error("not yet supported: {0}")]
    Unsupported(String),
}

/// Result type of the store layer.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// A [`StoreError::Corrupt`] for `key`.
    pub(crate) fn corrupt(key: impl Into<String>, reason: impl Into<String>) -> Self {
        StoreError::Corrupt {
            key: key.into(),
            reason: reason.into(),
        }
    }
}
