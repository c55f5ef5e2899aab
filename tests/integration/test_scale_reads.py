"""Reads from a MariaDB replica (DESIGN §12), against the real replica of `tools/stack.sh
up-scale`: what reads it, what never may, and that a replica that falls behind or stops answering
never produces a wrong answer, a 5xx or a hang.

A replica is made "behind" by stopping its SQL thread (it still answers, with old data) and
"stopped" by SIGSTOP (it accepts connections and answers nothing).
"""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import aiohttp
import pytest
from databases import Database

from chatledger.ledger.accounts import balance_of
from chatledger.platform import redis_keys
from chatledger.platform.config import Settings
from chatledger.platform.db import database
from chatledger.platform.redis_client import redis_client
from chatledger.platform.replica import ReplicaReads
from tests.helpers.cli import cli
from tests.helpers.people import People, Someone
from tests.helpers.scale import replica_dsn, replica_stopped, up_scale
from tests.helpers.service import Service, start_service
from tests.helpers.wait import eventually


@pytest.fixture(scope="module")
def scale(migrated: Settings) -> Settings:
    up_scale()
    return migrated


@pytest.fixture
async def replica(scale: Settings) -> AsyncIterator[Database]:
    db = database(replica_dsn(scale), 2)
    await eventually(lambda: _connects(db), what="the session's database on the replica")
    yield db
    await db.execute("START SLAVE SQL_THREAD")  # whatever a test did, replication runs again
    await db.disconnect()


async def _connects(db: Database) -> bool:
    try:
        await db.connect()
        await db.fetch_val("SELECT COUNT(*) FROM chat_events")
    except Exception:
        return False
    return True


@pytest.fixture(scope="module")
def served(scale: Settings) -> Iterator[Service]:
    env = {"CHATLEDGER_MYSQL_READ_DSN": replica_dsn(scale)}
    with start_service(scale, extra_env=env) as running:
        yield running


async def selects_on(replica: Database) -> int:
    """How many SELECTs the replica has run (it serves nobody but these tests)."""
    row = await replica.fetch_one("SHOW GLOBAL STATUS LIKE 'Com_select'")
    assert row is not None
    return int(row[1])


async def test_a_read_dsn_that_does_not_answer_is_refused_at_start(scale: Settings) -> None:
    ran = await cli("serve", "--roles", "api",
                    env={"CHATLEDGER_MYSQL_READ_DSN": "mysql://root@127.0.0.1:1/nothing"})
    assert ran.code == 2
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1 and "CHATLEDGER_MYSQL_READ_DSN" in lines[0], ran.err


async def test_a_fresh_read_waits_for_the_replica_or_reads_the_primary(
    db: Database, replica: Database, people: People
) -> None:
    """The mechanism of GET /chat/me, alone: with the replica behind, a plain read sees the old
    balance there (so the replica really serves), a fresh one the new, within a second."""
    model = await people.model()
    viewer = await people.client(model, money="10.00")
    await eventually(lambda: balance_of(replica, viewer.uuid),
                     until=lambda b: b == Decimal("10.00"), what="the deposit on the replica")
    reads = ReplicaReads(db, replica)
    await replica.execute("STOP SLAVE SQL_THREAD")
    await people.deposit(viewer.uuid, "5.00")
    assert await reads.read(lambda on: balance_of(on, viewer.uuid)) == Decimal("10.00")
    started = time.monotonic()
    assert await reads.read(lambda on: balance_of(on, viewer.uuid), fresh=True) == Decimal("15.00")
    assert time.monotonic() - started < 1.0
    await replica.execute("START SLAVE SQL_THREAD")
    assert await reads.read(lambda on: balance_of(on, viewer.uuid), fresh=True) == Decimal("15.00")
    assert reads.serving  # being behind is not a failure: the replica was not cut off


async def test_leaderboards_and_audit_read_the_replica(
    served: Service, replica: Database, people: People, scale: Settings
) -> None:
    model = await people.model()
    viewer = await people.client(model, money="20.00")
    async with aiohttp.ClientSession(served.url) as http:
        await _tip(http, viewer, "3.00")
        before = await selects_on(replica)
        body = await eventually(lambda: _get(http, "/chat/leaderboard", viewer),
                                until=lambda b: b["entries"], what="the tip on the board")
        assert body["entries"][0]["total"] == "3.00"
        assert await selects_on(replica) > before
    before = await selects_on(replica)
    ran = await cli("audit", "--json", env={"CHATLEDGER_MYSQL_READ_DSN": replica_dsn(scale)})
    assert ran.code == 0, ran.err
    assert await selects_on(replica) > before + 3


async def test_me_sees_a_deposit_the_replica_has_not_applied(
    served: Service, replica: Database, people: People
) -> None:
    model = await people.model()
    viewer = await people.client(model, money="1.00")
    async with aiohttp.ClientSession(served.url) as http:
        await replica.execute("STOP SLAVE SQL_THREAD")
        await people.deposit(viewer.uuid, "2.50")
        assert (await _get(http, "/chat/me", viewer))["balance"] == "3.50"
        ready = await eventually(lambda: _readyz(http), what="the replica reported behind",
                                 until=lambda r: r["serving"] == "primary")
        assert "replication stopped" in ready["problem"]
        await replica.execute("START SLAVE SQL_THREAD")
        await eventually(lambda: _readyz(http), what="the replica serving again", timeout=15,
                         until=lambda r: r["serving"] == "replica")


async def test_a_stopped_replica_costs_at_most_a_second_then_nothing(
    served: Service, replica: Database, people: People, scale: Settings
) -> None:
    model = await people.model()
    viewer = await people.client(model, money="9.00")
    async with aiohttp.ClientSession(served.url) as http:
        await _tip(http, viewer, "4.00")
        await eventually(lambda: _get(http, "/chat/leaderboard", viewer),
                         until=lambda b: b["entries"], what="the tip on the board")
        redis = redis_client(scale)
        await redis.delete(redis_keys.history(scale, model.uuid))  # cold: history reads MySQL
        await redis.aclose()
        with replica_stopped():
            for path in ("/chat/me", "/chat/leaderboard?period=day", "/chat/event/history",
                         "/chat/me", "/chat/leaderboard?period=week"):
                started = time.monotonic()
                body = await _get(http, path, viewer)  # asserts a 200
                assert time.monotonic() - started < 1.8, path
                if path == "/chat/me":
                    assert body["balance"] == "5.00"
                elif path.startswith("/chat/leaderboard"):
                    assert body["entries"][0]["total"] == "4.00"
                else:
                    assert any(e["type"] == "donate" for e in body["events"])
            report = await _readyz(http)
            assert report["serving"] == "primary"


async def _tip(http: aiohttp.ClientSession, who: Someone, amount: str) -> None:
    async with http.post("/chat/donate/add", headers=who.headers, json={"sum": amount}) as answer:
        assert answer.status == 201, await answer.text()


async def _get(http: aiohttp.ClientSession, path: str, who: Someone) -> dict:  # type: ignore[type-arg]
    async with asyncio.timeout(5), http.get(path, headers=who.headers) as answer:
        assert answer.status == 200, (path, answer.status, await answer.text())
        return await answer.json()  # type: ignore[no-any-return]


async def _readyz(http: aiohttp.ClientSession) -> dict:  # type: ignore[type-arg]
    async with http.get("/readyz") as answer:
        return (await answer.json())["checks"]["mysql_replica"]  # type: ignore[no-any-return]
