"""Faults with real processes: what survives MySQL, the broker or Redis going away under load.

Each scenario runs its own copies of what it breaks (a private mariadbd, a private Tansu, only
this session's Redis keys) and ends with `chatledger audit` on the database it wrote to.
"""

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from databases import Database

from chatledger.platform.config import Settings
from chatledger.platform.db import database, migrate
from tests.helpers.broker import private_broker, start_tansu
from tests.helpers.mariadb import private_mariadb
from tests.helpers.people import People, Someone
from tests.helpers.service import ROOT, Service, start_service
from tests.helpers.wait import at_once, eventually


@dataclass
class Load:
    """Posts commands back to back until stopped; remembers every answer."""

    service: Service
    senders: list[Someone]
    accepted: list[str] = field(default_factory=list)
    answers: Counter[int] = field(default_factory=Counter)
    bodies: dict[int, Any] = field(default_factory=dict)

    async def run(self, stop: asyncio.Event) -> None:
        timeout = aiohttp.ClientTimeout(total=20)
        async with aiohttp.ClientSession(self.service.url, timeout=timeout) as http:
            turn = 0
            while not stop.is_set():
                who = self.senders[turn % len(self.senders)]
                path, body = (("/chat/donat/add", {"sum": "0.01"}) if turn % 3 == 0 else
                              ("/chat/message/add", {"message": f"load {turn}",
                                                      "is_public": True}))
                turn += 1
                try:
                    async with http.post(path, json=body, headers=who.headers) as response:
                        text = await response.text()
                        answer = json.loads(text) if text.startswith("{") else text
                        self.answers[response.status] += 1
                        self.bodies.setdefault(response.status, answer)
                        if response.status == 201:
                            self.accepted.append(answer["id"])
                except (aiohttp.ClientError, TimeoutError):
                    self.answers[0] += 1
                await asyncio.sleep(0.01)  # a steady stream, not a benchmark

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["Load"]:
        stop = asyncio.Event()
        task = asyncio.create_task(self.run(stop))
        try:
            yield self
        finally:
            stop.set()
            await task

    async def grows(self, by: int, timeout: float = 30) -> None:
        start = len(self.accepted)
        await eventually(lambda: at_once(len(self.accepted)), until=lambda n: n >= start + by,
                         timeout=timeout, what=f"{by} more 201s; answers so far {self.answers}")


