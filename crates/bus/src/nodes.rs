//! `RECTOKEN_AMQP_URL` as a list of broker nodes (pure: parsing only, no
//! I/O).
//!
//! A RabbitMQ cluster is reached through any of its nodes, so the URL may
//! name several, comma-separated, each a complete AMQP URL:
//!
//! ```text
//! amqp://user:pass@rabbit-0:5672/%2f,amqp://user:pass@rabbit-1:5672/%2f,amqp://user:pass@rabbit-2:5672/%2f
//! ```
//!
//! A single URL is a list of one. A comma inside a URL (a password, a
//! query) must be percent-encoded (`%2C`), as URL syntax allows anyway.
//! Spaces around the commas are ignored. The RabbitMQ backend connects to
//! one node at a time, in list order from where it last was, and moves to
//! the next when its node dies.
//!
//! Errors and [`BrokerNodes::describe`] never contain a password: they name
//! nodes by scheme, host, port and vhost only.

use crate::BusError;

/// The broker nodes of one `RECTOKEN_AMQP_URL`, in the order given.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerNodes {
    urls: Vec<String>,
}

impl std::fmt::Debug for BrokerNodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("BrokerNodes")
            .field(&self.describe())
            .finish()
    }
}

impl BrokerNodes {
    /// Parse a comma-separated list of `amqp://` / `amqps://` URLs.
    pub fn parse(list: &str) -> Result<Self, BusError> {
        let mut urls = Vec::new();
        for (i, part) in list.split(',').enumerate() {
            let url = part.trim();
            let bad = |why: &str| {
                BusError::InvalidUrl(format!(
                    "node {} of RECTOKEN_AMQP_URL ({}): {why}",
                    i + 1,
                    redact(url)
                ))
            };
            if url.is_empty() {
                return Err(bad(
                    "empty; separate complete amqp:// URLs with single commas",
                ));
            }
            let Some((scheme, rest)) = url.split_once("://") else {
                return Err(bad(
                    "expected amqp://… or amqps://… (each node is a complete URL)",
                ));
            };
            if !(scheme.eq_ignore_ascii_case("amqp") || scheme.eq_ignore_ascii_case("amqps")) {
                return Err(bad("expected the scheme amqp:// or amqps://"));
            }
            let authority = authority(rest);
            let host = match authority.rfind('@') {
                Some(at) => &authority[at + 1..],
                None => authority,
            };
            if host.is_empty() {
                return Err(bad("no host"));
            }
            if !host.starts_with('[')
                && let Some((name, port)) = host.rsplit_once(':')
                && (name.is_empty()
                    || name.contains(':')
                    || port.parse::<u16>().ok().filter(|p| *p != 0).is_none())
            {
                return Err(bad("bad HOST:PORT"));
            }
            urls.push(url.to_owned());
        }
        Ok(Self { urls })
    }

    /// One URL taken as is, unchecked (when a caller could not report an
    /// error; connecting will fail and be logged).
    pub(crate) fn unchecked(url: &str) -> Self {
        Self {
            urls: vec![url.to_owned()],
        }
    }

    /// The node URLs, credentials included (for connecting only).
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// How many nodes.
    pub fn len(&self) -> usize {
        self.urls.len()
    }

    /// Never true for a parsed list (kept for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// Node `i` without credentials, for logs: `amqp://host:port/vhost`.
    pub fn node_label(&self, i: usize) -> String {
        self.urls.get(i).map_or_else(String::new, |u| redact(u))
    }

