//! `redis+cluster://` URLs (pure: parsing only, no I/O).
//!
//! One URL names a Redis Cluster by some of its nodes (the *seeds*): the
//! client asks any seed for the slot map and then talks to every primary it
//! learns about, so the seeds need not list every node, only enough that one
//! answers at start.
//!
//! ```text
//! redis+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…][/]
//! rediss+cluster://…                    (TLS to every node)
//! ```
//!
//! The credentials apply to every node. A cluster has only database 0, so a
//! path other than `/` is refused rather than ignored.

use crate::error::{Result, StoreError};

/// Default Redis port, for a seed written without one.
const DEFAULT_PORT: u16 = 6379;

/// Whether `url` names a Redis Cluster (`redis+cluster://` or
/// `rediss+cluster://`, any case).
pub fn is_cluster_url(url: &str) -> bool {
    url.split_once("://").is_some_and(|(scheme, _)| {
        scheme.eq_ignore_ascii_case("redis+cluster")
            || scheme.eq_ignore_ascii_case("rediss+cluster")
    })
}

/// The seed nodes of a cluster URL, each as a plain `redis://` (or
/// `rediss://`) URL carrying the shared credentials. Errors never contain
/// the password.
pub fn seed_urls(url: &str) -> Result<Vec<String>> {
    let bad = |why: &str| StoreError::InvalidUrl(format!("{why} (in {})", crate::redact(url)));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected redis+cluster://HOST:PORT[,HOST:PORT…]"))?;
    let node_scheme = if scheme.eq_ignore_ascii_case("redis+cluster") {
        "redis"
    } else if scheme.eq_ignore_ascii_case("rediss+cluster") {
        "rediss"
    } else {
        return Err(bad(
            "expected the scheme redis+cluster:// or rediss+cluster://",
        ));
    };
    // userinfo ends at the last `@` (a password may contain `@` only
    // percent-encoded, but be lenient about the split).
    let (userinfo, hosts_and_path) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let (hosts, path) = match hosts_and_path.find(['/', '?']) {
        Some(i) => hosts_and_path.split_at(i),
        None => (hosts_and_path, ""),
    };
    if !(path.is_empty() || path == "/") {
        return Err(bad(
            "a Redis Cluster has only database 0: remove the path or query after the hosts",
        ));
    }
    if userinfo.is_some_and(str::is_empty) {
        return Err(bad("empty credentials before '@'"));
    }
    let mut seeds = Vec::new();
    for host in hosts.split(',') {
        let host = host.trim();
        if host.is_empty() {
            return Err(bad("empty host in the node list"));
        }
        let (name, port) = split_host_port(host).ok_or_else(|| bad("bad HOST:PORT"))?;
        let auth = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
        seeds.push(format!("{node_scheme}://{auth}{name}:{port}/"));
    }
    Ok(seeds)
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` → (host as written for a
/// URL, port).
fn split_host_port(s: &str) -> Option<(&str, u16)> {
    let (name, port) = if let Some(inner) = s.strip_prefix('[') {
        let end = inner.find(']')?;
        let address = &inner[..end];
        if address.is_empty()
            || !address
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        let name = &s[..end + 2];
        match &inner[end + 1..] {
            "" => (name, None),
            rest => (name, Some(rest.strip_prefix(':')?)),
        }
    } else {
        let (name, port) = match s.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (s, None),
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        {
            return None;
        }
        (name, port)
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p.parse().ok().filter(|p| *p != 0)?,
    };
    Some((name, port))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn recognises_both_cluster_schemes_in_any_case() {
        assert!(is_cluster_url("redis+cluster://h:1"));
        assert!(is_cluster_url("REDISS+CLUSTER://h:1"));
        assert!(!is_cluster_url("redis://h:1"));
        assert!(!is_cluster_url("memory://"));
        assert!(!is_cluster_url("redis+cluster"));
    }

    #[test]
    fn splits_seeds_and_shares_credentials() {
        assert_eq!(
            seed_urls("redis+cluster://127.0.0.1:7000,127.0.0.1:7001/").unwrap(),
            ["redis://127.0.0.1:7000/", "redis://127.0.0.1:7001/"]
        );
        assert_eq!(
            seed_urls("rediss+cluster://app:s3cr%40t@a.example:6380,b.example").unwrap(),
            [
                "rediss://app:s3cr%40t@a.example:6380/",
                "rediss://app:s3cr%40t@b.example:6379/"
            ]
        );
        assert_eq!(
            seed_urls("redis+cluster://[::1]:7000, [::1]").unwrap(),
            ["redis://[::1]:7000/", "redis://[::1]:6379/"]
        );
        assert_eq!(
            seed_urls("redis+cluster://:pw@h:1").unwrap(),
            ["redis://:pw@h:1/"]
        );
    }

    #[test]
    fn refuses_what_it_cannot_honour_without_echoing_the_password() {
        for url in [
            "redis://h:1",
            "redis+cluster://",
            "redis+cluster://user:hunter2@",
            "redis+cluster://user:hunter2@h:1,,h:2",
            "redis+cluster://user:hunter2@h:1/3",
            "redis+cluster://user:hunter2@h:1?db=2",
            "redis+cluster://user:hunter2@h:0",
            "redis+cluster://user:hunter2@h:70000",
            "redis+cluster://user:hunter2@h:x",
            "redis+cluster://user:hunter2@h h:1",
            "redis+cluster://@h:1",
            "redis+cluster://[::1:7000",
        ] {
            let err = seed_urls(url).expect_err(url).to_string();
            assert!(!err.contains("hunter2"), "{url}: {err}");
            assert!(err.contains("invalid store URL"), "{url}: {err}");
        }
    }
}
