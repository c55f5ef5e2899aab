"""Each chat's newest read, shared for a moment by every viewer of the chat (a per-process cache).

Every viewer of a busy chat asks for the same newest events. With CHATLEDGER_HISTORY_CACHE_MS > 0
one Redis read of a chat serves every page of it asked within that many milliseconds of the read
being sent (requests arriving while it is in flight join it), and what those pages share is
worked out once per read: the parse, the window's start, and the page (its response body
included) of a viewer who may see none of the private events scanned. Each page is still its
viewer's own: a viewer who may see one of those private events gets a page picked for them by
`visible_to`, as without the cache, kept for them alone (by their uuid) for the read's life.

Staleness bound: a page is the one a read sent at most `cache_ms` before the request would have
given. History already lags the ledger by the history projector's delay (Kafka to Redis); the
cache adds at most `cache_ms` to it, alike for a new event, a deleted message (the projector
removes it from the mirror; a read older than that still holds it) and an event leaving the
window (a read's window starts when the read was sent).

A page served from a read past REFRESH_AT of its `cache_ms` sends the read that succeeds it without
waiting for it: in a chat asked for steadily no page waits for a read, and the bound holds (a
read serves only pages asked within `cache_ms` of its sending).

Only a warm read (the mirror's completeness marker present) is shared: a cold chat or a Redis
error is each request's own, so the MySQL fallback and the refill run exactly as without it.
0 shares nothing: every page is one read of its own (what the tests run with, like the subject
cache). At most MAX_CHATS reads are kept, the oldest out first, and each new read drops up to two
expired ones, so what is kept follows the chats read within the last `cache_ms`.
"""

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from chatledger.domain.visibility import privy, visible_to
from chatledger.history.mirror import HistoryMirror, Marker, Newest
from chatledger.history.picking import Parse, Picked, pick_newest, window_start

MAX_CHATS = 1024  # reads kept (each ~2 x limit events: ~12 KB at most in a busy chat)
STRANGER = ""  # nobody's uuid: what a stranger sees, every viewer of the chat sees
# Pages kept per read for viewers who may see one of its private events (the model, the senders
# of private events): a page body each, so few; past them a page is picked per request.
MAX_OWN_PAGES = 16
# How old (a share of `ttl_s`) a read is when a page served from it sends its successor.
REFRESH_AT = 0.75


class Shared:
    """What a limit's pages of one read have in common: a stranger's page, the scanned events a
    stranger may not see, and everyone who might see one of them (only they get their own)."""

    __slots__ = ("privies", "stranger", "unseen")

    def __init__(self, stranger: Picked, unseen: list[Mapping[str, Any]], chat: str) -> None:
        self.stranger = stranger
        self.unseen = unseen
        self.privies: set[object] = set().union(*(privy(event, chat) for event in unseen))


class Read:
    """One read of a chat's newest events (newest first), the window as it was when it was
    sent, and the pages it gives (read-only once made: many requests share it)."""

    def __init__(self, chat: str, newest: Newest, start: str, parse: Parse) -> None:
        self.chat = chat
        self.newest = newest
        self.start = start
        self.parse = parse
        self._shared: dict[int, Shared] = {}
        # Pages picked for one viewer, keyed by that viewer's uuid: never served to anyone else.
        self._own: dict[tuple[int, str], Picked] = {}

    @property
    def marker(self) -> Marker | None:
        return self.newest.marker

    @property
    def truncated(self) -> bool:
        return self.newest.truncated

    def page(self, viewer: str, limit: int) -> Picked:
        """`pick_newest` of this read for `viewer`, its body made once per page, not per request.

        What a stranger may see everyone may (public): a viewer who may see none of the rest of
        the scan scans exactly as a stranger does, and gets the stranger's page; anyone else gets
        a page picked for them alone."""
        own = self._own.get((limit, viewer))
        if own is not None:
            return own
        shared = self._shared.get(limit)
        if shared is None:
            unseen: list[Mapping[str, Any]] = []
            picked, settled = pick_newest(
                self.newest.events, STRANGER, self.chat, self.start, limit, self.parse, unseen
            )
            shared = self._shared[limit] = Shared(Picked.of(picked, settled), unseen, self.chat)
        if viewer not in shared.privies or not any(
            visible_to(event, viewer, self.chat) for event in shared.unseen
        ):
            return shared.stranger
        own = Picked.of(*pick_newest(
            self.newest.events, viewer, self.chat, self.start, limit, self.parse
        ))
        if len(self._own) < MAX_OWN_PAGES:
            self._own[(limit, viewer)] = own
        return own


