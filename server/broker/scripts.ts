// The Lua scripts of the redis broker. Each runs atomically in Redis, so one publish is one step:
// check the idempotency key, advance the topic's seq, append to its history stream, account its
// bytes, bring the prefix back under its bounds, PUBLISH.
//
// Keys of topic T under prefix P (the `{T}` hash tag keeps a topic's keys in one cluster slot):
//   P:{T}:meta    HASH  s = last seq, e = epoch, g = the generation the epoch was made under,
//                       b = the seq the epoch began after, p = the epoch before it
//   P:{T}:stream  STREAM of the last --history messages; entry id "<seq>-<watermark>", field d = data
//   P:{T}:keys    HASH  idempotency key -> the seq of its first publish
//   P:{T}:kx      ZSET  idempotency key -> expiry (ms, Redis clock); at most KEYS_PER_TOPIC
//   P:{T}:pz      ZSET presence: client id -> expiry (ms, Redis clock)
//   P:{T}:pi      HASH presence: client id -> user
// Keys of the prefix (server-wide, over every node):
//   P:topics      ZSET  topic -> last activity (ms, Redis clock): the records, for --max-topics,
//                       the least recently active first, and the --history-ttl sweep
//   P:held        ZSET  topic -> watermark of its oldest retained message: the oldest message first
//   P:tb          HASH  topic -> bytes it retains (message data + idempotency keys)
//   P:bytes       STRING the sum of P:tb, for --max-history-bytes
//   P:wm          STRING the watermark: +1 on every publish (never reset while Redis keeps its data)
//   P:gen         HASH  g = the epoch generation, r = the Redis run id it was confirmed under
// Channel of T: P:{T}. A message on it is "m<seq> <epoch> <origin> <data>" or, outside the seq
// space, a presence event "p<join|leave> <origin> <client> <user>"; origin is "<node>/<conn>".
// A node's own channel P:node:<id> carries its link probes, "n<count>".
//
// A topic record (meta) is made by a publish only: reads, subscriptions and presence never make
// one. Records carry no Redis TTL: a record is dropped by these scripts (a sweep past
// --history-ttl without activity, or a bound), so the server-wide accounting always matches what
// is stored. A topic some node follows (its channel has a subscriber: PUBSUB NUMSUB) is never
// dropped: when the sweep or a bound meets one, it counts as active now.
//
// Epochs. A topic's epoch is renewed when its meta is missing (never published, dropped, evicted,
// or Redis restarted without data) and when it was made under another generation. The generation
// moves only when a node finds that Redis lost data (CONFIRM): after a restart, a node that saw a
// higher watermark than Redis now has knows messages were lost. A restart that lost nothing keeps
// the generation, so every epoch stays. The counter goes on from what Redis has, and the new epoch
// begins after it (b). A renewal for another generation keeps the stream: its entries up to b are
// the previous epoch's, a prefix of what that epoch really published (a snapshot or an
// append-only file never invents messages), so a node that saw less of the previous epoch than b
// can still deliver the rest before the resync: a message Redis took just before a crash, and
// fsynced but never published, is not lost.
//
// Single Redis only: the scripts touch the prefix's keys and other topics' keys (eviction) that
// are not in KEYS. Redis Cluster needs these per slot (docs/scaling.md).

/** The previous epoch of a record a node made again after Redis lost it: some epoch, not known. */
export const LOST_EPOCH = 'lost';
/** Topics the bound's search for an idle victim looks at per step before giving up. */
const SCAN = 64;
/** Topics the sweep of a publish drops or renews at most (the node's own sweep does more). */
const PUBLISH_SWEEP = 4;
/** Idempotency keys one topic remembers at once; past it the oldest is forgotten early. */
export const KEYS_PER_TOPIC = 1000;
/** Bytes an idempotency key is charged beyond its name: its seq and the two entries. */
export const KEY_COST = 48;

