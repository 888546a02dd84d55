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
    /// A Redis Cluster: the settings of every node, replicas included (a
    /// replica becomes a primary on failover, with its own settings).
    Cluster {
        /// One entry per node, ordered by address.
        nodes: Vec<NodeDurability>,
    },
}

/// One cluster node's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeDurability {
    /// The node's address (`host:port`), as the cluster reports it.
    pub node: String,
    /// Its settings (a [`Durability::Redis`]).
    pub settings: Durability,
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
        if let Durability::Cluster { nodes } = self {
            return cluster_findings(nodes);
        }
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

/// A cluster's findings: each distinct node finding once, naming the nodes
/// it applies to (three primaries with the same setting give one line).
fn cluster_findings(nodes: &[NodeDurability]) -> Vec<Finding> {
    if nodes.is_empty() {
        return vec![Finding {
            fatal: true,
            message:
                "the Redis Cluster reported no nodes, so their persistence settings are unknown"
                    .into(),
        }];
    }
    let mut grouped: Vec<(Finding, Vec<&str>)> = Vec::new();
    for n in nodes {
        for f in n.settings.findings() {
            match grouped.iter_mut().find(|(g, _)| *g == f) {
                Some((_, names)) => names.push(&n.node),
                None => grouped.push((f, vec![&n.node])),
            }
        }
    }
    grouped
        .into_iter()
        .map(|(f, names)| Finding {
            fatal: f.fatal,
            message: format!(
                "On Redis Cluster node{} {}: {}",
                if names.len() == 1 { "" } else { "s" },
                names.join(", "),
                f.message
            ),
        })
        .collect()
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
    fn cluster_findings_name_the_nodes_once_per_problem() {
        let node = |name: &str, d: Durability| NodeDurability {
            node: name.into(),
            settings: d,
        };
        let safe = Durability::Cluster {
            nodes: vec![
                node("a:1", redis(true, "", "noeviction")),
                node("b:1", redis(true, "", "noeviction")),
            ],
        };
        assert!(safe.findings().is_empty());
        let mixed = Durability::Cluster {
            nodes: vec![
                node("a:1", redis(true, "", "allkeys-lru")),
                node("b:1", redis(true, "", "noeviction")),
                node("c:1", redis(true, "", "allkeys-lru")),
                node("d:1", redis(false, "900 1", "noeviction")),
            ],
        };
        let f = mixed.findings();
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].fatal);
        assert!(
            f[0].message.starts_with("On Redis Cluster nodes a:1, c:1:"),
            "{}",
            f[0].message
        );
        assert!(f[0].message.contains("maxmemory-policy noeviction"));
        assert!(!f[1].fatal);
        assert!(
            f[1].message.starts_with("On Redis Cluster node d:1:"),
            "{}",
            f[1].message
        );
        assert!(!mixed.is_safe());
        assert!(!Durability::Cluster { nodes: vec![] }.is_safe());
    }

    #[test]
    fn rdb_only_is_a_stated_risk_not_a_refusal() {
        let d = redis(false, "3600 1 300 100", "noeviction");
        assert!(d.is_safe());
        assert!(d.findings()[0].message.contains("snapshot"));
    }
}
