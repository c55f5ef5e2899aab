"""Presence across two gateway processes: distinct viewers, the model not counted, ghosts of a
crashed gateway gone within the TTL, and at most one presence frame per room every 2 s."""

import contextlib
import itertools
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from chatledger.api.response_models import Presence, PresenceFrame
from chatledger.gateway.presence_ticker import TICK_S
from chatledger.platform.config import Settings
from chatledger.readmodels.presence_board import TTL_S
from tests.helpers.people import People
from tests.helpers.service import Service, start_service
from tests.helpers.wait import eventually
from tests.helpers.ws import Client, connected


@pytest.fixture(scope="module")
def two_gateways_and_an_api(migrated: Settings) -> Iterator[tuple[Service, Service, Service]]:
    env = {"CHATLEDGER_PREFIX": f"{migrated.prefix}pr{uuid.uuid4().hex[:6]}."}
    with (
        start_service(migrated, roles="gateway", extra_env=env) as first,
        start_service(migrated, roles="gateway", extra_env=env) as second,
        start_service(migrated, roles="api", extra_env=env) as api,
    ):
        yield first, second, api


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_presence_counts_distinct_viewers_across_gateways_and_forgets_a_crashed_one(
    two_gateways_and_an_api: tuple[Service, Service, Service],
    people: People,
    http: aiohttp.ClientSession,
) -> None:
    first, second, api = two_gateways_and_an_api
    model = await people.model()
    ann, bob, cat = [await people.client(model, name) for name in ("Ann", "Bob", "Cat")]
    started = time.monotonic()

    async def presence() -> int:
        async with http.get(f"{api.url}/chat/presence", headers=ann.headers) as response:
            body = await response.json()
            assert response.status == 200 and body["chat"] == model.uuid, body
            Presence.model_validate(body, strict=True)
            return int(body["viewers"])

    async with contextlib.AsyncExitStack() as stack:
        async def join(service: Service, who: object) -> Client:
            return await stack.enter_async_context(connected(http, service.url, who))  # type: ignore[arg-type]

        on_first = [await join(first, model), await join(first, ann), await join(first, bob)]
        on_second = [await join(second, ann), await join(second, cat)]  # Ann's second tab
        every = on_first + on_second
        # Ann, Bob and Cat: three people, four viewer sockets, the model not counted.
        assert await eventually(presence, until=lambda n: n == 3, what="3 viewers") == 3
        for client in every:
            await eventually(lambda c=client: _latest(c), until=lambda n: n == 3,
                             what="a presence frame saying 3")
            for text in client.texts:
                if '"type":"presence"' in text:
                    PresenceFrame.model_validate_json(text, strict=True)

        await on_first[2].ws.close()  # Bob leaves
        assert await eventually(presence, until=lambda n: n == 2, what="Bob gone") == 2

        second.process.send_signal(signal.SIGKILL)  # Cat and Ann's second tab become ghosts
        second.process.wait()
        gone = await eventually(presence, until=lambda n: n == 1, interval=0.1,
                                timeout=TTL_S + 3 * TICK_S + 10, what="the ghosts expired")
        assert gone == 1  # Ann is still on the first gateway
        await eventually(lambda: _latest(on_first[0]), until=lambda n: n == 1,
                         what="the model's page told")

        # A frame only when the count changed, at most one a tick, however the people came.
        frames = on_first[0].presence
        assert frames[-3:] == [3, 2, 1], frames
        assert all(a != b for a, b in itertools.pairwise(frames)), frames
        assert len(frames) <= (time.monotonic() - started) / TICK_S + 1, frames


async def _latest(client: Client) -> int | None:
    return client.presence[-1] if client.presence else None
