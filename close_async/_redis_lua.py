"""The Redis gate's state changes, as Lua scripts: each runs atomically inside Redis.

They are the in-process gate's decisions (``_gate.LocalRateLimitGate``) kept in Redis, so that
every process sharing an API key reads and changes one window, one set of requests in
flight and one pause, with no read-modify-write race between processes: Redis runs one script
at a time, from its first read to its last write.

Per (API key, endpoint group), under keys made from a keyed hash of the key (``redis.py``):

- ``<state>``, a hash: ``known`` (an answer came back), ``limit``, ``remaining`` (absent:
  no limit reported), ``reset_at``, ``prev_reset``, ``window`` (the longest reset seen),
  ``paused_until``, ``refused_until`` and ``asked`` (a wait longer than allowed, refused),
  ``probe`` (after a refusal: one request at a time until an answer comes);
- ``<leases>``, a sorted set: one member per request in flight, scored by when its lease
  expires. A process renews its leases while their requests run; a process killed with
  SIGKILL stops renewing, and its leases drop out when they expire.

With an organization, per (organization, group) as well: ``<org>`` (a hash: ``klimit``, the
per-key limit seen; ``window``; ``paused_until``), ``<org_leases>`` (the requests in flight
of every key) and ``<org_done>`` (the requests answered within the last window, scored by
when). The organization admits ``factor * klimit`` of those at a time (Close: 3x the key's),
and ``factor`` first bursts before any key's limit is known.

Times are microseconds on Redis's own clock (``TIME``), the one clock every machine shares;
a test may pass its own ``now``. Numbers go into Redis through ``%.17g``: Lua's default
conversion keeps 14 digits, too few for microseconds since 1970. Durations in arguments
are seconds or microseconds as each script says.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "DROP", "RELEASE", "RENEW", "SNAPSHOT"]

_COMMON = r"""
local function num(x) return string.format('%.17g', x) end
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function expire(ttl)
  for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ttl) end
end
"""

#: Admit up to as many requests as tokens given, if the window (and organization) has room.
#: KEYS: state, leases [, org, org_leases, org_done]. ARGV: now ('' = Redis time), lease (us),
#: initial burst, default window (us), ttl (ms), organization factor (0: none), tokens...
#: Returns {granted, wait (us), asked (s, '' unless refused), refused for (us)}: ``wait`` is
#: when the window or pause that holds the rest ends (0: unknown, answers will tell).
ACQUIRE = (
    _COMMON
    + r"""
