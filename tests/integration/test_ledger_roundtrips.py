"""How many round trips to MySQL one ledger batch costs, counted on the real MariaDB.

The ledger's loop is serial: every round trip of a batch is time the commands fetched meanwhile
wait (docs/performance.md). A batch's count depends on what its commands can need, not on how
many there are, so these bounds hold for 1 and for 10 commands alike.
"""

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pymysql
import pytest

from chatledger.domain.commands import (
    BanViewer,
    ChangeSettings,
    Command,
    Donate,
    PostMessage,
    RequestShow,
    ShowAction,
)
from chatledger.domain.events import event_id_for
from chatledger.ledger.clock import tick_of
from chatledger.ledger.read_trips import ReadTrip
from chatledger.ledger.store import LedgerStore
from chatledger.ledger.write_trips import QueuedWrites
from chatledger.platform.metrics import LEDGER_DEDUP_READ, LEDGER_PRESUMED_WRONG
from tests.helpers.people import People, Someone
from tests.helpers.roundtrips import counted, shape


@contextlib.asynccontextmanager
async def _scratch(store: LedgerStore, columns: str) -> AsyncIterator[Any]:
    """A raw cursor of the store's pool, with a temporary table `scratch (columns)`."""
    async with store.database.connection() as connection, \
            connection.raw_connection.cursor() as cur:
        await cur.execute(f"CREATE TEMPORARY TABLE scratch ({columns})")
        yield cur


async def _cast(people: People, store: LedgerStore) -> tuple[Someone, Someone]:
    """A chat with a sponsor (as busy chats have): the batch's reads find rows."""
    model, viewer = await people.chat(money="100.00")
    result = await store.apply_batch([_tip(model, viewer)])
    assert set(result.outcomes.values()) == {"applied"}
    return model, viewer


def _message(model: Someone, viewer: Someone) -> PostMessage:
    return PostMessage(str(uuid.uuid4()), model.uuid, viewer.person.as_actor(), "hi", True)


def _tip(model: Someone, viewer: Someone) -> Donate:
    return Donate(str(uuid.uuid4()), model.uuid, viewer.person.as_actor(), Decimal("1.00"))


async def _round_trips(store: LedgerStore, commands: list[Command]) -> list[str]:
    with counted() as sent:
        result = await store.apply_batch(commands)
    assert set(result.outcomes.values()) == {"applied"}, result.outcomes
    return shape(sent)


@pytest.mark.parametrize("size", [1, 10])
async def test_a_batch_of_messages_costs_a_bounded_number_of_round_trips(
    people: People, store: LedgerStore, size: int
) -> None:
    model, viewer = await _cast(people, store)
    sent = await _round_trips(store, [_message(model, viewer) for _ in range(size)])
    assert len(sent) <= MESSAGES, "\n".join(sent)


@pytest.mark.parametrize("size", [1, 10])
async def test_a_batch_of_tips_costs_a_bounded_number_of_round_trips(
    people: People, store: LedgerStore, size: int
) -> None:
    model, viewer = await _cast(people, store)
    sent = await _round_trips(store, [_tip(model, viewer) for _ in range(size)])
    assert len(sent) <= TIPS, "\n".join(sent)


async def test_a_mixed_batch_costs_a_bounded_number_of_round_trips(
    people: People, store: LedgerStore
) -> None:
    model, viewer = await _cast(people, store)
    commands: list[Command] = [
        command for _ in range(5) for command in (_message(model, viewer), _tip(model, viewer))
    ]
    sent = await _round_trips(store, commands)
    assert len(sent) <= MIXED, "\n".join(sent)


async def test_people_read_once_are_not_read_again(people: People, store: LedgerStore) -> None:
    """Their rows never change (known_people.py): a later batch of theirs does not read them,
    and its events still carry their names."""
    model, viewer = await _cast(people, store)
    newcomer = await people.client(model, "Ann")
    commands: list[Command] = [_tip(model, viewer), _message(model, newcomer)]
    with counted() as sent:
        result = await store.apply_batch(commands)
    reads = [statement for trip in sent for statement in trip.split(";")
             if "FROM users" in statement]
    assert len(reads) == 1 and newcomer.uuid in reads[0] and viewer.uuid not in reads[0], reads
    assert {event.actor.name for event in result.events if event.actor} \
        >= {viewer.person.name, newcomer.person.name}


