import { LuaScript } from './redis';

/*
 * Presence lives in a handful of key families under one prefix P:
 *   P:sock:<id>        hash  userId, nodeId, connectedAt
 *   P:sock:<id>:rooms  set   rooms of the socket
 *   P:user:<userId>    set   socket ids of the user          P:users    set   users with a socket
 *   P:room:<room>      set   socket ids in the room          P:rooms    zset  room names (score 0, for BYLEX paging)
 *   P:roomu:<room>     hash  userId → sockets of that user in the room (distinct users = HLEN)
 *   P:node:<nodeId>    set   socket ids owned by the node    P:sockets  set   every socket
 *   P:hmeta:<stream>   hash  e (epoch), n (last sequence)   P:hist:<stream>  stream  entries `<n>-0`, field m = message JSON
 *   P:msg:<id>         string recipients[:acked], for idempotent retries
 * Channels: P#push carries every push (published by ADMIT_PUSH, see cluster/push-wire.ts), P#ack#<nodeId>
 * the receipt counts other nodes report to the node that admitted a push with `ack`.
 * The scripts build keys from the prefix (ARGV[1]) because which keys a socket touches is only
 * known inside Redis. On Redis Cluster that is legal only when every key hashes to one slot: give
 * REDIS_PREFIX a hash tag, e.g. `{pushgate}`.
 */

/** Redis' own clock in ms: nodes with skewed clocks still agree on who is alive. */
const NOW_FN = `
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/** leave() answers true when it took the user's last socket out of the room (a presence:leave). */
const LEAVE_FN = `
local function leave(p, id, u, room)
  local key = p .. ':room:' .. room
  local ruk = p .. ':roomu:' .. room
  local last = false
  redis.call('SREM', key, id)
  if redis.call('HINCRBY', ruk, u, -1) <= 0 then
    redis.call('HDEL', ruk, u)
    last = true
  end
  if redis.call('SCARD', key) == 0 then
    redis.call('DEL', key, ruk)
    redis.call('ZREM', p .. ':rooms', room)
  end
  return last
