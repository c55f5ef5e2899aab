"""Reading history: from the Redis mirror when it is complete, else from MySQL (and refill it).

The mirror serves the stored wire JSON as is: a warm read parses each event only to apply the
visibility rule and the window, never re-validates or re-encodes it, and makes no MySQL query;
one read serves a chat's pages for `history_cache_ms` (recent.py says how stale that lets them be).
A cold chat (no completeness marker: never read, flushed, evicted, expired) is read from MySQL and
the mirror is refilled; see history_mirror.py for why a refill can never leave a hole.
"""

import logging
import uuid
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

import orjson
from databases import Database

from chatledger.domain.wire import dumps, iso
from chatledger.history.mirror import HistoryMirror, Marker, Snapshot
from chatledger.history.picking import ParsedEvents, Picked, pick_visible, window_start
from chatledger.history.recent import Read, RecentReads
from chatledger.platform.config import Settings
from chatledger.platform.metrics import HISTORY_FALLBACKS, HISTORY_MIRROR_HITS, HISTORY_REFILLS
from chatledger.platform.redis_client import REDIS_ERRORS
from chatledger.platform.replica import ReplicaReads
from chatledger.platform.tally import Tally
from chatledger.readmodels import event_log

log = logging.getLogger(__name__)

MAX_LIMIT = 20  # DESIGN §4: at most 20 events
MYSQL_WINDOW_LIMIT = 10_000

Source = Literal["mirror", "mysql"]
MIRROR_HITS = Tally(HISTORY_MIRROR_HITS)  # one per page: counted at the loop iteration's end


class Page(NamedTuple):  # a tuple: made per request, ~4x cheaper than a frozen dataclass
    picked: Picked  # the events (wire JSON, oldest first) and the response body
    source: Source

    @property
    def events(self) -> tuple[bytes, ...]:
        return self.picked.events


def just_before(moment: str) -> str:
    """One microsecond earlier: the marker's bound is inclusive, the window's start is not."""
    return iso(datetime.fromisoformat(moment) - timedelta(microseconds=1))


def mysql_page(
    window: Sequence[tuple[int, bytes]], viewer: str, chat: str, start: str, limit: int
) -> Page:
    events = pick_visible([raw for _, raw in window], viewer, chat, start, limit)
    return Page(Picked.of(events, True), "mysql")


def page_read_size(limit: int) -> int:
    """How many of the newest events a page reads first: room for private events the viewer may
    not see; a page that needs more reads the whole mirror (see HistoryReader.history)."""
    return 2 * limit


def fill_marker(
    events: Sequence[tuple[int, bytes]], latest: int, start: str, *, truncated: bool = False
) -> Marker:
    """What a refill from MySQL vouches for, and nothing more: everything after the first event
    it writes (or after the stream's version read before the query, when the window is empty).
    Nothing missing created at or after `start`, unless the read was `truncated` (it holds only
    the newest of a busy window): then what is missing was created at or before its first."""
    if not events:
        return Marker(latest, just_before(start))
    first_seq, first = events[0]
    if truncated:
        return Marker(first_seq - 1, orjson.loads(first)["created_at"])
    return Marker(first_seq - 1, just_before(start))


