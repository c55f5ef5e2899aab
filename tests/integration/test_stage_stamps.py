"""CHATLEDGER_TRACE_STAGES=1: a POST's event reaches the viewer carrying every stage it passed,
in order, on one clock; the 201 answers the produce acknowledgement. Off, no trace anywhere."""

import time
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from chatledger.platform.config import Settings
from chatledger.platform.stages import RESPONSE_HEADER
from tests.helpers.people import People
from tests.helpers.service import Service, start_service
from tests.helpers.ws import connected

CHAIN = ["api_received", "ledger_fetched", "ledger_decided", "ledger_committed",
         "ledger_published", "gateway_fetched", "gateway_dispatched"]


@pytest.fixture(scope="module")
def traced(migrated: Settings) -> Iterator[Service]:
    env = {"CHATLEDGER_PREFIX": f"{migrated.prefix}trace{uuid.uuid4().hex[:6]}.",
           "CHATLEDGER_TRACE_STAGES": "1"}
    with start_service(migrated, roles="api,gateway,ledger", extra_env=env) as service:
        yield service


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> str | None:
    async with http.post(f"{url}/chat/message/add", headers=headers,
                         json={"message": "traced", "is_public": True}) as reply:
        assert reply.status == 201, await reply.text()
        return reply.headers.get(RESPONSE_HEADER)


async def test_the_event_carries_every_stage_in_order(
    traced: Service, people: People, http: aiohttp.ClientSession
) -> None:
    model = await people.model()
    viewer = await people.client(model, "Watcher")
    async with connected(http, traced.url, viewer) as client:
        before = time.time()
        acked = await post(http, traced.url, viewer.headers)
        event = (await client.until_seq(1))[-1]
    stamps = event["_stages"]
    times = [stamps[stage] for stage in CHAIN]
    assert times == sorted(times) and before <= times[0] <= time.time()
    assert acked is not None and '"api_acked"' in acked


async def test_off_by_default(service: Service, people: People,
                              http: aiohttp.ClientSession) -> None:
    model = await people.model()
    viewer = await people.client(model, "Plain")
    async with connected(http, service.url, viewer) as client:
        assert await post(http, service.url, viewer.headers) is None
        event = (await client.until_seq(1))[-1]
    assert "_stages" not in event
