import { LuaScript } from './redis';

/*
 * The key layout is in redis-keys.ts. Every script names all its keys in KEYS and they share one
 * hash slot, so each runs whole on one shard of a Redis Cluster (and on a single Redis the same).
 * What spans owners (a socket and its rooms, a push to several streams) is several scripts, each
 * idempotent, run in an order that leaves nothing a reaper or a retry could not finish.
 */

/** Redis' own clock in ms: nodes with skewed clocks still agree on who is alive. */
const NOW_FN = `
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/** KEYS: socket. ARGV: userId, nodeId, connectedAt → the owning node of a socket already recorded, nothing when added. */
export const ADD_SOCKET = new LuaScript(`
local owner = redis.call('HGET', KEYS[1], 'nodeId')
if owner then return owner end
redis.call('HSET', KEYS[1], 'userId', ARGV[1], 'nodeId', ARGV[2], 'connectedAt', ARGV[3])
return false
`);

/**
 * Queues a webhook event in an outbox (cluster/webhook-store.ts) inside the script that makes the
 * transition, so it is owed exactly when the transition happened. The outbox keeps at most
 * `maxlen` entries; past it the oldest goes (the caller counts and logs the drop).
 */
const OUTBOX_FN = `
local function queue(key, maxlen, fields)
  local t = redis.call('TIME')
  local ms = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
  local dropped = 0
  if redis.call('XLEN', key) >= tonumber(maxlen) then dropped = 1 end
  redis.call('XADD', key, 'MAXLEN', maxlen, '*', 'ms', ms, unpack(fields))
  return dropped
end
`;

/**
 * KEYS: a user's socket set [, the user's outbox]. ARGV: member [, userId, maxlen] →
 * { 1 when the member made the set non-empty, 1 when a queued event dropped the outbox's oldest }.
 */
export const ADD_FIRST = new LuaScript(`${OUTBOX_FN}
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 and redis.call('SCARD', KEYS[1]) == 1 then
  local dropped = 0
  if KEYS[2] then dropped = queue(KEYS[2], ARGV[3], { 'k', 'n', 'u', ARGV[2] }) end
  return { 1, dropped }
end
return { 0, 0 }
`);

/**
 * KEYS: a user's socket set [, the user's outbox]. ARGV: member [, userId, maxlen, grace] →
 * { 1 when the member was the last one, 1 when a queued event dropped the outbox's oldest }.
 */
export const REMOVE_LAST = new LuaScript(`${OUTBOX_FN}
if redis.call('SREM', KEYS[1], ARGV[1]) == 1 and redis.call('EXISTS', KEYS[1]) == 0 then
  local dropped = 0
  if KEYS[2] then dropped = queue(KEYS[2], ARGV[3], { 'k', 'f', 'u', ARGV[2], 'g', ARGV[4] }) end
  return { 1, dropped }
end
return { 0, 0 }
`);

/**
 * KEYS: socket, socket rooms → { userId, nodeId, rooms... }, nothing for an unknown socket. Marks
 * the socket as going first, so a join racing its removal either lands before the rooms are read
 * here (and is left by the removal) or sees the mark and undoes itself.
 */
export const SOCKET_GOING = new LuaScript(`
local info = redis.call('HMGET', KEYS[1], 'userId', 'nodeId')
if not info[1] then return false end
redis.call('HSET', KEYS[1], 'gone', 1)
local out = { info[1], info[2] or '' }
for _, room in ipairs(redis.call('SMEMBERS', KEYS[2])) do out[#out + 1] = room end
return out
`);

/** KEYS: socket, socket rooms. ARGV: room → the socket's userId after recording the room (nothing for an unknown or departing socket). */
export const SOCKET_JOIN = new LuaScript(`
local u = redis.call('HGET', KEYS[1], 'userId')
if not u or redis.call('HEXISTS', KEYS[1], 'gone') == 1 then return false end
redis.call('SADD', KEYS[2], ARGV[1])
return u
`);

/**
 * KEYS: room sockets, room users [, the room's outbox]. ARGV: socketId, userId [, room, occupancy,
 * members, maxlen] (occupancy/members '1': queue those events) → { 1 when the socket was not in
 * the room, 1 when it is the user's first socket there, 1 when it is the room's first socket,
 * events that dropped the outbox's oldest }.
 */
export const ROOM_JOIN = new LuaScript(`${OUTBOX_FN}
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return { 0, 0, 0, 0 } end
local first = redis.call('HINCRBY', KEYS[2], ARGV[2], 1) == 1 and 1 or 0
local opened = redis.call('SCARD', KEYS[1]) == 1 and 1 or 0
local dropped = 0
if KEYS[3] then
  if opened == 1 and ARGV[4] == '1' then dropped = dropped + queue(KEYS[3], ARGV[6], { 'k', 'o', 'c', ARGV[3] }) end
  if first == 1 and ARGV[5] == '1' then dropped = dropped + queue(KEYS[3], ARGV[6], { 'k', 'a', 'c', ARGV[3], 'u', ARGV[2] }) end
end
return { 1, first, opened, dropped }
`);

/**
 * KEYS: room sockets, room users [, the room's outbox]. ARGV: socketId, userId [, room, occupancy,
 * members, maxlen, grace] → { 1 when the socket was in the room, 1 when it was the user's last
 * socket there, 1 when the room is now empty, events that dropped the outbox's oldest }.
 */
export const ROOM_LEAVE = new LuaScript(`${OUTBOX_FN}
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return { 0, 0, 0, 0 } end
local last = 0
if redis.call('HINCRBY', KEYS[2], ARGV[2], -1) <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[2])
  last = 1
