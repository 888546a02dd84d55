//! Issue 17: the stack of the fault suite on the optional clusters of
//! `scripts/services` (`start clusters`): a three-node RabbitMQ cluster
//! (quorum queues with three members) and a Redis Cluster of three
//! primaries with a replica each, under the same steady webhooks and join
//! requests, while:
//!
//! 1. the RabbitMQ node the ingress is connected to is SIGKILLed (every role
//!    starts on the first node of `RECTOKEN_AMQP_URL`, so it is each role's
//!    node); every role must move to another node, then the node restarts;
//! 2. the Redis primary of a probe key is SIGKILLed; its replica must take
//!    over and the same store instance write there again, every call
//!    failing within a bound meanwhile, then the old primary restarts (as a
//!    replica);
//! 3. the node the ingress moved to is SIGKILLed, the roles move again, and
//!    it restarts.
//!
//! The checks are the fault suite's (`run` in `faults.rs`): every
//! 200-answered webhook reflected at its newest version, every confirmed
//! join answered, no process died, the DLQs hold only the test's poison
//! messages. It prints what each failover cost: how long until every role
//! was on another node (or the probe wrote again), and the webhooks and
//! joins refused meanwhile.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rectoken_bus::nodes::BrokerNodes;
use rectoken_domain::meeting_id::MeetingId;
use rectoken_store::cluster_url::seed_urls;
use rectoken_store::{MapKey, Mapping, RedisStore, Source, Store};

use crate::stack::{self, Joiner, Stack, lock};
use crate::{Fault, Schedule};

/// A call that takes longer than this while a primary is down counts as
/// hung (a hang detector, not a speed target).
const HUNG: Duration = Duration::from_secs(30);

/// The clusters under test; restarts whatever node is missing when dropped,
/// so a failed run does not leave a cluster short of a node.
pub struct Clusters {
    services: String,
    pub amqp_url: String,
    pub redis_url: String,
    touched: AtomicBool,
}

fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: this test needs the optional clusters. Run it with scripts/test \
             (its serial fault step starts them), or `scripts/services start clusters && eval \
             \"$(scripts/services env)\"`."
        ),
    }
}

impl Clusters {
    fn from_env() -> Clusters {
        Clusters {
            services: env("RECTOKEN_TEST_SERVICES"),
            amqp_url: env("RECTOKEN_TEST_AMQP_CLUSTER_URL"),
            redis_url: env("RECTOKEN_TEST_REDIS_HA_URL"),
            touched: AtomicBool::new(false),
        }
    }

    /// The AMQP port of each broker node, in list order (node N of
    /// `scripts/services` is index N-1).
    fn amqp_ports(&self) -> Vec<u16> {
        BrokerNodes::parse(&self.amqp_url)
            .expect("RECTOKEN_TEST_AMQP_CLUSTER_URL")
            .urls()
            .iter()
            .map(|u| port_of(u).expect("a port in every node URL"))
            .collect()
    }

    /// `scripts/services ARGS…`, off the async threads, bounded.
    async fn services(&self, args: &[&str]) -> Result<(), String> {
        self.touched.store(true, Ordering::SeqCst);
        let mut cmd = Command::new(&self.services);
        cmd.args(args);
        let what = format!("scripts/services {}", args.join(" "));
        let status = tokio::time::timeout(
            Duration::from_secs(240),
            tokio::task::spawn_blocking(move || cmd.status()),
        )
        .await;
        match status {
            Ok(Ok(Ok(s))) if s.success() => Ok(()),
            other => Err(format!("{what} failed: {other:?}")),
        }
    }
}

impl Drop for Clusters {
    fn drop(&mut self) {
        if self.touched.load(Ordering::SeqCst) {
            for service in ["redis-ha", "rabbitmq-cluster"] {
                let _ = Command::new(&self.services)
                    .args(["start", service])
                    .status();
            }
        }
    }
}

