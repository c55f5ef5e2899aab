"""The Redis side of history: one sorted set per chat, written by the projector and by refills.

Layout of the key `<prefix>chatledger:history:{<chat>}` (a sorted set; platform/redis_keys.py):
- score = seq (>= 1), member = the event's wire JSON bytes exactly as published;
- score -1: the completeness marker `#complete|<from>|<missing_until>`: every chat event with
  seq > from is in the set (up to the newest event the projector has written) unless it is a
  deleted message, and every chat event NOT in the set (deleted messages aside) was created at
  or before `missing_until` (ISO-8601 UTC, '' = none missing);
- score -2: `#fill|<nonce>` while a reader refills the set from MySQL;
- score -3: `#deleted|<seq>`, one per deleted message the set held, while seq > from;
- score -4: `#head|<seq>`, the newest seq of the stream seen: a jump past it drops the marker
  (mirror_scripts.py), so the mirror never vouches for events the bus skipped.

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

from chatledger.history.mirror_scripts import APPEND, BEGIN_FILL, COMMIT_FILL, NEWEST
from chatledger.platform import redis_keys
from chatledger.platform.config import Settings
from chatledger.platform.redis_batch import BatchedScript
from chatledger.platform.redis_client import AnyRedis

MARKER_SCORE = -1
MARKER_PREFIX = b"#complete|"
SEQ_ONLY = b""  # an event of the chat's stream the mirror does not hold (a payout): its seq


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
        self._append = redis.register_script(APPEND)
        self._begin_fill = redis.register_script(BEGIN_FILL)
        self._commit_fill = redis.register_script(COMMIT_FILL)
        self._newest = BatchedScript(redis, NEWEST)  # the hot read: many pages per round trip

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
                self._append.sha = await self.redis.script_load(APPEND)

    async def begin_fill(self, chat: str, nonce: str) -> bool:
        return bool(await self._begin_fill(keys=[self.key(chat)], args=[nonce, self.ttl_s]))

    async def commit_fill(
        self,
        chat: str,
        nonce: str,
        events: Sequence[tuple[int, bytes]],
        marker: Marker,
        cutoff: str,
        head: int | None = None,
    ) -> bool:
        """`head`: the stream's version read before the fill's query (events of the stream the
        mirror does not hold count for its head too)."""
        head = max([head or 0, marker.from_seq, *(seq for seq, _ in events)])
        args: list[int | str | bytes] = [
            nonce,
            cutoff,
            self.settings.history_mirror_size,
            self.ttl_s,
            marker.from_seq,
            marker.missing_until,
            head,
        ]
        for seq, member in events:
            args += [seq, member]
        return bool(await self._commit_fill(keys=[self.key(chat)], args=args))

