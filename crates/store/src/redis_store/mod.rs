//! The Redis [`Store`]: on one Redis, a `ConnectionManager` (reconnects by
//! itself); on Redis Cluster, the cluster client (follows the slot map,
//! `MOVED`/`ASK` redirects and failovers). Both use the key layout of
//! [`keys`](crate::keys) and the Lua scripts of [`scripts`](crate::scripts),
//! one per multi-step write, each within one hash slot.
//!
//! Reads that span many slots (the 256 buckets of an account, a page of
//! mappings, every account record) are one pipeline on a single Redis; on
//! Cluster a pipeline must stay in one slot, so they are sent as concurrent
//! single commands, which the cluster client routes to each slot's primary
//! and multiplexes per node (`RedisStore::query_all`).
//!
//! Writes that span two hash-tag slots are split into single-slot scripts
//! plus idempotent follow-ups, each explained where it happens:
//! - map write → PMI-of-user index (account slot): version-ordered
//!   follow-up, verified against the map on every read;
//! - account record → the `accounts` set: `SADD`/`SREM` after the record;
//!   readers skip IDs without a record.

//!
//! Split by concern: [`connection`] (connecting, reconnecting, distrusting
//! a stuck cluster connection), [`codec`] (the fields of each hash and how
//! they decode, strictly), and here the [`Store`] implementation.

mod codec;
mod connection;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::{BoxFuture, try_join_all};
use rectoken_domain::meeting_id::MeetingId;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, FromRedisValue, Value};

use crate::directory::{self, DirectoryKey, DirectoryUser};
use crate::durability::{Durability, NodeDurability};
use crate::error::{Result, StoreError};
use crate::keys::{BUCKETS, Keys, Position, parse_member};
use crate::model::{
    AccountRecord, AccountStatus, Admission, Lease, MapKey, MapKind, Mapping, RateLimit,
    StoredCredentials, SyncState, SyncStatus, WriteOutcome,
};
use crate::rules::{self, TOMBSTONE_TTL};
use crate::scripts;
use crate::store::Store;

use codec::*;
use connection::{ClusterHealth, Connection, Connector};

/// Buckets fetched per pipeline when listing, counting, pruning.
const BUCKET_BATCH: u16 = 32;
/// Map keys per prune/purge script call: bounds how long one script blocks
/// the server.
const SCRIPT_CHUNK: usize = 200;
/// Attempts of a put whose mapping keeps moving between accounts.
const PUT_ATTEMPTS: usize = 8;

/// The Redis [`Store`], on one Redis or on a Redis Cluster.
pub struct RedisStore {
    conn: Connector,
    keys: Keys,
}

impl RedisStore {
    /// A store on the Redis at `url` (`redis://`, `rediss://`, or a cluster:
    /// `redis+cluster://HOST:PORT[,HOST:PORT…]`, see
    /// [`cluster_url`](crate::cluster_url)), with every key under `prefix`.
    /// Connects lazily, on the first call: a process can start while Redis
    /// is still down, and `/readyz` reports it.
    pub fn new(url: &str, prefix: &str) -> Result<Self> {
        Ok(Self {
            conn: Connector::new(url)?,
            keys: Keys::new(prefix)?,
        })
    }

