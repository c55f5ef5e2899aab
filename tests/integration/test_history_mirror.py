"""The Redis mirror's scripts and the reader's fallback against the real Redis and MySQL.

In process (no service): each race is staged step by step, which a live service cannot do.
"""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from databases import Database
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from chatledger.domain.commands import Actor
from chatledger.domain.wire import iso
from chatledger.history.mirror import HistoryMirror, Marker, Snapshot
from chatledger.history.picking import window_start
from chatledger.history.projector import HistoryProjector
from chatledger.history.reader import MIRROR_HITS, HistoryReader
from chatledger.platform import redis_keys
from chatledger.platform.config import Settings
from chatledger.platform.redis_client import redis_client
from chatledger.readmodels.event_log import chat_events_after, chat_events_since_time
from tests.helpers import chat_events
from tests.helpers.service import free_port


def cutoff() -> str:
    """The history window's start, now: every event and cutoff of these tests is made when the
    test runs, never at this module's import, which a session longer than the window (600 s)
    would leave behind it (pages then stop at the window's start and come back empty)."""
    return window_start(datetime.now(UTC), 600)


def wire(chat: str, seq: int, age_s: float = 0.0, public: bool = True) -> bytes:
    return orjson.dumps(
        {
            "type": "message",
            "id": str(uuid.uuid4()),
            "seq": seq,
            "chat": chat,
            "is_public": public,
            "from": {"uuid": chat, "name": "Mia", "role": "model"},
            "created_at": iso(datetime.now(UTC) - timedelta(seconds=age_s)),
            "message": f"m{seq}",
            "to": None,
        }
    )


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = redis_client(settings)
    yield client
    keys = [key async for key in client.scan_iter(match=redis_keys.history(settings, "*"))]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def mirror(settings: Settings, redis: Redis) -> HistoryMirror:
    return HistoryMirror(settings.model_copy(update={"history_mirror_size": 20}), redis)


async def append(
    mirror: HistoryMirror, chat: str, events: list[bytes], since: str | None = None
) -> None:
    await mirror.append({chat: [(orjson.loads(e)["seq"], e) for e in events]}, since or cutoff())


async def raw(mirror: HistoryMirror, chat: str) -> list[tuple[bytes, float]]:
    rows: list[tuple[bytes, float]] = await mirror.redis.zrange(
        mirror.key(chat), 0, -1, withscores=True
    )
    return rows


def new_chat() -> str:
    return str(uuid.uuid4())


async def test_a_chats_first_event_makes_it_complete_and_appending_twice_changes_nothing(
    mirror: HistoryMirror,
) -> None:
    chat = new_chat()
    events = [wire(chat, seq) for seq in (1, 2, 3)]
    await append(mirror, chat, events)
    before = await raw(mirror, chat)
    await append(mirror, chat, events[1:])
    await append(mirror, chat, events)
    assert await raw(mirror, chat) == before
    snapshot = await mirror.snapshot(chat)
    assert snapshot.marker == Marker(0, "")
    assert [raw for _, raw in snapshot.events] == events  # the published bytes, as they were


async def test_a_chat_first_seen_mid_stream_stays_cold(mirror: HistoryMirror) -> None:
    chat = new_chat()
    await append(mirror, chat, [wire(chat, 5), wire(chat, 6)])
    snapshot = await mirror.snapshot(chat)
    assert snapshot.marker is None and snapshot.head == 6


async def test_trimming_by_size_raises_the_marker_and_older_events_are_refused(
    mirror: HistoryMirror,
) -> None:
    chat = new_chat()
    events = [wire(chat, seq, age_s=100 - seq) for seq in range(1, 31)]
    await append(mirror, chat, events[:15])
    await append(mirror, chat, events[15:])
    snapshot = await mirror.snapshot(chat)
    assert [seq for seq, _ in snapshot.events] == list(range(11, 31))
    assert snapshot.marker == Marker(10, orjson.loads(events[9])["created_at"])
    await append(mirror, chat, [events[4]])  # a redelivery from before the marker
    assert [seq for seq, _ in (await mirror.snapshot(chat)).events] == list(range(11, 31))


async def test_trimming_by_time_drops_what_left_the_window(mirror: HistoryMirror) -> None:
    chat = new_chat()
    old, older, fresh = wire(chat, 2, age_s=700), wire(chat, 1, age_s=900), wire(chat, 3, age_s=5)
    await append(mirror, chat, [older, old, fresh])
    snapshot = await mirror.snapshot(chat)
    assert snapshot.events == [(3, fresh)]
    assert snapshot.marker == Marker(2, orjson.loads(old)["created_at"])
    assert snapshot.marker.covers_window(cutoff())


