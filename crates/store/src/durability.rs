//! Whether the store keeps what it is given.
//!
//! The meeting map is a cache (a full sync rebuilds it), but the OAuth
//! credentials are not: losing them means every customer's admin must
//! authorize again. So every role that writes credentials checks, at start,
//! that Redis persists (AOF, or RDB snapshots with a stated risk) and never
//! evicts (`maxmemory-policy noeviction`).

use serde::Serialize;

/// The store's persistence and eviction settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Durability {
    /// The in-process store: nothing survives the process (dev only).
    InProcess,
    /// A Redis server's settings (`CONFIG GET`).
    Redis {
        /// `appendonly yes`.
        appendonly: bool,
        /// `appendfsync` (`everysec`, `always`, `no`).
        appendfsync: String,
        /// `save` (RDB snapshot schedule; empty = none).
        rdb_save: String,
        /// `maxmemory-policy`.
        maxmemory_policy: String,
    },
}

/// A setting that puts credentials at risk, with what to change and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `true`: refuse to start (unless overridden); `false`: a warning.
    pub fatal: bool,
    /// What is wrong, what to set, and why.
    pub message: String,
}

impl Durability {
    /// What is wrong with these settings for keeping credentials.
    pub fn findings(&self) -> Vec<Finding> {
        let Durability::Redis {
            appendonly,
            appendfsync,
            rdb_save,
            maxmemory_policy,
        } = self
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if maxmemory_policy != "noeviction" {
            out.push(Finding {
                fatal: true,
                message: format!(
                    "Redis maxmemory-policy is {maxmemory_policy:?}: under memory pressure Redis may evict \
                     OAuth credentials, disconnecting customers. Set `maxmemory-policy noeviction` \
                     (redis.conf or `CONFIG SET maxmemory-policy noeviction`)."
                ),
            });
        }
        if !*appendonly {
            if rdb_save.trim().is_empty() {
                out.push(Finding {
                    fatal: true,
                    message: "Redis persistence is off (appendonly no, no save points): a restart loses every \
                              OAuth credential. Set `appendonly yes` with `appendfsync everysec`."
                        .into(),
                });
            } else {
                out.push(Finding {
                    fatal: false,
                    message: format!(
                        "Redis persists only RDB snapshots (save {rdb_save:?}): a crash loses credentials \
                         refreshed since the last snapshot, and Zoom has already rotated their refresh \
                         tokens. Prefer `appendonly yes` with `appendfsync everysec`."
                    ),
                });
            }
        } else if appendfsync == "no" {
            out.push(Finding {
                fatal: false,
                message: "Redis appendfsync is \"no\": the OS decides when the AOF reaches disk, so a host \
                          crash can lose recent refresh tokens. Prefer `appendfsync everysec`."
                    .into(),
            });
        }
        out
    }

    /// Whether any finding is fatal.
    pub fn is_safe(&self) -> bool {
        !self.findings().iter().any(|f| f.fatal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis(appendonly: bool, save: &str, policy: &str) -> Durability {
        Durability::Redis {
            appendonly,
            appendfsync: "everysec".into(),
            rdb_save: save.into(),
            maxmemory_policy: policy.into(),
        }
    }

    #[test]
    fn aof_and_noeviction_is_safe() {
        assert!(redis(true, "", "noeviction").findings().is_empty());
        assert!(Durability::InProcess.findings().is_empty());
    }

    #[test]
    fn evicting_or_volatile_redis_is_refused_with_the_setting_to_change() {
        let f = redis(true, "", "allkeys-lru").findings();
        assert!(f[0].fatal && f[0].message.contains("maxmemory-policy noeviction"));
        let f = redis(false, "", "noeviction").findings();
        assert!(f[0].fatal && f[0].message.contains("appendonly yes"));
        assert!(!redis(false, "", "volatile-lru").is_safe());
    }

    #[test]
    fn rdb_only_is_a_stated_risk_not_a_refusal() {
        let d = redis(false, "3600 1 300 100", "noeviction");
        assert!(d.is_safe());
        assert!(d.findings()[0].message.contains("snapshot"));
    }
}
