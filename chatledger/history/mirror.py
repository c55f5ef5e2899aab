"""The Redis side of history: one sorted set per chat, written by the projector and by refills.

Layout of the key `<prefix>chatledger:history:{<chat>}` (a sorted set; platform/redis_keys.py):
- score = seq (>= 1), member = the event's wire JSON bytes exactly as published;
- score -1: the completeness marker `#complete|<from>|<missing_until>`: every chat event with
  seq > from is in the set (up to the newest event the projector has written) unless it is a
  deleted message, and every chat event NOT in the set (deleted messages aside) was created at
  or before `missing_until` (ISO-8601 UTC, '' = none missing);
- score -2: `#fill|<nonce>` while a reader refills the set from MySQL;
- score -3: `#deleted|<seq>`, one per deleted message the set held, while seq > from.

Deleted messages: the set never holds a message once the projector has written its
`message_deleted` (the deletion event itself stays: it is public, and pages remove the message).
Appending a `message_deleted` removes the message from the set and leaves a tombstone of its
seq, which refuses that seq from then on (a redelivery of the message, or a refill); it also
removes any `#fill|` nonce, because a refill's MySQL read may predate the deletion and its
message may not be in the set to tombstone (the refill gives up; the next read refills again).
MySQL's side leaves deleted messages out too (event_log.py), so a refill brings none back.

A history page reads only what it needs: one script returns the marker and the newest N events
(`HistoryMirror.newest`), atomically, so the page and the marker describe the same moment.

Why one key per chat: the marker lives in the same key as the events, so a flush, an eviction or
an expiry removes both together and can never leave a marker vouching for events that are gone;
one ZRANGE reads marker and events atomically. A refill writes only if its `#fill` nonce is still
there, i.e. the key was not flushed or evicted (with events the projector wrote meanwhile) between
the start of the refill and its write. All writes are Lua scripts, so each is atomic.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from redis.exceptions import NoScriptError

from chatledger.platform import redis_keys
from chatledger.platform.config import Settings
from chatledger.platform.redis_batch import BatchedScript
from chatledger.platform.redis_client import AnyRedis

MARKER_SCORE = -1
MARKER_PREFIX = b"#complete|"

# Shared by the scripts: read/replace the marker, and trim by time and size (raising the marker).
_LUA_COMMON = """
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
_APPEND = (
    _LUA_COMMON
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
local deletions = tonumber(ARGV[4])
local added = 0
for i = 5 + deletions, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  if not from and seq == 1 and redis.call('ZCOUNT', key, 1, '+inf') == 0 then
    set_marker(key, 0, '')  -- a chat's first event: complete without asking MySQL
    from = 0
  end
  -- seq <= from was trimmed away already (or is a redelivery): putting it back would break
  -- the marker's promise about what is missing.
  if (not from or seq > from) and put(key, seq, ARGV[i + 1]) then
    added = added + 1
  end
end
for i = 5, 4 + deletions do
  delete_message(key, ARGV[i])
end
trim(key, ARGV[1], tonumber(ARGV[2]))
redis.call('EXPIRE', key, ARGV[3])
return added
"""
)

# KEYS[1] chat; ARGV: nonce, ttl. Other fills in flight lose (their commit will not write).
_BEGIN_FILL = """
local key = KEYS[1]
redis.call('ZREMRANGEBYSCORE', key, -2, -2)
redis.call('ZADD', key, -2, '#fill|' .. ARGV[1])
redis.call('EXPIRE', key, ARGV[2])
return 1
"""

# KEYS[1] chat; ARGV: nonce, cutoff, max_size, ttl, from, missing_until, then (seq, member) pairs.
_COMMIT_FILL = (
    _LUA_COMMON
    + """
local key = KEYS[1]
if redis.call('ZREM', key, '#fill|' .. ARGV[1]) == 0 then
  return 0  -- flushed, evicted or overtaken since the fill began: the MySQL read may be stale
end
local from = get_marker(key)
for i = 7, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  if not from or seq > from then put(key, seq, ARGV[i + 1]) end
end
if not from then set_marker(key, tonumber(ARGV[5]), ARGV[6]) end
trim(key, ARGV[2], tonumber(ARGV[3]))
redis.call('EXPIRE', key, ARGV[4])
return 1
"""
)


# KEYS[1] chat; ARGV[1] how many events. The marker (or nil) and the newest events, newest first.
_NEWEST = """
local key = KEYS[1]
local marker = redis.call('ZRANGEBYSCORE', key, -1, -1)[1] or false
return {marker, redis.call('ZREVRANGEBYSCORE', key, '+inf', 1, 'LIMIT', 0, tonumber(ARGV[1]))}
"""


@dataclass(frozen=True, slots=True)
class Marker:
    from_seq: int
    missing_until: str  # ISO-8601 UTC; '' when nothing is missing

    def covers_window(self, window_start: str) -> bool:
        """Every event created at or after `window_start` is in the mirror."""
        return self.missing_until < window_start

    def covers_after(self, after_seq: int) -> bool:
        return after_seq >= self.from_seq


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One chat's mirror as read in one command: the marker (None = cold) and events by seq."""

    marker: Marker | None
    events: list[tuple[int, bytes]]

    @property
    def head(self) -> int:
        return self.events[-1][0] if self.events else 0


@dataclass(frozen=True, slots=True)
class Newest:
    """The newest events of a chat's mirror (newest first) and its marker (None = cold)."""

    marker: Marker | None
    events: list[bytes]
    truncated: bool  # the read stopped at its count: older events may be in the mirror too


def parse_marker(member: bytes) -> Marker:
    from_seq, _, missing_until = member.removeprefix(MARKER_PREFIX).partition(b"|")
    return Marker(int(from_seq), missing_until.decode())


def parse_snapshot(rows: Sequence[tuple[bytes, float]]) -> Snapshot:
    """`rows` as ZRANGE ... WITHSCORES returns them, ascending by score."""
    marker = None
    events = []
    for member, score in rows:
        if score == MARKER_SCORE:
            marker = parse_marker(member)
        elif score >= 1:
            events.append((int(score), member))
    return Snapshot(marker, events)


def mirror_ttl_s(window_s: float) -> int:
    """A quiet chat's key expires once everything in it has left the window, with a margin."""
    return max(60, math.ceil(2 * window_s))


class HistoryMirror:
    """The primitive operations on the mirror; callers decide when to use which."""

    def __init__(self, settings: Settings, redis: AnyRedis) -> None:
        self.settings = settings
        self.redis = redis
        self.ttl_s = mirror_ttl_s(settings.history_window_s)
        self._append = redis.register_script(_APPEND)
        self._begin_fill = redis.register_script(_BEGIN_FILL)
        self._commit_fill = redis.register_script(_COMMIT_FILL)
        self._newest = BatchedScript(redis, _NEWEST)  # the hot read: many pages per round trip

    def key(self, chat: str) -> str:
        return redis_keys.history(self.settings, chat)

    async def snapshot(self, chat: str) -> Snapshot:
        rows = await self.redis.zrange(self.key(chat), 0, -1, withscores=True)
        return parse_snapshot(cast(list[tuple[bytes, float]], rows))

    async def newest(self, chat: str, count: int) -> Newest:
        """The marker and at most `count` newest events, in one atomic read."""
        marker, events = await self._newest(self.key(chat), count)
        return Newest(
            parse_marker(marker) if marker is not None else None,
            events,
            len(events) >= count,
        )

    async def append(
        self,
        chats: Mapping[str, Sequence[tuple[int, bytes]]],
        cutoff: str,
        deletions: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Write new events of many chats in ONE pipelined round trip (the projector's batch);
        `deletions`: per chat, the ids of the messages its `message_deleted` events name.

        Plain EVALSHA, not the pipeline's script registration, which costs a SCRIPT EXISTS round
        trip per batch: on NOSCRIPT (a restarted Redis) the script is loaded and the batch sent
        again, which is safe because appending is idempotent.
        """
        for attempt in range(2):
            pipe = self.redis.pipeline(transaction=False)
            for chat, events in chats.items():
                deleted = (deletions or {}).get(chat, ())
                args: list[int | str | bytes] = [
                    cutoff,
                    self.settings.history_mirror_size,
                    self.ttl_s,
                    len(deleted),
                    *deleted,
                ]
                for seq, member in events:
                    args += [seq, member]
                pipe.evalsha(self._append.sha, 1, self.key(chat), *args)
            try:
                await pipe.execute()
                return
            except NoScriptError:
                if attempt:
                    raise
                self._append.sha = await self.redis.script_load(_APPEND)

    async def begin_fill(self, chat: str, nonce: str) -> bool:
        return bool(await self._begin_fill(keys=[self.key(chat)], args=[nonce, self.ttl_s]))

    async def commit_fill(
        self,
        chat: str,
        nonce: str,
        events: Sequence[tuple[int, bytes]],
        marker: Marker,
        cutoff: str,
    ) -> bool:
        args: list[int | str | bytes] = [
            nonce,
            cutoff,
            self.settings.history_mirror_size,
            self.ttl_s,
            marker.from_seq,
            marker.missing_until,
        ]
        for seq, member in events:
            args += [seq, member]
        return bool(await self._commit_fill(keys=[self.key(chat)], args=args))

