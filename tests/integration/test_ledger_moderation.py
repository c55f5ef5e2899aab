"""The ledger's own word on moderation and minimum tips, for commands that raced past the API.

The API refuses a banned or muted person and a tip below the minimum at once; a command it let
through a moment before the ban (or the mute, or the new minimum) reached the ledger must still
be refused there. These put the commands straight on the commands topic, as the API would, in
an order the API could never have let through, and read what the real ledger decided.
"""

import uuid
from decimal import Decimal
from typing import Any

from databases import Database

from chatledger.domain.commands import (
    BanViewer,
    ChangeSettings,
    ChatCommand,
    DeleteMessage,
    Donate,
    MuteViewer,
    PinMessage,
    PinTier,
    PostMessage,
)
from chatledger.domain.events import event_id_for
from chatledger.ledger.store import LedgerStore
from chatledger.platform.config import Settings
from chatledger.readmodels.snapshot import audit_database
from tests.helpers.commands import produce
from tests.helpers.people import People, Someone
from tests.helpers.service import Service
from tests.helpers.wait import eventually


def cid() -> str:
    return str(uuid.uuid4())


async def decided(settings: Settings, db: Database, *commands: ChatCommand) -> list[str]:
    """Put the commands on the topic in this order; the ledger's outcome of each."""
    await produce(settings, commands)
    ids = [command.command_id for command in commands]
    marks = ", ".join(f":c{n}" for n in range(len(ids)))
    params = {f"c{n}": command_id for n, command_id in enumerate(ids)}

    async def outcomes() -> dict[str, str]:
        rows = await db.fetch_all(
            f"SELECT command_id, outcome FROM applied_commands WHERE command_id IN ({marks})",
            params,
        )
        return {row[0]: row[1] for row in rows}

    found = await eventually(outcomes, until=lambda got: len(got) == len(ids),
                             what="every command decided")
    return [found[command_id] for command_id in ids]


async def rejection(db: Database, command: Donate) -> Any:
    return await db.fetch_val(
        "SELECT JSON_VALUE(payload, '$.reason') FROM chat_events WHERE command_id = :c"
        " AND type = 'donate_rejected'", {"c": command.command_id},
    )


def says(who: Someone, model: Someone, text: str) -> PostMessage:
    return PostMessage(cid(), model.uuid, who.person.as_actor(), text, True)


def gives(who: Someone, model: Someone, amount: str, text: str | None = None) -> Donate:
    return Donate(cid(), model.uuid, who.person.as_actor(), Decimal(amount), text)


async def audit_passes(db: Database) -> None:
    report = await audit_database(db)
    assert report.ok, report.findings


async def test_a_banned_clients_raced_message_is_refused_and_its_tip_rejected(
    service: Service, settings: Settings, people: People, db: Database
) -> None:
    model = await people.model()
    bob = await people.client(model, "Bob", money="10")
    tip = gives(bob, model, "2")
    ban = BanViewer(cid(), model.uuid, model.person.as_actor(), bob.uuid)
    assert await decided(settings, db, ban) == ["applied"]  # read back from chat_bans next
    outcomes = await decided(settings, db, says(bob, model, "let me in"), tip)
    assert outcomes == ["refused: banned", "applied"]
    assert await rejection(db, tip) == "banned"
    assert await people.balance(bob.uuid) == Decimal("10.00")
    assert await db.fetch_val("SELECT COUNT(*) FROM chat_bans WHERE model_uuid = :m AND"
                              " client_uuid = :c", {"m": model.uuid, "c": bob.uuid}) == 1
    await audit_passes(db)


async def test_a_muted_clients_text_tip_is_rejected_but_a_plain_tip_passes(
    service: Service, settings: Settings, people: People, db: Database
) -> None:
    model = await people.model()
    bob = await people.client(model, "Bob", money="10")
    worded, plain = gives(bob, model, "1", "hear me"), gives(bob, model, "1")
    mute = MuteViewer(cid(), model.uuid, model.person.as_actor(), bob.uuid, 600)
    assert await decided(settings, db, mute) == ["applied"]  # read back from chat_mutes next
    outcomes = await decided(settings, db, says(bob, model, "hello?"), worded, plain)
    assert outcomes == ["refused: muted", "applied", "applied"]
    assert await rejection(db, worded) == "muted"
    assert await rejection(db, plain) is None
    assert await people.balance(bob.uuid) == Decimal("9.00")
    await audit_passes(db)


