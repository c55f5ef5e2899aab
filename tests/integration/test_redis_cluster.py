"""Redis Cluster (DESIGN §12), against the real cluster of `tools/stack.sh up-scale`: a service
given CHATLEDGER_REDIS_CLUSTER_NODES (and a CHATLEDGER_REDIS_URL where nothing listens, so any
use of it would show) keeps the history mirror, presence, rate limits and idempotent retries
working; a chat's keys share one slot; a master killed degrades, nothing answers 500.
The last test kills a master and brings it back (up-scale again): keep it last.
"""

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from redis.asyncio.cluster import RedisCluster

from chatledger.platform import redis_keys
from chatledger.platform.config import Settings
from chatledger.platform.redis_client import redis_client
from tests.helpers.cli import cli
from tests.helpers.people import People, Someone
from tests.helpers.scale import CLUSTER_NODES, node_pid, up_scale
from tests.helpers.service import Service, start_service
from tests.helpers.wait import eventually
from tests.helpers.ws import connected

NOWHERE = "redis://127.0.0.1:1/0"


@pytest.fixture(scope="module")
def clustered(migrated: Settings) -> Settings:
    up_scale()
    # Its own prefix, so its own topics and consumer groups: a ledger that an earlier module of
    # this worker SIGKILLed stays a member of the worker's group until its session times out,
    # holding partitions nobody reads meanwhile (seen: a minute without a batch).
    return migrated.model_copy(
        update={"redis_cluster_nodes": CLUSTER_NODES, "prefix": f"{migrated.prefix}cl."})


@pytest.fixture(scope="module")
def served(clustered: Settings) -> Iterator[Service]:
    env = {"CHATLEDGER_REDIS_CLUSTER_NODES": CLUSTER_NODES, "CHATLEDGER_REDIS_URL": NOWHERE,
           "CHATLEDGER_RATE_LIMIT_PER_S": "5", "CHATLEDGER_PREFIX": clustered.prefix}
    with start_service(clustered, extra_env=env) as running:
        yield running


@pytest.fixture
async def cluster(clustered: Settings) -> AsyncIterator[RedisCluster]:
    client = redis_client(clustered)
    assert isinstance(client, RedisCluster)
    yield client
    await client.aclose()


async def test_nodes_that_are_not_a_cluster_are_refused_at_start(migrated: Settings) -> None:
    ran = await cli("serve", "--roles", "api",
                    env={"CHATLEDGER_REDIS_CLUSTER_NODES": "127.0.0.1:6379"})
    assert ran.code == 2
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1 and "CHATLEDGER_REDIS_CLUSTER_NODES" in lines[0], ran.err


async def test_a_chats_keys_share_one_slot(clustered: Settings, cluster: RedisCluster) -> None:
    chat = str(uuid.uuid4())
    slots = {cluster.keyslot(redis_keys.history(clustered, chat)),
             cluster.keyslot(redis_keys.presence(clustered, chat))}
    assert len(slots) == 1


async def test_history_mirror_and_presence_live_on_the_cluster(
    served: Service, people: People, clustered: Settings, cluster: RedisCluster
) -> None:
    model = await people.model()
    viewer = await people.client(model)
    async with aiohttp.ClientSession(served.url) as http:
        for n in range(3):
            await _post(http, viewer, f"hello {n}", expect=201)
        key = redis_keys.history(clustered, model.uuid)
        await eventually(lambda: cluster.zcount(key, 1, "+inf"), until=lambda n: n >= 3,
                         what="the messages in the cluster's mirror")
        page = await _get(http, "/chat/event/history", viewer)
        assert [e["message"] for e in page["events"] if e["type"] == "message"][-3:] == [
            "hello 0", "hello 1", "hello 2"]
        async with connected(http, served.url, viewer):
            await eventually(lambda: _get(http, "/chat/presence", viewer),
                             until=lambda body: body["viewers"] == 1, what="one viewer")
            assert await cluster.exists(redis_keys.presence(clustered, model.uuid))
        ready = await _json(http, "/readyz")
        assert ready["checks"]["redis"]["ok"] is True  # asked the cluster, not the URL


async def test_rate_limits_and_idempotent_retries_on_the_cluster(
    served: Service, people: People
) -> None:
    model = await people.model()
    viewer = await people.client(model)
    async with aiohttp.ClientSession(served.url) as http:
        statuses = await asyncio.gather(*(_post(http, viewer, f"m{n}") for n in range(15)))
        assert 429 in statuses and 201 in statuses, statuses
        other = await people.client(model, name="Ann")
        key = {"Idempotency-Key": str(uuid.uuid4())}
        first = await _post_body(http, other, "once", key)
        again = await _post_body(http, other, "once", key)
        assert first == again and first["success"] == "ok"


async def test_a_killed_master_degrades_history_and_presence_and_nothing_500s(
    served: Service, people: People, clustered: Settings, cluster: RedisCluster
) -> None:
    model = await people.model()
    viewer = await people.client(model)
    async with aiohttp.ClientSession(served.url) as http:
        await _post(http, viewer, "before", expect=201)
        key = redis_keys.history(clustered, model.uuid)
        await eventually(lambda: cluster.zcount(key, 1, "+inf"), what="the mirror written")
        port = cluster.get_node_from_key(key).port
        os.kill(node_pid(port), signal.SIGKILL)
        try:
            page = await _get(http, "/chat/event/history", viewer)  # from MySQL
            assert [e["message"] for e in page["events"] if e["type"] == "message"] == ["before"]
            async with http.get("/chat/presence", headers=viewer.headers) as answer:
                assert answer.status in (200, 503), answer.status  # degraded, said so
            assert await _post(http, viewer, "during") == 201  # money and messages go on
            page = await eventually(lambda: _get(http, "/chat/event/history", viewer),
                                    until=lambda p: len(p["events"]) == 2, what="'during'")
            async with http.get("/chat/leaderboard", headers=viewer.headers) as answer:
                assert answer.status == 200
        finally:
            await asyncio.to_thread(up_scale)  # the node back, empty, owning its slots again
        page = await eventually(lambda: _get(http, "/chat/event/history", viewer),
                                until=lambda p: len(p["events"]) == 2, what="history after")

        async def refilled() -> int:
            # A read refills what the mirror lacks; one whose refill met the node not yet
            # reachable again leaves it for the next read, so each probe reads.
            await _get(http, "/chat/event/history", viewer)
            return int(await cluster.zcount(key, 1, "+inf"))

        await eventually(refilled, until=lambda n: n >= 1,
                         what="the mirror refilled on the node that came back")


async def _post(http: aiohttp.ClientSession, who: Someone, text: str, expect: int = 0) -> int:
    async with http.post("/chat/message/add", headers=who.headers,
                         json={"message": text, "is_public": True}) as answer:
        assert not expect or answer.status == expect, await answer.text()
        assert answer.status < 500, await answer.text()
        return answer.status


async def _post_body(http: aiohttp.ClientSession, who: Someone, text: str,
                     headers: dict[str, str]) -> Any:
    async with http.post("/chat/message/add", headers={**who.headers, **headers},
                         json={"message": text, "is_public": True}) as answer:
        assert answer.status == 201, await answer.text()
        return await answer.json()


async def _get(http: aiohttp.ClientSession, path: str, who: Someone) -> Any:
    async with asyncio.timeout(10), http.get(path, headers=who.headers) as answer:
        assert answer.status == 200, (path, answer.status, await answer.text())
        return await answer.json()


async def _json(http: aiohttp.ClientSession, path: str) -> Any:
    async with http.get(path) as answer:
        return await answer.json()