    /// Whether this store talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.conn.is_cluster()
    }

    /// The key layout (for tools and tests that inspect Redis directly).
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A working connection (see [`Connector::con`]); the crate's other
    /// Redis users (the join log) share the store's way of connecting.
    pub(crate) async fn con(&self) -> Result<Connection> {
        self.conn.con().await
    }

    /// Run commands whose keys may lie in different hash slots and return
    /// their replies in order: one pipeline on a single Redis; on Cluster,
    /// concurrent single commands (a cluster pipeline must stay in one
    /// slot), each routed to its slot's node.
    async fn query_all<T>(&self, con: &Connection, cmds: Vec<Cmd>) -> Result<Vec<T>>
    where
        T: FromRedisValue + Send + 'static,
    {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        match con {
            Connection::Single(_) => {
                let mut pipe = redis::pipe();
                for c in cmds {
                    pipe.add_command(c);
                }
                let mut con = con.clone();
                Ok(pipe.query_async(&mut con).await?)
            }
            Connection::Cluster(..) => {
                let calls = cmds.into_iter().map(|c| {
                    let mut con = con.clone();
                    let call: BoxFuture<'static, redis::RedisResult<T>> =
                        Box::pin(async move { c.query_async(&mut con).await });
                    call
                });
                Ok(try_join_all(calls).await?)
            }
        }
    }

    /// Every member of an account's index, bucket by bucket (non-empty
    /// buckets only).
    async fn account_members(&self, account_id: &str) -> Result<Vec<(u8, Vec<String>)>> {
        let con = self.con().await?;
        let mut out = Vec::new();
        let mut b = 0u16;
        while b < BUCKETS {
            let end = (b + BUCKET_BATCH).min(BUCKETS);
            let cmds = (b..end)
                .map(|bb| {
                    let mut c = redis::cmd("ZRANGE");
                    c.arg(self.keys.account_index(bucket_u8(bb), account_id))
                        .arg(0)
                        .arg(-1);
                    c
                })
                .collect();
            let res: Vec<Vec<String>> = self.query_all(&con, cmds).await?;
            for (bb, members) in (b..end).zip(res) {
                if !members.is_empty() {
                    out.push((bucket_u8(bb), members));
                }
            }
            b = end;
        }
        Ok(out)
    }

    /// The user IDs the directory's users hash lists for an account.
    async fn directory_users_of(&self, account_id: &str) -> Result<Vec<String>> {
        let mut con = self.con().await?;
        let users_key = self.keys.directory_users();
        let mut out = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, page): (u64, Vec<(String, String)>) = redis::cmd("HSCAN")
                .arg(&users_key)
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut con)
                .await?;
            out.extend(
                page.into_iter()
                    .filter(|(_, a)| a == account_id)
                    .map(|(u, _)| u),
            );
            if next == 0 {
                return Ok(out);
            }
            cursor = next;
        }
    }

    /// Delete every key under this store's prefix (`SCAN` + `UNLINK`) and
    /// return how many. For tests and throwaway environments; refuses an
    /// empty prefix, which would mean the whole database.
    pub async fn delete_prefixed_keys(&self) -> Result<u64> {
        let prefix = self.keys.prefix();
        if prefix.is_empty() {
            return Err(StoreError::InvalidInput(
                "refusing to delete every key: the store has no prefix".into(),
            ));
        }
        let mut pattern = String::with_capacity(prefix.len() + 1);
        for c in prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        let con = self.con().await?;
        let mut deleted = 0u64;
        // SCAN walks one server's keyspace: on Cluster, walk each primary.
        let nodes = match &con {
            Connection::Single(_) => vec![None],
            Connection::Cluster(c, health) => primaries(&mut c.clone(), health)
                .await?
                .into_iter()
                .map(Some)
                .collect(),
        };
        for node in nodes {
            let mut cursor = 0u64;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500);
                let (next, batch): (u64, Vec<String>) = match (&con, &node) {
                    (Connection::Cluster(c, health), Some((host, port))) => {
                        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port: *port,
                        });
                        let reply = route(&mut c.clone(), health, scan, routing).await?;
                        redis::from_redis_value(reply)
                            .map_err(|e| StoreError::corrupt("SCAN", format!("{e}")))?
                    }
                    _ => scan.query_async(&mut con.clone()).await?,
                };
                // One UNLINK per key: keys of different slots may not share
                // a command on Cluster.
                let cmds = batch
                    .iter()
                    .map(|k| {
                        let mut c = redis::cmd("UNLINK");
                        c.arg(k);
                        c
                    })
                    .collect();
                let n: Vec<u64> = self.query_all(&con, cmds).await?;
                deleted += n.iter().sum::<u64>();
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(deleted)
    }

    async fn pmi_del(&self, account: &str, user: &str, pmi: MeetingId, version: i64) -> Result<()> {
        let mut con = self.con().await?;
        let _: i64 = scripts::PMI_DEL
            .key(self.keys.pmi_index(account))
            .arg(user)
            .arg(pmi.get())
            .arg(version)
            .invoke_async(&mut con)
            .await?;
        Ok(())
    }
}

/// A command sent where `routing` says, its failure noted in `health`.
async fn route(
    con: &mut ClusterConnection,
    health: &ClusterHealth,
    cmd: Cmd,
    routing: RoutingInfo,
) -> Result<Value> {
    let reply = con.route_command(cmd, routing).await;
    health.note(&reply);
    Ok(reply?)
}