end
`;

/** removeSocket() appends { userId, room } to `left` for each room the user is no longer in. */
const REMOVE_FN = `${LEAVE_FN}
local function removeSocket(p, id, left)
  local sk = p .. ':sock:' .. id
  local info = redis.call('HMGET', sk, 'userId', 'nodeId')
  local u, n = info[1], info[2]
  if not u then return 0 end
  local rk = sk .. ':rooms'
  for _, room in ipairs(redis.call('SMEMBERS', rk)) do
    if leave(p, id, u, room) then
      left[#left + 1] = u
      left[#left + 1] = room
    end
  end
  local uk = p .. ':user:' .. u
  redis.call('SREM', uk, id)
  if redis.call('SCARD', uk) == 0 then redis.call('SREM', p .. ':users', u) end
  if n then redis.call('SREM', p .. ':node:' .. n, id) end
  redis.call('SREM', p .. ':sockets', id)
  redis.call('DEL', sk, rk)
  return 1
end
`;

/*
 * Distinct sockets a push reaches. ARGV from index i: nUsers, nRooms, nSocketIds, nExcept, then
 * the lists. The common case, one user or one room, is an SCARD: no member is read.
 */
const COUNT_FN = `
local function countRecipients(p, i)
  local nu, nr, ns, ne = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local at = i + 4
  local sets = {}
  for j = 1, nu do sets[#sets + 1] = p .. ':user:' .. ARGV[at]; at = at + 1 end
  for j = 1, nr do sets[#sets + 1] = p .. ':room:' .. ARGV[at]; at = at + 1 end
  local ids = {}
  for j = 1, ns do ids[#ids + 1] = ARGV[at]; at = at + 1 end
  local except = {}
  for j = 1, ne do except[#except + 1] = ARGV[at]; at = at + 1 end
  if #sets == 1 and #ids == 0 then
    local n = redis.call('SCARD', sets[1])
    for _, id in ipairs(except) do n = n - redis.call('SISMEMBER', sets[1], id) end
    return n
  end
  local seen, n = {}, 0
  for _, key in ipairs(sets) do
    for _, id in ipairs(redis.call('SMEMBERS', key)) do
      if not seen[id] then seen[id] = true; n = n + 1 end
    end
  end
  for _, id in ipairs(ids) do
    if not seen[id] and redis.call('EXISTS', p .. ':sock:' .. id) == 1 then seen[id] = true; n = n + 1 end
  end
  for _, id in ipairs(except) do
    if seen[id] then seen[id] = nil; n = n - 1 end
  end
  return n
end
`;

/** ARGV: prefix, socketId, userId, nodeId, connectedAt → 1 when added, 0 when already there. */
export const ADD_SOCKET = new LuaScript(`
local p, id, u, n, at = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local sk = p .. ':sock:' .. id
if redis.call('EXISTS', sk) == 1 then return 0 end
redis.call('HSET', sk, 'userId', u, 'nodeId', n, 'connectedAt', at)
redis.call('SADD', p .. ':user:' .. u, id)
redis.call('SADD', p .. ':users', u)
redis.call('SADD', p .. ':node:' .. n, id)
redis.call('SADD', p .. ':sockets', id)
return 1
`);

/** ARGV: prefix, socketId → { 1 when removed, then userId, room for each room the user left }. */
export const REMOVE_SOCKET = new LuaScript(`${REMOVE_FN}
local left = {}
local removed = removeSocket(ARGV[1], ARGV[2], left)
local out = { removed }
for _, v in ipairs(left) do out[#out + 1] = v end
return out
`);

/**
 * ARGV: prefix, nodeId, batch, only-if-dead (1/0) → { ids taken from the node, sockets removed,
 * then userId, room for each room a user left }.
 * Called until it takes none, so a node with many sockets never blocks Redis for long in one script. A reaper passes
 * only-if-dead: a node that heart-beats again mid-reap keeps the rest (and re-publishes the lost).
 */
export const REMOVE_NODE_BATCH = new LuaScript(`${NOW_FN}${REMOVE_FN}
local p = ARGV[1]
if ARGV[4] == '1' then
  local now = nowMs()
  local expiry = redis.call('ZSCORE', p .. ':nodes:exp', ARGV[2])
  if expiry and tonumber(expiry) > now then return { 0, 0 } end
end
local ids = redis.call('SPOP', p .. ':node:' .. ARGV[2], tonumber(ARGV[3]))
local removed, left = 0, {}
for _, id in ipairs(ids) do removed = removed + removeSocket(p, id, left) end
local out = { #ids, removed }
for _, v in ipairs(left) do out[#out + 1] = v end
return out
`);

/**
 * ARGV: prefix, socketId, room → { 1 when the socket was not in the room before (0 also for an
 * unknown socket), the userId when this is the user's first socket in the room }.
 */
export const JOIN_ROOM = new LuaScript(`
local p, id, room = ARGV[1], ARGV[2], ARGV[3]
local sk = p .. ':sock:' .. id
local u = redis.call('HGET', sk, 'userId')
if not u then return { 0 } end
if redis.call('SADD', sk .. ':rooms', room) == 0 then return { 0 } end
redis.call('SADD', p .. ':room:' .. room, id)
local c = redis.call('HINCRBY', p .. ':roomu:' .. room, u, 1)
redis.call('ZADD', p .. ':rooms', 0, room)
if c == 1 then return { 1, u } end
return { 1 }
`);

/** ARGV: prefix, socketId, room → { 1 when the socket was in the room, the userId when it was the user's last }. */
export const LEAVE_ROOM = new LuaScript(`${LEAVE_FN}
local p, id, room = ARGV[1], ARGV[2], ARGV[3]
local sk = p .. ':sock:' .. id
if redis.call('SREM', sk .. ':rooms', room) == 0 then return { 0 } end
local u = redis.call('HGET', sk, 'userId')
if u and leave(p, id, u, room) then return { 1, u } end
return { 1 }
`);

/** ARGV: prefix, then the target lists (see COUNT_FN) → recipients. */
export const COUNT_RECIPIENTS = new LuaScript(`${COUNT_FN}
return countRecipients(ARGV[1], 2)
`);

/*
 * History: a stream's metadata (epoch, last sequence) and its entries, whose ids are `<sequence>-0`
 * so "what followed offset s" is one XRANGE and a gap shows as a missing s + 1.
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
-- The stream's epoch, creating its metadata when there is none; the caller refreshes its TTL.
local function epochOf(p, s, now)
  local mk = p .. ':hmeta:' .. s
  local e = redis.call('HGET', mk, 'e')
  if not e then
    e = base36(now)
    redis.call('HSET', mk, 'e', e, 'n', 0)
    -- Entries without metadata (evicted) would clash with the restarted sequence.
    redis.call('DEL', p .. ':hist:' .. s)
  end
  return mk, e
end
-- Reads keep a stream's metadata alive: a stream that had messages for metaTtl, one that never
-- had any (a room only joined) only for quietTtl, so joins alone do not pile up metadata.
local function ensureMeta(p, s, metaTtl, quietTtl, now)
  local mk = epochOf(p, s, now)
  if tonumber(redis.call('HGET', mk, 'n')) > 0 then
    redis.call('PEXPIRE', mk, metaTtl)
  else
    redis.call('PEXPIRE', mk, quietTtl)
  end
  return mk
end
local function append(p, s, payload, ttl, metaTtl, size, now)
  local mk, e = epochOf(p, s, now)
  local n = redis.call('HINCRBY', mk, 'n', 1)
  redis.call('PEXPIRE', mk, metaTtl)
  local sk = p .. ':hist:' .. s
  redis.call('XADD', sk, 'MAXLEN', size, n .. '-0', 'm', payload)
  redis.call('PEXPIRE', sk, ttl)
  return e .. ':' .. n
end
`;

/**
 * Idempotency, recipients, history and the publish in one atomic step (why: cluster/push-wire.ts).
 * ARGV: prefix, message id, idempotency ttl ms, history ttl ms, metadata ttl ms, history size,
 * message JSON, publish command (PUBLISH or SPUBLISH), channel, route JSON, stream count, streams,
 * target lists → { 1, first answer } for a repeated id, { 0, recipients, nodes that received it,
 * offset per stream } for a new one. The message goes to Redis once: the history entry and the
 * published push are built from the same argument.
 */
export const ADMIT_PUSH = new LuaScript(`${NOW_FN}${COUNT_FN}${HISTORY_FN}
local p = ARGV[1]
local mk = p .. ':msg:' .. ARGV[2]
local prior = redis.call('GET', mk)
if prior then return { 1, prior } end
local ns = tonumber(ARGV[11])
local n = countRecipients(p, 12 + ns)
redis.call('SET', mk, n, 'PX', tonumber(ARGV[3]))
local offsets = {}
if ns > 0 then
  local now = nowMs()
  for j = 1, ns do
    offsets[j] = append(p, ARGV[11 + j], ARGV[7], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), now)
  end
end
-- Offsets are base 36, a colon and digits: quoting them is all the JSON they need.
local quoted = {}
for j, o in ipairs(offsets) do quoted[j] = '"' .. o .. '"' end
local receivers = redis.call(ARGV[8], ARGV[9], '[[' .. table.concat(quoted, ',') .. '],' .. ARGV[7] .. ',' .. ARGV[10] .. ']')
local out = { 0, n, receivers }
for _, o in ipairs(offsets) do out[#out + 1] = o end
return out
`);

/** ARGV: prefix, message id, answer ("recipients:acked") → updates a remembered id's answer, keeping its TTL. */
export const RECORD_ANSWER = new LuaScript(`
redis.call('SET', ARGV[1] .. ':msg:' .. ARGV[2], ARGV[3], 'XX', 'KEEPTTL')
return 0
`);

/** ARGV: prefix, stream, metadata ttl ms, history ttl ms → the stream's position (metadata created when missing). */
export const HISTORY_POSITION = new LuaScript(`${NOW_FN}${HISTORY_FN}
local mk = ensureMeta(ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), nowMs())
return redis.call('HGET', mk, 'e') .. ':' .. redis.call('HGET', mk, 'n')
`);

/**
 * ARGV: prefix, stream, metadata ttl ms, epoch, sequence, limit, history ttl ms, page bytes →
 * { covered 1/0, position, more 1/0, then entry id and message JSON for each message after the
 * sequence } (entries only when covered). A page ends after `limit` entries, or before the entry
 * that would take its messages past `page bytes` (the first entry always fits).
 */
export const HISTORY_READ = new LuaScript(`${NOW_FN}${HISTORY_FN}
local p, s = ARGV[1], ARGV[2]
local mk = ensureMeta(p, s, tonumber(ARGV[3]), tonumber(ARGV[7]), nowMs())
local e, n = redis.call('HGET', mk, 'e'), tonumber(redis.call('HGET', mk, 'n'))
local pos = e .. ':' .. n
local since = tonumber(ARGV[5])
if e ~= ARGV[4] or since > n then return { 0, pos, 0 } end
if since == n then return { 1, pos, 0 } end
local first = string.format('%d-0', since + 1)
local limit, budget = tonumber(ARGV[6]), tonumber(ARGV[8])
-- One entry past the page says whether more follow without a second read.
local got = redis.call('XRANGE', p .. ':hist:' .. s, first, '+', 'COUNT', limit + 1)
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
 * Node registry: P:nodes hash nodeId → status JSON, P:nodes:exp zset nodeId → expiry (ms, Redis
 * clock, so nodes with skewed clocks still agree on who is dead).
 */

/** ARGV: prefix, nodeId, status JSON, ttl ms → 1 when the node had been presumed dead (its presence may be gone). */
export const HEARTBEAT = new LuaScript(`${NOW_FN}
local p, id = ARGV[1], ARGV[2]
local now = nowMs()
local prev = redis.call('ZSCORE', p .. ':nodes:exp', id)
redis.call('HSET', p .. ':nodes', id, ARGV[3])
redis.call('ZADD', p .. ':nodes:exp', now + tonumber(ARGV[4]), id)
if prev and tonumber(prev) < now then return 1 end
return 0
`);

/** ARGV: prefix → { now, id1, expiry1, id2, expiry2, ... } and the status JSONs fetched separately. */
export const LIST_NODES = new LuaScript(`${NOW_FN}
local p = ARGV[1]
local now = nowMs()
local out = { tostring(now) }
local exp = redis.call('ZRANGE', p .. ':nodes:exp', 0, -1, 'WITHSCORES')
for i = 1, #exp, 2 do
  out[#out + 1] = exp[i]
  out[#out + 1] = exp[i + 1]
  out[#out + 1] = redis.call('HGET', p .. ':nodes', exp[i]) or ''
end
return out
`);

/**
 * ARGV: prefix, forget-after ms → ids of expired nodes that still own presence entries (the caller
 * removes them). Nodes expired longer than forget-after, and owning nothing, leave the listing.
 */
export const FIND_DEAD_NODES = new LuaScript(`${NOW_FN}
local p = ARGV[1]
local now = nowMs()
local forgetBefore = now - tonumber(ARGV[2])
local dead = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. ':nodes:exp', '-inf', '(' .. now, 'WITHSCORES')) do
  dead[#dead + 1] = id
end
local out = {}
for i = 1, #dead, 2 do
  local id, expiry = dead[i], tonumber(dead[i + 1])
  if redis.call('SCARD', p .. ':node:' .. id) > 0 then
    out[#out + 1] = id
  elseif expiry < forgetBefore then
    redis.call('HDEL', p .. ':nodes', id)
    redis.call('ZREM', p .. ':nodes:exp', id)
  end
end
return out
`);