/// The port of `scheme://[userinfo@]host:port/…`.
fn port_of(url: &str) -> Option<u16> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host = authority.rsplit('@').next()?;
    host.rsplit_once(':')?.1.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stack_rides_out_node_deaths_in_a_rabbitmq_and_a_redis_cluster() {
    let clusters = Clusters::from_env();
    let mut dir = stack::ScratchDir::new("failover").unwrap();
    eprintln!("failover: logs in {}", dir.path.display());
    let outcome = tokio::time::timeout(
        Duration::from_secs(400),
        crate::run(
            Schedule::Clusters(&clusters),
            clusters.amqp_url.clone(),
            Some(clusters.redis_url.clone()),
            &dir.path,
        ),
    )
    .await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(failures)) => {
            dir.keep();
            panic!("cluster fault suite failed:\n{failures}");
        }
        Err(_) => {
            dir.keep();
            panic!("cluster fault suite did not finish within 400 s");
        }
    }
    drop(clusters);
}

/// The fault schedule on the clusters; returns what was injected and when.
pub async fn inject(
    clusters: &Clusters,
    stack: &Arc<Stack>,
    _joiner: &Arc<Joiner>,
    t0: Instant,
) -> Result<Vec<Fault>, String> {
    let ports = clusters.amqp_ports();
    let mut faults = Vec::new();
    tokio::time::sleep_until((t0 + Duration::from_secs(5)).into()).await;
    let (fault, first) = kill_broker_node(clusters, stack, &ports, None).await?;
    faults.push(fault);
    tokio::time::sleep(Duration::from_secs(3)).await;
    faults.push(kill_redis_primary(clusters).await?);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (fault, _) = kill_broker_node(clusters, stack, &ports, Some(first)).await?;
    faults.push(fault);
    eprintln!("failover: {}", bus_counters(stack).await);
    Ok(faults)
}

/// The roles' own count of what the broker failovers made them do (their
/// `/metrics`), summed: connections lost, publishes that waited for the
/// move to another node, publishes sent again after it. Printed, not
/// asserted: how many publishes a kill catches mid-flight is chance.
async fn bus_counters(stack: &Stack) -> String {
    let names = [
        "rectoken_broker_connection_lost_total",
        "rectoken_broker_publish_waited_total",
        "rectoken_broker_republished_total",
    ];
    let ports: Vec<(String, u16)> = lock(&stack.procs)
        .iter()
        .map(|p| (p.name.clone(), p.port))
        .collect();
    let mut totals = [0f64; 3];
    for (_, port) in ports {
        let Ok(r) = stack
            .http
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
        else {
            continue;
        };
        let text = r.text().await.unwrap_or_default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            for (i, name) in names.iter().enumerate() {
                if line.starts_with(name)
                    && let Some(v) = line
                        .split_whitespace()
                        .last()
                        .and_then(|v| v.parse::<f64>().ok())
                {
                    totals[i] += v;
                }
            }
        }
    }
    format!(
        "over all roles: {} broker connections lost, {} publishes waited for the move to another node, {} sent again after it",
        totals[0], totals[1], totals[2]
    )
}

/// Which broker node (index into `ports`) each role process talks to.
fn nodes_of_roles(stack: &Stack, ports: &[u16]) -> Vec<(String, Option<usize>)> {
    stack
        .pids()
        .into_iter()
        .map(|(name, _, pid)| {
            let node = stack::remote_ports(pid)
                .into_iter()
                .find_map(|p| ports.iter().position(|q| *q == p));
            (name, node)
        })
        .collect()
}

/// SIGKILL the node the ingress is on (it must not be `not`), wait until
/// every role that was on it is on another node, restart it.
async fn kill_broker_node(
    clusters: &Clusters,
    stack: &Stack,
    ports: &[u16],
    not: Option<usize>,
) -> Result<(Fault, usize), String> {
    let before = nodes_of_roles(stack, ports);
    let Some(node) = before
        .iter()
        .find(|(name, _)| name == "ingress")
        .and_then(|(_, n)| *n)
    else {
        return Err(format!("the ingress is on no broker node: {before:?}"));
    };
    if Some(node) == not {
        return Err(format!(
            "the ingress is back on node {} (killed earlier): {before:?}",
            node + 1
        ));
    }
    let on_it: Vec<String> = before
        .iter()
        .filter(|(_, n)| *n == Some(node))
        .map(|(name, _)| name.clone())
        .collect();
    let start = Instant::now();
    clusters
        .services(&["kill", &format!("rabbitmq-cluster:{}", node + 1)])
        .await?;
    let moved = rectoken_tests::eventually(Duration::from_secs(60), || async {
        nodes_of_roles(stack, ports)
            .iter()
            .filter(|(name, _)| on_it.contains(name))
            .all(|(_, n)| n.is_some_and(|n| n != node))
    })
    .await;
    let moved_after = start.elapsed();
    let after = nodes_of_roles(stack, ports);
    if !moved {
        return Err(format!(
            "after killing broker node {} the roles {on_it:?} did not all move to another node within 60 s: {after:?}",
            node + 1
        ));
    }
    eprintln!(
        "failover: SIGKILLed RabbitMQ node {} (port {}), which {} were on; all on other nodes {:.2}s later: {:?}",
        node + 1,
        ports[node],
        on_it.join(", "),
        moved_after.as_secs_f64(),
        after
            .iter()
            .map(|(name, n)| format!("{name}→{}", n.map_or(0, |n| n + 1)))
            .collect::<Vec<_>>()
    );
    let restart = Instant::now();
    clusters.services(&["start", "rabbitmq-cluster"]).await?;
    eprintln!(
        "failover: RabbitMQ node {} restarted and the cluster ready in {:.1}s",
        node + 1,
        restart.elapsed().as_secs_f64()
    );
    Ok((
        Fault {
            name: format!("SIGKILL rabbitmq node {}", node + 1),
            start,
            end: Instant::now(),
        },
        node,
    ))
}