class HistoryReader:
    """History pages and recovery reads; chatledger_history_* metrics say where they came from."""

    def __init__(
        self,
        settings: Settings,
        mirror: HistoryMirror,
        db: Database,
        reads: ReplicaReads | None = None,
    ) -> None:
        self.settings = settings
        self.mirror = mirror
        self.db = db
        # The window's fallback reads (DESIGN §12): fresh, so a refill from a replica holds all
        # a primary read would (a deletion applied, above all: the refill argument below).
        self.reads = reads or ReplicaReads(db)
        self.recent = RecentReads(
            mirror,
            settings.history_window_s,
            settings.history_cache_ms / 1000,
            ParsedEvents(),
        )

    async def history(self, chat: str, viewer: str, limit: int = MAX_LIMIT) -> Page:
        """A warm chat costs one read of the marker and the newest `page_read_size(limit)`
        events, shared by the chat's pages for `history_cache_ms` (recent.py). Only a page the
        newest events cannot settle (a viewer who may not see most of them) reads the whole
        mirror, as a cold or incomplete one reads MySQL."""
        read: Read | None
        try:
            read = await self.recent.newest(chat, page_read_size(limit))
        except REDIS_ERRORS as exc:
            log.warning("history mirror unavailable, reading MySQL: %r", exc)
            read = None
        if read is None or read.marker is None:  # Redis down, or a cold chat
            start = self._window_start()
            window = await self._refill(chat, start, may_write=read is not None)
            return mysql_page(window, viewer, chat, start, limit)
        picked = read.page(viewer, limit)
        if picked.settled or not read.truncated:
            page = self._mirror_page(read.marker, picked, read.start, limit)
            if page is not None:
                return page
            return await self._from_mysql(chat, viewer, limit)
        start = self._window_start()
        snapshot = await self._snapshot(chat)
        if snapshot is not None and snapshot.marker is not None:
            events = pick_visible([raw for _, raw in snapshot.events], viewer, chat, start, limit)
            picked = Picked.of(events, True)
            page = self._mirror_page(snapshot.marker, picked, start, limit)
            return page if page is not None else await self._from_mysql(chat, viewer, limit)
        window = await self._refill(chat, start, may_write=snapshot is not None)
        return mysql_page(window, viewer, chat, start, limit)

    def _window_start(self) -> str:
        return window_start(datetime.now(UTC), self.settings.history_window_s)

    def ready(self, chat: str, viewer: str, limit: int = MAX_LIMIT) -> Page | None:
        """`history`'s page when a shared read already done gives it from the mirror, without
        an await (the common case of a busy chat); None: ask `history`, which does the rest."""
        read = self.recent.ready(chat, page_read_size(limit))
        if read is None or read.marker is None:
            return None
        picked = read.page(viewer, limit)
        if picked.settled or not read.truncated:
            return self._mirror_page(read.marker, picked, read.start, limit)
        return None

    @staticmethod
    def _mirror_page(marker: Marker, picked: Picked, start: str, limit: int) -> Page | None:
        """The page from the mirror, or None when the mirror cannot vouch for it (read MySQL).
        A marker that does not cover the window (size-trimmed in a busy chat) still serves a
        full page: whatever it lacks is older than the page."""
        if marker.covers_window(start) or len(picked.events) == limit:
            MIRROR_HITS.add()
            return Page(picked, "mirror")
        return None

    async def _from_mysql(self, chat: str, viewer: str, limit: int) -> Page:
        start = self._window_start()  # read now: a shared read's start may be older
        window = await self._window_from_mysql(chat, start)
        return mysql_page(window, viewer, chat, start, limit)

    async def events_after(
        self, chat: str, after_seq: int, until_seq: int | None = None
    ) -> list[dict[str, Any]]:
        """Every chat event with seq > after_seq (all visibilities, oldest first, wire form).

        From the mirror when it is complete from after_seq; the mirror ends at the projector's
        position, so a caller that must reach a known seq passes `until_seq` and gets MySQL when
        the mirror has not got that far yet. At most 1000 events.
        """
        snapshot = await self._snapshot(chat)
        if (
            snapshot is not None
            and snapshot.marker is not None
            and snapshot.marker.covers_after(after_seq)
            and (until_seq is None or snapshot.head >= until_seq)
        ):
            HISTORY_MIRROR_HITS.inc()
            found = [orjson.loads(raw) for seq, raw in snapshot.events if seq > after_seq]
        else:
            HISTORY_FALLBACKS.inc()
            found = await event_log.chat_events_after(self.db, chat, after_seq)
        return [e for e in found if until_seq is None or e["seq"] <= until_seq]

    async def _snapshot(self, chat: str) -> Snapshot | None:
        """None when Redis is unreachable: history is then served from MySQL alone."""
        try:
            return await self.mirror.snapshot(chat)
        except REDIS_ERRORS as exc:
            log.warning("history mirror unavailable, reading MySQL: %r", exc)
            return None

    async def _window_from_mysql(self, chat: str, start: str) -> list[tuple[int, bytes]]:
        HISTORY_FALLBACKS.inc()
        since = datetime.fromisoformat(start)
        found = await self.reads.read(
            lambda db: event_log.chat_events_since_time(db, chat, since, MYSQL_WINDOW_LIMIT),
            fresh=True,
        )
        return [(event["seq"], dumps(event)) for event in found]

    async def _refill(self, chat: str, start: str, *, may_write: bool) -> list[tuple[int, bytes]]:
        """Read the window from MySQL and write it to the mirror, marked complete.

        The fill begins (nonce in the key) BEFORE MySQL is read: events committed after the read
        reach the key through the projector, and a flush or eviction in between removes the
        nonce, so the commit refuses and the next read refills again.
        """
        nonce = uuid.uuid4().hex
        if may_write:
            may_write = await self._redis_ok(self.mirror.begin_fill(chat, nonce))
        latest = await self.reads.read(lambda db: event_log.latest_seq(db, chat), fresh=True)
        window = await self._window_from_mysql(chat, start)
        if may_write:
            truncated = len(window) >= MYSQL_WINDOW_LIMIT
            marker = fill_marker(window, latest, start, truncated=truncated)
            committed = await self._redis_ok(
                self.mirror.commit_fill(chat, nonce, window, marker, start, head=latest)
            )
            if committed:
                HISTORY_REFILLS.inc()
        return window

    @staticmethod
    async def _redis_ok(write: Awaitable[bool]) -> bool:
        try:
            return await write
        except REDIS_ERRORS as exc:
            log.warning("history mirror write failed: %r", exc)
            return False
