"""The accounts a batch locks and the donor totals it reads come packed into one row each
(`read_trips.packed`): a packed row that does not read back whole is read again row by row,
never half-read."""

import uuid
from decimal import Decimal

from databases import Database

from chatledger.domain.commands import Command, Donate, PostMessage
from chatledger.ledger.store import LedgerStore
from tests.helpers.people import People
from tests.helpers.roundtrips import counted

_PLAIN = ("SELECT owner_uuid, balance, kind FROM accounts",
          "SELECT model_uuid, client_uuid, total FROM donor_totals WHERE")


async def _two_batches(store: LedgerStore, people: People, db: Database) -> list[object]:
    """Two chats, a tip and a message in each, twice (the second batch reads the totals the
    first made): the outcomes, what the donors hold and what their totals say after."""
    chats = [await people.chat(money="10.00") for _ in range(2)]
    outcomes: list[str] = []
    for _ in range(2):
        commands: list[Command] = []
        for model, viewer in chats:
            actor = viewer.person.as_actor()
            commands += [Donate(str(uuid.uuid4()), model.uuid, actor, Decimal("2.50")),
                         PostMessage(str(uuid.uuid4()), model.uuid, actor, "hi", True)]
        outcomes += (await store.apply_batch(commands)).outcomes.values()
    held = [await people.balance(viewer.uuid) for _, viewer in chats]
    totals = [await db.fetch_val(
        "SELECT total FROM donor_totals WHERE model_uuid = :m AND client_uuid = :c",
        {"m": model.uuid, "c": viewer.uuid}) for model, viewer in chats]
    return [outcomes, held, totals]


_DECIDED = [["applied"] * 8, [Decimal("5.00")] * 2, [Decimal("5.00")] * 2]


def _read_plainly(sent: list[str], plain: str) -> bool:
    """Whether a statement of the trips sent is `plain`'s read (not one that packs it)."""
    return any(statement.strip().startswith(plain)
               for trip in sent for statement in trip.split(";"))


async def test_accounts_and_totals_are_read_packed(
    store: LedgerStore, people: People, db: Database,
) -> None:
    with counted() as sent:
        assert await _two_batches(store, people, db) == _DECIDED
    assert not any(_read_plainly(sent, plain) for plain in _PLAIN)


async def test_a_packed_row_cut_short_is_read_again_row_by_row(
    store: LedgerStore, people: People, db: Database,
) -> None:
    """The server cuts GROUP_CONCAT at group_concat_max_len (4 bytes at least): the batch must
    still see every balance and total, read again one row each."""
    async with store.database.connection() as connection:  # the store's one connection
        await connection.execute("SET SESSION group_concat_max_len = 4")
    with counted() as sent:
        assert await _two_batches(store, people, db) == _DECIDED
    assert all(_read_plainly(sent, plain) for plain in _PLAIN)