local now, lease, burst = clock(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local default_window, ttl, factor = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local wanted = #ARGV - 6
local state, leases = KEYS[1], KEYS[2]
local org = factor > 0

local f = redis.call('HMGET', state, 'known', 'limit', 'remaining', 'reset_at',
                     'paused_until', 'refused_until', 'asked', 'probe')
local known, limit, remaining = f[1] == '1', tonumber(f[2]), tonumber(f[3])
local reset_at, paused_until = tonumber(f[4]), tonumber(f[5]) or 0
local refused_until = tonumber(f[6]) or 0
if now < refused_until then return {'0', '0', f[7] or '', num(refused_until - now)} end
if now < paused_until then return {'0', num(paused_until - now), '', '0'} end
if org then
  local org_paused = tonumber(redis.call('HGET', KEYS[3], 'paused_until')) or 0
  if now < org_paused then return {'0', num(org_paused - now), '', '0'} end
end

if reset_at and now >= reset_at then
  -- The window ended: assume a fresh one with the whole limit until answers say more.
  redis.call('HSET', state, 'prev_reset', num(reset_at))
  redis.call('HDEL', state, 'reset_at')
  reset_at, remaining = nil, limit
  if limit then redis.call('HSET', state, 'remaining', num(limit))
  else redis.call('HDEL', state, 'remaining') end
end
redis.call('ZREMRANGEBYSCORE', leases, '-inf', num(now))
local inflight = redis.call('ZCARD', leases)
local room
if f[8] then room = 1 - inflight
elseif not known then room = burst - inflight
elseif remaining == nil then room = wanted
else room = remaining - inflight end
if known and remaining ~= nil and room <= 0 and reset_at == nil and inflight == 0 then
  -- Spent, nothing in flight to tell us when the window ends: assume a default.
  reset_at = now + default_window
  redis.call('HSET', state, 'reset_at', num(reset_at))
end
local wait = 0
if reset_at and reset_at > now then wait = reset_at - now end

if org then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', num(now))
  local o = redis.call('HMGET', KEYS[3], 'klimit', 'window')
  -- Before any key's limit is known, the organization admits factor first bursts.
  local klimit, window = tonumber(o[1]) or burst, tonumber(o[2]) or default_window
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', num(now - window))
  local used = redis.call('ZCARD', KEYS[4]) + redis.call('ZCARD', KEYS[5])
  local org_room = factor * klimit - used
  if org_room < room then
    room = org_room
    local oldest = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
    wait = 0
    if oldest[2] then wait = math.max(0, tonumber(oldest[2]) + window - now) end
  end
end

local granted = math.max(0, math.min(wanted, math.floor(room)))
for i = 1, granted do
  redis.call('ZADD', leases, num(now + lease), ARGV[6 + i])
  if org then redis.call('ZADD', KEYS[4], num(now + lease), ARGV[6 + i]) end
end
expire(ttl)
return {tostring(granted), num(wait), '', '0'}
"""
)

#: Free a request's lease and learn from its answer.
#: KEYS as ACQUIRE. ARGV: now, token, answered ('1'/'0'), status, limit, remaining, reset (s),
#: wait (s) ('' where the answer did not say), jitter factor, longest wait (us), least pause
#: after a 429 (us), default window (us), wait after a 429 that gives none (us), ttl (ms),
#: organization factor, seconds from admission to answer. Returns {event, value}: '0'
#: nothing to report; '1' the group is now paused for value us; '2' refused: Close asked for
#: value us, more than allowed; '3' the organization's group is now paused for value us.
RELEASE = (
    _COMMON
    + r"""
local now, token, answered = clock(ARGV[1]), ARGV[2], ARGV[3] == '1'
local status, seen_limit, seen_remaining = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local seen_reset, seen_wait, jitter = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local max_wait, min_pause = tonumber(ARGV[10]), tonumber(ARGV[11])
local default_window = tonumber(ARGV[12])
local default_429, ttl, factor = tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])
local round_trip = tonumber(ARGV[16]) or 0
local state, leases = KEYS[1], KEYS[2]
local org = factor > 0
local MIN_TOLERANCE = 10000

redis.call('ZREM', leases, token)
if org then
  redis.call('ZREM', KEYS[4], token)
  redis.call('ZADD', KEYS[5], num(now), token)  -- it may have counted: keep it a window
end
expire(ttl)
if not answered then return {'0', ''} end
redis.call('HSET', state, 'known', '1')
redis.call('HDEL', state, 'probe')

local f = redis.call('HMGET', state, 'limit', 'remaining', 'reset_at', 'prev_reset', 'window',
                     'paused_until', 'refused_until')
local limit, remaining, reset_at = tonumber(f[1]), tonumber(f[2]), tonumber(f[3])
local prev_reset, window = tonumber(f[4]) or 0, tonumber(f[5]) or 0
local paused_until, refused_until = tonumber(f[6]) or 0, tonumber(f[7]) or 0
local function us(seconds) return math.floor(seconds * 1000000 + 0.5) end

local function close_window(until_)
  -- Hold the group until then: the window is spent, the next starts after it.
  paused_until = until_
  redis.call('HSET', state, 'paused_until', num(until_), 'reset_at', num(until_),
             'prev_reset', num(math.max(prev_reset, now)))
  if limit then redis.call('HSET', state, 'remaining', '0')
  else redis.call('HDEL', state, 'remaining') end
end

local function refuse(asked)
  local until_ = now + max_wait
  redis.call('HSET', state, 'refused_until', num(math.max(refused_until, until_)),
             'asked', num(asked / 1000000), 'probe', '1')
  close_window(math.max(until_, paused_until))
  return {'2', num(asked)}
end

-- Does the header describe the organization's limit? (Close reports the closest one.)
local org_report = false
if org and seen_limit then
  local klimit = tonumber(redis.call('HGET', KEYS[3], 'klimit'))
  if klimit and seen_limit >= factor * klimit then org_report = true
  else redis.call('HSET', KEYS[3], 'klimit', num(seen_limit)) end
end

