//! The Lua scripts of [`RedisStore`](crate::RedisStore). Each runs
//! atomically in Redis and touches keys of one hash-tag slot only, all
//! declared in `KEYS` (see [`keys`](crate::keys)), so it stays correct with
//! any number of workers and would run unchanged on Redis Cluster.
//!
//! Conventions: versions and times arrive as decimal strings and are stored
//! as given (never re-formatted from a Lua double); they are compared with
//! `tonumber`, exact because the store keeps them within ±2^53. Strings are
//! compared bytewise (`cmp` below), not with Lua's `<`, which follows the
//! server's locale.

use std::sync::LazyLock;

use redis::Script;

/// Bytewise three-way comparison, prepended to the scripts that need it.
const CMP: &str = r"
local function cmp(a, b)
  local la, lb = #a, #b
  for i = 1, math.min(la, lb) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      if x < y then return -1 else return 1 end
    end
  end
  if la == lb then return 0 elseif la < lb then return -1 else return 1 end
end
";

/// Versioned put of a mapping (rules in [`rules`](crate::rules)).
///
/// KEYS: 1 map key, 2 index of the new account, 3 index of `ARGV[8]`
/// (the caller's guess of the previous owner account), 4 the bucket's
/// all-index. ARGV: 1 member, 2 account, 3 owner, 4 source, 5 version,
/// 6 written at, 7 sync generation or `""`, 8 guessed previous account.
///
/// Returns `{outcome, previous live account or "", previous owner or ""}`
/// with outcome `applied`, `stale`, `duplicate`, or `retry` when the
/// mapping moves from an account other than the guess: the caller retries
/// with that account's index as KEYS 3 (an index key must be declared to be
/// touched, and it is only known after reading the mapping).
pub static PUT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{CMP}{}",
        r"
local cur = redis.call('HMGET', KEYS[1], 'a', 'o', 's', 'v', 't')
local v = tonumber(ARGV[5])
local prev_a, prev_o = '', ''
if cur[4] then
  local cv = tonumber(cur[4])
  if not cv then return redis.error_reply('corrupt version at ' .. KEYS[1]) end
  if cur[5] == '1' then
    -- A tombstone wins ties: only a strictly newer put replaces it.
    if v <= cv then return {'stale', '', ''} end
  else
    prev_a, prev_o = cur[1] or '', cur[2] or ''
    if v < cv then return {'stale', prev_a, prev_o} end
    if v == cv then
      local c = cmp(ARGV[2] .. '\0' .. ARGV[3] .. '\0' .. ARGV[4],
                    prev_a .. '\0' .. prev_o .. '\0' .. (cur[3] or ''))
      if c == 0 then
        -- Redelivery: unchanged, but a sync that sees it marks it as seen.
        if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'g', ARGV[7]) end
        return {'duplicate', prev_a, prev_o}
      end
      if c < 0 then return {'stale', prev_a, prev_o} end
    end
    if prev_a ~= ARGV[2] and prev_a ~= ARGV[8] then
      return {'retry', prev_a, prev_o}
    end
  end
end
-- DEL first: drops a tombstone's TTL and a previous generation.
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'a', ARGV[2], 'o', ARGV[3], 's', ARGV[4], 'v', ARGV[5], 'w', ARGV[6])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'g', ARGV[7]) end
if prev_a ~= '' and prev_a ~= ARGV[2] then redis.call('ZREM', KEYS[3], ARGV[1]) end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('ZADD', KEYS[4], 0, ARGV[1])
return {'applied', prev_a, prev_o}
"
    ))
});

/// Versioned remove, leaving a tombstone.
///
/// KEYS: 1 map key, 2 index of the removing account, 3 all-index.
/// ARGV: 1 member, 2 account, 3 version, 4 tombstone TTL ms.
/// Returns `{outcome, removed owner or ""}`.
pub static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('HMGET', KEYS[1], 'a', 'o', 'v', 't')
local v = tonumber(ARGV[3])
local prev_o = ''
if cur[3] then
  local cv = tonumber(cur[3])
  if not cv then return redis.error_reply('corrupt version at ' .. KEYS[1]) end
  if cur[4] == '1' then
    if v < cv then return {'stale', ''} end
    if v == cv then return {'duplicate', ''} end
  else
    -- Only the owning account removes, and only as of a version not older.
    if cur[1] ~= ARGV[2] or v < cv then return {'stale', ''} end
    prev_o = cur[2] or ''
    redis.call('ZREM', KEYS[2], ARGV[1])
    redis.call('ZREM', KEYS[3], ARGV[1])
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'a', ARGV[2], 'v', ARGV[3], 't', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {'applied', prev_o}
",
    )
});

