"""Shows (DESIGN §10) when things go wrong, minutes shortened to 1 s: the broker restarted
mid-show (Tansu loses every topic), a request nobody answers, a hold whose ledger died."""

import asyncio
import signal
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from databases import Database

from chatledger.bus.partitioner import partition_of
from chatledger.bus.topics import ensure_topics
from chatledger.domain import events as ev
from chatledger.domain.events import Event
from chatledger.domain.wire import iso
from chatledger.platform.config import Settings
from tests.helpers import chat_events
from tests.helpers.broker import private_broker, start_tansu
from tests.helpers.cli import audit_ok
from tests.helpers.cluster import start_cluster
from tests.helpers.people import People, Someone
from tests.helpers.service import Service, stop, wait_ready
from tests.helpers.wait import eventually
from tests.helpers.ws import connected
from tests.integration.test_refunds import applied, post

MINUTE = {"CHATLEDGER_SHOW_MINUTE_S": "1"}
PARTITIONS = 4
AWAY_S = 2.5


@pytest.fixture(autouse=True)
async def topics(migrated: Settings) -> None:
    """Deposits publish under the session's prefix, whose topics no process here creates."""
    await ensure_topics(migrated)


def private(migrated: Settings, what: str) -> dict[str, str]:
    """A prefix of its own: its topics and consumer groups, no other test's ledger in them."""
    return {**MINUTE, "CHATLEDGER_PREFIX": f"{migrated.prefix}{what}{uuid.uuid4().hex[:6]}."}


async def a_show(api: Service, people: People, db: Database, money: str) -> tuple[Someone, Someone]:
    model = await people.model()
    client = await people.client(model, "Bob", money=money)
    await applied(db, await post(api, model, "/chat/settings",
                                 {"private_rate": "2", "spy_rate": "1"}))
    return model, client


async def show_ended(db: Database, show: str, timeout: float = 60) -> Any:
    return await eventually(
        lambda: db.fetch_one(
            "SELECT s.status, s.minutes, s.charged, JSON_VALUE(e.payload, '$.reason'),"
            " e.created_at, s.requested_at FROM shows s JOIN chat_events e"
            " ON e.type = 'show_ended' AND JSON_VALUE(e.payload, '$.show') = s.show_id"
            " WHERE s.show_id = :s", {"s": show}),
        until=lambda row: row is not None, what=f"show {show} ended", timeout=timeout)


async def test_a_broker_restarted_mid_show_charges_every_minute_once(
    migrated: Settings, people: People, db: Database, tmp_path: Path
) -> None:
    minutes = 8  # what the client can pay: the show ends at its 8th boundary
    with private_broker(tmp_path) as (port, broker):
        env = {**private(migrated, "showbroker"),
               "CHATLEDGER_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
               "CHATLEDGER_KAFKA_PARTITIONS": "3", "CHATLEDGER_KAFKA_HEAL_INTERVAL_S": "0.3"}
        with start_cluster(migrated, ["api,gateway,history", "ledger"], env) as (api, _):
            model, client = await a_show(api, people, db, str(2 * minutes))
            async with aiohttp.ClientSession() as http, connected(http, api.url, client):
                asked = await post(api, client, "/chat/show/request", {})
                await applied(db, asked)
                show = ev.event_id_for(asked, 0)
                await applied(db, await post(api, model, "/chat/show/accept", {"show": show}))
                await eventually(
                    lambda: db.fetch_val("SELECT minutes FROM shows WHERE show_id = :s",
                                         {"s": show}),
                    until=lambda n: n is not None and n >= 3, what="three minutes begun")
                broker.kill()
                broker.wait()
                # Not a wait for anything: the broker stays away across two boundaries (the
                # clock's sends fail meanwhile), which is the scenario.
                await asyncio.sleep(AWAY_S)
                revived = start_tansu(port, tmp_path / "tansu-revived.log")
                try:
                    ended = await show_ended(db, show, timeout=90)
                finally:
                    revived.kill()
                    revived.wait()
    assert (ended[0], ended[3]) == ("ended", "insufficient_funds")
    assert (int(ended[1]), Decimal(ended[2])) == (minutes, Decimal(2 * minutes))
    captures = await db.fetch_all(
        "SELECT JSON_VALUE(payload, '$.hold_id'), JSON_VALUE(payload, '$.amount')"
        " FROM chat_events WHERE type = 'hold_captured' AND stream = :m", {"m": model.uuid})
    assert len({row[0] for row in captures}) == len(captures) == minutes
    assert {Decimal(row[1]) for row in captures} == {Decimal("2")}
    assert await people.balance(client.uuid) == 0
    assert await db.fetch_val("SELECT COUNT(*) FROM holds WHERE client_uuid = :c"
                              " AND status = 'open'", {"c": client.uuid}) == 0
    await audit_ok()


