//! How the Redis store's hashes are written and read: field names, and
//! strict decoding (a field of the wrong shape is [`StoreError::Corrupt`],
//! never a default).

use std::collections::HashMap;
use std::time::Duration;

use rectoken_domain::meeting_id::MeetingId;
use redis::Value;
use serde::{Deserialize, Serialize};

use crate::directory::DirectoryUser;
use crate::durability::Durability;
use crate::error::{Result, StoreError};
use crate::model::{
    AccountRecord, AccountStatus, Mapping, Sealed, Source, StoredCredentials, SyncState,
    SyncStatus, WriteOutcome,
};

/// A multi-node reply (a map of `host:port` to that node's reply) as
/// (address, reply) pairs, ordered by address. A node that answered with an
/// error makes the whole call fail.
pub(super) fn per_node(reply: Value) -> Result<Vec<((String, u16), Value)>> {
    let Value::Map(entries) = reply else {
        return Err(StoreError::corrupt(
            "cluster",
            "multi-node reply is not a map",
        ));
    };
    let mut out = Vec::with_capacity(entries.len());
    for (address, value) in entries {
        let address: String = redis::from_redis_value(address)
            .map_err(|e| StoreError::corrupt("cluster", format!("node address: {e}")))?;
        let node = address
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
            .ok_or_else(|| StoreError::corrupt("cluster", format!("node address {address:?}")))?;
        if let Value::ServerError(e) = value {
            return Err(StoreError::Redis(redis::RedisError::from(e)));
        }
        out.push((node, value));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The persistence settings `CONFIG GET` reads, one name per call (older
/// servers take one pattern per `CONFIG GET`).
pub(super) const DURABILITY_SETTINGS: [&str; 4] =
    ["appendonly", "appendfsync", "save", "maxmemory-policy"];

/// A [`Durability::Redis`] from `CONFIG GET` replies (`[name, value]` each).
pub(super) fn durability_of(replies: Vec<Vec<String>>) -> Durability {
    let mut values = HashMap::new();
    for reply in replies {
        for pair in reply.chunks(2) {
            if let [k, v] = pair {
                values.insert(k.clone(), v.clone());
            }
        }
    }
    Durability::Redis {
        appendonly: values.get("appendonly").is_some_and(|v| v == "yes"),
        appendfsync: values.get("appendfsync").cloned().unwrap_or_default(),
        rdb_save: values.get("save").cloned().unwrap_or_default(),
        maxmemory_policy: values.get("maxmemory-policy").cloned().unwrap_or_default(),
    }
}

pub(super) fn bucket_u8(b: u16) -> u8 {
    // Callers iterate 0..BUCKETS (= 256).
    u8::try_from(b).unwrap_or(u8::MAX)
}

pub(super) fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

pub(super) fn outcome(key: &str, s: &str) -> Result<WriteOutcome> {
    match s {
        "applied" => Ok(WriteOutcome::Applied),
        "stale" => Ok(WriteOutcome::Stale),
        "duplicate" => Ok(WriteOutcome::Duplicate),
        other => Err(StoreError::corrupt(
            key,
            format!("script answered {other:?}"),
        )),
    }
}

/// Parse a mapping hash read as `HMGET a o s v w t`: `None` for an absent
/// key or a tombstone.
pub(crate) fn parse_mapping(key: &str, f: &[Option<String>]) -> Result<Option<Mapping>> {
    let [a, o, s, v, w, t] = f else {
        return Err(StoreError::corrupt(key, "wrong field count"));
    };
    let Some(v) = v else { return Ok(None) };
    if t.as_deref() == Some("1") {
        return Ok(None);
    }
    let bad = |what: &str| StoreError::corrupt(key, format!("bad or missing {what}"));
    Ok(Some(Mapping {
        account_id: a.clone().ok_or_else(|| bad("account"))?,
        owner_id: o.clone().ok_or_else(|| bad("owner"))?,
        source: s
            .as_deref()
            .and_then(Source::parse)
            .ok_or_else(|| bad("source"))?,
        version_ms: v.parse().map_err(|_| bad("version"))?,
        written_at_ms: w
            .as_deref()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| bad("written_at"))?,
    }))
}

pub(super) const MAPPING_FIELDS: [&str; 6] = ["a", "o", "s", "v", "w", "t"];

/// The fields of a directory record, in the order [`parse_directory_user`]
/// reads them.
pub(super) const DIRECTORY_FIELDS: [&str; 6] = ["a", "e", "n", "p", "v", "t"];

/// Parse a directory record read as `HMGET a e n p v t`: `None` for an
/// absent key or a tombstone.
pub(crate) fn parse_directory_user(
    key: &str,
    user_id: &str,
    f: &[Option<String>],
) -> Result<Option<DirectoryUser>> {
    let [a, e, n, p, v, t] = f else {
        return Err(StoreError::corrupt(key, "wrong field count"));
    };
    let Some(v) = v else { return Ok(None) };
    if t.as_deref() == Some("1") {
        return Ok(None);
    }
    let bad = |what: &str| StoreError::corrupt(key, format!("bad or missing {what}"));
    let pmi = match p {
        None => None,
        Some(p) => Some(
            p.parse::<u64>()
                .ok()
                .and_then(|p| MeetingId::new(p).ok())
                .ok_or_else(|| bad("pmi"))?,
        ),
    };
    Ok(Some(DirectoryUser {
        account_id: a.clone().ok_or_else(|| bad("account"))?,
        user_id: user_id.to_owned(),
        email: e.clone(),
        vanity_name: n.clone(),
        pmi,
        version: v.parse().map_err(|_| bad("version"))?,
    }))
}

/// The part of an account record that is written whole (the status and
/// sync fields are separate hash fields, updated by scripts).
#[derive(Serialize, Deserialize)]
pub(super) struct RecordCore {
    account_id: String,
    app: String,
    kind: String,
    user_id: Option<String>,
    connected_at_ms: i64,
    scopes: Vec<String>,
}

pub(super) fn account_fields(rec: &AccountRecord) -> Result<Vec<(&'static str, String)>> {
    let core = RecordCore {
        account_id: rec.account_id.clone(),
        app: rec.app.clone(),
        kind: rec.kind.clone(),
        user_id: rec.user_id.clone(),
        connected_at_ms: rec.connected_at_ms,
        scopes: rec.scopes.clone(),
    };
    let core = serde_json::to_string(&core)
        .map_err(|e| StoreError::InvalidInput(format!("account record: {e}")))?;
    let s = &rec.sync;
    let mut f = vec![
        ("record", core),
        ("status", rec.status.as_str().to_owned()),
        ("sync_state", s.state.as_str().to_owned()),
        ("sync_gen", s.generation.clone()),
        ("users_total", s.users_total.to_string()),
        ("users_done", s.users_done.to_string()),
    ];
    let optional = [
        ("last_error", rec.last_error.clone()),
        ("sync_started", s.started_at_ms.map(|v| v.to_string())),
        ("sync_finished", s.finished_at_ms.map(|v| v.to_string())),
        ("sync_error", s.last_error.clone()),
    ];
    f.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    Ok(f)
}

pub(super) const OPTIONAL_ACCOUNT_FIELDS: [&str; 4] =
    ["last_error", "sync_started", "sync_finished", "sync_error"];

pub(super) fn parse_sync(key: &str, h: &HashMap<String, String>) -> Result<SyncStatus> {
    let bad = |what: &str| StoreError::corrupt(key, format!("bad {what}"));
    let num = |name: &str| -> Result<u64> {
        h.get(name)
            .map_or(Ok(0), |v| v.parse().map_err(|_| bad(name)))
    };
    let opt_i64 = |name: &str| -> Result<Option<i64>> {
        h.get(name)
            .map(|v| v.parse().map_err(|_| bad(name)))
            .transpose()
    };
    Ok(SyncStatus {
        state: match h.get("sync_state") {
            None => SyncState::NotStarted,
            Some(s) => SyncState::parse(s).ok_or_else(|| bad("sync_state"))?,
        },
        generation: h.get("sync_gen").cloned().unwrap_or_default(),
        users_total: num("users_total")?,
        users_done: num("users_done")?,
        started_at_ms: opt_i64("sync_started")?,
        finished_at_ms: opt_i64("sync_finished")?,
        last_error: h.get("sync_error").cloned(),
    })
}

/// Parse an account hash (`HGETALL`); `None` when empty.
pub(crate) fn parse_account(
    key: &str,
    h: &HashMap<String, String>,
) -> Result<Option<AccountRecord>> {
    if h.is_empty() {
        return Ok(None);
    }
    let core: RecordCore = serde_json::from_str(
        h.get("record")
            .ok_or_else(|| StoreError::corrupt(key, "missing record"))?,
    )
    .map_err(|e| StoreError::corrupt(key, format!("record: {e}")))?;
    let status = h
        .get("status")
        .and_then(|s| AccountStatus::parse(s))
        .ok_or_else(|| StoreError::corrupt(key, "bad status"))?;
    Ok(Some(AccountRecord {
        account_id: core.account_id,
        app: core.app,
        kind: core.kind,
        user_id: core.user_id,
        status,
        connected_at_ms: core.connected_at_ms,
        scopes: core.scopes,
        last_error: h.get("last_error").cloned(),
        sync: parse_sync(key, h)?,
    }))
}

/// Parse a credentials hash (`HGETALL`, binary-safe); `None` when empty.
pub(crate) fn parse_credentials(
    key: &str,
    mut h: HashMap<String, Vec<u8>>,
) -> Result<Option<StoredCredentials>> {
    if h.is_empty() {
        return Ok(None);
    }
    let mut take = |name: &str| {
        h.remove(name)
            .ok_or_else(|| StoreError::corrupt(key, format!("missing {name}")))
    };
    let text = |name: &str, v: Vec<u8>| {
        String::from_utf8(v).map_err(|_| StoreError::corrupt(key, format!("bad {name}")))
    };
    let int = |name: &str, v: Vec<u8>| -> Result<i64> {
        text(name, v)?
            .parse()
            .map_err(|_| StoreError::corrupt(key, format!("bad {name}")))
    };
    let key_id = text("key_id", take("key_id")?)?;
    let nonce = take("nonce")?;
    let ciphertext = take("ct")?;
    let refreshed_at_ms = int("refreshed", take("refreshed")?)?;
    let access_expires_at_ms = int("expires", take("expires")?)?;
    Ok(Some(StoredCredentials {
        sealed: Sealed {
            key_id,
            nonce,
            ciphertext,
        },
        refreshed_at_ms,
        access_expires_at_ms,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn mapping_fields_parse_strictly() {
        let ok = [s("acc"), s("host"), s("sync"), s("17"), s("18"), None];
        let m = parse_mapping("k", &ok).unwrap().unwrap();
        assert_eq!(m.account_id, "acc");
        assert_eq!(m.source, Source::Sync);
        assert_eq!((m.version_ms, m.written_at_ms), (17, 18));
        assert_eq!(
            parse_mapping("k", &[None, None, None, None, None, None]).unwrap(),
            None
        );
        let tomb = [s("acc"), None, None, s("17"), None, s("1")];
        assert_eq!(parse_mapping("k", &tomb).unwrap(), None);
        for bad in [
            [s("acc"), s("host"), s("telepathy"), s("17"), s("18"), None],
            [s("acc"), s("host"), s("sync"), s("x"), s("18"), None],
            [None, s("host"), s("sync"), s("17"), s("18"), None],
            [s("acc"), s("host"), s("sync"), s("17"), None, None],
        ] {
            assert!(matches!(
                parse_mapping("k", &bad),
                Err(StoreError::Corrupt { .. })
            ));
        }
        assert!(parse_mapping("k", &ok[..3]).is_err());
    }

    #[test]
    fn account_fields_round_trip() {
        let rec = AccountRecord {
            account_id: "acc".into(),
            app: "default".into(),
            kind: "account".into(),
            user_id: None,
            status: AccountStatus::Connected,
            connected_at_ms: 5,
            scopes: vec!["meeting:read".into()],
            last_error: Some("boom".into()),
            sync: SyncStatus {
                state: SyncState::InProgress,
                generation: "g1".into(),
                users_total: 10,
                users_done: 3,
                started_at_ms: Some(7),
                finished_at_ms: None,
                last_error: None,
            },
        };
        let h: HashMap<String, String> = account_fields(&rec)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(parse_account("k", &h).unwrap(), Some(rec));
        assert_eq!(parse_account("k", &HashMap::new()).unwrap(), None);
        let mut broken = h.clone();
        broken.insert("users_done".into(), "-1".into());
        assert!(parse_account("k", &broken).is_err());
        let mut broken = h;
        broken.insert("record".into(), "{".into());
        assert!(parse_account("k", &broken).is_err());
    }

    #[test]
    fn credentials_parse_binary_and_reject_gaps() {
        let mut h: HashMap<String, Vec<u8>> = HashMap::new();
        h.insert("key_id".into(), b"k1".to_vec());
        h.insert("nonce".into(), vec![0, 255, 1]);
        h.insert("ct".into(), vec![9; 40]);
        h.insert("refreshed".into(), b"100".to_vec());
        h.insert("expires".into(), b"200".to_vec());
        let c = parse_credentials("k", h.clone()).unwrap().unwrap();
        assert_eq!(c.sealed.nonce, vec![0, 255, 1]);
        assert_eq!(c.access_expires_at_ms, 200);
        assert_eq!(parse_credentials("k", HashMap::new()).unwrap(), None);
        h.remove("ct");
        assert!(parse_credentials("k", h).is_err());
    }
}
