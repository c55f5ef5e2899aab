"""Events in their wire form (DESIGN §5), and the JSON encoder every wire body goes through.

This is the one place money becomes a string: events hold Decimals (`events.MONEY_FIELDS`), and
`money` renders them with two decimals for the websocket, history, responses and reports alike.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from chatledger.domain.commands import Actor
from chatledger.domain.events import ANONYMOUS, Event, map_money

# Who an anonymous donation is from, for everyone who sees it (DESIGN §9).
ANONYMOUS_ACTOR: dict[str, Any] = {"uuid": None, "name": "anonymous", "role": "client"}


def money(amount: Decimal | str) -> str:
    """A sum on the wire: always two decimals ("15.50"), never a float."""
    # A Decimal as it is (the copy `Decimal()` makes has the same digits and exponent).
    return format(amount if type(amount) is Decimal else Decimal(amount), ".2f")


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(value: object) -> bytes:
    """JSON bytes; a Decimal that reaches it unrendered keeps its exact digits."""
    return orjson.dumps(value, default=_default)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


_last_spelt: tuple[datetime, str] | None = None


def _created_at(moment: datetime) -> str:
    """`iso(moment)`, remembered for the last moment: a ledger batch's events share one `now`
    (the very object: an equal moment in another zone would be spelt otherwise)."""
    global _last_spelt
    last = _last_spelt
    if last is not None and last[0] is moment:
        return last[1]
    spelt = iso(moment)
    _last_spelt = (moment, spelt)
    return spelt


def event_to_wire(event: Event) -> dict[str, Any]:
    """The same shape on the websocket and in history."""
    wire: dict[str, Any] = {
        "type": event.type,
        "id": event.event_id,
        "seq": event.seq,
        "chat": event.stream,
        "is_public": event.is_public,
        "from": _actor(event.actor) if event.actor else None,
        "created_at": _created_at(event.created_at),
    }
    if event.amount is not None:
        wire["sum"] = money(event.amount)
    wire.update(map_money(event.payload, money))
    if wire.pop(ANONYMOUS, False):
        wire["from"] = ANONYMOUS_ACTOR
    return wire


def _actor(actor: Actor) -> dict[str, Any]:
    # Spelt out: `dataclasses.asdict` (recursive, deep-copying) cost a tenth of a publish.
    return {"uuid": actor.uuid, "name": actor.name, "role": actor.role}


def encode_event(event: Event) -> bytes:
    return dumps(event_to_wire(event))
