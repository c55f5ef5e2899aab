"""DESIGN §9 through the real service: the minimum tip, mute, ban and unban, each endpoint's
happy path and bad input (a marker proves a refused request changed nothing), and the API's
cheap refusals: answered from the process's own copy of the rules, already right when the
event's frame reaches a socket of the same process.
"""

from collections.abc import AsyncIterator

import aiohttp
import pytest
from databases import Database

from chatledger.domain import events as ev
from chatledger.web.auth import issue_token
from tests.helpers.marker import before, only_the_marker_followed
from tests.helpers.moderation import BANNED, MUTED, accepted, applied, handshake, post
from tests.helpers.people import People, Someone
from tests.helpers.service import Service
from tests.helpers.wait import eventually
from tests.helpers.ws import Client, connected

MUTE = "/chat/moderation/mute"
BAN = "/chat/moderation/ban"
UNBAN = "/chat/moderation/unban"
SETTINGS = "/chat/settings"
MESSAGE = "/chat/message/add"
DONATE = "/chat/donate/add"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def seen(client: Client, type_: str) -> None:
    await client.until(lambda got: any(e["type"] == type_ for e in got), type_)


def errors(answer: dict[str, object]) -> list[str]:
    assert answer["message"] == "bad params", answer
    found = answer["errors"]
    assert isinstance(found, list)
    return [str(error) for error in found]


async def test_a_minimum_tip_refuses_smaller_tips_at_once(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession
) -> None:
    model = await people.model()
    viewer = await people.client(model, money="50")
    base = service.url
    async with connected(http, base, viewer) as page:
        command = await accepted(http, base, SETTINGS, model, {"min_donation": "5"})
        await seen(page, ev.SETTINGS_CHANGED)
        assert [e["type"] for e in await applied(db, command)] == [ev.SETTINGS_CHANGED]
        assert page.events[-1]["min_donation"] == "5.00"
        # The frame came from this process after it folded the event: the API knows already.
        then = await before(db, people, model.uuid, viewer, model)
        status, answer = await post(http, base, DONATE, viewer, {"sum": "4.99"})
        assert status == 400
        assert errors(answer) == ["sum: below minimum: this chat's minimum tip is 5.00"]
        await only_the_marker_followed(base, db, people, viewer, then)
        tip = await accepted(http, base, DONATE, viewer, {"sum": 5})
        assert [e["type"] for e in await applied(db, tip)][:1] == [ev.DONATE]
        assert await people.balance(viewer.uuid) == 45

        # 0 lifts the minimum.
        await accepted(http, base, SETTINGS, model, {"min_donation": 0})
        await page.until(lambda got: got[-1].get("min_donation") == "0.00", "no minimum")
        tip = await accepted(http, base, DONATE, viewer, {"sum": "0.5"})
        assert [e["type"] for e in await applied(db, tip)][:1] == [ev.DONATE]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"min_donation": -1}, "min_donation: must not be negative"),
        ({"min_donation": "1.234"}, "min_donation: has more than 2 decimal places"),
        ({"min_donation": "lots"}, "min_donation: must be a number or a numeric string"),
        ({"min_donation": 100000.01}, "min_donation: must be at most 100000.00"),
        ({}, "body: name at least one of min_donation, private_rate, spy_rate, pin_tiers,"
             " toy_levels"),
    ],
)
async def test_a_bad_minimum_is_refused_with_its_reason_and_changes_nothing(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession,
    body: dict[str, object], reason: str,
) -> None:
    model = await people.model()
    then = await before(db, people, model.uuid, model)
    status, answer = await post(http, service.url, SETTINGS, model, body)
    assert status == 400
    assert errors(answer) == [reason]
    await only_the_marker_followed(service.url, db, people, model, then)