async def test_an_unanswered_request_is_declined_and_its_hold_voided(
    migrated: Settings, people: People, db: Database
) -> None:
    env = {**private(migrated, "showtimeout"), "CHATLEDGER_SHOW_REQUEST_TIMEOUT_S": "2"}
    with start_cluster(migrated, ["api,gateway,history", "ledger"], env) as (api, _):
        _, client = await a_show(api, people, db, "3")
        asked = await post(api, client, "/chat/show/request", {})
        await applied(db, asked)
        ended = await show_ended(db, ev.event_id_for(asked, 0), timeout=30)
    assert (ended[0], int(ended[1]), Decimal(ended[2]), ended[3]) == (
        "ended", 0, Decimal(0), "declined")
    waited = (ended[4] - ended[5]).total_seconds()
    assert 2 <= waited <= 5, waited
    assert await db.fetch_val("SELECT status FROM holds WHERE client_uuid = :c",
                              {"c": client.uuid}) == "voided"
    assert await people.balance(client.uuid) == Decimal("3")
    await audit_ok()


async def stage_hold(db: Database, model: Someone, client: Someone,
                     expires_at: datetime) -> str:
    """A hold as a ledger commits it (its event and its row) just before that ledger dies."""
    hold_id = str(uuid.uuid4())
    version = await db.fetch_val("SELECT version FROM streams WHERE stream = :m",
                                 {"m": model.uuid}) or 0
    placed = Event(
        event_id=str(uuid.uuid4()), command_id=str(uuid.uuid4()), stream=model.uuid,
        seq=int(version) + 1, type=ev.HOLD_PLACED, actor=client.person.as_actor(),
        is_public=False, amount=None, created_at=datetime.now(UTC),
        payload={"hold_id": hold_id, "client": client.uuid, "amount": "2.00",
                 "expires_at": iso(expires_at), "purpose": "show"},
    )
    await chat_events.insert(db, [placed])
    await db.execute(
        "INSERT INTO holds (hold_id, model_uuid, client_uuid, client_name, amount, expires_at,"
        " purpose, status) VALUES (:h, :m, :c, :n, 2.00, :e, 'show', 'open')",
        {"h": hold_id, "m": model.uuid, "c": client.uuid, "n": client.person.name,
         "e": expires_at.replace(tzinfo=None)})
    return hold_id


async def one_chat_per_partition(people: People, partitions: int) -> list[Someone]:
    """Models whose chats fall on every partition of the commands topic, one each."""
    found: dict[int, Someone] = {}
    while len(found) < partitions:
        model = await people.model()
        found.setdefault(partition_of(model.uuid, partitions), model)
    return [found[part] for part in sorted(found)]


async def test_a_hold_whose_ledger_died_expires_on_time_on_another(
    migrated: Settings, people: People, db: Database
) -> None:
    """Two ledgers; one is SIGKILLed right after committing a hold in a chat of every
    partition: the other takes its partitions over and expires every hold within 5 s of its
    time (the dead one's chats included, whichever partitions it had)."""
    models = await one_chat_per_partition(people, PARTITIONS)
    chats = [(model, await people.client(model, "Bob", money="5")) for model in models]
    env = {**private(migrated, "showhold"), "CHATLEDGER_KAFKA_PARTITIONS": str(PARTITIONS)}
    with start_cluster(migrated, ["ledger", "ledger"], env) as ledgers:
        for ledger in ledgers:
            wait_ready(ledger)
        expires_at = (datetime.now(UTC) + timedelta(seconds=12)).replace(microsecond=0)
        holds = [await stage_hold(db, model, client, expires_at) for model, client in chats]
        stop(ledgers[0].process, signal.SIGKILL)
        rows = await eventually(
            lambda: db.fetch_all(
                "SELECT h.status, e.created_at FROM holds h LEFT JOIN chat_events e"
                " ON e.event_id = h.resolved_by WHERE h.hold_id IN"
                f" ({', '.join(repr(hold) for hold in holds)})"),
            until=lambda rows: all(row[0] == "expired" for row in rows),
            what="every hold expired", timeout=60)
    late = [(row[1] - expires_at.replace(tzinfo=None)).total_seconds() for row in rows]
    assert len(late) == len(holds) and min(late) >= 0 and max(late) <= 5, late
    for _, client in chats:
        assert await people.balance(client.uuid) == Decimal("5")
    await audit_ok()
