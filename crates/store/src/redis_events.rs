//! [`AccountEventLog`] on Redis: one list per account,
//! `{prefix}{a:ACCOUNT}:events`, newest first, trimmed to [`EVENTS_KEPT`]
//! and expiring [`EVENTS_TTL_SECS`] after its last event. One key, so one
//! hash slot: it works the same on a Redis Cluster.

use async_trait::async_trait;
use rectoken_domain::account_event::AccountEvent;

use crate::account_events::{AccountEventLog, EVENTS_KEPT, EVENTS_TTL_SECS};
use crate::error::Result;
use crate::redis_store::RedisStore;
use crate::rules::check_id;

/// Push unless an entry with the same id is in the list, trim, expire:
/// atomic, so concurrent recorders never duplicate nor over-fill it.
/// KEYS[1] list; ARGV[1] the event's JSON; ARGV[2] its id as JSON
/// (`"id":"…"`, matched literally); ARGV[3] kept; ARGV[4] TTL seconds.
const RECORD: &str = r#"
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for _, item in ipairs(items) do
  if string.find(item, ARGV[2], 1, true) then return 0 end
end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[3]) - 1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return 1
"#;

impl RedisStore {
    /// The key of an account's event list.
    fn events_key(&self, account_id: &str) -> String {
        format!("{}{{a:{account_id}}}:events", self.keys().prefix())
    }
}

#[async_trait]
impl AccountEventLog for RedisStore {
    async fn record(&self, event: &AccountEvent) -> Result<()> {
        check_id("account_id", &event.account_id)?;
        let json = String::from_utf8(event.to_json()).unwrap_or_default();
        // `"id":"evt_…"` as serde_json writes it (ids are plain ASCII).
        let id_field = format!("\"id\":{}", serde_json::Value::from(event.id.as_str()));
        let mut con = self.con().await?;
        let _: i64 = redis::Script::new(RECORD)
            .key(self.events_key(&event.account_id))
            .arg(json)
            .arg(id_field)
            .arg(EVENTS_KEPT)
            .arg(EVENTS_TTL_SECS)
            .invoke_async(&mut con)
            .await?;
        Ok(())
    }

    async fn recent(&self, account_id: &str, limit: usize) -> Result<Vec<AccountEvent>> {
        check_id("account_id", account_id)?;
        let limit = limit.min(EVENTS_KEPT);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut con = self.con().await?;
        let items: Vec<String> = redis::cmd("LRANGE")
            .arg(self.events_key(account_id))
            .arg(0)
            .arg(limit - 1)
            .query_async(&mut con)
            .await?;
        // An entry of a type this version does not know (written by a newer
        // one during a rolling upgrade) is left out, not an error.
        Ok(items
            .iter()
            .filter_map(|s| serde_json::from_str(s).ok())
            .collect())
    }
}