async def test_only_the_holds_of_those_who_may_spend_are_read(
    people: People, store: LedgerStore
) -> None:
    """A tip reads its donor's open holds (held money is not spendable); a message's author
    spends nothing, so the batch does not read theirs."""
    model, viewer = await _cast(people, store)
    author = await people.client(model, "Ann")
    with counted() as sent:
        await store.apply_batch([_tip(model, viewer), _message(model, author)])
    reads = [statement for trip in sent for statement in trip.split(";")
             if "FROM holds WHERE client_uuid" in statement]
    assert len(reads) == 1 and viewer.uuid in reads[0] and author.uuid not in reads[0], reads


async def test_a_steady_batch_is_two_round_trips_its_reads_sent_with_its_locks(
    people: People, store: LedgerStore
) -> None:
    """Messages and tips in a chat whose show state the store remembers: one trip opens the
    transaction, locks the streams, then the accounts, and reads; one writes and commits."""
    model, viewer = await _cast(people, store)
    await _round_trips(store, [_message(model, viewer)])  # the store learns the chat's shows
    sent = await _round_trips(store, [_message(model, viewer), _tip(model, viewer),
                                      _message(model, viewer)])
    assert len(sent) == 2, "\n".join(sent)
    first = " ".join(sent[0].split())
    assert first.startswith("SET SESSION TRANSACTION") or "BEGIN" in first, first
    with counted() as trips:
        await store.apply_batch([_tip(model, viewer)])
    locks = trips[0].split(";")
    streams = next(n for n, sql in enumerate(locks) if "FROM streams" in sql)
    accounts = next(n for n, sql in enumerate(locks) if "FROM accounts" in sql)
    assert "FOR UPDATE" in locks[streams] and "FOR UPDATE" in locks[accounts]
    assert streams < accounts, "streams are locked before accounts, as every batch does"


async def test_a_chat_changed_by_another_process_is_read_again_not_presumed(
    people: People, store: LedgerStore
) -> None:
    """The store remembers a chat without shows; another ledger (a rebalance) then sets its
    show rates. A show requested next must see those rates: the batch that presumed the
    remembered state is rolled back and run again, reading it."""
    model, viewer = await _cast(people, store)
    await _round_trips(store, [_message(model, viewer)])  # remembered: no rates, no show
    other = LedgerStore(store.database)
    rates = ChangeSettings(str(uuid.uuid4()), model.uuid, model.person.as_actor(), None,
                           private_rate=Decimal("2.00"), spy_rate=Decimal("1.00"))
    assert (await other.apply_batch([rates])).outcomes == {rates.command_id: "applied"}
    before = LEDGER_PRESUMED_WRONG._value.get()
    request = RequestShow(str(uuid.uuid4()), model.uuid, viewer.person.as_actor(), 60.0)
    result = await store.apply_batch([request, _message(model, viewer)])
    assert result.outcomes[request.command_id] == "applied", result.outcomes
    assert LEDGER_PRESUMED_WRONG._value.get() == before + 1
    again = await _round_trips(store, [_message(model, viewer)])  # remembered anew
    assert len(again) == 2, "\n".join(again)


async def test_a_show_boundary_reads_no_goals_sponsors_rules_or_extras(
    people: People, store: LedgerStore
) -> None:
    """A minute's boundary moves a hold's money and places the next: it reads the show, the
    holds and the accounts, and none of the chat state a tip or a message needs (a thousand
    shows' boundaries a second read it all for nothing)."""
    model, viewer = await _cast(people, store)
    host = model.person.as_actor()
    rates = ChangeSettings(str(uuid.uuid4()), model.uuid, host, None,
                           private_rate=Decimal("2.00"), spy_rate=Decimal("1.00"))
    request = RequestShow(str(uuid.uuid4()), model.uuid, viewer.person.as_actor(), 60.0)
    await store.apply_batch([rates, request])
    show = event_id_for(request.command_id, 0)  # its show_requested names it
    started = (await store.apply_batch([ShowAction(str(uuid.uuid4()), model.uuid, host,
                                                   "accept", show)])).events[0].created_at
    boundary = tick_of(model.uuid, f"show:{show}:minute:1", started + timedelta(seconds=60))
    with counted() as sent:
        result = await store.apply_batch([boundary])
    assert [event.type for event in result.events] == ["hold_captured", "hold_placed"]
    read = " ".join(sent)
    for table in ("goals", "current_sponsors", "chat_settings", "chat_extras", "pins",
                  "toy_turns", "chat_menus", "donor_totals"):
        assert f"FROM {table} " not in read, table


