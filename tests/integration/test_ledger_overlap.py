"""A long batch's event and applied_commands rows leave in parts while the rest is decided
(`batch.OVERLAP_EVERY`, `QueuedWrites.overlap`): money must come out as if sent whole, whatever
part a redelivered command is in and whoever else writes the chat meanwhile."""

import asyncio
import uuid
from decimal import Decimal

import pymysql
import pytest

from chatledger.bus.topics import ensure_topics
from chatledger.domain.commands import Command, Donate, PostMessage
from chatledger.ledger.batch import OVERLAP_EVERY
from chatledger.ledger.store import LedgerStore
from chatledger.ledger.write_trips import QueuedWrites
from chatledger.platform.config import Settings
from chatledger.platform.db import database
from chatledger.platform.metrics import LEDGER_DEDUP_READ
from tests.helpers.people import People, Someone
from tests.helpers.roundtrips import counted, shape

LONG = 2 * OVERLAP_EVERY + 50  # two parts sent while deciding, the rest with the COMMIT




def _tip(model: Someone, viewer: Someone) -> Donate:
    return Donate(str(uuid.uuid4()), model.uuid, viewer.person.as_actor(), Decimal("1.00"))


async def _ledger_of(store: LedgerStore, model: Someone, viewer: Someone) -> dict[str, object]:
    """What the tables say of the chat: its events' seqs, the donor's balance and total."""
    db = store.database
    seqs = [row[0] for row in await db.fetch_all(
        "SELECT seq FROM chat_events WHERE stream = :s ORDER BY id", {"s": model.uuid})]
    return {
        "seqs": seqs,
        "version": await db.fetch_val("SELECT version FROM streams WHERE stream = :s",
                                      {"s": model.uuid}),
        "balance": await db.fetch_val("SELECT balance FROM accounts WHERE owner_uuid = :o",
                                      {"o": viewer.uuid}),
        "total": await db.fetch_val(
            "SELECT total FROM donor_totals WHERE model_uuid = :m AND client_uuid = :c",
            {"m": model.uuid, "c": viewer.uuid}),
    }


async def test_a_long_batch_sends_its_rows_in_parts_before_its_commit(
    store: LedgerStore, people: People,
) -> None:
    model, viewer = await people.chat(money="1000.00")
    commands: list[Command] = [
        _tip(model, viewer) if n % 4 == 0 else
        PostMessage(str(uuid.uuid4()), model.uuid, viewer.person.as_actor(), "hi", True)
        for n in range(LONG)]
    with counted() as sent:
        result = await store.apply_batch(commands)
    assert set(result.outcomes.values()) == {"applied"}
    trips = shape(sent)
    committed = next(at for at, trip in enumerate(sent) if trip.endswith(";COMMIT"))
    parts = [trip for trip in trips[:committed] if trip.startswith("INSERT INTO chat_events")]
    assert len(parts) == 2, "\n".join(trips)
    assert all("applied_commands" in sent[trips.index(part)] for part in parts)
    ledger = await _ledger_of(store, model, viewer)
    assert ledger["seqs"] == [event.seq for event in result.events]  # in order, each once
    assert ledger["seqs"] == list(range(1, len(result.events) + 1))
    assert ledger["version"] == len(result.events)
    tips = sum(isinstance(command, Donate) for command in commands)
    assert ledger["balance"] == Decimal("1000.00") - tips


@pytest.mark.parametrize("at", [5, OVERLAP_EVERY + 5, LONG - 5])
async def test_a_redelivered_command_in_any_part_of_a_long_batch_is_applied_once(
    store: LedgerStore, people: People, at: int,
) -> None:
    model, viewer = await people.chat(money="1000.00")
    again = _tip(model, viewer)
    assert (await store.apply_batch([again])).outcomes == {again.command_id: "applied"}
    commands = [_tip(model, viewer) for _ in range(LONG - 1)]
    commands.insert(at, again)
    reread = LEDGER_DEDUP_READ._value.get()
    result = await store.apply_batch(commands)
    assert LEDGER_DEDUP_READ._value.get() == reread + 1  # the first attempt rolled back
    assert result.outcomes.pop(again.command_id) == "duplicate"
    assert set(result.outcomes.values()) == {"applied"} and len(result.outcomes) == LONG - 1
    ledger = await _ledger_of(store, model, viewer)
    assert ledger["balance"] == Decimal("1000.00") - LONG  # the redelivered tip paid once
    assert ledger["total"] == LONG
    assert ledger["seqs"] == list(range(1, len(ledger["seqs"]) + 1))  # type: ignore[arg-type]
    assert ledger["version"] == len(ledger["seqs"])  # type: ignore[arg-type]


async def test_two_stores_deciding_long_batches_of_one_chat_at_once_move_money_once(
    migrated: Settings, people: People,
) -> None:
    await ensure_topics(migrated)
    model, viewer = await people.chat(money="1000.00")
    shared = [_tip(model, viewer) for _ in range(OVERLAP_EVERY)]
    batches = [[_tip(model, viewer) for _ in range(LONG - OVERLAP_EVERY)] + shared,
               shared + [_tip(model, viewer) for _ in range(LONG - OVERLAP_EVERY)]]
    stores = [LedgerStore(database(migrated.mysql_dsn, 1)) for _ in batches]
    for each in stores:
        await each.database.connect()
    try:
        results = await asyncio.gather(*(each.apply_batch(batch)
                                         for each, batch in zip(stores, batches, strict=True)))
        ledger = await _ledger_of(stores[0], model, viewer)
    finally:
        for each in stores:
            await each.database.disconnect()
    applied = [c for r in results for c, outcome in r.outcomes.items() if outcome == "applied"]
    assert sorted(applied) == sorted({c.command_id for batch in batches for c in batch})
    paid = 2 * LONG - OVERLAP_EVERY
    assert ledger["balance"] == Decimal("1000.00") - paid
    assert ledger["total"] == paid
    assert ledger["seqs"] == list(range(1, len(ledger["seqs"]) + 1))  # type: ignore[arg-type]


async def test_a_part_on_its_way_raises_its_error_later_and_a_failure_rolls_it_back(
    store: LedgerStore,
) -> None:
    async with store.database.connection() as connection, \
            connection.raw_connection.cursor() as cur:
        await cur.execute("CREATE TEMPORARY TABLE scratch (id INT PRIMARY KEY) ENGINE=InnoDB")
        await cur.execute("BEGIN")
        writes = QueuedWrites(cur)
        await writes.execute("INSERT INTO scratch (id) VALUES (%s), (%s)", [1, 1])
        await writes.overlap()  # returns before the server's answer
        await writes.execute("INSERT INTO scratch (id) VALUES (%s)", [2])
        with pytest.raises(pymysql.err.IntegrityError):
            await writes.flush()  # the part's error, before anything after it is sent
        await cur.execute("SELECT COUNT(*) FROM scratch")
        assert await cur.fetchall() == ((0,),)
        await writes.execute("INSERT INTO scratch (id) VALUES (%s)", [3])
        await writes.overlap()
        await writes.settle()  # a failure elsewhere: the part ends, the connection is free
        await cur.execute("ROLLBACK")
        await cur.execute("SELECT COUNT(*) FROM scratch")
        assert await cur.fetchall() == ((0,),)
