"""Scale-out: two processes of every role, started on one machine with ONE environment.

Layout: two `api,gateway` processes sharing the API port (SO_REUSEPORT), two ledgers in one
consumer group, two history projectors in one consumer group. Each process announces its own
ops listener in a Prometheus file_sd target file. The tests run in file order: the last ones
SIGKILL a ledger and a history process.
"""

import contextlib
import json
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from databases import Database
from redis.asyncio import Redis

from chatledger.platform import redis_keys
from chatledger.platform.config import Settings
from chatledger.platform.db import database, migrate
from tests.helpers.cluster import start_cluster
from tests.helpers.mariadb import private_mariadb
from tests.helpers.people import People, Someone
from tests.helpers.service import Service, free_port, stop
from tests.helpers.wait import eventually
from tests.helpers.ws import Client, connected
from tests.integration.test_faults import Load, audit, missing_from_ledger
from tests.integration.test_ops import scrape, value

LAYOUT = ["api,gateway", "api,gateway", "ledger", "ledger", "history", "history"]


@pytest.fixture(scope="module")
def cluster_env(migrated: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {
        "CHATLEDGER_PREFIX": f"{migrated.prefix}scale{uuid.uuid4().hex[:6]}.",
        "CHATLEDGER_HTTP_PORT": str(free_port()),
        "CHATLEDGER_METRICS_TARGETS_DIR": str(tmp_path_factory.mktemp("targets")),
        "CHATLEDGER_LEDGER_BATCH_SIZE": "20",  # many batches: a kill lands mid-storm
    }


@pytest.fixture(scope="module")
def cluster(migrated: Settings, cluster_env: dict[str, str]) -> Iterator[list[Service]]:
    with start_cluster(migrated, LAYOUT, cluster_env) as services:
        yield services


@pytest.fixture
def scaled(migrated: Settings, cluster_env: dict[str, str]) -> Settings:
    return Settings(prefix=cluster_env["CHATLEDGER_PREFIX"])


def targets(directory: str) -> list[dict[str, Any]]:
    return [entry for path in sorted(Path(directory).glob("*.json"))
            for entry in json.loads(path.read_text())]


async def ready(url: str) -> int:
    async with aiohttp.ClientSession(url) as http, http.get("/readyz") as response:
        return response.status


async def test_every_process_announces_its_own_scrape_target(
    cluster: list[Service], cluster_env: dict[str, str]
) -> None:
    found = targets(cluster_env["CHATLEDGER_METRICS_TARGETS_DIR"])
    pids = {int(entry["labels"]["pid"]) for entry in found}
    assert pids == {service.process.pid for service in cluster}
    addresses = [entry["targets"][0] for entry in found]
    assert len(set(addresses)) == len(LAYOUT)
    assert sorted(entry["labels"]["roles"] for entry in found) == sorted(LAYOUT)
    shared = cluster_env["CHATLEDGER_HTTP_PORT"]
    assert all(not address.endswith(f":{shared}") for address in addresses)
    for address in addresses:
        await eventually(lambda a=address: ready(f"http://{a}"), until=lambda s: s == 200,
                         what=f"{address} ready")
        async with aiohttp.ClientSession(f"http://{address}") as http:
            assert "chatledger_http_requests_total" in {name for name, _ in await scrape(http)}


async def history_requests(service: Service) -> float:
    async with aiohttp.ClientSession(service.ops_url) as http:
        return value(await scrape(http), "chatledger_http_requests_total",
                     method="GET", route="/chat/event/history", status="200")


async def test_two_api_processes_share_the_port(
    cluster: list[Service], people: People, scaled: Settings
) -> None:
    """New connections to the one API port are spread over both api processes by the kernel."""
    front = cluster[:2]
    model = await people.model()
    before = [await history_requests(service) for service in front]
    for _ in range(40):  # a new connection each time: SO_REUSEPORT spreads connections
        async with (aiohttp.ClientSession(front[0].url) as http,
                    http.get("/chat/event/history", headers=model.headers) as response):
            assert response.status == 200
    after = [await history_requests(service) for service in front]
    served = [a - b for a, b in zip(after, before, strict=True)]
    assert sum(served) == 40 and all(n > 0 for n in served), served


@contextlib.asynccontextmanager
async def watching(http: aiohttp.ClientSession, via: list[str], viewers: list[Someone]
                   ) -> AsyncIterator[list[Client]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(connected(http, url, viewer))
               for url, viewer in zip(via, viewers, strict=True)]


async def test_viewers_on_two_gateways_get_each_event_once_in_order(
    cluster: list[Service], people: People, db: Database
) -> None:
    """Three viewers on each gateway process (connected to that process's own listener); the
    model's messages go in through the shared port. Every viewer gets every event once, in
    seq order, whichever gateway it is on."""
    first, second = cluster[:2]
    model = await people.model()
    viewers = [await people.client(model, f"v{i}") for i in range(6)]
    via = [first.ops_url, second.ops_url] * 3
    async with aiohttp.ClientSession() as http, watching(http, via, viewers) as clients:
        for n in range(30):
            async with http.post(f"{first.url}/chat/message/add", headers=model.headers,
                                 json={"message": f"to all {n}", "is_public": True}) as answer:
                assert answer.status == 201
        rows = await eventually(
            lambda: db.fetch_all("SELECT seq FROM chat_events WHERE stream = :c ORDER BY seq",
                                 {"c": model.uuid}),
            until=lambda r: len(r) == 30, what="the 30 messages applied")
        want = [row[0] for row in rows]
        for client in clients:
            await client.until_seq(want[-1])
        assert all(client.seqs() == want for client in clients), [c.seqs() for c in clients]


async def ledger_commands(service: Service) -> float:
    async with aiohttp.ClientSession(service.ops_url) as http:
        return value(await scrape(http), "chatledger_ledger_commands_total")


async def chats_with_viewers(people: People, count: int) -> list[tuple[Someone, Someone]]:
    """(model, a viewer with money) for `count` new chats."""
    pairs = []
    for i in range(count):
        model = await people.model(f"M{i}")
        pairs.append((model, await people.client(model, f"fan{i}", money="1000")))
    return pairs


async def test_a_ledger_killed_mid_storm_loses_and_doubles_nothing(
    cluster: list[Service], people: People, db: Database, migrated: Settings,
    cluster_env: dict[str, str],
) -> None:
    """Two ledgers share the commands topic; one is SIGKILLed while both are applying a storm
    over 8 chats. The other takes its partitions over: every 201 is applied exactly once and
    the audit of the whole database is clean."""
    front, doomed, survivor = cluster[0], cluster[2], cluster[3]
    load = Load(front, [viewer for _, viewer in await chats_with_viewers(people, 8)])
    async with load.running():
        await load.grows(60)
        await eventually(lambda: ledger_commands(doomed), until=lambda n: n > 0,
                         what="the doomed ledger applying its share")
        await eventually(lambda: ledger_commands(survivor), until=lambda n: n > 0,
                         what="the other ledger applying its share")
        stop(doomed.process, signal.SIGKILL)
        await load.grows(60, timeout=60)
    assert set(load.answers) == {201}, load.answers
    lost = await eventually(lambda: missing_from_ledger(db, load.accepted),
                            until=lambda m: m == [], timeout=60, what="every 201 applied")
    assert lost == []
    marks = ", ".join(f":c{i}" for i in range(len(load.accepted)))
    doubled = await db.fetch_all(
        f"SELECT command_id, COUNT(*) FROM chat_events WHERE command_id IN ({marks})"
        " AND type IN ('message', 'donate', 'donate_rejected') GROUP BY command_id"
        " HAVING COUNT(*) <> 1", {f"c{i}": c for i, c in enumerate(load.accepted)})
    assert [tuple(row) for row in doubled] == []
    report = audit({"CHATLEDGER_PREFIX": cluster_env["CHATLEDGER_PREFIX"]})
    assert report.returncode == 0, report.stdout + report.stderr


async def mirrored(redis: Redis, key: str) -> int:
    return int(await redis.zcount(key, 1, "+inf"))


async def test_two_history_processes_share_the_events_and_cover_for_each_other(
    cluster: list[Service], people: People, db: Database, scaled: Settings
) -> None:
    """Events of 8 chats (over the partitions of both projectors) reach the Redis mirror; after
    one projector is SIGKILLed the other takes its partitions and new events still arrive."""
    front, killed = cluster[0], cluster[4]
    chats = await chats_with_viewers(people, 8)
    redis = Redis.from_url(scaled.redis_url)

    async def post_round(text: str) -> None:
        async with aiohttp.ClientSession(front.url) as http:
            for _, sender in chats:
                async with http.post("/chat/message/add", headers=sender.headers,
                                     json={"message": text, "is_public": True}) as answer:
                    assert answer.status == 201

    async def every_chat_has() -> list[int]:
        return [await mirrored(redis, redis_keys.history(scaled, model.uuid))
                for model, _ in chats]

    try:
        await post_round("first")
        await eventually(every_chat_has, until=lambda n: min(n) >= 1,
                         what="every chat in the mirror")
        stop(killed.process, signal.SIGKILL)
        await post_round("second")
        counts = await eventually(every_chat_has, until=lambda n: min(n) >= 2,
                                  timeout=60, what="every chat's second event in the mirror")
        assert counts == [2] * 8
    finally:
        await redis.aclose()


async def test_mysql_down_during_a_ledger_rebalance_loses_nothing(
    migrated: Settings, tmp_path: Path
) -> None:
    """A private MariaDB is SIGKILLed under load; while it is down one of two ledgers is
    SIGKILLed (its partitions, with batches that could not commit, move to the other). Once
    MySQL is back every 201 (messages keep flowing from the subject cache) is applied exactly
    once and the audit is clean."""
    with private_mariadb(tmp_path) as mysql:
        env = {"CHATLEDGER_MYSQL_DSN": mysql.dsn("chatledger_rebalance"),
               "CHATLEDGER_PREFIX": f"{migrated.prefix}rb{uuid.uuid4().hex[:6]}.",
               "CHATLEDGER_COMMAND_TIMEOUT_S": "3", "CHATLEDGER_SUBJECT_CACHE_TTL_S": "300",
               "CHATLEDGER_LEDGER_BATCH_SIZE": "20"}
        settings = Settings(mysql_dsn=env["CHATLEDGER_MYSQL_DSN"])
        await migrate(settings.mysql_dsn, recreate=True)
        db = database(settings.mysql_dsn, 2)
        await db.connect()
        try:
            # 12 chats: with 6, all of them fell on the first ledger's half of the partitions
            # about once in 64 runs (seen in CI), and the second ledger never got to work.
            pairs = await chats_with_viewers(People(db, settings), 12)
        finally:
            await db.disconnect()
        with start_cluster(migrated, ["api", "ledger", "ledger"], env) as (front, first, second):
            load = Load(front, [viewer for _, viewer in pairs])
            async with load.running():
                await load.grows(30)
                await eventually(lambda: ledger_commands(first), until=lambda n: n > 0,
                                 what="the first ledger at work")
                await eventually(lambda: ledger_commands(second), until=lambda n: n > 0,
                                 what="the second ledger at work")
                mysql.kill()
                during = len(load.accepted)
                await load.grows(20)  # accepted while MySQL is down
                stop(second.process, signal.SIGKILL)  # rebalance with MySQL away
                await load.grows(20)
                mysql.start()
                await load.grows(20, timeout=60)
            assert len(load.accepted) - during >= 40
            assert set(load.answers) <= {201, 503}, (load.answers, load.bodies)
            db = database(settings.mysql_dsn, 2)
            await db.connect()
            try:
                lost = await eventually(lambda: missing_from_ledger(db, load.accepted),
                                        until=lambda m: m == [], timeout=90,
                                        what="every 201 applied after the outage")
                assert lost == []
                doubled = await db.fetch_val(
                    "SELECT COUNT(*) FROM (SELECT command_id FROM chat_events WHERE type IN"
                    " ('message', 'donate', 'donate_rejected') GROUP BY command_id"
                    " HAVING COUNT(*) <> 1) AS d")
                assert doubled == 0
            finally:
                await db.disconnect()
        report = audit(env)
        assert report.returncode == 0, report.stdout + report.stderr
