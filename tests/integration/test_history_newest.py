"""The MySQL side of history in a chat hotter than the fallback's read: the newest events win.

A cold mirror is read from MySQL and refilled; a window with more events than that read holds
must still give the newest page, and the refill must vouch only for what it wrote.
"""

import uuid

import orjson
from databases import Database

from chatledger.domain.commands import Actor
from chatledger.history.mirror import HistoryMirror
from chatledger.history.reader import MYSQL_WINDOW_LIMIT, HistoryReader
from chatledger.platform.config import Settings
from chatledger.platform.redis_client import redis_client
from tests.helpers import chat_events

EXTRA = 50


async def test_a_cold_hot_chat_serves_its_newest_20_and_refills_only_what_it_read(
    migrated: Settings, db: Database
) -> None:
    chat = str(uuid.uuid4())
    actor = Actor(chat, "Mia", "model")
    last = MYSQL_WINDOW_LIMIT + EXTRA
    # Oldest first, a microsecond apart at most: all inside the ten-minute window.
    await chat_events.insert(
        db, [chat_events.message(chat, seq, actor, f"m{seq}", age_s=(last - seq) / 1000)
             for seq in range(1, last + 1)]
    )
    # Big enough to hold the whole refill: what it vouches for is what it wrote, no trim.
    settings = migrated.model_copy(update={"history_mirror_size": 2 * last})
    mirror = HistoryMirror(settings, redis_client(settings))
    try:
        page = await HistoryReader(settings, mirror, db).history(chat, chat)
        assert page.source == "mysql"
        assert [_seq(raw) for raw in page.events] == list(range(last - 19, last + 1))

        snapshot = await mirror.snapshot(chat)
        assert snapshot.marker is not None
        written = [seq for seq, _ in snapshot.events]
        assert written == list(range(EXTRA + 1, last + 1))
        # Everything after `from` is in the set: it may not reach below what the refill wrote.
        assert snapshot.marker.from_seq == EXTRA
        assert snapshot.marker.missing_until >= _created_at(snapshot.events[0][1])
    finally:
        await mirror.redis.delete(mirror.key(chat))
        await mirror.redis.aclose()


def _seq(raw: bytes) -> int:
    return int(orjson.loads(raw)["seq"])


def _created_at(raw: bytes) -> str:
    return str(orjson.loads(raw)["created_at"])
