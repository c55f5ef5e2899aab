"""A record on the commands topic that the ledger cannot store is dropped, never a crash: the
ledger logs it and goes on to the next command (a crash would meet the same record again after
every restart, and the chat's partition would stop for good)."""

import uuid
from decimal import Decimal

from databases import Database

from chatledger.domain.commands import AddGoal
from chatledger.platform.config import Settings
from tests.helpers.commands import produce
from tests.helpers.ledger import private_ledger
from tests.helpers.moderation import applied
from tests.helpers.people import People


async def test_a_command_id_too_long_to_store_is_dropped_and_the_next_applies(
    migrated: Settings, people: People, db: Database
) -> None:
    model = await people.model()
    mia = model.person.as_actor()
    poison = AddGoal(f"goal-{uuid.uuid4()}", model.uuid, mia, "Dance", Decimal("5"))
    assert len(poison.command_id) > 36  # applied_commands.command_id is CHAR(36)
    good = AddGoal(str(uuid.uuid4()), model.uuid, mia, "Song", Decimal("5"))
    with private_ledger(migrated, "poison") as ledger:
        ledger.start()
        await produce(ledger.settings, [poison, good])
        assert [e["type"] for e in await applied(db, good.command_id)] == ["new_goal"]
        assert ledger.process is not None and ledger.process.poll() is None  # still running
    assert await db.fetch_val("SELECT COUNT(*) FROM goals WHERE model_uuid = :m",
                              {"m": model.uuid}) == 1
