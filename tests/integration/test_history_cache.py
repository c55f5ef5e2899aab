"""Shared reads of the mirror (history/recent.py) against a real Redis and MySQL: within the
setting a page may be the shared read's, past it every page shows what the mirror holds now
(new events, deletions, a lost key), and no viewer ever sees another's private events."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest
from databases import Database
from redis.asyncio import Redis

from chatledger.domain.commands import Actor
from chatledger.domain.wire import iso
from chatledger.history.mirror import HistoryMirror
from chatledger.history.projector import HistoryProjector
from chatledger.history.reader import HistoryReader
from chatledger.platform.config import Settings
from chatledger.platform.redis_client import redis_client
from tests.helpers import chat_events
from tests.integration.test_history_mirror import NoDatabase, deletion

TTL_MS = 100
ANN, BOB = str(uuid.uuid4()), str(uuid.uuid4())


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cached(settings: Settings) -> Settings:
    return settings.model_copy(update={"history_cache_ms": TTL_MS})


@pytest.fixture
async def mirror(cached: Settings) -> AsyncIterator[HistoryMirror]:
    client: Redis = redis_client(cached)
    mirror = HistoryMirror(cached, client)
    yield mirror
    keys = [key async for key in client.scan_iter(match=mirror.key("*"))]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def message(chat: str, seq: int, sender: str, text: str, public: bool = True) -> bytes:
    return orjson.dumps({
        "type": "message", "id": str(uuid.uuid4()), "seq": seq, "chat": chat,
        "is_public": public, "from": {"uuid": sender, "name": "x", "role": "client"},
        "created_at": iso(datetime.now(UTC)), "message": text,
        "to": None,
    })


def texts(events: list[bytes]) -> list[str]:
    return [orjson.loads(e).get("message") or orjson.loads(e)["type"] for e in events]


async def test_a_new_event_and_a_deletion_show_once_the_shared_read_is_older_than_the_setting(
    cached: Settings, mirror: HistoryMirror
) -> None:
    chat = str(uuid.uuid4())
    projector = HistoryProjector(cached, mirror)
    hello, bye = message(chat, 1, BOB, "hello"), message(chat, 2, BOB, "bye")
    await projector.project([hello, bye, message(chat, 3, ANN, "ann only", public=False)])
    reader = HistoryReader(cached, mirror, NoDatabase())  # type: ignore[arg-type]
    clock = reader.recent.clock = Clock()

    async def page(viewer: str) -> list[str]:
        found = await reader.history(chat, viewer)
        assert found.source == "mirror"
        return texts(found.events)

    # One read serves all three, each their own page.
    assert await page(chat) == ["hello", "bye", "ann only"]
    assert await page(ANN) == ["hello", "bye", "ann only"]
    assert await page(BOB) == ["hello", "bye"]
    await projector.project([message(chat, 4, ANN, "new"), deletion(chat, 5, bye)])
    clock.now += TTL_MS / 1000 - 0.001
    assert await page(BOB) == ["hello", "bye"]  # within the bound: the shared read's page
    clock.now += 0.001
    assert await page(BOB) == ["hello", "new", "message_deleted"]
    assert await page(ANN) == ["hello", "ann only", "new", "message_deleted"]


async def test_a_lost_key_is_read_from_mysql_and_refilled_once_past_the_setting(
    cached: Settings, migrated: Settings, db: Database, mirror: HistoryMirror
) -> None:
    chat = str(uuid.uuid4())
    actor = Actor(chat, "Mia", "model")
    await chat_events.insert(db, [chat_events.message(chat, 1, actor, "hi")])
    reader = HistoryReader(cached, mirror, db)
    clock = reader.recent.clock = Clock()
    # A cold read is never shared: the refill's marker is read by the very next page.
    assert (await reader.history(chat, ANN)).source == "mysql"
    assert (await reader.history(chat, ANN)).source == "mirror"

    await mirror.redis.delete(mirror.key(chat))
    assert (await reader.history(chat, ANN)).source == "mirror"  # the shared read, within it
    clock.now += TTL_MS / 1000
    page = await reader.history(chat, ANN)
    assert page.source == "mysql" and texts(page.events) == ["hi"]
    assert (await reader.history(chat, ANN)).source == "mirror"