async def missing_from_ledger(db: Database, ids: list[str]) -> list[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join(f":c{i}" for i in range(len(chunk)))
        rows = await db.fetch_all(f"SELECT command_id FROM applied_commands WHERE command_id IN"
                                  f" ({marks})", {f"c{i}": c for i, c in enumerate(chunk)})
        found.update(row[0] for row in rows)
    return [c for c in ids if c not in found]


def audit(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatledger", "audit"], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("cache_ttl_s", ["0", "30"])
async def test_mysql_killed_under_load_loses_no_acknowledged_command(
    migrated: Settings, tmp_path: Path, cache_ttl_s: str
) -> None:
    """MariaDB SIGKILLed mid-load and restarted: every 201 is applied in the end, the API's
    answers meanwhile are 201 or a clean 503 (never a 500), and the audit passes.

    What the API answers during the outage depends on the subject cache: with none (TTL 0),
    authentication reads MySQL, so every POST is 503. With the default 30 s, people seen
    recently still post messages (201, applied once MySQL is back) and donations covered by a
    balance read in the last 5 s; a person first seen during the outage (the stranger, who
    starts sending after the kill) needs MySQL to be authenticated and gets 503."""
    with private_mariadb(tmp_path) as mysql:
        env = {"CHATLEDGER_MYSQL_DSN": mysql.dsn("chatledger_fault"),
               "CHATLEDGER_PREFIX": f"{migrated.prefix}my{uuid.uuid4().hex[:6]}.",
               "CHATLEDGER_COMMAND_TIMEOUT_S": "3",
               "CHATLEDGER_SUBJECT_CACHE_TTL_S": cache_ttl_s}
        settings = Settings(mysql_dsn=env["CHATLEDGER_MYSQL_DSN"],
                            prefix=env["CHATLEDGER_PREFIX"])
        await migrate(settings.mysql_dsn, recreate=True)
        db = database(settings.mysql_dsn, 2)
        await db.connect()
        try:
            people = People(db, settings)
            model = await people.model()
            viewers = [await people.client(model, f"v{i}", money="1000") for i in range(2)]
            stranger = await people.client(model, "stranger", money="1000")
        finally:
            await db.disconnect()
        with start_service(migrated, roles="api,ledger", extra_env=env) as service:
            load = Load(service, viewers)
            async with load.running():
                await load.grows(20)
                mysql.kill()
                load.senders.append(stranger)
                # the one request in flight at the kill may already be past authentication
                in_flight = sum(load.answers.values())
                await eventually(lambda: at_once(sum(load.answers.values())),
                                 until=lambda n, seen=in_flight: n > seen,
                                 what="the request in flight at the kill to finish")
                during = Counter(load.answers)
                await eventually(lambda: at_once(sum(load.answers.values())),
                                 until=lambda n: n >= sum(during.values()) + 30,
                                 what="answers while MySQL is down")
                outage = load.answers - during
                mysql.start()
                await load.grows(20, timeout=60)
            db = database(settings.mysql_dsn, 2)
            await db.connect()
            try:
                lost = await eventually(lambda: missing_from_ledger(db, load.accepted),
                                        until=lambda m: m == [], timeout=60,
                                        what="every 201 in applied_commands")
            finally:
                await db.disconnect()
            assert lost == []
        print(f"MySQL outage: answers during {dict(outage)}, overall {dict(load.answers)},"
              f" bodies {load.bodies}")
        assert set(load.answers) <= {201, 503}, (load.answers, load.bodies)
        assert outage[503] > 0, outage  # the outage was seen, and answered cleanly
        if cache_ttl_s == "0":
            assert outage[201] == 0, outage
        else:
            assert outage[201] > 0, outage  # messages of cached people keep flowing
        report = audit(env)
        assert report.returncode == 0, report.stdout + report.stderr


async def test_redis_flushed_under_load_history_stays_complete(
    service: Service, migrated: Settings, people: People, db: Database
) -> None:
    """Deleting every Redis key of this session (never FLUSHALL: the server is shared) mid-load
    loses nothing: history is MySQL's, the mirror is only a cache that refills."""
    from redis.asyncio import Redis

    model = await people.model()
    viewer = await people.client(model, money="100")
    redis = Redis.from_url(migrated.redis_url)
    pattern = migrated.redis_key("*")
    load = Load(service, [viewer, model])
    try:
        async with load.running():
            for _ in range(3):
                await load.grows(8)
                keys = [key async for key in redis.scan_iter(match=pattern, count=500)]
                assert all(key.decode().startswith(migrated.prefix) for key in keys)
                if keys:
                    await redis.delete(*keys)
        await eventually(lambda: missing_from_ledger(db, load.accepted),
                         until=lambda m: m == [], what="every 201 applied")
    finally:
        await redis.aclose()
    expected = await db.fetch_all(
        "SELECT seq FROM chat_events WHERE stream = :c ORDER BY seq DESC LIMIT 20",
        {"c": model.uuid})
    want = sorted(row[0] for row in expected)

    async def seqs() -> list[int]:
        async with (aiohttp.ClientSession(service.url) as http,
                    http.get("/chat/event/history", headers=viewer.headers) as response):
            return [event["seq"] for event in (await response.json())["events"]]

    assert len(want) == 20
    assert await eventually(seqs, until=lambda got: got == want,
                            what="history equal to MySQL's last 20") == want


async def test_broker_restarted_the_ledger_resumes_by_itself(
    migrated: Settings, people: People, db: Database, tmp_path: Path
) -> None:
    """A private Tansu (memory storage) killed and started again: the API answers 503 while it
    is away (test_unavailable.py times that) and both the API and the ledger recover without a
    restart of their own. What the broker held is gone with memory storage, so 'accepted before
    the restart survives it' needs a persistent broker (Kafka, or Tansu on S3/Postgres)."""
    model = await people.model()
    viewer = await people.client(model, money="10")
    body = {"message": "across a broker restart", "is_public": True}
    with private_broker(tmp_path) as (port, broker):
        env = {"CHATLEDGER_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
               "CHATLEDGER_COMMAND_TIMEOUT_S": "1.5",
               "CHATLEDGER_PREFIX": f"{migrated.prefix}br{uuid.uuid4().hex[:6]}."}
        with start_service(migrated, roles="api,ledger", extra_env=env) as service:
            async def send() -> tuple[int, Any]:
                async with (aiohttp.ClientSession(service.url) as http,
                            http.post("/chat/message/add", json=body,
                                      headers=viewer.headers) as response):
                    return response.status, await response.json()

            async def applied(command_id: str) -> Any:
                return await db.fetch_val("SELECT outcome FROM applied_commands"
                                          " WHERE command_id = :c", {"c": command_id})

            status, first = await send()
            assert status == 201
            await eventually(lambda: applied(first["id"]), timeout=60, what="applied before")
            broker.kill()
            broker.wait()
            assert (await send())[0] == 503
            revived = start_tansu(port, tmp_path / "tansu-again.log")
            try:
                status, after = await eventually(send, until=lambda r: r[0] == 201, timeout=60,
                                                 interval=0.5, what="201 after the restart")
                await eventually(lambda: applied(after["id"]), timeout=90, interval=0.1,
                                 what="the ledger applying a command sent after the restart")
            finally:
                revived.kill()
                revived.wait()