end
local emptied = 0
if redis.call('SCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  emptied = 1
end
local dropped = 0
if KEYS[3] then
  if last == 1 and ARGV[5] == '1' then dropped = dropped + queue(KEYS[3], ARGV[6], { 'k', 'r', 'c', ARGV[3], 'u', ARGV[2], 'g', ARGV[7] }) end
  if emptied == 1 and ARGV[4] == '1' then dropped = dropped + queue(KEYS[3], ARGV[6], { 'k', 'v', 'c', ARGV[3], 'g', ARGV[7] }) end
end
return { 1, last, emptied, dropped }
`);

/** KEYS: the members' set. ARGV: except ids → how many members are not excepted. */
export const COUNT_MEMBERS = new LuaScript(`
local n = redis.call('SCARD', KEYS[1])
for i = 1, #ARGV do n = n - redis.call('SISMEMBER', KEYS[1], ARGV[i]) end
return n
`);

/*
 * History: a stream's metadata (epoch, last sequence, writing primary) and its entries, whose ids
 * are `<sequence>-0`, so "what followed offset s" is one XRANGE and a gap shows as a missing s + 1.
 *
 * Where a replica can take over (Redis Cluster, Sentinel) the metadata also names the primary that
 * wrote it. A replica that took over after its primary died may lack the last writes the dead one
 * acknowledged and published; continuing the same epoch would hand out those offsets again to
 * different messages, and sockets that had the first ones would take the new ones for repeats. So
 * a stream written by a different primary than before starts a new epoch: clients behind it get
 * `recovered: false` instead of a silent hole. ARGV's `writer` says how the primary is named
 * (redis.ts, WriterCheck): 'c' its cluster node id, 'r' its replication id (a promoted replica
 * takes a new one), '' not at all.
 */
const HISTORY_FN = `
local function base36(n)
  local digits, out = '0123456789abcdefghijklmnopqrstuvwxyz', ''
  repeat
    local d = n % 36
    out = string.sub(digits, d + 1, d + 1) .. out
    n = math.floor(n / 36)
  until n == 0
  return out
end
local function writer(check)
  if check == 'c' then return redis.call('CLUSTER', 'MYID') end
  if check == 'r' then return string.match(redis.call('INFO', 'replication'), 'master_replid:(%w+)') or '' end
  return ''
end
-- The stream's epoch, creating its metadata when there is none (or another primary wrote it); the caller refreshes its TTL.
local function epochOf(mk, hk, now, check)
  local me = writer(check)
  local got = redis.call('HMGET', mk, 'e', 'w')
  local e = got[1]
  if not e or (got[2] or '') ~= me then
    e = base36(now)
    redis.call('DEL', mk)
    redis.call('HSET', mk, 'e', e, 'n', 0, 'w', me)
    -- Entries without metadata (evicted, or another primary's) would clash with the restarted sequence.
    redis.call('DEL', hk)
  end
  return e
end
-- Reads keep a stream's metadata alive: a stream that had messages for metaTtl, one that never
-- had any (a room only joined) only for quietTtl, so joins alone do not pile up metadata.
local function ensureMeta(mk, hk, metaTtl, quietTtl, now, check)
  epochOf(mk, hk, now, check)
  if tonumber(redis.call('HGET', mk, 'n')) > 0 then
    redis.call('PEXPIRE', mk, metaTtl)
  else
    redis.call('PEXPIRE', mk, quietTtl)
  end
end
local function append(mk, hk, payload, ttl, metaTtl, size, now, check)
  local e = epochOf(mk, hk, now, check)
  local n = redis.call('HINCRBY', mk, 'n', 1)
  redis.call('PEXPIRE', mk, metaTtl)
  redis.call('XADD', hk, 'MAXLEN', size, n .. '-0', 'm', payload)
  redis.call('PEXPIRE', hk, ttl)
  return e .. ':' .. n
end
`;

/**
 * One stream's part of a push (why per stream: docs/scaling.md; the wire: cluster/push-wire.ts).
 * KEYS: part marker, push answer (on one Redis only; on a cluster the marker again), members' set,
 * stream metadata, stream history.
 * ARGV: writer check ('c', 'r' or ''), read the answer (1/0), only part: write the answer (1/0), keep (1/0), idempotency ttl ms, history
 * ttl ms, metadata ttl ms, history size, message JSON, publish channel, route JSON, part index,
 * then except ids.
 * → { 1, answer } when the first part finds the push answered (a repeated id);
 *   { 2, offset } when this part was done by an earlier attempt (nothing is published again);
 *   { 0, recipients of this stream, receivers, offset } otherwise.
 * On one Redis the only part also writes the answer, so a push to one stream is one atomic step.
 */
export const PUSH_PART = new LuaScript(`${NOW_FN}${HISTORY_FN}
local check, first, only, keep = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if first == '1' then
  local prior = redis.call('GET', KEYS[2])
  if prior and prior ~= '' then return { 1, prior } end
end
local ttl = tonumber(ARGV[5])
if only ~= '1' then
  local done = redis.call('GET', KEYS[1])
  if done then return { 2, done } end
end
local n = redis.call('SCARD', KEYS[3])
for i = 13, #ARGV do n = n - redis.call('SISMEMBER', KEYS[3], ARGV[i]) end
local offset = ''
if keep == '1' then
  offset = append(KEYS[4], KEYS[5], ARGV[9], tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), nowMs(), check)
end
if only == '1' then
  redis.call('SET', KEYS[2], n, 'PX', ttl)
else
  redis.call('SET', KEYS[1], offset, 'PX', ttl)
end
local offsets = '[]'
if offset ~= '' then offsets = '["' .. offset .. '"]' end
local receivers = redis.call('SPUBLISH', ARGV[10], '[' .. offsets .. ',' .. ARGV[9] .. ',' .. ARGV[11] .. ',' .. ARGV[12] .. ']')
return { 0, n, receivers, offset }
`);

/** KEYS: stream metadata, history. ARGV: metadata ttl ms, history ttl ms, writer check → the stream's position (metadata created when missing). */
export const HISTORY_POSITION = new LuaScript(`${NOW_FN}${HISTORY_FN}
ensureMeta(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), nowMs(), ARGV[3])
return redis.call('HGET', KEYS[1], 'e') .. ':' .. redis.call('HGET', KEYS[1], 'n')
`);

/**
 * KEYS: stream metadata, history. ARGV: metadata ttl ms, epoch, sequence, limit, history ttl ms,
 * page bytes, writer check → { covered 1/0, position, more 1/0, then entry id and message JSON for each
 * message after the sequence } (entries only when covered). A page ends after `limit` entries, or
 * before the entry that would take its messages past `page bytes` (the first entry always fits).
 */
export const HISTORY_READ = new LuaScript(`${NOW_FN}${HISTORY_FN}
local mk, hk = KEYS[1], KEYS[2]
ensureMeta(mk, hk, tonumber(ARGV[1]), tonumber(ARGV[5]), nowMs(), ARGV[7])
local e, n = redis.call('HGET', mk, 'e'), tonumber(redis.call('HGET', mk, 'n'))
local pos = e .. ':' .. n
local since = tonumber(ARGV[3])
if e ~= ARGV[2] or since > n then return { 0, pos, 0 } end
if since == n then return { 1, pos, 0 } end
local first = string.format('%d-0', since + 1)
local limit, budget = tonumber(ARGV[4]), tonumber(ARGV[6])
-- One entry past the page says whether more follow without a second read.
local got = redis.call('XRANGE', hk, first, '+', 'COUNT', limit + 1)
if #got == 0 or got[1][1] ~= first then return { 0, pos, 0 } end
local out = { 1, pos, 0 }
local bytes = 0
for i, entry in ipairs(got) do
  local json = entry[2][2]
  if i > limit or (i > 1 and bytes + #json > budget) then
    out[3] = 1
    break
  end
  bytes = bytes + #json
  out[#out + 1] = entry[1]
  out[#out + 1] = json
end
return out
`);

/** KEYS: counter. ARGV: window ms → { count, ms left in the window }. */
export const RATE_HIT = new LuaScript(`
local c = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if c == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return { c, ttl }
`);

/** KEYS: counter. Never below zero, never creates the key. */
export const RATE_DECREMENT = new LuaScript(`
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v > 0 then redis.call('DECR', KEYS[1]) end
return 0
`);

/*
 * Node registry (slot {g}): nodes hash nodeId → status JSON, nodes:exp zset nodeId → expiry (ms,
 * Redis clock, so nodes with skewed clocks still agree on who is dead).
 */

/** KEYS: nodes, expiries. ARGV: nodeId, status JSON, ttl ms → 1 when the node had been presumed dead (its presence may be gone), 2 when it had no entry, 0 otherwise. */
export const HEARTBEAT = new LuaScript(`${NOW_FN}
local now = nowMs()
local prev = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
if not prev then return 2 end
if tonumber(prev) < now then return 1 end
return 0
`);

/** KEYS: nodes, expiries → { now, id1, expiry1, status1, id2, ... }. */
export const LIST_NODES = new LuaScript(`${NOW_FN}
local out = { tostring(nowMs()) }
local exp = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = 1, #exp, 2 do
  out[#out + 1] = exp[i]
  out[#out + 1] = exp[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[1], exp[i]) or ''
end
return out
`);

/** KEYS: expiries. ARGV: forget-after ms → { id, 1 when expired longer than forget-after, ... } for every expired node. */
export const EXPIRED_NODES = new LuaScript(`${NOW_FN}
local now = nowMs()
local forgetBefore = now - tonumber(ARGV[1])
local out = {}
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'WITHSCORES')
for i = 1, #dead, 2 do
  out[#out + 1] = dead[i]
  out[#out + 1] = tonumber(dead[i + 1]) < forgetBefore and 1 or 0
end
return out
`);

/** KEYS: nodes, expiries. ARGV: nodeId, forget-after ms → drops a node that is still expired that long. */
export const FORGET_NODE = new LuaScript(`${NOW_FN}
local expiry = redis.call('ZSCORE', KEYS[2], ARGV[1])
if expiry and tonumber(expiry) < nowMs() - tonumber(ARGV[2]) then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 0
`);

/** KEYS: expiries. ARGV: nodeId → 1 when the node is expired (a reaper checks before each batch). */
export const NODE_EXPIRED = new LuaScript(`${NOW_FN}
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if expiry and tonumber(expiry) > nowMs() then return 0 end
return 1
`);

/**
 * Webhook outboxes (cluster/webhook-store.ts). KEYS: outbox. ARGV: client event fields (k c …), maxlen
 * → 1 when the outbox's oldest entry was dropped to make room.
 */
export const OUTBOX_ADD = new LuaScript(`${OUTBOX_FN}
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
return queue(KEYS[1], ARGV[1], fields)
`);

/** KEYS: lease. ARGV: holder, ttlMs → 1 when `holder` holds the lease now (taken or renewed). */
export const LEASE = new LuaScript(`
local now = redis.call('GET', KEYS[1])
if now and now ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`);

/** KEYS: lease. ARGV: holder → gives the lease up if `holder` has it. */
export const LEASE_RELEASE = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`);

/** KEYS: outbox. ARGV: entry ids → entries left; an outbox left empty is deleted. */
export const OUTBOX_DONE = new LuaScript(`
redis.call('XDEL', KEYS[1], unpack(ARGV))
local left = redis.call('XLEN', KEYS[1])
if left == 0 then redis.call('DEL', KEYS[1]) end
return left
`);