async def test_a_fill_overtaken_by_a_flush_does_not_mark_the_mirror_complete(
    mirror: HistoryMirror,
) -> None:
    chat = new_chat()
    await mirror.begin_fill(chat, "n1")
    # Meanwhile: the projector writes seq 8, then the key is flushed (seq 8 with it).
    await append(mirror, chat, [wire(chat, 8)])
    await mirror.redis.delete(mirror.key(chat))
    await append(mirror, chat, [wire(chat, 9)])
    fill = [(seq, wire(chat, seq)) for seq in (6, 7)]
    assert not await mirror.commit_fill(chat, "n1", fill, Marker(5, ""), cutoff())
    snapshot = await mirror.snapshot(chat)
    assert snapshot.marker is None and [seq for seq, _ in snapshot.events] == [9]


async def test_a_fill_keeps_what_the_projector_wrote_meanwhile(mirror: HistoryMirror) -> None:
    chat = new_chat()
    await mirror.begin_fill(chat, "n1")
    await append(mirror, chat, [wire(chat, 8)])  # committed after the fill's MySQL read
    fill = [(seq, wire(chat, seq)) for seq in (6, 7)]
    assert await mirror.commit_fill(chat, "n1", fill, Marker(5, "x"), cutoff())
    snapshot = await mirror.snapshot(chat)
    assert snapshot.marker == Marker(5, "x")
    assert [seq for seq, _ in snapshot.events] == [6, 7, 8]
    assert all(score != -2 for _, score in await raw(mirror, chat))  # the fill nonce is gone
    await append(mirror, chat, [wire(chat, 5)])  # older than the marker: not taken back in
    assert [seq for seq, _ in (await mirror.snapshot(chat)).events] == [6, 7, 8]


async def test_the_later_of_two_concurrent_fills_wins(mirror: HistoryMirror) -> None:
    chat = new_chat()
    await mirror.begin_fill(chat, "first")
    await mirror.begin_fill(chat, "second")
    assert not await mirror.commit_fill(chat, "first", [], Marker(3, ""), cutoff())
    assert await mirror.commit_fill(chat, "second", [], Marker(3, ""), cutoff())
    assert (await mirror.snapshot(chat)).marker == Marker(3, "")


async def test_the_projector_reloads_its_script_after_redis_forgot_it(
    settings: Settings, mirror: HistoryMirror
) -> None:
    chat = new_chat()
    mirror._append.sha = "0" * 40  # what a restarted Redis looks like to a running projector
    projector = HistoryProjector(settings, mirror)
    await projector.project([wire(chat, 1), orjson.dumps({"type": "deposited"}), wire(chat, 2)])
    assert [seq for seq, _ in (await mirror.snapshot(chat)).events] == [1, 2]