/// The addresses (host, port) of a cluster's primaries, as its slot map
/// names them: a `PING` to all primaries answers per address.
async fn primaries(
    con: &mut ClusterConnection,
    health: &ClusterHealth,
) -> Result<Vec<(String, u16)>> {
    let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
    let reply = route(con, health, redis::cmd("PING"), routing).await?;
    Ok(per_node(reply)?.into_iter().map(|(node, _)| node).collect())
}

#[async_trait]
impl Store for RedisStore {
    async fn put_mapping(
        &self,
        key: MapKey,
        m: &Mapping,
        sync_generation: Option<&str>,
    ) -> Result<WriteOutcome> {
        let pos = Position::of(key);
        let map_key = self.keys.map(key);
        let mut con = self.con().await?;
        // Usually the previous owner is the same account (or nobody); when
        // the script finds another, it names it and we retry with that
        // account's index declared.
        let mut guess = m.account_id.clone();
        for _ in 0..PUT_ATTEMPTS {
            let reply: Vec<String> = scripts::PUT
                .key(&map_key)
                .key(self.keys.account_index(pos.bucket, &m.account_id))
                .key(self.keys.account_index(pos.bucket, &guess))
                .key(self.keys.all_index(pos.bucket))
                .arg(&pos.member)
                .arg(&m.account_id)
                .arg(&m.owner_id)
                .arg(m.source.as_str())
                .arg(m.version_ms)
                .arg(m.written_at_ms)
                .arg(sync_generation.unwrap_or(""))
                .arg(&guess)
                .invoke_async(&mut con)
                .await?;
            let [verdict, prev_account, prev_owner] = reply.as_slice() else {
                return Err(StoreError::corrupt(&map_key, "put script reply"));
            };
            if verdict == "retry" {
                guess = prev_account.clone();
                continue;
            }
            let result = outcome(&map_key, verdict)?;
            // Follow-up in the account slot (see `keys`): idempotent and
            // version-ordered, so redelivering the event (a Duplicate) also
            // repairs a follow-up lost to a crash.
            if key.kind == MapKind::Pmi && result != WriteOutcome::Stale {
                if !prev_account.is_empty()
                    && (*prev_account != m.account_id || *prev_owner != m.owner_id)
                {
                    self.pmi_del(prev_account, prev_owner, key.id, m.version_ms)
                        .await?;
                }
                let _: i64 = scripts::PMI_SET
                    .key(self.keys.pmi_index(&m.account_id))
                    .arg(&m.owner_id)
                    .arg(key.id.get())
                    .arg(m.version_ms)
                    .invoke_async(&mut con)
                    .await?;
            }
            return Ok(result);
        }
        Err(StoreError::Contention(map_key))
    }

    async fn remove_mapping(
        &self,
        key: MapKey,
        account_id: &str,
        version_ms: i64,
    ) -> Result<WriteOutcome> {
        let pos = Position::of(key);
        let map_key = self.keys.map(key);
        let mut con = self.con().await?;
        let reply: Vec<String> = scripts::REMOVE
            .key(&map_key)
            .key(self.keys.account_index(pos.bucket, account_id))
            .key(self.keys.all_index(pos.bucket))
            .arg(&pos.member)
            .arg(account_id)
            .arg(version_ms)
            .arg(ttl_ms(TOMBSTONE_TTL))
            .invoke_async(&mut con)
            .await?;
        let [verdict, prev_owner] = reply.as_slice() else {
            return Err(StoreError::corrupt(&map_key, "remove script reply"));
        };
        let result = outcome(&map_key, verdict)?;
        if key.kind == MapKind::Pmi && result == WriteOutcome::Applied && !prev_owner.is_empty() {
            self.pmi_del(account_id, prev_owner, key.id, version_ms)
                .await?;
        }
        Ok(result)
    }

