"""The Directory against the real MySQL: the 402 pre-check reads MySQL only when it must."""

import uuid
from decimal import Decimal
from typing import Any

from databases import Database

from chatledger.ledger.accounts import Directory
from tests.helpers.people import People


class NoDatabase:
    """Any use fails the test: proves a check made no MySQL query."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"MySQL was used ({name})")


async def test_tips_within_a_remembered_balance_make_no_mysql_query(
    db: Database, people: People
) -> None:
    model = await people.model()
    viewer = await people.client(model, money="10.00")
    directory = Directory(db, ttl_s=30)
    assert await directory.affords(viewer.uuid, Decimal("1.00"))  # reads MySQL once
    directory.database = NoDatabase()  # type: ignore[assignment]
    for _ in range(9):
        assert await directory.affords(viewer.uuid, Decimal("1.00"))
    directory.database = db
    assert not await directory.affords(viewer.uuid, Decimal("10.01"))  # a 402, read just now


async def test_a_deposit_is_seen_before_any_402(db: Database, people: People) -> None:
    model = await people.model()
    viewer = await people.client(model, money="5.00")
    directory = Directory(db, ttl_s=30)
    assert not await directory.affords(viewer.uuid, Decimal("8.00"))
    await people.deposit(viewer.uuid, "5.00")
    assert await directory.affords(viewer.uuid, Decimal("8.00"))
    assert not await directory.affords(str(uuid.uuid4()), Decimal("0.01"))  # no such account


async def test_a_refresh_reads_the_people_in_use_again_and_forgets_the_deleted(
    db: Database, people: People
) -> None:
    model = await people.model()
    staying, leaving, idle = [await people.client(model) for _ in range(3)]
    directory = Directory(db, ttl_s=30)
    for person in (staying, leaving, idle):
        assert await directory.find(person.uuid) is not None  # read from MySQL, remembered
    assert await directory.refresh(horizon_s=60) == 0  # none found in memory since
    assert await directory.find(staying.uuid) and await directory.find(leaving.uuid)
    await db.execute("DELETE FROM clients WHERE uuid = :u", {"u": leaving.uuid})

    assert await directory.refresh(horizon_s=60) == 2  # the two in use, in one query
    directory.database = NoDatabase()  # type: ignore[assignment]
    assert await directory.find(staying.uuid) == staying.person
    assert await directory.find(idle.uuid) is not None  # not due: still remembered
    directory.database = db
    assert await directory.find(leaving.uuid) is None  # forgotten: MySQL says it is gone
    assert await directory.refresh(horizon_s=0) == 0  # nothing lapses that soon