async def test_a_batch_reads_no_applied_commands_until_one_of_them_was_applied(
    people: People, store: LedgerStore
) -> None:
    """The first attempt counts on applied_commands' primary key, not on reading it: a command
    applied before fails that attempt (nothing of it committed) and the batch is run again,
    reading, so the command is a duplicate with its first events and the rest are applied."""
    model, viewer = await _cast(people, store)
    first = _tip(model, viewer)
    with counted() as sent:
        applied = await store.apply_batch([first])
    assert not [trip for trip in sent if "FROM applied_commands" in trip], "\n".join(sent)
    before = LEDGER_DEDUP_READ._value.get()
    fresh = _message(model, viewer)
    again = await store.apply_batch([fresh, first])
    assert again.outcomes == {fresh.command_id: "applied", first.command_id: "duplicate"}
    assert LEDGER_DEDUP_READ._value.get() == before + 1
    assert [e.event_id for e in again.events if e.command_id == first.command_id] \
        == [e.event_id for e in applied.events]
    assert await people.balance(viewer.uuid) == Decimal("98.00")  # two tips, not three
    async with store.database.connection() as connection, \
            connection.raw_connection.cursor() as cur:
        await cur.execute("SELECT COUNT(*) FROM chat_events WHERE command_id = %s",
                          [fresh.command_id])
        assert await cur.fetchall() == ((1,),)


async def test_a_chats_rules_are_read_whole_once_then_recalled_unless_moved_elsewhere(
    people: People, store: LedgerStore
) -> None:
    """The store reads a chat's rules whole once, then recalls them at the version it left the
    stream at. Another ledger (a rebalance) then bans the viewer: the store's next batch, which
    presumed the remembered rules, is run again reading them, and the viewer's tip refused."""
    model, viewer = await _cast(people, store)
    await _round_trips(store, [_message(model, viewer)])  # its shows and rules remembered
    with counted() as sent:
        await store.apply_batch([_message(model, viewer), _tip(model, viewer)])
    assert not [trip for trip in sent if "FROM chat_bans" in trip], "\n".join(sent)
    other = LedgerStore(store.database)
    ban = BanViewer(str(uuid.uuid4()), model.uuid, model.person.as_actor(), viewer.uuid)
    assert (await other.apply_batch([ban])).outcomes == {ban.command_id: "applied"}
    before = LEDGER_PRESUMED_WRONG._value.get()
    tip = _tip(model, viewer)  # a tip alone: no show state presumed, only the rules
    result = await store.apply_batch([tip])
    assert [(e.type, e.payload.get("reason")) for e in result.events] \
        == [("donate_rejected", "banned")]
    assert LEDGER_PRESUMED_WRONG._value.get() == before + 1


MESSAGES = 6
TIPS = 2
MIXED = 6  # a message's show reads and a tip's extras read


async def test_queued_writes_split_where_one_round_trip_would_be_too_long(
    store: LedgerStore,
) -> None:
    async with _scratch(store, "id INT PRIMARY KEY, note TEXT") as cur:
        writes = QueuedWrites(cur)
        writes.limit = 300  # a few rows of 60 characters per statement and per round trip
        await writes.executemany("INSERT INTO scratch (id, note) VALUES (%s, %s)",
                                 [(n, "x" * 60) for n in range(20)])
        await writes.execute("UPDATE scratch SET note = %s WHERE id = %s", ["last", 19])
        with counted() as sent:
            await writes.flush()
        await cur.execute("SELECT note, COUNT(*), MAX(id) FROM scratch GROUP BY note"
                          " ORDER BY note")
        assert await cur.fetchall() == (("last", 1, 19), ("x" * 60, 19, 18))
        assert 5 <= len(sent) <= 11 and all(len(trip) <= 300 for trip in sent), sent


async def test_queued_writes_raise_the_error_of_a_later_statement(store: LedgerStore) -> None:
    async with _scratch(store, "id INT PRIMARY KEY") as cur:
        writes = QueuedWrites(cur)
        await writes.execute("INSERT INTO scratch (id) VALUES (%s)", [1])
        await writes.execute("INSERT INTO scratch (id) VALUES (%s)", [1])
        await writes.execute("INSERT INTO scratch (id) VALUES (%s)", [2])
        with pytest.raises(pymysql.err.IntegrityError):
            await writes.flush()
        await cur.execute("SELECT id FROM scratch")
        assert await cur.fetchall() == ((1,),)  # the server stopped at the error