    async fn get_mapping(&self, key: MapKey) -> Result<Option<Mapping>> {
        let map_key = self.keys.map(key);
        let mut con = self.con().await?;
        let fields: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&map_key)
            .arg(&MAPPING_FIELDS[..])
            .query_async(&mut con)
            .await?;
        parse_mapping(&map_key, &fields)
    }

    async fn pmi_of_user(&self, account_id: &str, user_id: &str) -> Result<Option<MeetingId>> {
        let index = self.keys.pmi_index(account_id);
        let mut con = self.con().await?;
        let entry: Option<String> = redis::cmd("HGET")
            .arg(&index)
            .arg(user_id)
            .query_async(&mut con)
            .await?;
        let Some(entry) = entry else { return Ok(None) };
        let pmi = entry
            .split_once(':')
            .and_then(|(p, _)| p.parse::<u64>().ok())
            .and_then(|p| MeetingId::new(p).ok())
            .ok_or_else(|| StoreError::corrupt(&index, format!("bad entry for {user_id}")))?;
        // The index is a follow-up of the map write (another slot): trust
        // only what the map itself still says.
        Ok(match self.get_mapping(MapKey::pmi(pmi)).await? {
            Some(m) if m.account_id == account_id && m.owner_id == user_id => Some(pmi),
            _ => None,
        })
    }

    async fn list_mappings(
        &self,
        account_id: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(MapKey, Mapping)>, Option<String>)> {
        let start = cursor.map(Position::from_cursor).transpose()?;
        let index = |b: u8| match account_id {
            Some(a) => self.keys.account_index(b, a),
            None => self.keys.all_index(b),
        };
        let want = limit + 1; // one extra tells whether there is more
        let con = self.con().await?;
        let mut positions: Vec<Position> = Vec::with_capacity(want);
        let mut b = start.as_ref().map_or(0, |p| u16::from(p.bucket));
        while b < BUCKETS && positions.len() < want {
            let end = (b + BUCKET_BATCH).min(BUCKETS);
            let cmds = (b..end)
                .map(|bb| {
                    let min = match &start {
                        Some(p) if u16::from(p.bucket) == bb => format!("({}", p.member),
                        _ => "-".to_owned(),
                    };
                    let mut c = redis::cmd("ZRANGEBYLEX");
                    c.arg(index(bucket_u8(bb)))
                        .arg(min)
                        .arg("+")
                        .arg("LIMIT")
                        .arg(0)
                        .arg(want - positions.len());
                    c
                })
                .collect();
            let res: Vec<Vec<String>> = self.query_all(&con, cmds).await?;
            'fill: for (bb, members) in (b..end).zip(res) {
                for member in members {
                    if positions.len() == want {
                        break 'fill;
                    }
                    positions.push(Position {
                        bucket: bucket_u8(bb),
                        member,
                    });
                }
            }
            b = end;
        }
        let more = positions.len() > limit;
        positions.truncate(limit);
        let next = if more {
            positions.last().map(Position::to_cursor)
        } else {
            None
        };
        if positions.is_empty() {
            return Ok((Vec::new(), next));
        }
        let cmds = positions
            .iter()
            .map(|p| {
                let mut c = redis::cmd("HMGET");
                c.arg(self.keys.map_at(p)).arg(&MAPPING_FIELDS[..]);
                c
            })
            .collect();
        let rows: Vec<Vec<Option<String>>> = self.query_all(&con, cmds).await?;
        let mut page = Vec::with_capacity(positions.len());
        for (p, fields) in positions.iter().zip(rows) {
            let map_key = self.keys.map_at(p);
            let key = parse_member(&p.member)
                .ok_or_else(|| StoreError::corrupt(&map_key, "bad index member"))?;
            // Removed between the index read and this one: skip it.
            if let Some(m) = parse_mapping(&map_key, &fields)?
                && account_id.is_none_or(|a| a == m.account_id)
            {
                page.push((key, m));
            }
        }
        Ok((page, next))
    }

    async fn count_mappings(&self, account_id: &str) -> Result<u64> {
        let con = self.con().await?;
        let cmds = (0..BUCKETS)
            .map(|b| {
                let mut c = redis::cmd("ZCARD");
                c.arg(self.keys.account_index(bucket_u8(b), account_id));
                c
            })
            .collect();
        let counts: Vec<u64> = self.query_all(&con, cmds).await?;
        Ok(counts.iter().sum())
    }

    async fn prune_unseen(
        &self,
        account_id: &str,
        sync_generation: &str,
        sync_started_ms: i64,
    ) -> Result<u64> {
        let tomb_version = sync_started_ms - 1;
        let mut con = self.con().await?;
        let mut removed = 0u64;
        for (b, members) in self.account_members(account_id).await? {
            for chunk in members.chunks(SCRIPT_CHUNK) {
                let mut inv = scripts::PRUNE.prepare_invoke();
                inv.key(self.keys.account_index(b, account_id))
                    .key(self.keys.all_index(b))
                    .arg(account_id)
                    .arg(sync_generation)
                    .arg(sync_started_ms)
                    .arg(tomb_version)
                    .arg(ttl_ms(TOMBSTONE_TTL));
                for mem in chunk {
                    inv.key(self.keys.map_at(&Position {
                        bucket: b,
                        member: mem.clone(),
                    }))
                    .arg(mem);
                }
                let gone: Vec<String> = inv.invoke_async(&mut con).await?;
                for pair in gone.chunks(2) {
                    removed += 1;
                    // PMI follow-up in the account slot (see put_mapping).
                    if let [mem, owner] = pair
                        && let Some(key) = parse_member(mem)
                        && key.kind == MapKind::Pmi
                    {
                        self.pmi_del(account_id, owner, key.id, tomb_version)
                            .await?;
                    }
                }
            }
        }
        Ok(removed)
    }

    async fn purge_account_mappings(&self, account_id: &str) -> Result<u64> {
        let mut con = self.con().await?;
        let mut purged = 0u64;
        for (b, members) in self.account_members(account_id).await? {
            for chunk in members.chunks(SCRIPT_CHUNK) {
                let mut inv = scripts::PURGE.prepare_invoke();
                inv.key(self.keys.account_index(b, account_id))
                    .key(self.keys.all_index(b))
                    .arg(account_id);
                for mem in chunk {
                    inv.key(self.keys.map_at(&Position {
                        bucket: b,
                        member: mem.clone(),
                    }))
                    .arg(mem);
                }
                let n: u64 = inv.invoke_async(&mut con).await?;
                purged += n;
            }
        }
        let _: () = redis::cmd("DEL")
            .arg(self.keys.pmi_index(account_id))
            .query_async(&mut con)
            .await?;
        Ok(purged)
    }

    async fn put_directory_user(&self, user: &DirectoryUser) -> Result<bool> {
        let mut con = self.con().await?;
        let norm = |v: &Option<String>| v.as_deref().map(directory::normalize).unwrap_or_default();
        let applied: i64 = scripts::DIR_PUT
            .key(self.keys.directory_user(&user.user_id))
            .key(self.keys.directory_email())
            .key(self.keys.directory_vanity())
            .key(self.keys.directory_users())
            .arg(&user.user_id)
            .arg(&user.account_id)
            .arg(user.email.as_deref().unwrap_or(""))
            .arg(norm(&user.email))
            .arg(user.vanity_name.as_deref().unwrap_or(""))
            .arg(norm(&user.vanity_name))
            .arg(user.pmi.map(|p| p.get().to_string()).unwrap_or_default())
            .arg(user.version)
            .invoke_async(&mut con)
            .await?;
        Ok(applied == 1)
    }

    async fn remove_directory_user(
        &self,
        account_id: &str,
        user_id: &str,
        version: i64,
    ) -> Result<bool> {
        let mut con = self.con().await?;
        let applied: i64 = scripts::DIR_REMOVE
            .key(self.keys.directory_user(user_id))
            .key(self.keys.directory_email())
            .key(self.keys.directory_vanity())
            .key(self.keys.directory_users())
            .arg(user_id)
            .arg(account_id)
            .arg(version)
            .arg(ttl_ms(TOMBSTONE_TTL))
            .invoke_async(&mut con)
            .await?;
        Ok(applied == 1)
    }

    async fn find_directory_user(&self, key: &DirectoryKey) -> Result<Option<DirectoryUser>> {
        let mut con = self.con().await?;
        let (index, wanted) = match key {
            DirectoryKey::UserId(id) => (None, id.clone()),
            DirectoryKey::Email(e) => (Some(self.keys.directory_email()), directory::normalize(e)),
            DirectoryKey::Vanity(n) => {
                (Some(self.keys.directory_vanity()), directory::normalize(n))
            }
        };
        let user_id = match index {
            None => wanted,
            Some(index) => {
                let found: Option<String> = redis::cmd("HGET")
                    .arg(&index)
                    .arg(&wanted)
                    .query_async(&mut con)
                    .await?;
                let Some(found) = found else { return Ok(None) };
                found
            }
        };
        if user_id.is_empty() {
            return Ok(None);
        }
        let key_name = self.keys.directory_user(&user_id);
        let fields: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&key_name)
            .arg(&DIRECTORY_FIELDS[..])
            .query_async(&mut con)
            .await?;
        parse_directory_user(&key_name, &user_id, &fields)
    }

    async fn prune_directory(&self, account_id: &str, sync_started_ms: i64) -> Result<u64> {
        let users = self.directory_users_of(account_id).await?;
        let mut con = self.con().await?;
        let mut pruned = 0u64;
        for chunk in users.chunks(SCRIPT_CHUNK) {
            let mut inv = scripts::DIR_PRUNE.prepare_invoke();
            inv.key(self.keys.directory_email())
                .key(self.keys.directory_vanity())
                .key(self.keys.directory_users())
                .arg(account_id)
                .arg(sync_started_ms)
                .arg(sync_started_ms - 1)
                .arg(ttl_ms(TOMBSTONE_TTL));
            for user in chunk {
                inv.key(self.keys.directory_user(user)).arg(user);
            }
            let n: u64 = inv.invoke_async(&mut con).await?;
            pruned += n;
        }
        Ok(pruned)
    }

    async fn purge_account_directory(&self, account_id: &str) -> Result<u64> {
        // This account's users from the user → account hash, then deleted
        // in chunks, each re-checked inside the script.
        let doomed = self.directory_users_of(account_id).await?;
        let mut con = self.con().await?;
        let users_key = self.keys.directory_users();
        let mut purged = 0u64;
        for chunk in doomed.chunks(SCRIPT_CHUNK) {
            let mut inv = scripts::DIR_PURGE.prepare_invoke();
            inv.key(self.keys.directory_email())
                .key(self.keys.directory_vanity())
                .key(&users_key)
                .arg(account_id);
            for user in chunk {
                inv.key(self.keys.directory_user(user)).arg(user);
            }
            let n: u64 = inv.invoke_async(&mut con).await?;
            purged += n;
        }
        Ok(purged)
    }

    async fn upsert_account(&self, rec: &AccountRecord) -> Result<()> {
        let key = self.keys.account(&rec.account_id);
        let fields = account_fields(rec)?;
        let mut con = self.con().await?;
        // One key, MULTI/EXEC: readers never see half a record.
        let _: () = redis::pipe()
            .atomic()
            .cmd("HDEL")
            .arg(&key)
            .arg(&OPTIONAL_ACCOUNT_FIELDS[..])
            .ignore()
            .hset_multiple(&key, &fields)
            .ignore()
            .query_async(&mut con)
            .await?;
        // Another slot: the set only lists IDs, readers skip IDs without a
        // record, so a crash between the two loses nothing but listing
        // until the next upsert.
        let _: () = redis::cmd("SADD")
            .arg(self.keys.accounts())
            .arg(&rec.account_id)
            .query_async(&mut con)
            .await?;
        Ok(())
    }

    async fn account(&self, account_id: &str) -> Result<Option<AccountRecord>> {
        let key = self.keys.account(account_id);
        let mut con = self.con().await?;
        let h: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(&key)
            .query_async(&mut con)
            .await?;
        parse_account(&key, &h)
    }

    async fn list_accounts(&self) -> Result<Vec<AccountRecord>> {
        let mut con = self.con().await?;
        let mut ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.keys.accounts())
            .query_async(&mut con)
            .await?;
        ids.sort();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let cmds = ids
            .iter()
            .map(|id| {
                let mut c = redis::cmd("HGETALL");
                c.arg(self.keys.account(id));
                c
            })
            .collect();
        let hashes: Vec<HashMap<String, String>> = self.query_all(&con, cmds).await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id, h) in ids.iter().zip(hashes) {
            if let Some(rec) = parse_account(&self.keys.account(id), &h)? {
                out.push(rec);
            }
        }
        Ok(out)
    }

    async fn set_account_status(
        &self,
        account_id: &str,
        status: AccountStatus,
        last_error: Option<&str>,
    ) -> Result<()> {
        let mut con = self.con().await?;
        let found: i64 = scripts::SET_STATUS
            .key(self.keys.account(account_id))
            .arg(status.as_str())
            .arg(if last_error.is_some() { "1" } else { "0" })
            .arg(last_error.unwrap_or(""))
            .invoke_async(&mut con)
            .await?;
        if found == 0 {
            return Err(StoreError::AccountNotFound(account_id.to_owned()));
        }
        Ok(())
    }

    async fn start_sync(
        &self,
        account_id: &str,
        generation: &str,
        users_total: u64,
        started_at_ms: i64,
    ) -> Result<()> {
        let mut con = self.con().await?;
        let found: i64 = scripts::START_SYNC
            .key(self.keys.account(account_id))
            .arg(generation)
            .arg(users_total)
            .arg(started_at_ms)
            .invoke_async(&mut con)
            .await?;
        if found == 0 {
            return Err(StoreError::AccountNotFound(account_id.to_owned()));
        }
        Ok(())
    }

    async fn add_sync_progress(
        &self,
        account_id: &str,
        generation: &str,
        users_done: u64,
    ) -> Result<SyncStatus> {
        let key = self.keys.account(account_id);
        let mut con = self.con().await?;
        // HINCRBY takes a signed 64-bit increment.
        let n = i64::try_from(users_done).unwrap_or(i64::MAX);
        let h: HashMap<String, String> = scripts::SYNC_PROGRESS
            .key(&key)
            .arg(generation)
            .arg(n)
            .invoke_async(&mut con)
            .await?;
        if h.is_empty() {
            return Ok(SyncStatus::default());
        }
        parse_sync(&key, &h)
    }

    async fn finish_sync(
        &self,
        account_id: &str,
        generation: &str,
        state: SyncState,
        error: Option<&str>,
        at_ms: i64,
    ) -> Result<()> {
        let mut con = self.con().await?;
        let _: i64 = scripts::FINISH_SYNC
            .key(self.keys.account(account_id))
            .arg(generation)
            .arg(state.as_str())
            .arg(at_ms)
            .arg(if error.is_some() { "1" } else { "0" })
            .arg(error.unwrap_or(""))
            .invoke_async(&mut con)
            .await?;
        Ok(())
    }

    async fn delete_account(&self, account_id: &str) -> Result<()> {
        let mut con = self.con().await?;
        // One slot ({a:ACCOUNT}): a single multi-key DEL.
        let _: () = redis::cmd("DEL")
            .arg(self.keys.account(account_id))
            .arg(self.keys.credentials(account_id))
            .arg(self.keys.block(account_id))
            .query_async(&mut con)
            .await?;
        let _: () = redis::cmd("SREM")
            .arg(self.keys.accounts())
            .arg(account_id)
            .query_async(&mut con)
            .await?;
        Ok(())
    }

    async fn put_credentials(
        &self,
        account_id: &str,
        creds: &StoredCredentials,
        fence: Option<&Lease>,
    ) -> Result<bool> {
        let key = self.keys.credentials(account_id);
        let s = &creds.sealed;
        let mut con = self.con().await?;
        match fence {
            Some(lease) => {
                let written: i64 = scripts::PUT_CREDENTIALS_FENCED
                    .key(&key)
                    .key(self.keys.lock(&lease.name))
                    .arg(lease.fence)
                    .arg(&s.key_id)
                    .arg(&s.nonce[..])
                    .arg(&s.ciphertext[..])
                    .arg(creds.refreshed_at_ms)
                    .arg(creds.access_expires_at_ms)
                    .invoke_async(&mut con)
                    .await?;
                Ok(written == 1)
            }
            None => {
                let _: () = redis::cmd("HSET")
                    .arg(&key)
                    .arg("key_id")
                    .arg(&s.key_id)
                    .arg("nonce")
                    .arg(&s.nonce[..])
                    .arg("ct")
                    .arg(&s.ciphertext[..])
                    .arg("refreshed")
                    .arg(creds.refreshed_at_ms)
                    .arg("expires")
                    .arg(creds.access_expires_at_ms)
                    .query_async(&mut con)
                    .await?;
                Ok(true)
            }
        }
    }

    async fn put_credentials_if_newer(
        &self,
        account_id: &str,
        creds: &StoredCredentials,
    ) -> Result<bool> {
        let s = &creds.sealed;
        let mut con = self.con().await?;
        let written: i64 = scripts::PUT_CREDENTIALS_IF_NEWER
            .key(self.keys.credentials(account_id))
            .arg(&s.key_id)
            .arg(&s.nonce[..])
            .arg(&s.ciphertext[..])
            .arg(creds.refreshed_at_ms)
            .arg(creds.access_expires_at_ms)
            .invoke_async(&mut con)
            .await?;
        Ok(written == 1)
    }

    async fn credentials(&self, account_id: &str) -> Result<Option<StoredCredentials>> {
        let key = self.keys.credentials(account_id);
        let mut con = self.con().await?;
        let h: HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
            .arg(&key)
            .query_async(&mut con)
            .await?;
        parse_credentials(&key, h)
    }

    async fn try_lock(&self, name: &str, ttl: Duration) -> Result<Option<Lease>> {
        let mut con = self.con().await?;
        let fence: u64 = scripts::TRY_LOCK
            .key(self.keys.lock(name))
            .key(self.keys.fence(name))
            .arg(ttl_ms(ttl))
            .invoke_async(&mut con)
            .await?;
        Ok((fence > 0).then(|| Lease {
            name: name.to_owned(),
            fence,
        }))
    }

    async fn renew_lock(&self, lease: &Lease, ttl: Duration) -> Result<bool> {
        let mut con = self.con().await?;
        let held: i64 = scripts::RENEW_LOCK
            .key(self.keys.lock(&lease.name))
            .arg(lease.fence)
            .arg(ttl_ms(ttl))
            .invoke_async(&mut con)
            .await?;
        Ok(held == 1)
    }

    async fn unlock(&self, lease: &Lease) -> Result<bool> {
        let mut con = self.con().await?;
        let held: i64 = scripts::UNLOCK
            .key(self.keys.lock(&lease.name))
            .arg(lease.fence)
            .invoke_async(&mut con)
            .await?;
        Ok(held == 1)
    }

    async fn admit(&self, account_id: &str, label: &str, limit: RateLimit) -> Result<Admission> {
        let interval = rules::emission_interval_us(limit)?;
        let mut con = self.con().await?;
        let reply: Vec<i64> = scripts::ADMIT
            .key(self.keys.rate(account_id, label))
            .key(self.keys.block(account_id))
            .arg(interval)
            .arg(limit.burst)
            .invoke_async(&mut con)
            .await?;
        match reply.as_slice() {
            [1, _] => Ok(Admission::Allowed),
            // A negative wait cannot come from the script; it is not read as
            // "go now" (that would spin against Redis until the deadline).
            [0, wait_us] if *wait_us >= 0 => Ok(Admission::Wait(Duration::from_micros(
                wait_us.unsigned_abs(),
            ))),
            _ => Err(StoreError::corrupt(
                self.keys.rate(account_id, label),
                "admit script reply",
            )),
        }
    }

    async fn block_account(&self, account_id: &str, until_ms: i64) -> Result<()> {
        let mut con = self.con().await?;
        let _: i64 = scripts::BLOCK
            .key(self.keys.block(account_id))
            .arg(until_ms)
            .invoke_async(&mut con)
            .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        let mut con = self.con().await?;
        let _: String = redis::cmd("PING").query_async(&mut con).await?;
        Ok(())
    }
    async fn durability(&self) -> Result<Durability> {
        let mut con = self.con().await?;
        let config_get = |name: &str| {
            let mut c = redis::cmd("CONFIG");
            c.arg("GET").arg(name);
            c
        };
        let Connection::Cluster(cluster, health) = &mut con else {
            let mut replies = Vec::with_capacity(DURABILITY_SETTINGS.len());
            for name in DURABILITY_SETTINGS {
                let reply: Vec<String> = config_get(name).query_async(&mut con).await?;
                replies.push(reply);
            }
            return Ok(durability_of(replies));
        };
        // Every node, replicas included: a failover makes a replica the
        // primary, with whatever persistence it was started with.
        let mut by_node: std::collections::BTreeMap<String, Vec<Vec<String>>> = Default::default();
        for name in DURABILITY_SETTINGS {
            let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllNodes, None));
            let reply = route(cluster, health, config_get(name), routing).await?;
            for ((host, port), value) in per_node(reply)? {
                let pair: Vec<String> = redis::from_redis_value(value)
                    .map_err(|e| StoreError::corrupt("CONFIG GET", format!("{e}")))?;
                by_node
                    .entry(format!("{host}:{port}"))
                    .or_default()
                    .push(pair);
            }
        }
        Ok(Durability::Cluster {
            nodes: by_node
                .into_iter()
                .map(|(node, replies)| NodeDurability {
                    node,
                    settings: durability_of(replies),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn callers_behind_a_failed_connect_fail_at_once() {
        // Port 1 on loopback refuses connections.
        for url in ["redis://127.0.0.1:1/", "redis+cluster://127.0.0.1:1/"] {
            let store = RedisStore::new(url, "t.").unwrap();
            let first = store.ping().await.unwrap_err().to_string();
            assert!(
                !first.contains("not connected; the attempt"),
                "{url}: {first}"
            );
            // The backoff's own error: no second attempt was made.
            let second = store.ping().await.unwrap_err().to_string();
            assert!(
                second.contains("not connected; the attempt"),
                "{url}: {second}"
            );
            assert!(
                second.contains(&first.replace("redis: ", "")),
                "{url}: {second} / {first}"
            );
        }
    }
}
