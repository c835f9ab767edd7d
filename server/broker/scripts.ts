// The Lua scripts of the redis broker. Each runs atomically in Redis, so one publish is one step:
// check the idempotency key, advance the topic's seq, append to its history stream, PUBLISH.
//
// Keys of topic T under prefix P (the `{T}` hash tag keeps a topic's keys in one cluster slot):
//   P:{T}:meta    HASH  s = last seq, e = epoch, r = the Redis run id the epoch was made under,
//                       b = the seq the epoch began after, p = the epoch before it
//   P:{T}:stream  STREAM of the last --history messages; entry id "<seq>-0", field d = data
//   P:{T}:key:K   STRING the seq of the first publish with idempotency key K (PX --idempotency-ttl)
//   P:{T}:pz      ZSET presence: client id -> expiry (ms, Redis clock)
//   P:{T}:pi      HASH presence: client id -> user
// Channel of T: P:{T}. A message on it is "m<seq> <epoch> <origin> <data>" or, outside the seq
// space, a presence event "p<join|leave> <origin> <client> <user>"; origin is "<node>/<conn>".
// A node's own channel P:node:<id> carries its link probes, "n<count>".
//
// The epoch is renewed when the meta is missing (never published, expired, evicted, or Redis
// restarted without data) and when it was made under another Redis run id: a Redis restarted
// from an older snapshot brings back an old epoch with a lower counter, and comparing run ids is
// how that is caught. The counter goes on from what Redis has, and the new epoch begins after it
// (b). A renewal of a missing meta restarts the stream; a renewal for another run id keeps it: its
// entries up to b are the previous epoch's, a prefix of what that epoch really published (a
// snapshot or an append-only file never invents messages), so a node that saw less of the
// previous epoch than b can still deliver the rest before the resync: a message Redis took
// just before a crash, and fsynced but never published, is not lost.

/** Shared by the scripts: the topic's (seq, epoch) after renewing a missing or stale epoch. */
const CURRENT = `
local function current(meta, stream, run, fresh, ttl, create)
  local m = redis.call('HMGET', meta, 's', 'e', 'r', 'b', 'p')
  local seq = tonumber(m[1]) or 0
  if m[2] and m[3] == run then return seq, m[2], tonumber(m[4]) or 0, m[5] or '' end
  if not m[2] and not create then return 0, false, 0, '' end
  if not m[2] then redis.call('DEL', stream) end
  redis.call('HSET', meta, 's', seq, 'e', fresh, 'r', run, 'b', seq, 'p', m[2] or '')
  redis.call('PEXPIRE', meta, ttl)
  return seq, fresh, seq, m[2] or ''
end
`;

/**
 * KEYS: meta, stream, idempotency key (unused when ARGV[8] is '0')
 * ARGV: data, run id, fresh epoch, history length, stream ttl ms, meta ttl ms, origin,
 *       idempotency ttl ms ('0' = no key), channel
 * Returns {seq, epoch, duplicate (0/1), nodes that received the PUBLISH}.
 */
export const PUBLISH = `${CURRENT}
if ARGV[8] ~= '0' then
  local first = redis.call('GET', KEYS[3])
  if first then
    local e = redis.call('HGET', KEYS[1], 'e')
    return {tonumber(first), e or '', 1, 0}
  end
end
local seq, epoch = current(KEYS[1], KEYS[2], ARGV[2], ARGV[3], ARGV[6], true)
seq = seq + 1
redis.call('HSET', KEYS[1], 's', seq)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
local history = tonumber(ARGV[4])
if history > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', history, seq .. '-0', 'd', ARGV[1])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
if ARGV[8] ~= '0' then redis.call('SET', KEYS[3], seq, 'PX', ARGV[8]) end
local nodes = redis.call('PUBLISH', ARGV[9], 'm' .. seq .. ' ' .. epoch .. ' ' .. ARGV[7] .. ' ' .. ARGV[1])
return {seq, epoch, 0, nodes}
`;

/**
 * A topic's state and retained messages.
 * KEYS: meta, stream
 * ARGV: run id, fresh epoch, meta ttl ms, create ('1': make the meta when missing),
 *       after (messages with seq > after; '-1' = the newest), count, bytes (the messages'
 *       data stops there: at least one message, then none past the budget)
 * Returns {seq, epoch or false, oldest retained seq of this epoch (0 = none), the seq the epoch
 * began after, the epoch before it ('' = none), id1, d1, id2, d2, ...}; the entries may reach
 * back into the previous epoch (seq <= begin).
 */
export const READ = `${CURRENT}
local seq, epoch, base, previous = current(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1')
local out = {seq, epoch, 0, base, previous}
if not epoch then return out end
local first = redis.call('XRANGE', KEYS[2], '(' .. base .. '-0', '+', 'COUNT', 1)
if #first > 0 then out[3] = tonumber(string.match(first[1][1], '^(%d+)')) end
local count, budget, bytes = tonumber(ARGV[6]), tonumber(ARGV[7]), 0
if count <= 0 then
  -- no messages asked for (--history 0); XRANGE with COUNT 0 answers nil on Redis 7.0
elseif ARGV[5] == '-1' then
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
  local entries = redis.call('XRANGE', KEYS[2], '(' .. ARGV[5] .. '-0', '+', 'COUNT', count)
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
