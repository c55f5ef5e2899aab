"""GET /chat/event/history against a real service: window, limit, order, visibility, and a Redis
that loses keys while the service runs (a flush of this session's prefix, or one key at a time).
"""

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from databases import Database
from redis.asyncio import Redis

from chatledger.api.history import SOURCE_HEADER
from chatledger.domain.commands import Donate
from chatledger.platform import redis_keys
from chatledger.platform.config import Settings
from chatledger.platform.redis_client import redis_client
from tests.helpers import chat_events
from tests.helpers.commands import produce
from tests.helpers.people import People, Someone
from tests.helpers.service import Service
from tests.helpers.wait import eventually


@pytest.fixture
async def http(service: Service) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(service.url) as session:
        yield session


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = redis_client(settings)
    yield client
    await client.aclose()


async def history(
    http: aiohttp.ClientSession, who: Someone, limit: str | None = None
) -> tuple[list[dict[str, Any]], str]:
    params = {} if limit is None else {"limit": limit}
    async with http.get("/chat/event/history", headers=who.headers, params=params) as response:
        body = await response.json()
        assert response.status == 200, body
        assert body["success"] is True
        return body["events"], response.headers[SOURCE_HEADER]


def labels(events: list[dict[str, Any]]) -> list[str]:
    return [e.get("message") or e["type"] for e in events]


async def say(
    http: aiohttp.ClientSession, who: Someone, text: str, public: bool = True, **extra: str
) -> None:
    body = {"message": text, "is_public": public, **extra}
    async with http.post("/chat/message/add", json=body, headers=who.headers) as response:
        assert response.status == 201, await response.text()


async def settled(http: aiohttp.ClientSession, who: Someone, count: int) -> list[dict[str, Any]]:
    """`who`'s history once it holds `count` events (the ledger and projector are async)."""

    async def probe() -> list[dict[str, Any]]:
        return (await history(http, who))[0]

    return await eventually(probe, until=lambda events: len(events) >= count, what="history")


async def forget_everything(redis: Redis, settings: Settings) -> int:
    """What FLUSHALL looks like to this service, without touching anyone else's keys."""
    keys = [key async for key in redis.scan_iter(match=settings.redis_key("*"))]
    if keys:
        await redis.delete(*keys)
    return len(keys)


async def test_only_the_last_ten_minutes_oldest_first(
    http: aiohttp.ClientSession, people: People, db: Database
) -> None:
    model = await people.model("Mia")
    actor = model.person.as_actor()
    await chat_events.insert(
        db,
        [
            chat_events.message(model.uuid, 1, actor, "an hour ago", age_s=3600),
            chat_events.message(model.uuid, 2, actor, "eleven minutes ago", age_s=660),
            chat_events.message(model.uuid, 3, actor, "nine minutes ago", age_s=540),
        ],
    )
    await say(http, model, "now")
    events = await settled(http, model, 2)
    assert labels(events) == ["nine minutes ago", "now"]
    assert [e["seq"] for e in events] == [3, 4]
    events_again, source = await history(http, model)
    assert source == "mirror" and events_again == events


async def test_at_most_twenty_and_the_limit_parameter(
    http: aiohttp.ClientSession, people: People
) -> None:
    model = await people.model("Mia")
    viewer = await people.client(model, "Bob")
    for n in range(25):
        await say(http, viewer, f"m{n}")
    await settled(http, viewer, 20)
    events = await eventually(
        lambda: history(http, viewer),
        until=lambda page: page[0][-1]["message"] == "m24",
        what="the last message",
    )
    assert labels(events[0]) == [f"m{n}" for n in range(5, 25)]
    seqs = [e["seq"] for e in events[0]]
    assert seqs == sorted(seqs) and len(set(seqs)) == 20
    assert labels((await history(http, viewer, "5"))[0]) == [f"m{n}" for n in range(20, 25)]
    assert labels((await history(http, viewer, "1"))[0]) == ["m24"]
    assert len((await history(http, viewer, "20"))[0]) == 20