class NoDatabase:
    """Any use fails the test: proves a read made no MySQL query."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"MySQL was used ({name})")


async def test_a_cold_chat_is_read_from_mysql_refilled_then_served_without_mysql(
    settings: Settings, migrated: Settings, db: Database, mirror: HistoryMirror
) -> None:
    chat = new_chat()
    actor = Actor(chat, "Mia", "model")
    await chat_events.insert(
        db,
        [
            chat_events.message(chat, 1, actor, "too old", age_s=900),
            chat_events.message(chat, 2, actor, "recent", age_s=60),
            chat_events.message(chat, 3, actor, "now"),
        ],
    )
    reader = HistoryReader(settings, mirror, db)
    start = Reads.now()
    page = await reader.history(chat, chat)
    assert page.source == "mysql" and Reads.now().since(start) == (0, 1, 1)
    assert [orjson.loads(e)["message"] for e in page.events] == ["recent", "now"]
    snapshot = await mirror.snapshot(chat)
    assert snapshot.marker is not None and snapshot.marker.from_seq == 1

    warm = HistoryReader(settings, mirror, NoDatabase())  # type: ignore[arg-type]
    start = Reads.now()
    again = await warm.history(chat, chat)
    assert again.source == "mirror" and again.events == page.events
    assert Reads.now().since(start) == (1, 0, 0)
    assert [e["seq"] for e in await warm.events_after(chat, 1)] == [2, 3]
    start = Reads.now()
    assert await reader.events_after(chat, 0) == [orjson.loads(e) for e in await _all(db, chat)]
    assert Reads.now().since(start)[1] == 1  # from before the marker: MySQL


@dataclass(frozen=True)
class Reads:
    """The history metrics of this process, to count what one reader did (deltas)."""

    mirror: float
    mysql: float
    refills: float

    @staticmethod
    def now() -> "Reads":
        def value(name: str) -> float:
            return REGISTRY.get_sample_value(f"chatledger_history_{name}_total") or 0.0

        MIRROR_HITS.flush()  # hits are added at the loop iteration's end: add them now

        return Reads(value("mirror_hits"), value("fallbacks"), value("refills"))

    def since(self, before: "Reads") -> tuple[float, float, float]:
        return (self.mirror - before.mirror, self.mysql - before.mysql,
                self.refills - before.refills)


async def _all(db: Database, chat: str) -> list[bytes]:
    from chatledger.domain.wire import dumps

    return [dumps(e) for e in await chat_events_after(db, chat, 0)]


async def test_events_after_waits_for_mysql_when_the_mirror_lags(
    settings: Settings, migrated: Settings, db: Database, mirror: HistoryMirror
) -> None:
    chat = new_chat()
    actor = Actor(chat, "Mia", "model")
    written = await chat_events.insert(
        db, [chat_events.message(chat, seq, actor, f"m{seq}") for seq in (1, 2, 3)]
    )
    await append(mirror, chat, written[:2])  # the projector has not reached seq 3 yet
    reader = HistoryReader(settings, mirror, db)
    start = Reads.now()
    assert [e["seq"] for e in await reader.events_after(chat, 0, until_seq=2)] == [1, 2]
    assert Reads.now().since(start)[1] == 0
    assert [e["seq"] for e in await reader.events_after(chat, 1, until_seq=3)] == [2, 3]
    assert Reads.now().since(start)[1] == 1


async def test_history_reads_mysql_when_redis_is_unreachable(
    settings: Settings, migrated: Settings, db: Database
) -> None:
    chat = new_chat()
    actor = Actor(chat, "Mia", "model")
    await chat_events.insert(db, [chat_events.message(chat, 1, actor, "hi")])
    down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    client = redis_client(down)
    try:
        reader = HistoryReader(down, HistoryMirror(down, client), db)
        start = Reads.now()
        page = await reader.history(chat, chat)
    finally:
        await client.aclose()
    assert page.source == "mysql" and [orjson.loads(e)["message"] for e in page.events] == ["hi"]
    assert Reads.now().since(start)[2] == 0


async def test_a_page_reads_the_newest_events_and_falls_back_when_they_are_all_private(
    settings: Settings, redis: Redis
) -> None:
    """60 private events on top of 5 public ones: a viewer's page is the 5, still from the
    mirror (read whole, since the newest 40 settle nothing), and the model's is the newest 20."""
    mirror = HistoryMirror(settings.model_copy(update={"history_mirror_size": 200}), redis)
    chat = new_chat()
    events = [wire(chat, seq, age_s=100 - seq, public=seq <= 5) for seq in range(1, 66)]
    await append(mirror, chat, events)
    newest = await mirror.newest(chat, 40)
    assert newest.marker == Marker(0, "") and newest.truncated
    assert newest.events == events[::-1][:40]  # newest first, the page's worth only

    reader = HistoryReader(settings, mirror, NoDatabase())  # type: ignore[arg-type]
    viewer = str(uuid.uuid4())
    start = Reads.now()

    async def seqs(who: str, limit: int) -> list[int]:
        page = await reader.history(chat, who, limit)
        assert page.source == "mirror"
        return [orjson.loads(e)["seq"] for e in page.events]

    assert await seqs(viewer, 20) == [1, 2, 3, 4, 5]
    assert await seqs(viewer, 3) == [3, 4, 5]
    assert await seqs(chat, 20) == list(range(46, 66))
    assert Reads.now().since(start)[1] == 0


async def test_a_short_mirror_is_read_whole_in_one_go(
    settings: Settings, mirror: HistoryMirror
) -> None:
    chat = new_chat()
    await append(mirror, chat, [wire(chat, seq) for seq in (1, 2, 3)])
    newest = await mirror.newest(chat, 40)
    assert not newest.truncated and [orjson.loads(e)["seq"] for e in newest.events] == [3, 2, 1]
    mirror._newest.sha = "0" * 40  # a restarted Redis: the page read loads its script again
    assert (await mirror.newest(chat, 2)).events == [e for e in newest.events[:2]]
    cold = await mirror.newest(new_chat(), 40)
    assert cold.marker is None and cold.events == [] and not cold.truncated


def deletion(chat: str, seq: int, message: bytes) -> bytes:
    """A `message_deleted` of `message`, as the ledger publishes it: made now, not at this
    module's import, which a long session leaves behind the window's start, where a page's
    scan, newest first, stops (test_history_cache saw an empty page so, under load)."""
    return orjson.dumps(
        {
            "type": "message_deleted",
            "id": str(uuid.uuid4()),
            "seq": seq,
            "chat": chat,
            "is_public": True,
            "from": {"uuid": chat, "name": "Mia", "role": "model"},
            "created_at": iso(datetime.now(UTC)),
            "message_id": orjson.loads(message)["id"],
        }
    )


