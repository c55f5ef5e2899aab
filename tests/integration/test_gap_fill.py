"""Consumers fill a chat's seq gap from MySQL before handing on anything later (DESIGN §6).

The gap is staged honestly: rows appended to `chat_events` as the ledger would, but never
published (what a lost publish or a broker that lost acknowledged records leaves behind); the
model's next message, published by the ledger, reveals the jump.
"""

import dataclasses
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from databases import Database
from redis.asyncio import Redis

from chatledger.domain import events as ev
from chatledger.domain.commands import Actor
from chatledger.domain.events import Event
from chatledger.history.mirror import HistoryMirror
from chatledger.history.reader import HistoryReader
from chatledger.platform.config import Settings
from tests.helpers import chat_events
from tests.helpers.moderation import BANNED, accepted, applied, handshake
from tests.helpers.people import People, Someone
from tests.helpers.service import Service
from tests.helpers.wait import eventually
from tests.helpers.ws import Client, connected

MESSAGE = "/chat/message/add"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def said(http: aiohttp.ClientSession, base: str, db: Database, who: Someone) -> int:
    """A public message by `who`, through the API and the ledger; its seq."""
    command = await accepted(http, base, MESSAGE, who, {"message": "hi", "is_public": True})
    return int((await applied(db, command))[0]["seq"])


def unpublished_ban(chat: Someone, viewer: Someone, seq: int) -> Event:
    actor = Actor(chat.uuid, "Mia", "model")
    base = chat_events.message(chat.uuid, seq, actor, "")
    target = {"uuid": viewer.uuid, "name": "Bob", "role": "client"}
    return dataclasses.replace(base, type=ev.VIEWER_BANNED, payload={"client": target})


async def test_a_viewer_receives_contiguous_seqs_across_a_gap(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession,
    migrated: Settings,
) -> None:
    model = await people.model()
    viewer = await people.client(model, "Vic")
    actor = Actor(model.uuid, "Mia", "model")
    async with connected(http, service.url, viewer) as watching:
        first = await said(http, service.url, db, model)
        await watching.until_seq(first)
        missed = [chat_events.message(model.uuid, first + n, actor, f"lost {n}") for n in (1, 2)]
        await chat_events.insert(db, missed)
        last = await said(http, service.url, db, model)
        assert last == first + 3
        events = await watching.until_seq(last)
        assert watching.seqs() == [first, first + 1, first + 2, last], events
        assert [e["id"] for e in events[1:3]] == [e.event_id for e in missed]

    # The history mirror never vouches for the hole: a page has the missed messages too.
    redis = Redis.from_url(migrated.redis_url)
    try:
        reader = HistoryReader(migrated, HistoryMirror(migrated, redis), db)
        # The projector may not have reached `last` yet (it polls every 200 ms): a page without
        # it is only late; one with it must hold the hole's events too.
        page = await eventually(lambda: reader.history(model.uuid, viewer.uuid),
                                until=lambda got: _seq(got.events[-1]) == last,
                                what="a history page up to the last message")
        assert [_seq(raw) for raw in page.events][-4:] == [first, first + 1, first + 2, last]
    finally:
        await redis.aclose()


async def test_a_ban_the_bus_lost_still_closes_the_socket_and_refuses_ws(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession
) -> None:
    model = await people.model()
    viewer = await people.client(model, "Bob")
    async with connected(http, service.url, viewer) as page:
        first = await said(http, service.url, db, model)
        await page.until_seq(first)
        await chat_events.insert(db, [unpublished_ban(model, viewer, first + 1)])
        # Its projection row too, as the ledger writes it: the session's audits replay the event.
        await db.execute(
            "INSERT IGNORE INTO chat_bans (model_uuid, client_uuid) VALUES (:model, :client)",
            {"model": model.uuid, "client": viewer.uuid},
        )
        await said(http, service.url, db, model)
        await eventually(lambda: _closed(page), what="the banned socket closed")
        assert page.ws.close_code == 4003
        assert page.events[-1]["type"] == ev.VIEWER_BANNED
    assert await handshake(http, service.url, viewer) == (403, BANNED)


async def _closed(client: Client) -> bool:
    return client.ws.closed


def _seq(raw: bytes) -> int:
    return int(orjson.loads(raw)["seq"])