/** Shared by the scripts: key names, drop, victims, sweep. P is the prefix. */
const COMMON = `
local P = ARGV[1]
local LOST = '${LOST_EPOCH}'
local TOPICS, HELD, TB, BYTES, WM, GEN = P .. ':topics', P .. ':held', P .. ':tb', P .. ':bytes', P .. ':wm', P .. ':gen'
local function tkey(name, part) return P .. ':{' .. name .. '}:' .. part end
local function followed(name) return redis.call('PUBSUB', 'NUMSUB', P .. ':{' .. name .. '}')[2] > 0 end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function wm_of(id) return tonumber(string.match(id, '%-(%d+)$')) or 0 end
local function confirmed(run)
  local r = redis.call('HGET', GEN, 'r')
  if r ~= run then return false end
  return redis.call('HGET', GEN, 'g')
end
-- forgets a topic's record, history, keys and accounting (a missing part is fine)
local function drop(name)
  local b = tonumber(redis.call('HGET', TB, name)) or 0
  if b ~= 0 then redis.call('DECRBY', BYTES, b) end
  redis.call('HDEL', TB, name)
  redis.call('ZREM', TOPICS, name)
  redis.call('ZREM', HELD, name)
  redis.call('DEL', tkey(name, 'meta'), tkey(name, 'stream'), tkey(name, 'keys'), tkey(name, 'kx'))
end
local function charge(name, n)
  if n == 0 then return end
  redis.call('HINCRBY', TB, name, n)
  redis.call('INCRBY', BYTES, n)
end
-- the least recently active topic nobody follows, never keep; a followed one met counts as active now
local function idle_victim(keep, now)
  for i = 1, ${SCAN} do
    local head = redis.call('ZRANGE', TOPICS, 0, 0)
    if #head == 0 or head[1] == keep then return nil end
    if not followed(head[1]) then return head[1] end
    redis.call('ZADD', TOPICS, now, head[1])
  end
  return nil
end
-- drops up to n records without activity for ttl ms that nobody follows; returns how many it looked at
local function sweep(now, ttl, keep, n)
  local old = redis.call('ZRANGEBYSCORE', TOPICS, '-inf', now - ttl, 'LIMIT', 0, n)
  for i = 1, #old do
    if old[i] ~= keep then
      if followed(old[i]) then redis.call('ZADD', TOPICS, now, old[i]) else drop(old[i]) end
    end
  end
  return #old
end
-- a new record at seq 0 (leftovers of one lost to eviction go first); past --max-topics the least
-- recently active idle topic makes room; false when every topic is followed
local function make(name, meta, gen, epoch, previous, maxTopics, now)
  drop(name)
  if redis.call('ZCARD', TOPICS) >= maxTopics then
    local v = idle_victim(name, now)
    if not v then return false end
    drop(v)
  end
  redis.call('HSET', meta, 's', 0, 'e', epoch, 'g', gen, 'b', 0, 'p', previous)
  redis.call('ZADD', TOPICS, now, name)
  return true
end
-- the topic's oldest retained message decides its place in HELD
local function reheld(name, stream)
  local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
  if #first == 0 then redis.call('ZREM', HELD, name) else redis.call('ZADD', HELD, wm_of(first[1][1]), name) end
end
-- past the byte bound: idle topics first (least recently active, never keep), then the oldest messages
local function shed(keep, now, cap)
  local total = tonumber(redis.call('GET', BYTES)) or 0
  while total > cap do
    local v = idle_victim(keep, now)
    if not v then break end
    drop(v)
    total = tonumber(redis.call('GET', BYTES)) or 0
  end
  while total > cap do
    local h = redis.call('ZRANGE', HELD, 0, 0)
    if #h == 0 then break end
    local stream = tkey(h[1], 'stream')
    local e = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
    if #e == 0 then
      redis.call('ZREM', HELD, h[1])
    else
      redis.call('XDEL', stream, e[1][1])
      charge(h[1], -#e[1][2][2])
      reheld(h[1], stream)
      total = tonumber(redis.call('GET', BYTES)) or 0
    end
  end
end
`;

/** A topic's (seq, epoch, base, previous) after renewing an epoch of another generation; false when no record. */
const CURRENT = `
local function current(meta, gen, fresh)
  local m = redis.call('HMGET', meta, 's', 'e', 'g', 'b', 'p')
  if not m[2] then return false end
  local seq = tonumber(m[1]) or 0
  if m[3] == gen then return seq, m[2], tonumber(m[4]) or 0, m[5] or '' end
  redis.call('HSET', meta, 'e', fresh, 'g', gen, 'b', seq, 'p', m[2])
  return seq, fresh, seq, m[2]
end
`;

/**
 * KEYS: meta, stream, keys, kx
 * ARGV: prefix, topic, data, run id, fresh epoch, history length, history ttl ms, max topics,
 *       max history bytes, origin, idempotency key ('' = none), idempotency ttl ms, channel
 * Returns {seq, epoch, duplicate (0/1), nodes that received the PUBLISH, watermark}; errors
 * RINGCAST_UNCONFIRMED (no node confirmed this Redis run yet) and RINGCAST_TOPIC_LIMIT.
 */