async def test_reads_of_one_trip_are_folded_in_order_and_raise_a_later_error(
    store: LedgerStore,
) -> None:
    async with _scratch(store, "id INT PRIMARY KEY, note TEXT") as cur:
        await cur.execute("INSERT INTO scratch VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        folded: list[tuple[str, list[tuple[object, ...]]]] = []
        trip = ReadTrip()
        with counted() as sent:
            await trip.send(cur)  # nothing added: no round trip
        assert sent == []
        trip.add("SELECT note FROM scratch WHERE id IN (%s, %s) ORDER BY id", [1, 3],
                 lambda rows: folded.append(("first", list(rows))))
        trip.add("SELECT id FROM scratch WHERE note = %s", ["it's"],
                 lambda rows: folded.append(("empty", list(rows))))
        trip.add("SELECT COUNT(*) FROM scratch WHERE id > %s", [1],
                 lambda rows: folded.append(("last", list(rows))))
        with counted() as sent:
            await trip.send(cur)
        assert len(sent) == 1
        assert folded == [("first", [("a",), ("c",)]), ("empty", []), ("last", [(2,)])]
        trip.add("SELECT id FROM scratch", [], lambda rows: folded.append(("not", [])))
        trip.add("SELECT nothing FROM scratch", [], lambda rows: folded.append(("not", [])))
        with pytest.raises(pymysql.err.OperationalError):
            await trip.send(cur)
        assert folded[-1][0] == "last"  # no fold runs unless the whole trip came back
        await cur.execute("SELECT 1")  # the connection is usable again
        assert await cur.fetchall() == ((1,),)


TEXTS = ["plain", "it's", 'say "hi"', "back\\slash", "nul\x00byte", "new\nline\r\x1a",
         "ünï © 😀", ""]
OTHERS = [0, -7, 2**62, True, False, None, Decimal("0.10"), Decimal("-12345678901234567.89"),
          Decimal("1E+2"), Decimal("0.0000001"), Decimal("-0.00"), Decimal("1.50E-3"),
          datetime(2026, 1, 2, 3, 4, 5), datetime(2026, 1, 2, 3, 4, 5, 6),
          datetime(2026, 1, 2, 3, 4, 5, 6), datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
          date(2026, 1, 2)]


async def test_queued_writes_spell_values_as_the_driver_does(store: LedgerStore) -> None:
    """Every value spelt exactly as the driver's own `mogrify` spells it; texts read back as
    they were written."""
    async with _scratch(store, "id INT PRIMARY KEY, v BLOB") as cur:
        writes = QueuedWrites(cur)
        rows = list(enumerate(TEXTS + OTHERS))
        await writes.executemany("INSERT INTO scratch (id, v) VALUES (%s, %s)", rows)
        await writes.execute("UPDATE scratch SET v = v WHERE id IN (%s, %s)", [0, None])
        assert writes.queued == [
            cur.mogrify("INSERT INTO scratch (id, v) VALUES "
                        + ",".join(["(%s, %s)"] * len(rows)), [v for row in rows for v in row]),
            cur.mogrify("UPDATE scratch SET v = v WHERE id IN (%s, %s)", [0, None]),
        ]
        await writes.flush()
        await cur.execute("SELECT v FROM scratch WHERE id < %s ORDER BY id", [len(TEXTS)])
        assert [row[0].decode() for row in await cur.fetchall()] == TEXTS


async def test_messages_read_no_goals_or_sponsors(people: People, store: LedgerStore) -> None:
    """Only a tip, a refund or a new goal decides over a chat's goals and sponsor: a batch of
    messages (most batches at a low rate, of one command) reads neither; a tip beside them in
    another chat reads its own chat's, and the tip still moves the goal."""
    model, viewer = await _cast(people, store)
    other, donor = await _cast(people, store)
    with counted() as sent:
        await store.apply_batch([_message(model, viewer), _message(other, donor)])
    read = " ".join(sent)
    for table in ("goals", "current_sponsors"):
        assert f"FROM {table} " not in read, table
    with counted() as sent:
        result = await store.apply_batch([_message(model, viewer), _tip(other, donor)])
    assert set(result.outcomes.values()) == {"applied"}, result.outcomes
    assert [e.type for e in result.events if e.stream == other.uuid][:1] == ["donate"]
    read = " ".join(sent)
    assert f"WHERE model_uuid IN ('{other.uuid}') AND (is_active" in read, read
    assert f"current_sponsors WHERE model_uuid IN ('{other.uuid}')" in read, read