local function pause(wait)
  -- A 429: hold the group (or the organization's) for the wait, with a little jitter.
  wait = math.max(wait, min_pause)
  if wait > max_wait then return refuse(wait) end
  local length = math.min(math.floor(wait * jitter), max_wait)
  local until_ = now + length
  if org_report then
    local org_paused = tonumber(redis.call('HGET', KEYS[3], 'paused_until')) or 0
    if until_ <= org_paused then return {'0', ''} end
    redis.call('HSET', KEYS[3], 'paused_until', num(until_))
    if org_paused > now then return {'0', ''} end
    return {'3', num(length)}
  end
  if until_ <= paused_until then return {'0', ''} end
  local was_paused = paused_until > now
  close_window(until_)
  if was_paused then return {'0', ''} end
  return {'1', num(length)}
end

if status == 429 then
  local wait = default_429
  if seen_wait then wait = us(seen_wait) end
  local result = pause(wait)
  if seen_limit and not org_report then redis.call('HSET', state, 'limit', num(seen_limit)) end
  return result
end
if org_report then
  -- The organization's window, of which the organization's own count keeps track; but the
  -- request also used one of the key's window, which this answer does not describe.
  if remaining then
    redis.call('HSET', state, 'remaining', num(math.max(remaining - 1, 0)))
    if reset_at == nil then  -- the key's window ends within one window length from now
      local length = window
      if length == 0 then length = default_window end
      redis.call('HSET', state, 'reset_at', num(now + length))
    end
  end
  return {'0', ''}
end
if seen_remaining == nil then
  if limit == nil and reset_at == nil then redis.call('HDEL', state, 'remaining') end
  return {'0', ''}
end
if seen_limit then redis.call('HSET', state, 'limit', num(seen_limit)) end
local reset = default_window  -- no reset in the header: the answer's wait, if any
if seen_reset then reset = us(seen_reset) elseif seen_wait then reset = us(seen_wait) end
if reset > max_wait then
  if seen_remaining <= 0 then return refuse(reset) end
  reset = max_wait  -- a guess we can afford: asking again costs a request
end
local end_ = now + reset
-- Answers about one window give ends that differ by their latencies; windows differ by a
-- whole window length, of which the longest reset seen is an estimate.
if reset > window then
  window = reset
  redis.call('HSET', state, 'window', num(window))
end
if org then
  -- How long the organization keeps an answered request counted: the window's length, for
  -- which the longest reset is too short (a window starts when its first request arrives,
  -- its reset is read when the answer leaves); the reset plus the request's round trip is
  -- long enough for the request that opened the window (at most twice the reset).
  local span = reset + math.min(us(round_trip), reset)
  local org_window = tonumber(redis.call('HGET', KEYS[3], 'window')) or 0
  if span > org_window then redis.call('HSET', KEYS[3], 'window', num(span)) end
end
local tolerance = math.max(MIN_TOLERANCE, window / 2)
if end_ <= prev_reset + tolerance then return {'0', ''} end  -- a window that has ended
if reset_at == nil or end_ > reset_at + tolerance then
  redis.call('HSET', state, 'remaining', num(seen_remaining), 'reset_at', num(end_))
else  -- the same window: what is left only shrinks, and every end is a safe guess
  local left = seen_remaining
  if remaining then left = math.min(remaining, seen_remaining) end
  redis.call('HSET', state, 'remaining', num(left), 'reset_at', num(math.min(reset_at, end_)))
end
return {'0', ''}
"""
)

#: Give leases back unused (the request was never sent). KEYS: leases [, org_leases].
#: ARGV: tokens...
DROP = r"""
for _, key in ipairs(KEYS) do
  for i = 1, #ARGV do redis.call('ZREM', key, ARGV[i]) end
end
return 0
"""

#: Extend the leases of requests still running. KEYS: leases [, org_leases].
#: ARGV: now ('' = Redis time), lease (us), ttl (ms), tokens...
RENEW = (
    _COMMON
    + r"""
local now, lease, ttl = clock(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for _, key in ipairs(KEYS) do
  for i = 4, #ARGV do redis.call('ZADD', key, 'XX', num(now + lease), ARGV[i]) end
end
expire(ttl)
return 0
"""
)

#: What the state says now, for snapshots. KEYS: state, leases. ARGV: now.
#: Returns {now, limit, remaining, reset_at, paused_until, refused_until, inflight}.
SNAPSHOT = (
    _COMMON
    + r"""
local now = clock(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'limit', 'remaining', 'reset_at', 'paused_until',
                     'refused_until')
local inflight = redis.call('ZCOUNT', KEYS[2], '(' .. num(now), '+inf')
return {num(now), f[1] or '', f[2] or '', f[3] or '', f[4] or '', f[5] or '', tostring(inflight)}
"""
)
