"""A hundred shows billed together (DESIGN §10), minutes shortened to 1 s: every boundary decided
within 2 s of its due time, every show charged exactly the minutes begun, the audit clean.

Each client can pay five minutes, so each show ends at its fifth boundary (the sixth minute
cannot be held): five charges a show, all of them boundaries, each timed against its due time
(started_at + n minutes), read from the events' created_at (the ledger's decision time).
"""

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from databases import Database

from chatledger.domain.commands import Actor, ChangeSettings, RequestShow, ShowAction
from chatledger.domain.events import event_id_for
from chatledger.platform.config import Settings
from tests.helpers.cli import audit_ok
from tests.helpers.commands import produce
from tests.helpers.people import People, Someone
from tests.helpers.shows import Stack
from tests.helpers.wait import eventually

SHOWS = 100
RATE = Decimal("2")
MINUTES = 5  # what each client can pay
LATE_S = 2.0


@pytest.fixture(scope="module")
def stack(migrated: Settings) -> Iterator[Stack]:
    running = Stack(migrated)
    try:
        yield running
    finally:
        running.stop()


def actor(someone: Someone) -> Actor:
    return someone.person.as_actor()


def among(ids: list[str]) -> tuple[str, dict[str, str]]:
    """`IN (...)` and its values, for `databases`' named parameters."""
    names = {f"i{n}": value for n, value in enumerate(ids)}
    return "(" + ", ".join(f":{name}" for name in names) + ")", names


async def outcomes(db: Database, ids: list[str]) -> dict[str, str]:
    marks, values = among(ids)
    rows = await db.fetch_all("SELECT command_id, outcome FROM applied_commands"
                              f" WHERE command_id IN {marks}", values)
    return {row[0]: row[1] for row in rows}


async def all_applied(db: Database, ids: list[str], what: str) -> None:
    found = await eventually(lambda: outcomes(db, ids), until=lambda got: len(got) == len(ids),
                             what=what, timeout=90)
    assert set(found.values()) == {"applied"}, found


async def pairs(people: People) -> list[tuple[Someone, Someone]]:
    async def one(_: int) -> tuple[Someone, Someone]:
        model = await people.model()
        return model, await people.client(model, "Bob", money=str(RATE * MINUTES))

    made: list[tuple[Someone, Someone]] = []
    for start in range(0, SHOWS, 20):
        made += await asyncio.gather(*(one(n) for n in range(start, min(start + 20, SHOWS))))
    return made


async def test_a_hundred_shows_are_billed_on_time_and_exactly(
    stack: Stack, people: People, db: Database, migrated: Settings
) -> None:
    chats = await pairs(people)
    rates = [ChangeSettings(str(uuid.uuid4()), model.uuid, actor(model), None,
                            RATE, Decimal("1")) for model, _ in chats]
    asks = [RequestShow(str(uuid.uuid4()), model.uuid, actor(client), 1.0)
            for model, client in chats]
    for commands, what in ((rates, "rates set"), (asks, "shows requested")):
        await produce(migrated, commands)
        await all_applied(db, [c.command_id for c in commands], what)
    shows = [event_id_for(ask.command_id, 0) for ask in asks]
    accepts = [ShowAction(str(uuid.uuid4()), model.uuid, actor(model), "accept", show)
               for (model, _), show in zip(chats, shows, strict=True)]
    await produce(migrated, accepts)
    await all_applied(db, [c.command_id for c in accepts], "shows accepted")

    marks, values = among(shows)
    ended = await eventually(
        lambda: db.fetch_all("SELECT show_id, status, minutes, charged, started_at FROM shows"
                             f" WHERE show_id IN {marks}", values),
        until=lambda rows: len(rows) == SHOWS and all(row[1] == "ended" for row in rows),
        what="every show ended", timeout=90)
    assert {(int(row[2]), Decimal(row[3])) for row in ended} == {(MINUTES, RATE * MINUTES)}
    reasons = await db.fetch_all(
        "SELECT DISTINCT JSON_VALUE(payload, '$.reason') FROM chat_events"
        f" WHERE type = 'show_ended' AND JSON_VALUE(payload, '$.show') IN {marks}", values)
    assert [row[0] for row in reasons] == ["insufficient_funds"]

    captures = await db.fetch_all(
        "SELECT JSON_VALUE(payload, '$.show'), JSON_VALUE(payload, '$.hold_id'),"
        " JSON_VALUE(payload, '$.amount'), created_at FROM chat_events"
        f" WHERE type = 'hold_captured' AND JSON_VALUE(payload, '$.show') IN {marks}"
        " ORDER BY stream, seq", values)
    assert len({row[1] for row in captures}) == len(captures) == SHOWS * MINUTES
    assert {Decimal(row[2]) for row in captures} == {RATE}
    started = {row[0]: row[4] for row in ended}
    boundary: dict[str, int] = {}
    late = []
    for row in captures:
        show = row[0]
        boundary[show] = boundary.get(show, 0) + 1
        due = started[show] + timedelta(seconds=boundary[show])
        late.append((row[3] - due).total_seconds())
    assert min(late) >= 0, min(late)
    assert max(late) <= LATE_S, sorted(late)[-10:]
    for _, client in chats[:: SHOWS // 10]:
        assert await people.balance(client.uuid) == 0
    await audit_ok()
