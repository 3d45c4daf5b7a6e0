"""The Lua scripts through which tracker processes keep their shared swarms in Redis.

One swarm's keys share the hash tag of its infohash (`{<hex>}`), so that a Redis Cluster, or a
client sharding by infohash, keeps them on one node and each script touches one node only:
  w   web peers: pseudonym (keyed hash of the peer_id, redis_layout.pseudonyms) -> process (12
      chars), seeder (1), source's name, socket number (digits); no address, no peer_id
  wx  web peers' expiry (Redis time, ms)
  h   HTTP peers: peer_id -> process (12), seeder (1), source's name, compact address (6 or
      18 bytes); kept only in a Redis that writes nothing to disk
  hx  HTTP peers' expiry
  d   completed downloads (a scrape's `downloaded`)
  v   the swarm's version: changed by every script call that changes what VIEW lists (not by
      downloads, which VIEW always returns), so that a process whose replica is of the
      current version is told "unchanged" instead of every peer again
  e   no peer expires before this (Redis time, ms; missing: unknown), so that VIEW looks for
      expired peers only once one may be
w, wx, h and hx also expire as keys two intervals after their last write: what nobody refreshes
vanishes even if every process died. Times are Redis's own (TIME), so machines' clocks never
meet. Redis runs Lua 5.1: no goto.
"""

PROCESS_CHARS = 12

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# A version is the Redis time in microseconds of the change (or one more than the last version,
# if that is later): it never repeats, even once v expired or Redis restarted or loaded an older
# dump, as long as Redis's clock does not go back and a swarm changes less often than once a
# microsecond (each change is a script call).
# v expires no later than w and h (PTTL; HDEL and a DEL remove them only in a call that marks),
# so that peers vanishing with their key, which no script sees, vanish with the version too:
# a missing version is never "unchanged". Its digits are written by string.format: Lua 5.1
# would write a number this large in %.14g, losing digits (all stay below 2^53).
_MARK = """
local function mark(ttl)
  for _, key in ipairs({KEYS[1], KEYS[3]}) do
    local left = redis.call('PTTL', key)
    if left >= 0 and left < ttl then ttl = left end
  end
  local last = tonumber(redis.call('GET', KEYS[6]) or '0')
  local stamp = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local version = string.format('%.0f', math.max(last + 1, stamp))
  if ttl > 0 then
    redis.call('SET', KEYS[6], version, 'PX', ttl)
  else
    redis.call('DEL', KEYS[6])
  end
  return version
end
"""

# KEYS: w wx h hx d v e. ARGV: process, web ttl ms, http ttl ms, then (op, peer, value) triples
# (peer: a web peer's pseudonym, an HTTP peer's peer_id): pw put web, ph put http, ro remove
# own (only if this process wrote it), ra remove any, dn add downloads, dr drop the swarm.
# A new version if a peer came, changed its stored value or went; a peer written again
# unchanged (to keep it from expiring) only lives longer. Returns the web peers (pseudonyms)
# refused because a live socket of another process holds them.
WRITE = (
    _NOW
    + _MARK
    + """
local process, web_ttl, http_ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local taken, web, http, changed = {}, false, false, false
for i = 4, #ARGV, 3 do
  local op, peer, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if op == 'pw' then
    local old = redis.call('HGET', KEYS[1], peer)
    local held = false
    if old and string.sub(old, 1, 12) ~= process then
      local expires = redis.call('ZSCORE', KEYS[2], peer)
      held = expires and tonumber(expires) > now
    end
    if held then
      taken[#taken + 1] = peer
    else
      changed = changed or old ~= value
      redis.call('HSET', KEYS[1], peer, value)
      redis.call('ZADD', KEYS[2], now + web_ttl, peer)
      web = true
    end
  elseif op == 'ph' then
    changed = changed or redis.call('HGET', KEYS[3], peer) ~= value
    redis.call('HSET', KEYS[3], peer, value)
    redis.call('ZADD', KEYS[4], now + http_ttl, peer)
    http = true
  elseif op == 'ro' then
    for _, pair in ipairs({{KEYS[1], KEYS[2]}, {KEYS[3], KEYS[4]}}) do
      local old = redis.call('HGET', pair[1], peer)
      if old and string.sub(old, 1, 12) == process then
        redis.call('HDEL', pair[1], peer)
        redis.call('ZREM', pair[2], peer)
        changed = true
      end
    end
  elseif op == 'ra' then
    changed = redis.call('HDEL', KEYS[3], peer) > 0 or changed
    redis.call('ZREM', KEYS[4], peer)
  elseif op == 'dn' then
    redis.call('INCRBY', KEYS[5], tonumber(value))
  elseif op == 'dr' then
    changed = redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4]) > 0 or changed
  end
end
if web then
  redis.call('PEXPIRE', KEYS[1], web_ttl)
  redis.call('PEXPIRE', KEYS[2], web_ttl)
end
if http then
  redis.call('PEXPIRE', KEYS[3], http_ttl)
  redis.call('PEXPIRE', KEYS[4], http_ttl)
end
if web or http then
  -- Shorter ttls than before (a shorter interval): a peer may now expire before e, and w or h
  -- before the version.
  local ttl = math.min(web and web_ttl or http_ttl, http and http_ttl or web_ttl)
  local due = redis.call('GET', KEYS[7])
  if due and tonumber(due) > now + ttl then
    redis.call('SET', KEYS[7], string.format('%.0f', now + ttl), 'PX', ttl)
  end
  if not changed and redis.call('PTTL', KEYS[6]) > ttl then
    redis.call('PEXPIRE', KEYS[6], ttl)
  end
end
if changed then mark(math.max(web_ttl, http_ttl)) end
return taken
"""
)