def seqs_of(snapshot: Snapshot) -> list[int]:
    return [seq for seq, _ in snapshot.events]


async def test_a_deleted_message_leaves_the_mirror_for_good(
    settings: Settings, mirror: HistoryMirror
) -> None:
    chat = new_chat()
    projector = HistoryProjector(settings, mirror)
    m1, m2, m3 = (wire(chat, seq) for seq in (1, 2, 3))
    await projector.project([m1, m2, m3])
    await projector.project([deletion(chat, 4, m2)])
    snapshot = await mirror.snapshot(chat)
    assert seqs_of(snapshot) == [1, 3, 4] and snapshot.marker == Marker(0, "")
    assert (b"#deleted|2", -3.0) in await raw(mirror, chat)
    # The ledger republishing after a crash: the message, then its deletion again.
    await projector.project([m2])
    assert seqs_of(await mirror.snapshot(chat)) == [1, 3, 4]
    await projector.project([m2, deletion(chat, 4, m2)])
    assert seqs_of(await mirror.snapshot(chat)) == [1, 3, 4]


async def test_a_message_and_its_deletion_in_one_batch(
    settings: Settings, mirror: HistoryMirror
) -> None:
    chat = new_chat()
    message = wire(chat, 1)
    await HistoryProjector(settings, mirror).project([message, deletion(chat, 2, message)])
    assert seqs_of(await mirror.snapshot(chat)) == [2]


async def test_a_fill_begun_before_a_deletion_cannot_bring_the_message_back(
    settings: Settings, mirror: HistoryMirror
) -> None:
    chat = new_chat()
    projector = HistoryProjector(settings, mirror)
    m4, m5 = wire(chat, 4), wire(chat, 5)
    await projector.project([m5])  # a cold chat: no marker
    await mirror.begin_fill(chat, "stale")  # its MySQL read will still see m4 and m5
    await projector.project([deletion(chat, 6, m4), deletion(chat, 7, m5)])
    assert not await mirror.commit_fill(chat, "stale", [(4, m4), (5, m5)], Marker(3, ""), cutoff())
    assert (await mirror.snapshot(chat)).marker is None
    # Even a fill that would carry the deleted message (MySQL never does) cannot put its seq
    # back: m5 was in the set when it was deleted, so its seq is tombstoned.
    await mirror.begin_fill(chat, "later")
    assert await mirror.commit_fill(chat, "later", [(5, m5)], Marker(4, ""), cutoff())
    assert seqs_of(await mirror.snapshot(chat)) == [6, 7]


async def test_tombstones_leave_once_the_marker_passed_their_seq(
    settings: Settings, mirror: HistoryMirror
) -> None:
    chat = new_chat()
    projector = HistoryProjector(settings, mirror)  # the mirror keeps 20 events
    events = [wire(chat, seq, age_s=100 - seq) for seq in range(1, 6)]
    await projector.project([*events, deletion(chat, 6, events[1])])
    assert (b"#deleted|2", -3.0) in await raw(mirror, chat)
    await projector.project([wire(chat, seq, age_s=100 - seq) for seq in range(7, 30)])
    snapshot = await mirror.snapshot(chat)
    assert snapshot.marker is not None and snapshot.marker.from_seq >= 2
    assert all(score != -3 for _, score in await raw(mirror, chat))


async def test_mysql_reads_leave_deleted_messages_out(db: Database, migrated: Settings) -> None:
    """As the ledger writes a deletion: the event and its `deleted_messages` row (the audit of
    the session's database replays them)."""
    chat = new_chat()
    actor = Actor(chat, "Mia", "model")
    kept, gone = (chat_events.message(chat, seq, actor, f"m{seq}") for seq in (1, 2))
    deleted = replace(kept, event_id=str(uuid.uuid4()), command_id=str(uuid.uuid4()), seq=3,
                      type="message_deleted", payload={"message_id": gone.event_id})
    await chat_events.insert(db, [kept, gone, deleted])
    await db.execute(
        "INSERT INTO deleted_messages (message_id, model_uuid, deletion_id)"
        " VALUES (:m, :c, :d)",
        {"m": gone.event_id, "c": chat, "d": deleted.event_id},
    )
    both = [kept.event_id, deleted.event_id]
    assert [e["id"] for e in await chat_events_after(db, chat, 0)] == both
    since = await chat_events_since_time(db, chat, datetime.now(UTC) - timedelta(seconds=60))
    assert [e["id"] for e in since] == both