async def test_only_the_model_changes_settings_or_moderates(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession
) -> None:
    model = await people.model()
    viewer = await people.client(model, "Troll")
    other = await people.client(model, "Victim")
    then = await before(db, people, model.uuid, model)
    for path, body in [
        (SETTINGS, {"min_donation": 1}),
        (MUTE, {"client": other.uuid, "seconds": 60}),
        (BAN, {"client": other.uuid}),
        (UNBAN, {"client": other.uuid}),
    ]:
        status, answer = await post(http, service.url, path, viewer, body)
        assert status == 403, (path, answer)
        assert answer == {"success": "false", "message": "forbidden",
                          "errors": ["only the model of the chat may do this"]}
    await only_the_marker_followed(service.url, db, people, model, then)


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        (MUTE, {"seconds": 0}, "seconds: from 1 to 86400"),
        (MUTE, {"seconds": 86_401}, "seconds: from 1 to 86400"),
        (MUTE, {"seconds": "60"}, "seconds: Input should be a valid integer"),
        (MUTE, {"seconds": True}, "seconds: Input should be a valid integer"),
        (MUTE, {"seconds": 1.5}, "seconds: Input should be a valid integer"),
        (MUTE, {"client": "{stranger}", "seconds": 60}, "client: {stranger} is not a client"),
        (MUTE, {"client": "{model}", "seconds": 60}, "client: the model cannot moderate itself"),
        (BAN, {"client": "{stranger}"}, "client: {stranger} is not a client"),
        (BAN, {"client": "{other}"}, "client: {other} is not a client"),
        (BAN, {"client": "not a uuid"}, "client: must be a uuid"),
        (UNBAN, {"client": "{stranger}"}, "client: {stranger} is not a client"),
        (UNBAN, {}, "client: not banned"),
    ],
)
async def test_bad_moderation_is_refused_with_its_reason_and_changes_nothing(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession,
    path: str, body: dict[str, object], reason: str,
) -> None:
    model = await people.model()
    viewer = await people.client(model)
    names = {
        "stranger": "6f1c2d4e-9a57-4b8e-8f0a-2c3e5d7b9a11",  # nobody's
        "model": model.uuid,
        "other": (await people.model("Other")).uuid,  # a model, not a client
        "viewer": viewer.uuid,
    }
    body = {"client": "{viewer}", **body}
    body = {key: value.format(**names) if isinstance(value, str) else value
            for key, value in body.items()}
    then = await before(db, people, model.uuid, model, viewer)
    status, answer = await post(http, service.url, path, model, body)
    assert status == 400, answer
    assert errors(answer) == [reason.format(**names)]
    await only_the_marker_followed(service.url, db, people, model, then)


async def test_a_muted_viewer_is_refused_speech_at_once_but_may_tip(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession
) -> None:
    model = await people.model()
    viewer = await people.client(model, money="20")
    base = service.url
    async with connected(http, base, viewer) as page:
        mute = await accepted(http, base, MUTE, model, {"client": viewer.uuid, "seconds": 600})
        await seen(page, ev.VIEWER_MUTED)
        muted = next(e for e in page.events if e["type"] == ev.VIEWER_MUTED)
        assert muted["client"] == {"uuid": viewer.uuid, "name": "Bob"}
        assert muted["seconds"] == 600 and muted["from"]["uuid"] == model.uuid
        assert [e["type"] for e in await applied(db, mute)] == [ev.VIEWER_MUTED]
        # Right after the frame (this process folded it first), with no round trip to anyone.
        then = await before(db, people, model.uuid, viewer, model)
        for path, body in [
            (MESSAGE, {"message": "let me speak"}),
            (DONATE, {"sum": 1, "message": "a tip with words"}),
            ("/chat/donat/add", {"sum": 1, "messgae": {"message": "words", "is_public": False}}),
        ]:
            status, answer = await post(http, base, path, viewer, body)
            assert (status, answer) == (403, MUTED), path
        await only_the_marker_followed(base, db, people, model, then)
        tip = await accepted(http, base, DONATE, viewer, {"sum": 2})  # a plain tip passes
        assert [e["type"] for e in await applied(db, tip)][:1] == [ev.DONATE]
        assert await people.balance(viewer.uuid) == 18

        # A new mute replaces the old one: one second, then the viewer speaks again.
        await accepted(http, base, MUTE, model, {"client": viewer.uuid, "seconds": 1})
        await page.until(lambda got: got[-1].get("seconds") == 1, "the short mute")

        async def speak() -> tuple[int, dict[str, object]]:
            return await post(http, base, MESSAGE, viewer, {"message": "back"})

        status, answer = await eventually(speak, until=lambda got: got[0] == 201, timeout=10,
                                          what="the mute expired")
        assert [e["type"] for e in await applied(db, str(answer["id"]))] == [ev.MESSAGE]


