"""The mirror's Lua scripts (history/mirror.py says what the key holds and why).

Every write is one of these scripts, so each is atomic. Besides the layout in mirror.py, the key
holds at score -4 `#head|<seq>`: the highest seq of the chat's stream the projector (or a refill)
has seen, events the mirror does not hold (a payout) included. An event whose seq is more than
one past the head means the bus skipped events (a publish that failed, a broker that lost what it
had acknowledged): the script drops the marker and any refill in flight, so the mirror never
vouches for a hole, and the next read refills the chat from MySQL, which has everything.
"""

# Shared by the scripts: read/replace the marker, and trim by time and size (raising the marker).
LUA_COMMON = """
local function get_marker(key)
  local m = redis.call('ZRANGEBYSCORE', key, -1, -1)[1]
  if not m then return nil, nil end
  local from, t = string.match(m, '^#complete|(%d+)|(.*)$')
  return tonumber(from), t
end
local function set_marker(key, from, t)
  redis.call('ZREMRANGEBYSCORE', key, -1, -1)
  redis.call('ZADD', key, -1, '#complete|' .. string.format('%d', from) .. '|' .. t)
end
-- The head: the highest seq of the chat's stream the set has been told of, held or not.
local function get_head(key)
  local h = redis.call('ZRANGEBYSCORE', key, -4, -4)[1]
  if not h then return nil end
  return tonumber(string.match(h, '^#head|(%d+)$'))
end
local function set_head(key, seq)
  redis.call('ZREMRANGEBYSCORE', key, -4, -4)
  redis.call('ZADD', key, -4, '#head|' .. string.format('%d', seq))
end
local function tombstone(seq)
  return '#deleted|' .. string.format('%d', seq)
end
local function put(key, seq, member)
  if redis.call('ZSCORE', key, tombstone(seq)) then return false end  -- a deleted message
  redis.call('ZREMRANGEBYSCORE', key, seq, seq)  -- same seq twice: one member, the latest bytes
  redis.call('ZADD', key, seq, member)
  return true
end
-- Tombstones at or below the marker's `from` are not needed: put refuses those seqs anyway.
local function drop_tombstones(key, from)
  for _, t in ipairs(redis.call('ZRANGEBYSCORE', key, -3, -3)) do
    if tonumber(string.match(t, '^#deleted|(%d+)$')) <= from then redis.call('ZREM', key, t) end
  end
end
-- Drop events created before `cutoff` and the oldest beyond `max_size`; the marker learns the
-- highest seq and the newest created_at it no longer holds.
local function trim(key, cutoff, max_size)
  local removed_seq, removed_at = nil, ''
  while true do
    local oldest = redis.call('ZRANGEBYSCORE', key, 1, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if #oldest == 0 then break end
    local at = cjson.decode(oldest[1])['created_at']
    if at >= cutoff and redis.call('ZCOUNT', key, 1, '+inf') <= max_size then break end
    redis.call('ZREM', key, oldest[1])
    removed_seq = tonumber(oldest[2])
    if at > removed_at then removed_at = at end
  end
  local from, t = get_marker(key)
  if from and removed_seq then
    if removed_seq > from then from = removed_seq end
    if removed_at > t then t = removed_at end
    set_marker(key, from, t)
    drop_tombstones(key, from)
  end
end
"""

# KEYS[1] chat; ARGV: cutoff, max_size, ttl, n, then the ids of n deleted messages, then
# (seq, member) pairs in seq order. The deletions apply after the batch's events (a message and
# its deletion in one batch: put, then removed, in one atomic call).
APPEND = (
    LUA_COMMON
    + """
-- The message `id` leaves the set for good; a refill in flight gives up.
local function delete_message(key, id)
  redis.call('ZREMRANGEBYSCORE', key, -2, -2)
  local needle = '"id":"' .. id .. '"'
  local events = redis.call('ZRANGEBYSCORE', key, 1, '+inf', 'WITHSCORES')
  for i = 1, #events, 2 do
    local member = events[i]
    if string.find(member, needle, 1, true) and cjson.decode(member)['id'] == id then
      redis.call('ZREM', key, member)
      redis.call('ZADD', key, -3, tombstone(tonumber(events[i + 1])))
      return
    end
  end
end
local key = KEYS[1]
local from = get_marker(key)
local head = get_head(key)
local deletions = tonumber(ARGV[4])
local added = 0
for i = 5 + deletions, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  local member = ARGV[i + 1]
  if from and head and seq > head + 1 then
    -- A seq jumped (events the bus never brought): the set can no longer vouch for anything.
    -- Cold again, the next read refills it from MySQL; a refill in flight may predate the
    -- missing events and gives up.
    redis.call('ZREMRANGEBYSCORE', key, -2, -1)
    from = nil
  end
  if member ~= '' then
    if not from and seq == 1 and redis.call('ZCOUNT', key, 1, '+inf') == 0 then
      set_marker(key, 0, '')  -- a chat's first event: complete without asking MySQL
      from = 0
    end
    -- seq <= from was trimmed away already (or is a redelivery): putting it back would break
    -- the marker's promise about what is missing.
    if (not from or seq > from) and put(key, seq, member) then
      added = added + 1
    end
  end
  if not head or seq > head then head = seq end
end
-- Only a chat the mirror holds learns its head: a client's stream never gets a key.
if head and redis.call('EXISTS', key) == 1 then set_head(key, head) end
for i = 5, 4 + deletions do
  delete_message(key, ARGV[i])
end
trim(key, ARGV[1], tonumber(ARGV[2]))
redis.call('EXPIRE', key, ARGV[3])
return added
"""
)

# KEYS[1] chat; ARGV: nonce, ttl. Other fills in flight lose (their commit will not write).
BEGIN_FILL = """
local key = KEYS[1]
redis.call('ZREMRANGEBYSCORE', key, -2, -2)
redis.call('ZADD', key, -2, '#fill|' .. ARGV[1])
redis.call('EXPIRE', key, ARGV[2])
return 1
"""

# KEYS[1] chat; ARGV: nonce, cutoff, max_size, ttl, from, missing_until, head (the stream's
# version read before the MySQL query), then (seq, member) pairs.
COMMIT_FILL = (
    LUA_COMMON
    + """
local key = KEYS[1]
if redis.call('ZREM', key, '#fill|' .. ARGV[1]) == 0 then
  return 0  -- flushed, evicted or overtaken since the fill began: the MySQL read may be stale
end
local from = get_marker(key)
for i = 8, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  if not from or seq > from then put(key, seq, ARGV[i + 1]) end
end
if not from then set_marker(key, tonumber(ARGV[5]), ARGV[6]) end
local head = get_head(key)
if not head or tonumber(ARGV[7]) > head then set_head(key, tonumber(ARGV[7])) end
trim(key, ARGV[2], tonumber(ARGV[3]))
redis.call('EXPIRE', key, ARGV[4])
return 1
"""
)


# KEYS[1] chat; ARGV[1] how many events. The marker (or nil) and the newest events, newest first.
NEWEST = """
local key = KEYS[1]
local marker = redis.call('ZRANGEBYSCORE', key, -1, -1)[1] or false
return {marker, redis.call('ZREVRANGEBYSCORE', key, '+inf', 1, 'LIMIT', 0, tonumber(ARGV[1]))}
"""