    /// Every node without credentials, comma-separated, for logs.
    pub fn describe(&self) -> String {
        (0..self.urls.len())
            .map(|i| self.node_label(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The order to try nodes in, starting at `first` and wrapping around.
    pub fn order_from(&self, first: usize) -> impl Iterator<Item = usize> + '_ {
        let n = self.urls.len();
        (0..n).map(move |k| (first + k) % n.max(1))
    }
}

/// The authority part of what follows `scheme://` (up to the path or query).
fn authority(rest: &str) -> &str {
    match rest.find(['/', '?', '#']) {
        Some(i) => &rest[..i],
        None => rest,
    }
}

/// A URL without userinfo and query (which may carry credentials), for logs.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // Not a URL: keep only what follows a userinfo-like `@`, if any.
        return match url.rfind('@') {
            Some(at) => format!("…@{}", &url[at + 1..]),
            None if url.contains(':') => "<unparseable>".to_owned(),
            None => url.to_owned(),
        };
    };
    let auth = authority(rest);
    let host = match auth.rfind('@') {
        Some(at) => &auth[at + 1..],
        None => auth,
    };
    let path = rest[auth.len()..].split(['?', '#']).next().unwrap_or("");
    format!("{scheme}://{host}{path}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_single_url_is_a_list_of_one() {
        let n = BrokerNodes::parse("amqp://guest:guest@127.0.0.1:5673/%2f").unwrap();
        assert_eq!(n.urls(), ["amqp://guest:guest@127.0.0.1:5673/%2f"]);
        assert_eq!(n.len(), 1);
        assert!(!n.is_empty());
        assert_eq!(n.describe(), "amqp://127.0.0.1:5673/%2f");
    }

    #[test]
    fn splits_trims_and_keeps_each_url_whole() {
        let n = BrokerNodes::parse(
            "amqp://u:p@a:5672/%2f, amqps://u:p@b/vh?heartbeat=10 ,AMQP://c:5673",
        )
        .unwrap();
        assert_eq!(
            n.urls(),
            [
                "amqp://u:p@a:5672/%2f",
                "amqps://u:p@b/vh?heartbeat=10",
                "AMQP://c:5673"
            ]
        );
        assert_eq!(n.describe(), "amqp://a:5672/%2f,amqps://b/vh,AMQP://c:5673");
        assert_eq!(n.node_label(1), "amqps://b/vh");
        assert_eq!(n.node_label(7), "");
        assert_eq!(
            BrokerNodes::parse("amqp://[::1]:5672/,amqp://[::1]")
                .unwrap()
                .describe(),
            "amqp://[::1]:5672/,amqp://[::1]"
        );
    }

    #[test]
    fn order_starts_anywhere_and_wraps() {
        let n = BrokerNodes::parse("amqp://a,amqp://b,amqp://c").unwrap();
        assert_eq!(n.order_from(0).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(n.order_from(1).collect::<Vec<_>>(), [1, 2, 0]);
        assert_eq!(n.order_from(5).collect::<Vec<_>>(), [2, 0, 1]);
        let one = BrokerNodes::parse("amqp://a").unwrap();
        assert_eq!(one.order_from(3).collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn refuses_bad_lists_without_echoing_the_password() {
        for list in [
            "",
            " ",
            "amqp://u:hunter2@a:5672/,",
            "amqp://u:hunter2@a:5672/,,amqp://b",
            ",amqp://u:hunter2@a",
            "u:hunter2@a:5672",
            "http://u:hunter2@a:5672/",
            "memory://,amqp://u:hunter2@a",
            "amqp://u:hunter2@",
            "amqp://u:hunter2@/vhost",
            "amqp://u:hunter2@a:0/",
            "amqp://u:hunter2@a:99999/",
            "amqp://u:hunter2@a:x/",
            "amqp://u:hunter2@a/?x=1,amqp://b:1:2",
        ] {
            let err = BrokerNodes::parse(list).expect_err(list).to_string();
            assert!(!err.contains("hunter2"), "{list:?}: {err}");
            assert!(err.contains("invalid bus URL"), "{list:?}: {err}");
        }
    }

    #[test]
    fn debug_and_labels_hide_credentials_and_queries() {
        let n = BrokerNodes::parse("amqp://u:hunter2@a:1/v?auth=hunter2,amqps://x:hunter2@b:2")
            .unwrap();
        let dbg = format!("{n:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(
            dbg.contains("amqp://a:1/v") && dbg.contains("amqps://b:2"),
            "{dbg}"
        );
        assert_eq!(redact("user:hunter2@host"), "…@host");
        assert_eq!(redact("host:hunter2"), "<unparseable>");
        assert_eq!(redact("host"), "host");
    }
}