async def test_a_muted_clients_raced_pin_is_rejected_as_a_fact_and_charges_nothing(
    service: Service, settings: Settings, people: People, db: Database
) -> None:
    """A pin the API let through a moment before it heard of the mute: a refusal its buyer must
    hear of, so the command is applied as a `pin_rejected` fact (reason "muted"), not refused."""
    model = await people.model()
    bob = await people.client(model, "Bob", money="5")
    tiers = ChangeSettings(cid(), model.uuid, model.person.as_actor(), None,
                           pin_tiers=(PinTier(Decimal("2"), 10),))
    mute = MuteViewer(cid(), model.uuid, model.person.as_actor(), bob.uuid, 60)
    assert await decided(settings, db, tiers, mute) == ["applied"] * 2
    pin = PinMessage(cid(), model.uuid, bob.person.as_actor(), "x", Decimal("2"))
    assert await decided(settings, db, pin) == ["applied"]
    assert [(row[0], row[1]) for row in await db.fetch_all(
        "SELECT type, JSON_VALUE(payload, '$.reason') FROM chat_events WHERE command_id = :c",
        {"c": pin.command_id})] == [("pin_rejected", "muted")]
    assert await people.balance(bob.uuid) == Decimal("5.00")
    await audit_passes(db)


async def test_a_tip_below_the_minimum_that_raced_the_new_setting_is_rejected(
    service: Service, settings: Settings, people: People, db: Database
) -> None:
    model = await people.model()
    bob = await people.client(model, "Bob", money="10")
    small, enough = gives(bob, model, "4.99"), gives(bob, model, "5")
    minimum = ChangeSettings(cid(), model.uuid, model.person.as_actor(), Decimal("5"))
    assert await decided(settings, db, minimum) == ["applied"]  # read back from chat_settings
    assert await decided(settings, db, small, enough) == ["applied"] * 2
    assert await rejection(db, small) == "below minimum"
    assert await rejection(db, enough) is None
    assert await people.balance(bob.uuid) == Decimal("5.00")
    assert await db.fetch_val("SELECT min_donation FROM chat_settings WHERE model_uuid = :m",
                              {"m": model.uuid}) == Decimal("5.00")
    await audit_passes(db)


async def test_a_deletion_of_a_deleted_message_is_refused(
    service: Service, settings: Settings, people: People, db: Database
) -> None:
    model = await people.model()
    bob = await people.client(model, "Bob")
    message = says(bob, model, "oops")
    message_id = event_id_for(message.command_id, 0)
    outcomes = await decided(
        settings, db, message,
        DeleteMessage(cid(), model.uuid, model.person.as_actor(), message_id),
        DeleteMessage(cid(), model.uuid, bob.person.as_actor(), message_id),
    )
    assert outcomes == ["applied", "applied", "refused: id: the message is deleted already"]
    assert await db.fetch_val("SELECT COUNT(*) FROM chat_events WHERE stream = :m"
                              " AND type = 'message_deleted'", {"m": model.uuid}) == 1
    assert await db.fetch_val("SELECT model_uuid FROM deleted_messages WHERE message_id = :i",
                              {"i": message_id}) == model.uuid
    await audit_passes(db)


async def test_each_chat_and_client_gets_its_own_ban_and_mute(
    people: People, db: Database
) -> None:
    """One batch over two chats and two clients reads each (chat, client)'s ban and mute, and
    no other pair's (a fresh store: read from chat_bans and chat_mutes)."""
    one, two = await people.model("One"), await people.model("Two")
    ann, bob, cat = (await people.client(one, "Ann"), await people.client(two, "Bob"),
                     await people.client(one, "Cat"))
    setup = await LedgerStore(db).apply_batch([
        BanViewer(cid(), one.uuid, one.person.as_actor(), ann.uuid),
        MuteViewer(cid(), two.uuid, two.person.as_actor(), bob.uuid, 600),
    ])
    assert set(setup.outcomes.values()) == {"applied"}, setup.outcomes
    messages = [says(ann, one, "a1"), says(ann, two, "a2"), says(bob, one, "b1"),
                says(bob, two, "b2"), says(cat, one, "c1")]  # more pairs in one chat
    result = await LedgerStore(db).apply_batch(messages)
    assert [result.outcomes[message.command_id] for message in messages] == [
        "refused: banned", "applied", "applied", "refused: muted", "applied"]
