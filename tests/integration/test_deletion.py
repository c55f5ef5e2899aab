"""POST /chat/message/delete through the real service: who may delete what, and a deleted
message gone from history (Redis mirror and MySQL fallback alike) and from a `since` replay,
while every page that had it receives the public `message_deleted`."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from databases import Database
from redis.asyncio import Redis

from chatledger.api.history import SOURCE_HEADER
from chatledger.domain import events as ev
from chatledger.platform import redis_keys
from chatledger.platform.config import Settings
from chatledger.platform.redis_client import redis_client
from tests.helpers.marker import before, only_the_marker_followed
from tests.helpers.moderation import accepted, applied, post
from tests.helpers.people import People, Someone
from tests.helpers.service import Service
from tests.helpers.wait import eventually
from tests.helpers.ws import connected

DELETE = "/chat/message/delete"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = redis_client(settings)
    yield client
    await client.aclose()


async def say(http: aiohttp.ClientSession, base: str, db: Database, who: Someone,
              text: str) -> str:
    """Post a public message; its event id once the ledger appended it."""
    command = await accepted(http, base, "/chat/message/add", who, {"message": text})
    [event] = await applied(db, command)
    return str(event["event_id"])


async def history(
    http: aiohttp.ClientSession, base: str, who: Someone
) -> tuple[list[dict[str, Any]], str]:
    async with http.get(f"{base}/chat/event/history", headers=who.headers) as response:
        assert response.status == 200
        return (await response.json())["events"], response.headers[SOURCE_HEADER]


async def replayed(http: aiohttp.ClientSession, base: str, who: Someone) -> list[dict[str, Any]]:
    """Everything a socket connecting with since=0 is sent before it goes live."""
    async with connected(http, base, who, since=0) as page:
        latest = page.connected["seq"]
        return await page.until(
            lambda got: any(e["seq"] >= latest for e in got), "the replay up to the latest seq"
        )


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in events]


async def test_a_deleted_message_is_gone_from_history_and_replays_and_pages_remove_it(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession,
    redis: Redis, settings: Settings,
) -> None:
    base = service.url
    model = await people.model()
    author, witness = await people.client(model, "Bob"), await people.client(model, "Ann")
    kept = await say(http, base, db, author, "hello")
    oops = await say(http, base, db, author, "oops")
    async with connected(http, base, witness) as page:
        command = await accepted(http, base, DELETE, author, {"id": oops})
        [deleted] = await applied(db, command)
        assert deleted["type"] == ev.MESSAGE_DELETED
        frames = await page.until(
            lambda got: any(e["type"] == ev.MESSAGE_DELETED for e in got), "the deletion"
        )
    deletion = frames[-1]
    assert deletion["message_id"] == oops and deletion["from"]["uuid"] == author.uuid
    assert deletion["is_public"] is True

    # The mirror: the projector took the message out (and tombstoned its seq).
    events, source = await eventually(
        lambda: history(http, base, witness), until=lambda page: oops not in ids(page[0]),
        what="the message gone from the mirror",
    )
    assert source == "mirror"
    assert ids(events) == [kept, deletion["id"]]
    key = redis_keys.history(settings, model.uuid)
    members = [member for member, _ in await redis.zrange(key, 0, -1, withscores=True)]
    assert not any(oops.encode() in m and b'"type":"message",' in m for m in members)
    assert ids(await replayed(http, base, witness)) == [kept, deletion["id"]]

    # MySQL: the mirror forgot the chat, so history and the replay read chat_events.
    await redis.delete(key)
    assert ids(await replayed(http, base, witness)) == [kept, deletion["id"]]
    await redis.delete(key)
    events, source = await history(http, base, witness)
    assert source == "mysql" and ids(events) == [kept, deletion["id"]]
    # ... and the mirror refilled from MySQL does not bring it back either. (A refill that a
    # projector write crossed is refused and the next read refills again: hence eventually.)
    events, source = await eventually(
        lambda: history(http, base, witness), until=lambda page: page[1] == "mirror",
        what="the mirror refilled",
    )
    assert ids(events) == [kept, deletion["id"]]


async def test_the_model_deletes_anyones_message(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession
) -> None:
    model = await people.model()
    viewer = await people.client(model)
    message = await say(http, service.url, db, viewer, "rude")
    command = await accepted(http, service.url, DELETE, model, {"id": message})
    assert [e["type"] for e in await applied(db, command)] == [ev.MESSAGE_DELETED]


async def test_bad_deletions_are_refused_with_their_reason_and_change_nothing(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession
) -> None:
    base = service.url
    model, elsewhere = await people.model("Mia"), await people.model("Zoe")
    author = await people.client(model, "Bob", money="10")
    other = await people.client(model, "Ann")
    theirs = await say(http, base, db, author, "mine")
    gone = await say(http, base, db, author, "soon gone")
    await applied(db, await accepted(http, base, DELETE, author, {"id": gone}))
    tip = await accepted(http, base, "/chat/donate/add", author, {"sum": 1})
    donation = (await applied(db, tip))[0]["event_id"]
    foreign = await say(http, base, db, elsewhere, "another chat's")
    nobody = str(uuid.uuid4())

    then = await before(db, people, model.uuid, author, model)
    cases: list[tuple[Someone, object, int, list[str]]] = [
        (other, theirs, 403, ["only the model or the author deletes a message"]),
        (author, gone, 400, ["id: the message is deleted already"]),
        (model, gone, 400, ["id: the message is deleted already"]),
        (author, nobody, 400, ["id: no such message in this chat"]),
        (model, donation, 400, ["id: no such message in this chat"]),  # a tip is refunded
        (model, foreign, 400, ["id: no such message in this chat"]),
        (author, "42", 400, ["id: must be a uuid"]),
    ]
    for who, message_id, status, reasons in cases:
        got, answer = await post(http, base, DELETE, who, {"id": message_id})
        message = "forbidden" if status == 403 else "bad params"
        assert (got, answer) == (status, {"success": "false", "message": message,
                                          "errors": reasons}), message_id
    await only_the_marker_followed(base, db, people, author, then)