/// Prune one bucket's chunk of an account's mappings after a sync.
///
/// KEYS: 1 the account's index in the bucket, 2 all-index, 3.. map keys.
/// ARGV: 1 account, 2 generation, 3 sync start ms, 4 tombstone version,
/// 5 tombstone TTL ms, 6.. members (aligned with KEYS 3..).
/// Each mapping is re-checked here, atomically: live, of this account, not
/// written by this generation and older than the sync's start. Returns the
/// removed `{member, owner, member, owner, …}`.
pub static PRUNE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local started = tonumber(ARGV[3])
local removed = {}
for i = 3, #KEYS do
  local member = ARGV[i + 3]
  local cur = redis.call('HMGET', KEYS[i], 'a', 'o', 'v', 't', 'g')
  if cur[3] and cur[4] ~= '1' and cur[1] == ARGV[1] then
    local cv = tonumber(cur[3])
    if cv and cv < started and cur[5] ~= ARGV[2] then
      redis.call('DEL', KEYS[i])
      redis.call('HSET', KEYS[i], 'a', ARGV[1], 'v', ARGV[4], 't', '1')
      redis.call('PEXPIRE', KEYS[i], ARGV[5])
      redis.call('ZREM', KEYS[1], member)
      redis.call('ZREM', KEYS[2], member)
      removed[#removed + 1] = member
      removed[#removed + 1] = cur[2] or ''
    end
  else
    -- Not this account's live mapping: a stray index entry (the scripts
    -- never leave one; this heals hand edits).
    redis.call('ZREM', KEYS[1], member)
  end
end
return removed
",
    )
});

/// Delete one bucket's chunk of an account's mappings (no tombstones).
///
/// KEYS: 1 the account's index in the bucket, 2 all-index, 3.. map keys.
/// ARGV: 1 account, 2.. members (aligned with KEYS 3..). Returns the count.
pub static PURGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = 0
for i = 3, #KEYS do
  local member = ARGV[i - 1]
  local cur = redis.call('HMGET', KEYS[i], 'a', 't')
  if cur[1] == ARGV[1] and cur[2] ~= '1' then
    redis.call('DEL', KEYS[i])
    redis.call('ZREM', KEYS[2], member)
    n = n + 1
  end
  redis.call('ZREM', KEYS[1], member)
end
return n
",
    )
});

/// Point a user at a PMI unless a newer version is recorded.
/// KEYS: 1 the account's PMI index. ARGV: 1 user, 2 PMI, 3 version.
pub static PMI_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local sep = string.find(cur, ':', 1, true)
  local cv = sep and tonumber(string.sub(cur, sep + 1))
  if cv and cv > tonumber(ARGV[3]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
return 1
",
    )
});

/// Forget a user's PMI if it is still that PMI, at a version not newer than
/// the removal's. KEYS: 1 the account's PMI index. ARGV: 1 user, 2 PMI,
/// 3 version.
pub static PMI_DEL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
local sep = string.find(cur, ':', 1, true)
if sep then
  if string.sub(cur, 1, sep - 1) ~= ARGV[2] then return 0 end
  local cv = tonumber(string.sub(cur, sep + 1))
  if cv and cv > tonumber(ARGV[3]) then return 0 end
end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
",
    )
});

/// Set an account's status. KEYS: 1 account hash. ARGV: 1 status,
/// 2 `1` to set the last error / `0` to clear it, 3 the error.
/// Returns 0 when the account has no record.
pub static SET_STATUS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'last_error', ARGV[3])
else
  redis.call('HDEL', KEYS[1], 'last_error')
end
return 1
",
    )
});

/// Start a sync generation. KEYS: 1 account hash. ARGV: 1 generation,
/// 2 users total, 3 started ms. Returns 0 when the account has no record.
pub static START_SYNC: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'sync_state', 'in_progress', 'sync_gen', ARGV[1],
  'users_total', ARGV[2], 'users_done', '0', 'sync_started', ARGV[3])
redis.call('HDEL', KEYS[1], 'sync_finished', 'sync_error')
return 1
",
    )
});

/// Add sync progress if the generation is current. KEYS: 1 account hash.
/// ARGV: 1 generation, 2 users done. Returns the account hash (HGETALL).
pub static SYNC_PROGRESS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], 'sync_gen') == ARGV[1] then
  redis.call('HINCRBY', KEYS[1], 'users_done', ARGV[2])