fn probe_mapping(version: i64) -> Mapping {
    Mapping {
        account_id: "acc-failover-probe".into(),
        owner_id: "probe-host".into(),
        source: Source::Webhook,
        version_ms: version,
        written_at_ms: 1_700_000_000_000,
    }
}

/// The port of the primary serving `key`'s slot, asked of the first seed
/// that answers (`CLUSTER KEYSLOT`, then `CLUSTER NODES`).
async fn primary_of(redis_url: &str, key: &str) -> Result<u16, String> {
    let mut last = String::new();
    for seed in seed_urls(redis_url).map_err(|e| e.to_string())? {
        let Ok(client) = redis::Client::open(seed.as_str()) else {
            continue;
        };
        let asked = async {
            let mut con = client.get_multiplexed_async_connection().await?;
            let slot: u16 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(key)
                .query_async(&mut con)
                .await?;
            let nodes: String = redis::cmd("CLUSTER")
                .arg("NODES")
                .query_async(&mut con)
                .await?;
            redis::RedisResult::Ok((slot, nodes))
        };
        match tokio::time::timeout(Duration::from_secs(5), asked).await {
            Ok(Ok((slot, nodes))) => {
                if let Some(port) = serving(&nodes, slot) {
                    return Ok(port);
                }
                last = format!("no live primary serves slot {slot}");
            }
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "timed out".into(),
        }
    }
    Err(format!("cannot tell which primary serves {key}: {last}"))
}

/// The port of the live primary whose slot ranges in a `CLUSTER NODES`
/// reply hold `slot`.
fn serving(nodes: &str, slot: u16) -> Option<u16> {
    nodes.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 9 || !f[2].contains("master") || f[2].contains("fail") {
            return None;
        }
        let holds = f[8..].iter().any(|range| {
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            matches!((a.parse::<u16>(), b.parse::<u16>()), (Ok(a), Ok(b)) if (a..=b).contains(&slot))
        });
        if !holds {
            return None;
        }
        let address = f[1].split('@').next()?;
        address.rsplit_once(':')?.1.parse().ok()
    })
}

