"""`chatledger refund`: take a donation back through the ledger, as an operator (DESIGN §9).

A refund is a chat fact, so it travels like every chat command: onto the commands topic keyed by
the chat, where the ledger decides it in the chat's order and publishes `donate_refunded` (and a
`change_sponsor` if the sponsor falls) to `chat.events` for websockets and history. Deposits and
payouts are applied by the CLI itself (`cli.apply_money_command`) because no one watches an
account's stream; a refund has a whole chat watching.

Before anything is sent, the same decider rules on the refund over the rows read now (read-only),
so an id that is not a donation, a donation refunded already or a model whose balance is below
the sum is refused at once with nothing changed. The ledger's decision is the one that counts:
two refunds racing past the pre-check are decided in order, and the second is refused there.
"""

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from databases import Database

from chatledger.bus.command_codec import encode_command
from chatledger.bus.kafka import send_bounded, start_producer
from chatledger.domain.commands import Refund
from chatledger.domain.decider import CommandRefused, decide
from chatledger.domain.wire import event_to_wire, money
from chatledger.ledger.event_rows import EVENT_COLUMNS, row_to_event
from chatledger.ledger.state_loader import StateLoader
from chatledger.platform.config import Settings

POLL_S = 0.05


class RefundRefused(Exception):
    """The refund cannot apply; nothing was changed."""


@dataclass(frozen=True, slots=True)
class Applied:
    """What an applied refund appended, for the operator (the donor is named: they were paid)."""

    command_id: str
    donor: str
    events: list[dict[str, Any]]  # wire form, as chat.events carries them
    balances: dict[str, str]


async def prepare(db: Database, donation_id: str, reason: str | None) -> Refund:
    """The refund command, if the decider would apply it on what MySQL holds now."""
    chat = await db.fetch_val(
        "SELECT stream FROM chat_events WHERE event_id = :id AND type = 'donate'",
        {"id": donation_id},
    )
    if chat is None:
        raise RefundRefused(f"{donation_id} is not a donation")
    refund = Refund(str(uuid.uuid4()), chat, donation_id, reason)
    async with db.connection() as connection, connection.raw_connection.cursor() as cur:
        loader = StateLoader(cur)
        await loader.donations([refund])
        donors = {d.donor.uuid for d in loader.state.donations.values()}
        await loader.accounts(sorted({chat} | donors), lock=False)
    state = loader.state
    try:
        decide(refund, state, datetime.now(UTC))
    except CommandRefused as refused:
        raise RefundRefused(str(refused)) from refused
    return refund


async def send(settings: Settings, refund: Refund) -> None:
    """Onto the commands topic, keyed by the chat like every chat command (acks=all); raises
    BusUnavailable when the broker did not acknowledge it in time."""
    producer = await start_producer(settings, deadline_s=settings.command_timeout_s)
    try:
        await send_bounded(
            producer, settings.commands_topic, refund.chat.encode(), encode_command(refund),
            settings.command_timeout_s,
        )
    finally:
        await producer.stop()


async def outcome(db: Database, command_id: str, timeout_s: float) -> str | None:
    """The ledger's outcome for the command ("applied" or "refused: ..."), or None if it has
    not decided within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = await db.fetch_val(
            "SELECT outcome FROM applied_commands WHERE command_id = :c", {"c": command_id}
        )
        if found is not None or time.monotonic() >= deadline:
            return None if found is None else str(found)
        await asyncio.sleep(POLL_S)


async def applied(db: Database, refund: Refund) -> Applied:
    """The events the refund appended, and the balances it moved as they stand now."""
    rows = await db.fetch_all(
        f"SELECT {EVENT_COLUMNS} FROM chat_events WHERE command_id = :c ORDER BY seq",
        {"c": refund.command_id},
    )
    events = [row_to_event(tuple(row._mapping.values())) for row in rows]
    donor = next(e.actor.uuid for e in events if e.actor is not None)
    balances = await db.fetch_all(
        "SELECT owner_uuid, balance FROM accounts WHERE owner_uuid IN (:model, :donor)",
        {"model": refund.chat, "donor": donor},
    )
    return Applied(
        refund.command_id,
        donor,
        [event_to_wire(event) for event in events],
        {row[0]: money(row[1]) for row in balances},
    )