end
return redis.call('HGETALL', KEYS[1])
",
    )
});

/// Finish a sync generation if it is current. KEYS: 1 account hash.
/// ARGV: 1 generation, 2 state, 3 finished ms, 4 `1` if an error follows,
/// 5 the error.
pub static FINISH_SYNC: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], 'sync_gen') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'sync_state', ARGV[2], 'sync_finished', ARGV[3])
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], 'sync_error', ARGV[5])
else
  redis.call('HDEL', KEYS[1], 'sync_error')
end
return 1
",
    )
});

/// Write credentials only while a lease holds its lock. KEYS: 1 credentials
/// hash, 2 lock key (same slot: see `keys::account_lock_name`).
/// ARGV: 1 fence, 2 key id, 3 nonce, 4 ciphertext, 5 refreshed ms,
/// 6 access expiry ms. Returns 1 if written.
pub static PUT_CREDENTIALS_FENCED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'key_id', ARGV[2], 'nonce', ARGV[3], 'ct', ARGV[4],
  'refreshed', ARGV[5], 'expires', ARGV[6])
return 1
",
    )
});

/// Write credentials unless the stored ones are as new or newer.
/// KEYS: 1 credentials. ARGV: 1 key_id, 2 nonce, 3 ct, 4 refreshed, 5 expires.
/// Returns 1 if written.
pub static PUT_CREDENTIALS_IF_NEWER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('HGET', KEYS[1], 'refreshed')
if cur and tonumber(cur) >= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[1], 'key_id', ARGV[1], 'nonce', ARGV[2], 'ct', ARGV[3],
  'refreshed', ARGV[4], 'expires', ARGV[5])
return 1
",
    )
});

/// Take a lock: if free, the next fence from the counter becomes its value,
/// with a TTL. KEYS: 1 lock, 2 fence counter. ARGV: 1 TTL ms.
/// Returns the fence, or 0 if the lock is held (fences start at 1).
pub static TRY_LOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], fence, 'NX', 'PX', ARGV[1])
return fence
",
    )
});

/// Extend a lock held by a fence. KEYS: 1 lock. ARGV: 1 fence, 2 TTL ms.
pub static RENEW_LOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
",
    )
});

/// Release a lock held by a fence. KEYS: 1 lock. ARGV: 1 fence.
pub static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
",
    )
});

/// GCRA admission on the server's clock (`TIME`), honouring the account's
/// block. KEYS: 1 the label's TAT (µs), 2 the account's block (until ms).
/// ARGV: 1 emission interval µs, 2 burst. Returns `{1, 0}` when allowed,
/// `{0, wait µs}` otherwise. Same arithmetic as `rules::gcra`.
pub static ADMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local block = tonumber(redis.call('GET', KEYS[2]) or '')
if block and block * 1000 > now then return {0, block * 1000 - now} end
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '')
if not tat or tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then return {0, allow_at - now} end
-- Keep the state only as long as it matters: after new_tat it equals idle.
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, 0}
",
    )
});

/// Block an account until a time, never shortening a longer block.
/// KEYS: 1 block key. ARGV: 1 until ms. The key expires when the block
/// ends (`PXAT`, server clock).
pub static BLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local till = tonumber(ARGV[1])
if till <= now_ms then return 0 end
local cur = tonumber(redis.call('GET', KEYS[1]) or '')
if cur and cur >= till then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[1])
return 1
",
    )
});

/// Unindex a directory record's email and vanity name (fields `el`, `nl` of
/// `rec`, the result of an HMGET) where they still point to `user`.
/// Prepended to the directory scripts.
const DIR_UNINDEX: &str = r"
local function unindex(email_idx, vanity_idx, user, el, nl)
  if el and el ~= '' and redis.call('HGET', email_idx, el) == user then
    redis.call('HDEL', email_idx, el)
  end
  if nl and nl ~= '' and redis.call('HGET', vanity_idx, nl) == user then
    redis.call('HDEL', vanity_idx, nl)
  end
end
";

/// Versioned put of a directory user (rules in
/// [`directory`](crate::directory)).
///
/// KEYS (all `{d}`): 1 user hash, 2 email index, 3 vanity index, 4 users
/// hash. ARGV: 1 user ID, 2 account, 3 email or `""`, 4 normalized email,
/// 5 vanity name or `""`, 6 normalized vanity name, 7 PMI or `""`,
/// 8 version. Returns 1 if applied, 0 if stale.
pub static DIR_PUT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{DIR_UNINDEX}{}",
        r"