/// SIGKILL the primary of a probe key; write the key every 100 ms through
/// one store until its replica took over; restart the old primary.
async fn kill_redis_primary(clusters: &Clusters) -> Result<Fault, String> {
    let store = RedisStore::new(
        &clusters.redis_url,
        &rectoken_tests::unique_prefix("failover-probe"),
    )
    .map_err(|e| e.to_string())?;
    let key = MapKey::meeting(MeetingId::new(86_000_000_001).map_err(|e| e.to_string())?);
    store
        .put_mapping(key, &probe_mapping(1), None)
        .await
        .map_err(|e| format!("probe write before the kill: {e}"))?;
    let redis_key = store.keys().map(key);
    let primary = primary_of(&clusters.redis_url, &redis_key).await?;
    let start = Instant::now();
    clusters
        .services(&["kill", &format!("redis-ha:{primary}")])
        .await?;
    let (mut failed, mut slowest, mut version) = (0u32, Duration::ZERO, 1i64);
    let mut first_error = None;
    let outage = loop {
        version += 1;
        let call = Instant::now();
        let result =
            tokio::time::timeout(HUNG, store.put_mapping(key, &probe_mapping(version), None)).await;
        let took = call.elapsed();
        slowest = slowest.max(took);
        match result {
            Err(_) => {
                return Err(format!(
                    "a store call hung for {HUNG:?} with primary {primary} down"
                ));
            }
            Ok(Ok(_)) => break start.elapsed(),
            Ok(Err(e)) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
        if start.elapsed() > Duration::from_secs(60) {
            return Err(format!(
                "the store did not write to the slot of dead primary {primary} within 60 s ({failed} calls failed, first: {first_error:?})"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let promoted = primary_of(&clusters.redis_url, &redis_key).await?;
    if promoted == primary {
        return Err(format!(
            "slot of {redis_key} still served by the killed {primary}"
        ));
    }
    let stored = store
        .get_mapping(key)
        .await
        .map_err(|e| format!("probe read after the failover: {e}"))?;
    if stored.as_ref().map(|m| m.version_ms) != Some(version) {
        return Err(format!(
            "probe read after the failover: {stored:?}, expected version {version}"
        ));
    }
    eprintln!(
        "failover: SIGKILLed Redis primary {primary}; its replica {promoted} took over and the same store \
         wrote there {:.2}s later ({failed} calls failed meanwhile, slowest call {} ms; first error: {})",
        outage.as_secs_f64(),
        slowest.as_millis(),
        first_error.as_deref().unwrap_or("none"),
    );
    let restart = Instant::now();
    clusters.services(&["start", "redis-ha"]).await?;
    eprintln!(
        "failover: Redis node {primary} restarted (now a replica) and the cluster ready in {:.1}s",
        restart.elapsed().as_secs_f64()
    );
    let _ = store.delete_prefixed_keys().await;
    Ok(Fault {
        name: format!("SIGKILL redis primary {primary}"),
        start,
        end: Instant::now(),
    })
}

/// Unix ms of an `Instant` in the past.
fn wall_ms(at: Instant) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(now.saturating_sub(at.elapsed()).as_millis()).unwrap_or(0)
}

/// Per fault, the webhook attempts and join publishes made while it lasted
/// (and 5 s after) and how many of them were refused.
pub fn refused_during(stack: &Stack, joiner: &Joiner, faults: &[Fault]) -> String {
    let deliveries = stack.sim.deliveries();
    let log = lock(&joiner.log);
    faults
        .iter()
        .map(|f| {
            let until = f.end + Duration::from_secs(5);
            let (from_ms, until_ms) = (wall_ms(f.start), wall_ms(until).max(wall_ms(f.start)));
            let attempts: Vec<bool> = deliveries
                .iter()
                .flat_map(|d| d.attempts.iter())
                .filter(|a| (from_ms..=until_ms).contains(&a.sent_at_ms))
                .map(|a| a.delivered)
                .collect();
            let joins: Vec<bool> = log
                .requests
                .values()
                .filter(|r| r.sent >= f.start && r.sent <= until)
                .map(|r| matches!(r.published, Some(Ok(()))))
                .collect();
            format!(
                "{} ({:.1}s): webhooks {} of {} refused, joins {} of {} unconfirmed",
                f.name,
                (f.end - f.start).as_secs_f64(),
                attempts.iter().filter(|ok| !**ok).count(),
                attempts.len(),
                joins.iter().filter(|ok| !**ok).count(),
                joins.len()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn reads_ports_and_slot_owners() {
    assert_eq!(port_of("amqp://guest:guest@127.0.0.1:5682/%2f"), Some(5682));
    assert_eq!(port_of("amqp://h/%2f"), None);
    let nodes = "\
a 127.0.0.1:6401@16401 myself,master - 0 0 1 connected 0-5460
b 127.0.0.1:6402@16402 master - 0 0 2 connected 5461-10922
c 127.0.0.1:6403@16403 master,fail - 0 0 3 connected 10923-16383
d 127.0.0.1:6404@16404 slave b 0 0 2 connected
e 127.0.0.1:6405@16405 master - 0 0 4 connected 12000 16000-16383";
    assert_eq!(serving(nodes, 0), Some(6401));
    assert_eq!(serving(nodes, 5461), Some(6402));
    assert_eq!(serving(nodes, 12000), Some(6405));
    assert_eq!(serving(nodes, 11000), None, "its primary failed");
}
