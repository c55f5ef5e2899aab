"""How many round trips to MySQL one ledger batch costs, counted on the real MariaDB.

The ledger's loop is serial: every round trip of a batch is time the commands fetched meanwhile
wait (docs/performance.md). A batch's count depends on what its commands can need, not on how
many there are, so these bounds hold for 1 and for 10 commands alike.
"""

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from chatledger.bus.kafka import ensure_topics
from chatledger.domain.commands import Command, Donate, PostMessage
from chatledger.ledger.store import LedgerStore
from chatledger.platform.config import Settings
from chatledger.platform.db import database
from tests.helpers.people import People, Someone
from tests.helpers.roundtrips import counted, shape


@pytest.fixture
async def store(migrated: Settings) -> AsyncIterator[LedgerStore]:
    await ensure_topics(migrated)  # the deposits publish their events
    ledger = LedgerStore(database(migrated.mysql_dsn, 1))
    await ledger.database.connect()
    yield ledger
    await ledger.database.disconnect()


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


MESSAGES = 14
TIPS = 15
MIXED = 18  # a message's show reads and a tip's extras and money writes