async def test_a_banned_viewer_is_refused_everything_then_unbanned(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession
) -> None:
    model = await people.model()
    viewer = await people.client(model, money="20")
    witness = await people.client(model, "Ann")
    base = service.url
    async with connected(http, base, witness) as watching, connected(http, base, viewer) as page:
        ban = await accepted(http, base, BAN, model, {"client": viewer.uuid})
        await seen(watching, ev.VIEWER_BANNED)
        # Every POST in the chat and the websocket, at once.
        then = await before(db, people, model.uuid, viewer, model)
        for path, body in [
            (MESSAGE, {"message": "hello?"}),
            (DONATE, {"sum": 1}),
            ("/chat/connection/add", {"connection_id": "6f1c2d4e-9a57-4b8e-8f0a-2c3e5d7b9a11"}),
            ("/chat/message/delete", {"id": "6f1c2d4e-9a57-4b8e-8f0a-2c3e5d7b9a11"}),
        ]:
            status, answer = await post(http, base, path, viewer, body)
            assert (status, answer) == (403, BANNED), path
        assert await handshake(http, base, viewer) == (403, BANNED)
        await only_the_marker_followed(base, db, people, model, then)
        # The banned viewer's open socket got the ban, then was closed with 4003.
        await eventually(lambda: _closed(page), what="the banned socket closed")
        assert page.ws.close_code == 4003
        assert page.events[-1]["type"] == ev.VIEWER_BANNED
        assert not watching.ws.closed
        assert [e["type"] for e in await applied(db, ban)] == [ev.VIEWER_BANNED]

        status, answer = await post(http, base, BAN, model, {"client": viewer.uuid})
        assert (status, errors(answer)) == (400, ["client: banned already"])

        await accepted(http, base, UNBAN, model, {"client": viewer.uuid})
        await seen(watching, ev.VIEWER_UNBANNED)
        sorry = await accepted(http, base, MESSAGE, viewer, {"message": "sorry"})
        assert [e["type"] for e in await applied(db, sorry)] == [ev.MESSAGE]
        assert await handshake(http, base, viewer) == (101, None)
        status, answer = await post(http, base, UNBAN, model, {"client": viewer.uuid})
        assert (status, errors(answer)) == (400, ["client: not banned"])


async def _closed(client: Client) -> bool:
    return client.ws.closed


async def test_a_ban_is_per_chat(
    service: Service, people: People, http: aiohttp.ClientSession
) -> None:
    """Banned in Mia's chat, the same person still talks in Zoe's (and keeps that socket)."""
    first, second = await people.model("Mia"), await people.model("Zoe")
    viewer = await people.client(first)
    # The same person, in the second chat.
    elsewhere = Someone(
        viewer.person, issue_token(people.settings, viewer.uuid, "client", second.uuid)
    )
    watcher = await people.client(first, "Ann")
    async with connected(http, service.url, elsewhere) as page, \
            connected(http, service.url, watcher) as watching:
        await accepted(http, service.url, BAN, first, {"client": viewer.uuid})
        await seen(watching, ev.VIEWER_BANNED)
        assert await post(http, service.url, MESSAGE, viewer, {"message": "hi"}) == (403, BANNED)
        await accepted(http, service.url, MESSAGE, elsewhere, {"message": "still here"})
        await page.until(lambda got: any(e.get("message") == "still here" for e in got), "mine")
        assert not page.ws.closed