Clock = Callable[[], float]
Task = asyncio.Future[Read]


class RecentReads:
    """The newest read of each (chat, count), shared for `ttl_s` after it was sent."""

    def __init__(
        self,
        mirror: HistoryMirror,
        window_s: float,
        ttl_s: float,
        parse: Parse,
        clock: Clock = time.monotonic,
        max_chats: int = MAX_CHATS,
    ) -> None:
        self.mirror = mirror
        self.window_s = window_s
        self.ttl_s = ttl_s
        self.parse = parse
        self.clock = clock
        self.max_chats = max_chats
        self._reads: dict[tuple[str, int], tuple[float, Task]] = {}
        self._ahead: dict[tuple[str, int], tuple[float, Task]] = {}  # successors in flight

    def ready(self, chat: str, count: int) -> Read | None:
        """What `newest` would return now without waiting, if that is a read already done (the
        common case of a busy chat): None when `newest` would have to send or join one."""
        key = (chat, count)
        kept = self._reads.get(key)
        if kept is None:
            return None
        now = self.clock()
        if now - kept[0] >= self.ttl_s:
            return None
        task = kept[1]
        if task.done() and not task.cancelled() and task.exception() is None:
            return self._served(key, kept[0], task, now)
        return None

    async def newest(self, chat: str, count: int) -> Read:
        """A read of the chat's marker and newest `count` events sent at most `ttl_s` ago
        (marker None: a cold chat); raises what Redis raised."""
        if self.ttl_s <= 0:
            return await self._read(chat, count)
        done = self.ready(chat, count)
        if done is not None:
            return done  # the common case: no await, no scheduling
        key = (chat, count)
        now = self.clock()
        kept = self._reads.get(key)
        if kept is not None and now - kept[0] < self.ttl_s:
            return await asyncio.shield(kept[1])  # one request cancelled cancels not the others
        ahead = self._ahead.get(key)
        if ahead is not None and now - ahead[0] < self.ttl_s:  # the successor, in flight
            self._reads.pop(key, None)
            self._reads[key] = ahead
            return await asyncio.shield(ahead[1])
        task = self._send(key, now, ahead=False)
        self._reads.pop(key, None)  # re-inserted last: the dict is in order of reads
        for oldest, (sent, _) in list(itertools.islice(self._reads.items(), 2)):
            if now - sent >= self.ttl_s or len(self._reads) >= self.max_chats:
                del self._reads[oldest]  # two at most: memory follows the chats read lately
        self._reads[key] = (now, task)
        return await asyncio.shield(task)

    def _served(self, key: tuple[str, int], sent: float, task: Task, now: float) -> Read:
        """A kept read's result. Past REFRESH_AT of its life its successor is sent, and takes
        its place once done: a chat asked for steadily has its pages ready, none waits for a
        read (each page is still from a read sent at most `ttl_s` before it was asked)."""
        if now - sent >= self.ttl_s * REFRESH_AT and key not in self._ahead:
            self._ahead[key] = (now, self._send(key, now, ahead=True))
        return task.result()

    def _send(self, key: tuple[str, int], now: float, *, ahead: bool) -> Task:
        task = asyncio.ensure_future(self._read(*key))
        task.add_done_callback(lambda done: self._settle(key, now, done, ahead))
        return task

    def _settle(self, key: tuple[str, int], sent: float, task: Task, ahead: bool) -> None:
        """Keep only a warm read: a cold chat or an error is each later request's own (a
        successor's failure leaves its predecessor serving until its `ttl_s`)."""
        if ahead and self._ahead.get(key, (0.0, None))[1] is task:
            del self._ahead[key]
        kept = self._reads.get(key)
        if task.cancelled() or task.exception() is not None or task.result().marker is None:
            if kept is not None and kept[1] is task:
                del self._reads[key]
        elif ahead and kept is not None and kept[0] < sent:  # not read out meanwhile
            del self._reads[key]
            self._reads[key] = (sent, task)

    async def _read(self, chat: str, count: int) -> Read:
        start = window_start(datetime.now(UTC), self.window_s)
        return Read(chat, await self.mirror.newest(chat, count), start, self.parse)

    def __len__(self) -> int:
        return len(self._reads)
