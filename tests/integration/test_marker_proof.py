"""The marker proof (tests/helpers/marker.py) must not blame another chat's commands on the chat
under test (the session's service runs every test's clock), yet must catch
a refused command in it."""

import uuid
from decimal import Decimal

import pytest
from databases import Database

from chatledger.domain.commands import Donate
from chatledger.platform.config import Settings
from tests.helpers.commands import produce
from tests.helpers.marker import before, only_the_marker_followed
from tests.helpers.people import People
from tests.helpers.service import Service
from tests.helpers.wait import eventually


async def decided(db: Database, command_id: str) -> str:
    return str(await eventually(
        lambda: db.fetch_val("SELECT outcome FROM applied_commands WHERE command_id = :c",
                             {"c": command_id}),
        what=f"command {command_id} decided",
    ))


async def test_another_chats_command_meanwhile_is_not_blamed_on_this_chat(
    service: Service, people: People, db: Database, migrated: Settings
) -> None:
    model, other = await people.model(), await people.model()
    ann = await people.client(model, "Ann", money="5")
    bob = await people.client(other, "Bob", money="5")
    then = await before(db, people, model.uuid, model, ann)
    elsewhere = Donate(str(uuid.uuid4()), other.uuid, bob.person.as_actor(), Decimal("1"))
    await produce(migrated, [elsewhere])
    assert await decided(db, elsewhere.command_id) == "applied"
    await only_the_marker_followed(service.url, db, people, ann, then)


async def test_a_refusal_in_this_chat_meanwhile_is_caught(
    service: Service, people: People, db: Database, migrated: Settings
) -> None:
    model = await people.model()
    ann = await people.client(model, "Ann", money="5")
    then = await before(db, people, model.uuid, model, ann)
    too_much = Donate(str(uuid.uuid4()), model.uuid, ann.person.as_actor(), Decimal("50"))
    await produce(migrated, [too_much])
    await decided(db, too_much.command_id)  # a rejected donation: an event in this chat
    with pytest.raises(AssertionError, match="besides the marker"):
        await only_the_marker_followed(service.url, db, people, ann, then)