# KEYS: w wx h hx d v e. ARGV: the version of the caller's replica ('' for none), the peers'
# ttl ms (a version's, if neither w nor h exists), then the processes declared dead. Expired
# peers go first, looked for only once e is past (then ZRANGEBYSCORE on the expiry sets: no scan
# of the swarm, and e set to the next expiry), then a dead process's web peers; either makes a
# new version. Returns {version, downloads} if the caller's replica is of the current version
# (the swarm unchanged: no peer read), else {version, web fields and values, http fields and
# values, downloads}. A swarm without a version (never had one, or it expired, or Redis lost
# it) gets one, and a full reply.
VIEW = (
    _NOW
    + _MARK
    + """
local ttl = tonumber(ARGV[2])
local got = redis.call('MGET', KEYS[6], KEYS[5], KEYS[7])
local version, downloads, changed = got[1], got[2] or '0', false
if now >= tonumber(got[3] or '0') then
  local due = now + ttl  -- e on an empty swarm: a write of a shorter ttl lowers it
  for _, pair in ipairs({{KEYS[1], KEYS[2]}, {KEYS[3], KEYS[4]}}) do
    local stale = redis.call('ZRANGEBYSCORE', pair[2], '-inf', now)
    for i = 1, #stale, 1000 do
      redis.call('HDEL', pair[1], unpack(stale, i, math.min(i + 999, #stale)))
    end
    if #stale > 0 then
      redis.call('ZREMRANGEBYSCORE', pair[2], '-inf', now)
      changed = true
    end
    local first = redis.call('ZRANGE', pair[2], 0, 0, 'WITHSCORES')
    if first[2] then due = math.min(due, tonumber(first[2])) end
  end
  redis.call('SET', KEYS[7], string.format('%.0f', due), 'PX', ttl)
end
local web = false
if #ARGV > 2 then
  local dead, kept = {}, {}
  for i = 3, #ARGV do dead[ARGV[i]] = true end
  web = redis.call('HGETALL', KEYS[1])
  for i = 1, #web, 2 do
    if dead[string.sub(web[i + 1], 1, 12)] then
      redis.call('HDEL', KEYS[1], web[i])
      redis.call('ZREM', KEYS[2], web[i])
      changed = true
    else
      kept[#kept + 1] = web[i]
      kept[#kept + 1] = web[i + 1]
    end
  end
  web = kept
end
if changed or not version then
  version = mark(ttl)
elseif version == ARGV[1] then
  return {version, downloads}
end
return {version, web or redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[3]), downloads}
"""
)

# KEYS: the processes' heartbeat set, the set of swarms with peers. ARGV: process, dead after
# ms, forgotten after ms (also how long a swarm nobody writes stays listed), then the swarms
# (hex infohash) this process wrote since its last beat. Returns the processes silent for
# longer than `dead after` (their peers are ghosts) and every swarm listed: each process
# keeps a replica of all of them, so that a first announce or scrape on a process finds the
# swarm's peers of the others. Unlike the swarms' keys, these two are the instance's own.
HEARTBEAT = (
    _NOW
    + """
local forget = now - tonumber(ARGV[3])
-- 1 if this process was not in the set: new, or Redis lost its data (a restart).
local fresh = redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', forget)
for i = 4, #ARGV do redis.call('ZADD', KEYS[2], now, ARGV[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', forget)
-- An instance whose processes all stopped leaves nothing behind.
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {
  redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2])),
  redis.call('ZRANGE', KEYS[2], 0, -1),
  redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - tonumber(ARGV[2])), '+inf'),
  fresh,
}
"""
)