export const PUBLISH = `${COMMON}${CURRENT}
local name, data, key = ARGV[2], ARGV[3], ARGV[11]
local gen = confirmed(ARGV[4])
if not gen then return redis.error_reply('RINGCAST_UNCONFIRMED Redis restarted; its data is being checked') end
local now = now_ms()
local keyed = key ~= '' and ARGV[12] ~= '0'
if keyed then
  local gone = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 100)
  local freed = 0
  for i = 1, #gone do
    redis.call('ZREM', KEYS[4], gone[i])
    redis.call('HDEL', KEYS[3], gone[i])
    freed = freed + #gone[i] + ${KEY_COST}
  end
  if redis.call('EXISTS', KEYS[1]) == 1 then charge(name, -freed) end
  local first = redis.call('HGET', KEYS[3], key)
  if first then
    return {tonumber(first), redis.call('HGET', KEYS[1], 'e') or '', 1, 0, tonumber(redis.call('GET', WM)) or 0}
  end
end
local seq, epoch = current(KEYS[1], gen, ARGV[5])
if not seq then
  -- no record: this publish makes it
  if not make(name, KEYS[1], gen, ARGV[5], '', tonumber(ARGV[8]), now) then
    return redis.error_reply('RINGCAST_TOPIC_LIMIT ' .. ARGV[8] .. ' topics exist, all with subscribers')
  end
  seq, epoch = 0, ARGV[5]
end
seq = seq + 1
redis.call('HSET', KEYS[1], 's', seq)
local wm = redis.call('INCR', WM)
redis.call('ZADD', TOPICS, now, name)
local history = tonumber(ARGV[6])
if history > 0 then
  redis.call('XADD', KEYS[2], seq .. '-' .. wm, 'd', data)
  local freed = 0
  local over = redis.call('XLEN', KEYS[2]) - history
  if over > 0 then
    local old = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', over)
    for i = 1, #old do freed = freed + #old[i][2][2] end
    redis.call('XTRIM', KEYS[2], 'MAXLEN', history)
  end
  charge(name, #data - freed)
  reheld(name, KEYS[2])
end
if keyed then
  redis.call('HSET', KEYS[3], key, seq)
  redis.call('ZADD', KEYS[4], now + tonumber(ARGV[12]), key)
  local cost = #key + ${KEY_COST}
  if redis.call('ZCARD', KEYS[4]) > ${KEYS_PER_TOPIC} then
    local oldest = redis.call('ZPOPMIN', KEYS[4])
    redis.call('HDEL', KEYS[3], oldest[1])
    cost = cost - #oldest[1] - ${KEY_COST}
  end
  charge(name, cost)
end
sweep(now, tonumber(ARGV[7]), name, ${PUBLISH_SWEEP})
shed(name, now, tonumber(ARGV[9]))
local nodes = redis.call('PUBLISH', ARGV[13], 'm' .. seq .. ' ' .. epoch .. ' ' .. ARGV[10] .. ' ' .. data)
return {seq, epoch, 0, nodes, wm}
`;

/**
 * A topic's state and retained messages.
 * KEYS: meta, stream
 * ARGV: prefix, run id, fresh epoch, after (messages with seq > after; '-1' = the newest), count,
 *       bytes (the messages' data stops there: at least one message, then none past the budget),
 *       topic, remake ('1': make the record again when missing), max topics
 * Only a node whose subscribers knew the topic's record remakes it (the record was lost under
 * them, and their resync must name the epoch that goes on); a subscription, history or presence
 * read never makes one.
 * Returns {seq, epoch or false, oldest retained seq of this epoch (0 = none), the seq the epoch
 * began after, the epoch before it ('' = none), id1, d1, id2, d2, ...}; the entries may reach
 * back into the previous epoch (seq <= begin).
 */
export const READ = `${COMMON}${CURRENT}
local gen = confirmed(ARGV[2])
if not gen then return redis.error_reply('RINGCAST_UNCONFIRMED Redis restarted; its data is being checked') end
local seq, epoch, base, previous = current(KEYS[1], gen, ARGV[3])
if not seq then
  -- previous LOST: an epoch came before this one, whatever it was (never taken for a first epoch)
  if ARGV[8] ~= '1' or not make(ARGV[7], KEYS[1], gen, ARGV[3], LOST, tonumber(ARGV[9]), now_ms()) then return {0, false, 0, 0, ''} end
  seq, epoch, base, previous = 0, ARGV[3], 0, LOST
end
local out = {seq, epoch, 0, base, previous}
local first = redis.call('XRANGE', KEYS[2], base + 1, '+', 'COUNT', 1)
if #first > 0 then out[3] = tonumber(string.match(first[1][1], '^(%d+)')) end
local count, budget, bytes = tonumber(ARGV[5]), tonumber(ARGV[6]), 0
if count <= 0 then
  -- no messages asked for (--history 0); XRANGE with COUNT 0 answers nil on Redis 7.0
elseif ARGV[4] == '-1' then
  local entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', count)
  local last = 0
  for i = 1, #entries do
    bytes = bytes + #entries[i][2][2]
    if i > 1 and bytes > budget then break end
    last = i
  end
  for i = last, 1, -1 do
    out[#out + 1] = entries[i][1]
    out[#out + 1] = entries[i][2][2]
  end
else
  local entries = redis.call('XRANGE', KEYS[2], tonumber(ARGV[4]) + 1, '+', 'COUNT', count)
  for i = 1, #entries do
    bytes = bytes + #entries[i][2][2]
    if i > 1 and bytes > budget then break end
    out[#out + 1] = entries[i][1]
    out[#out + 1] = entries[i][2][2]
  end
end
return out
`;