@pytest.mark.parametrize("limit", ["0", "21", "-3", "ten", "", "2.5"])
async def test_a_bad_limit_is_400(http: aiohttp.ClientSession, people: People, limit: str) -> None:
    model = await people.model("Mia")
    async with http.get(
        "/chat/event/history", headers=model.headers, params={"limit": limit}
    ) as response:
        assert response.status == 400
        body = await response.json()
    assert body["success"] == "false" and body["message"] == "bad params"
    assert body["errors"] and "limit" in body["errors"][0]


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Basic abc"])
async def test_no_valid_token_is_401(http: aiohttp.ClientSession, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    async with http.get("/chat/event/history", headers=headers) as response:
        assert response.status == 401
        assert await response.json() == {"success": "false", "message": "anauthorized"}


async def test_everyone_sees_only_what_they_may_from_the_mirror_and_from_mysql(
    http: aiohttp.ClientSession, people: People, settings: Settings, redis: Redis
) -> None:
    model = await people.model("Mia")
    ann = await people.client(model, "Ann")
    bob = await people.client(model, "Bob", money="5.00")
    cat = await people.client(model, "Cat")
    await say(http, ann, "ann public")
    await say(http, ann, "ann private", public=False)
    await say(http, bob, "bob private", public=False)
    await say(http, model, "mia public")
    await say(http, model, "mia to ann", public=False, to=ann.uuid)
    # Past the API's balance pre-check, as when two donations race: the ledger refuses it.
    refused = Donate(str(uuid.uuid4()), model.uuid, bob.person.as_actor(), Decimal("50.00"))
    await produce(settings, [refused])
    async with http.post(
        "/chat/donat/add",
        json={"sum": "1.00", "messgae": {"message": "bob tips", "is_public": True}},
        headers=bob.headers,
    ) as response:
        assert response.status == 201, await response.text()
    await settled(http, model, 7)  # messages, donate, change_sponsor

    expected = {
        "model": ["ann public", "ann private", "bob private", "mia public", "mia to ann"],
        "ann": ["ann public", "ann private", "mia public", "mia to ann"],
        "bob": ["ann public", "bob private", "mia public", "donate_rejected"],
        "cat": ["ann public", "mia public"],
    }
    tail = ["bob tips", "change_sponsor"]  # the accepted donation (its message) and the crown
    who = {"model": model, "ann": ann, "bob": bob, "cat": cat}
    await settled(http, bob, len(expected["bob"]) + 2)
    for source in ("mirror", "mysql"):
        for name, person in who.items():
            if source == "mysql":
                await redis.delete(redis_keys.history(settings, model.uuid))
            events, served_by = await history(http, person)
            assert served_by == source, name
            assert labels(events) == expected[name] + tail, (name, source)
            assert all(e["chat"] == model.uuid for e in events)
    rejected = next(e for e in (await history(http, bob))[0] if e["type"] == "donate_rejected")
    assert rejected["from"]["uuid"] == bob.uuid and rejected["sum"] == "50.00"
    assert set(rejected) >= {"type", "id", "seq", "chat", "is_public", "from", "created_at"}


async def test_a_flushed_redis_still_serves_complete_history_and_refills(
    http: aiohttp.ClientSession, people: People, settings: Settings, redis: Redis
) -> None:
    model = await people.model("Mia")
    viewer = await people.client(model, "Bob")
    for n in range(3):
        await say(http, viewer, f"before {n}")
    before = await settled(http, viewer, 3)
    assert (await history(http, viewer))[1] == "mirror"

    assert await forget_everything(redis, settings) >= 1
    after, source = await history(http, viewer)
    assert source == "mysql" and after == before
    assert (await history(http, viewer)) == (before, "mirror")  # refilled

    assert await forget_everything(redis, settings) >= 1
    await say(http, viewer, "after the flush")  # the projector writes to a key with no marker
    events = await eventually(
        lambda: history(http, viewer),
        until=lambda page: len(page[0]) == 4 and page[1] == "mirror",
        what="a refilled, complete mirror",
    )
    assert labels(events[0]) == ["before 0", "before 1", "before 2", "after the flush"]


async def test_keys_evicted_one_at_a_time_never_leave_a_partial_history(
    http: aiohttp.ClientSession, people: People, settings: Settings, redis: Redis
) -> None:
    chats = []
    for name in ("Mia", "Zoe", "Eva"):
        model = await people.model(name)
        for n in range(3):
            await say(http, model, f"{name} {n}")
        chats.append((model, await settled(http, model, 3)))
    for evicted, _ in chats:
        await redis.delete(redis_keys.history(settings, evicted.uuid))
        for model, expected in chats:
            events, source = await history(http, model)
            assert events == expected, model.person.name
            assert source == ("mysql" if model is evicted else "mirror")