local cur = redis.call('HMGET', KEYS[1], 'v', 't', 'el', 'nl')
local v = tonumber(ARGV[8])
if cur[1] then
  local cv = tonumber(cur[1])
  if not cv then return redis.error_reply('corrupt version at ' .. KEYS[1]) end
  -- Only strictly newer: a redelivery is a no-op, a tombstone wins a tie.
  if v <= cv then return 0 end
  if cur[2] ~= '1' then unindex(KEYS[2], KEYS[3], ARGV[1], cur[3], cur[4]) end
end
-- DEL first: drops a tombstone's TTL and fields the new record lacks.
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'a', ARGV[2], 'v', ARGV[8])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'e', ARGV[3], 'el', ARGV[4])
  redis.call('HSET', KEYS[2], ARGV[4], ARGV[1])
end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'n', ARGV[5], 'nl', ARGV[6])
  redis.call('HSET', KEYS[3], ARGV[6], ARGV[1])
end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'p', ARGV[7]) end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
return 1
"
    ))
});

/// Versioned removal of a directory user, leaving a tombstone.
///
/// KEYS: as [`DIR_PUT`]. ARGV: 1 user ID, 2 account, 3 version,
/// 4 tombstone TTL ms. Returns 1 if applied, 0 if stale (a newer record or
/// tombstone, or a live record of another account).
pub static DIR_REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{DIR_UNINDEX}{}",
        r"
local cur = redis.call('HMGET', KEYS[1], 'a', 'v', 't', 'el', 'nl')
local v = tonumber(ARGV[3])
if cur[2] then
  local cv = tonumber(cur[2])
  if not cv then return redis.error_reply('corrupt version at ' .. KEYS[1]) end
  if cur[3] == '1' then
    if v <= cv then return 0 end
  else
    if cur[1] ~= ARGV[2] or v < cv then return 0 end
    unindex(KEYS[2], KEYS[3], ARGV[1], cur[4], cur[5])
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'a', ARGV[2], 'v', ARGV[3], 't', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('HDEL', KEYS[4], ARGV[1])
return 1
"
    ))
});

/// Delete a chunk of an account's directory users (no tombstones: the
/// account was deauthorized).
///
/// KEYS: 1 email index, 2 vanity index, 3 users hash, 4.. user hashes.
/// ARGV: 1 account, 2.. user IDs (aligned with KEYS 4..). Each record is
/// re-checked: live and of this account. Returns how many were deleted.
pub static DIR_PURGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{DIR_UNINDEX}{}",
        r"
local n = 0
for i = 4, #KEYS do
  local user = ARGV[i - 2]
  local cur = redis.call('HMGET', KEYS[i], 'a', 't', 'el', 'nl')
  if cur[1] == ARGV[1] and cur[2] ~= '1' then
    unindex(KEYS[1], KEYS[2], user, cur[3], cur[4])
    redis.call('DEL', KEYS[i])
    redis.call('HDEL', KEYS[3], user)
    n = n + 1
  end
end
return n
"
    ))
});

/// Prune a chunk of an account's directory users after a full sync.
///
/// KEYS: 1 email index, 2 vanity index, 3 users hash, 4.. user hashes.
/// ARGV: 1 account, 2 sync start (version bound), 3 tombstone version,
/// 4 tombstone TTL ms, 5.. user IDs (ARGV i+1 aligned with KEYS i). Each record is re-checked: live, of
/// this account, version older than the sync's start. Returns how many
/// were removed (tombstoned at the start minus one).
pub static DIR_PRUNE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{DIR_UNINDEX}{}",
        r"
local started = tonumber(ARGV[2])
local n = 0
for i = 4, #KEYS do
  local user = ARGV[i + 1]
  local cur = redis.call('HMGET', KEYS[i], 'a', 't', 'el', 'nl', 'v')
  local v = tonumber(cur[5])
  if cur[1] == ARGV[1] and cur[2] ~= '1' and v and v < started then
    unindex(KEYS[1], KEYS[2], user, cur[3], cur[4])
    redis.call('DEL', KEYS[i])
    redis.call('HSET', KEYS[i], 'a', ARGV[1], 'v', ARGV[3], 't', '1')
    redis.call('PEXPIRE', KEYS[i], ARGV[4])
    redis.call('HDEL', KEYS[3], user)
    n = n + 1
  end
end
return n
"
    ))
});
