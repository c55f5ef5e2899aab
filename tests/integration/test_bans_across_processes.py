"""Bans, mutes and minimum tips across processes: two gateways, an api-only process and a ledger,
each its own process with one environment.

- A ban closes the banned person's sockets on EVERY gateway (close code 4003; each gateway's own
  feed reads the `viewer_banned`), others stay; `/ws` answers 403 "banned" before the upgrade on
  both; the api-only process (no gateway, so a feed of its own) refuses the person's POSTs.
- A process started after the facts knows them from MySQL (its feed starts at the end of the
  topic, so only the seed can have told it): its very first answers are already right.
"""

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from databases import Database

from chatledger.domain import events as ev
from chatledger.platform.config import Settings
from tests.helpers.cluster import start_cluster
from tests.helpers.marker import before, only_the_marker_followed
from tests.helpers.moderation import BANNED, MUTED, accepted, applied, handshake, post
from tests.helpers.people import People, Someone
from tests.helpers.service import Service
from tests.helpers.wait import eventually
from tests.helpers.ws import Client, connected

LAYOUT = ["gateway", "gateway", "api", "ledger"]


@pytest.fixture(scope="module")
def env(migrated: Settings) -> dict[str, str]:
    return {"CHATLEDGER_PREFIX": f"{migrated.prefix}ban{uuid.uuid4().hex[:6]}."}


@pytest.fixture(scope="module")
def cluster(migrated: Settings, env: dict[str, str]) -> Iterator[list[Service]]:
    with start_cluster(migrated, LAYOUT, env) as services:
        yield services


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _closed(client: Client) -> bool:
    return client.ws.closed


async def test_a_ban_closes_the_persons_sockets_on_every_gateway(
    cluster: list[Service], people: People, db: Database, http: aiohttp.ClientSession
) -> None:
    first, second, api, _ = cluster
    model = await people.model()
    troll, fan = await people.client(model, "Troll"), await people.client(model, "Fan")
    async with contextlib.AsyncExitStack() as stack:
        async def join(gateway: Service, who: Someone) -> Client:
            return await stack.enter_async_context(connected(http, gateway.url, who))

        trolls = [await join(first, troll), await join(second, troll)]
        fans = [await join(first, fan), await join(second, fan)]
        ban = await accepted(http, api.url, "/chat/moderation/ban", model, {"client": troll.uuid})
        assert [e["type"] for e in await applied(db, ban)] == [ev.VIEWER_BANNED]
        for page in trolls:
            await eventually(lambda p=page: _closed(p), what="the troll's socket closed")
            assert page.ws.close_code == 4003
            assert page.events[-1]["type"] == ev.VIEWER_BANNED  # told why, then closed
        for page in fans:
            await page.until(lambda got: got[-1]["type"] == ev.VIEWER_BANNED, "the ban seen")
            assert not page.ws.closed
    for gateway in (first, second):
        assert await handshake(http, gateway.url, troll) == (403, BANNED)
        assert (await handshake(http, gateway.url, fan))[0] == 101

    # The api-only process follows the topic for its rules: within its feed's lag, refused.
    slipped: list[str] = []  # 201s before its feed got there: the ledger refuses those

    async def speak() -> tuple[int, dict[str, object]]:
        answer = await post(http, api.url, "/chat/message/add", troll, {"message": "let me in"})
        if answer[0] == 201:
            slipped.append(str(answer[1]["id"]))
        return answer

    assert await eventually(speak, until=lambda answer: answer[0] == 403,
                            what="the api process refusing") == (403, BANNED)
    for command in slipped:
        assert await applied(db, command) == []  # refused: banned


async def test_a_process_started_later_knows_the_rules_from_mysql(
    cluster: list[Service], migrated: Settings, env: dict[str, str], people: People,
    db: Database, http: aiohttp.ClientSession,
) -> None:
    _, _, api, _ = cluster
    model = await people.model()
    banned = await people.client(model, "Banned", money="10")
    muted = await people.client(model, "Muted", money="10")
    moderation = [
        ("/chat/moderation/ban", {"client": banned.uuid}),
        ("/chat/moderation/mute", {"client": muted.uuid, "seconds": 3600}),
        ("/chat/settings", {"min_donation": "3.50"}),
    ]
    for path, body in moderation:
        await applied(db, await accepted(http, api.url, path, model, body))

    with start_cluster(migrated, ["api", "gateway"], env) as (late_api, late_gateway):
        then = await before(db, people, model.uuid, banned, muted, model)
        # The first requests these processes ever answer.
        assert await handshake(http, late_gateway.url, banned) == (403, BANNED)
        assert await post(http, late_api.url, "/chat/donate/add", banned, {"sum": 5}) == (
            403, BANNED)
        assert await post(http, late_api.url, "/chat/message/add", muted,
                          {"message": "hi"}) == (403, MUTED)
        status, answer = await post(http, late_api.url, "/chat/donate/add", muted, {"sum": 3})
        assert (status, answer["errors"]) == (
            400, ["sum: below minimum: this chat's minimum tip is 3.50"])
        await only_the_marker_followed(late_api.url, db, people, model, then)