/**
 * A node's word on the data of the Redis run it is connected to, before it serves anything.
 * KEYS: (none)
 * ARGV: prefix, run id now, the run id the node last confirmed under ('' = none), the highest
 *       watermark the node saw since, fresh generation, force ('1': renew when unknown)
 * Returns {verdict, watermark now}: 'new' (no generation: Redis has none of the prefix's data),
 * 'kept' (nothing lost as far as this node saw), 'renewed' (this node saw more than Redis has:
 * every epoch is renewed), 'unknown' (Redis restarted and this node saw nothing of the run
 * before: another node may vouch; with force, renewed).
 */
export const CONFIRM = `${COMMON}
local run, prev, seen, fresh = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local g = redis.call('HMGET', GEN, 'g', 'r')
local w = tonumber(redis.call('GET', WM)) or 0
if not g[1] then
  redis.call('HSET', GEN, 'g', fresh, 'r', run)
  if seen > w then redis.call('SET', WM, seen) end
  return {'new', w}
end
if seen > w then
  -- Redis has fewer publishes than this node saw: messages were lost. The watermark goes on from
  -- what was seen, so a node that saw no more than this renews nothing again.
  redis.call('HSET', GEN, 'g', fresh, 'r', run)
  redis.call('SET', WM, seen)
  return {'renewed', w}
end
if g[2] == run then return {'kept', w} end
if prev ~= '' and prev == g[2] then
  redis.call('HSET', GEN, 'r', run)
  return {'kept', w}
end
if ARGV[6] == '1' then
  redis.call('HSET', GEN, 'g', fresh, 'r', run)
  return {'renewed', w}
end
return {'unknown', w}
`;

/**
 * The node's periodic sweep: records without activity for --history-ttl that nobody follows go.
 * ARGV: prefix, history ttl ms, most records to look at
 * Returns how many it looked at.
 */
export const SWEEP = `${COMMON}
return sweep(now_ms(), tonumber(ARGV[2]), '', tonumber(ARGV[3]))
`;

/**
 * A node stopped following topics: their records count as active now (kept --history-ttl from here).
 * ARGV: prefix, topic1, topic2, ...
 */
export const TOUCH = `${COMMON}
local now = now_ms()
for i = 2, #ARGV do redis.call('ZADD', TOPICS, 'XX', now, ARGV[i]) end
return 0
`;

/**
 * Presence entries of one node for one topic: added or refreshed (expiry = Redis time + ttl),
 * or removed; a join or leave event is published on the topic's channel.
 * KEYS: pz, pi
 * ARGV: ttl ms, channel, origin, op ('join' | 'leave' | 'refresh'), client1, user1, client2, user2, ...
 */
export const PRESENCE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local op = ARGV[4]
for i = 5, #ARGV, 2 do
  if op == 'leave' then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('HDEL', KEYS[2], ARGV[i])
  else
    redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
  if op ~= 'refresh' then
    redis.call('PUBLISH', ARGV[2], 'p' .. op .. ' ' .. ARGV[3] .. ' ' .. ARGV[i] .. ' ' .. ARGV[i + 1])
  end
end
if op ~= 'leave' then
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
  redis.call('PEXPIRE', KEYS[2], ttl * 2)
end
return 0
`;

/**
 * Who is present on a topic, after dropping the expired entries (a crashed node's clients).
 * KEYS: pz, pi
 * ARGV: most clients to list
 * Returns {count, client1, user1, client2, user2, ...}.
 */
export const PRESENCE_LIST = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- expired entries are cleaned a bounded number at a time (a crashed node may leave many); the
-- count and the list skip the rest by score
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1000)
if #gone > 0 then
  redis.call('ZREM', KEYS[1], unpack(gone))
  redis.call('HDEL', KEYS[2], unpack(gone))
end
local out = {redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')}
local limit = tonumber(ARGV[1])
if limit > 0 then
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'LIMIT', 0, limit)
  if #ids > 0 then
    local users = redis.call('HMGET', KEYS[2], unpack(ids))
    for i = 1, #ids do
      out[#out + 1] = ids[i]
      out[#out + 1] = users[i] or ''
    end
  end
end
return out
`;
