"""`chat_events` rows <-> events: the one codec between the table and the `Event` dataclass.

Used by the ledger's store (writes), and by history, rebuild and audit (reads).
"""

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from chatledger.domain.commands import Actor
from chatledger.domain.events import Event, map_money
from chatledger.domain.wire import dumps

EVENT_COLUMNS = (
    "id, event_id, command_id, stream, seq, type, actor_uuid, actor_role, actor_name,"
    " is_public, amount, payload, created_at"
)


def placeholders(count: int, width: int = 1) -> str:
    row = "(" + ", ".join(["%s"] * width) + ")" if width > 1 else "%s"
    return ", ".join([row] * count)


def pairs_in(pairs: Iterable[tuple[str, str]]) -> tuple[str, list[str]]:
    """`(model_uuid, client_uuid) IN (<pairs>)` written as one IN per chat, and its values.

    The same rows and the same plan (a range of the primary key), but MariaDB takes several
    times longer to plan the tuple form: for a batch's ~450 pairs, ~12 ms against ~4 ms on
    empty tables, most of the reads' time on the server.
    """
    by_chat: dict[str, list[str]] = {}
    for model, client in pairs:
        by_chat.setdefault(model, []).append(client)
    sql = " OR ".join(f"(model_uuid = %s AND client_uuid IN ({placeholders(len(clients))}))"
                      for clients in by_chat.values())
    return f"({sql})", [value for model, clients in by_chat.items() for value in (model, *clients)]


def row_to_event(row: Sequence[Any]) -> Event:
    (
        _,
        event_id,
        command_id,
        stream,
        seq,
        type_,
        actor_uuid,
        actor_role,
        actor_name,
        is_public,
        amount,
        payload,
        created_at,
    ) = row
    actor = Actor(actor_uuid, actor_name or "", actor_role) if actor_uuid else None
    return Event(
        event_id=event_id,
        command_id=command_id,
        stream=stream,
        seq=int(seq),
        type=type_,
        actor=actor,
        is_public=bool(is_public),
        amount=amount,
        created_at=created_at.replace(tzinfo=UTC),
        payload=map_money(orjson.loads(payload), Decimal),  # exact digits, kept as text
    )


def event_to_row(event: Event) -> tuple[Any, ...]:
    actor = event.actor
    return (
        event.event_id,
        event.command_id,
        event.stream,
        event.seq,
        event.type,
        actor.uuid if actor else None,
        actor.role if actor else None,
        actor.name if actor else None,
        event.is_public,
        event.amount,
        dumps(event.payload).decode(),
        _naive(event.created_at),
    )


# `literal(None)` three times: what an event without an actor has in its three actor columns.
_NO_ACTOR = "NULL, NULL, NULL"


def spelt_event_row(event: Event, literal: Callable[[Any], str]) -> str:
    """`"(%s, ..., %s)" % tuple(map(literal, event_to_row(event)))`, the same text, spelt at
    once: without the row's tuple and the 12 placeholders' formatting (a third of the cost of
    spelling a batch's events)."""
    actor = event.actor
    who = _NO_ACTOR if actor is None else \
        f"{literal(actor.uuid)}, {literal(actor.role)}, {literal(actor.name)}"
    return (f"({literal(event.event_id)}, {literal(event.command_id)}, {literal(event.stream)},"
            f" {literal(event.seq)}, {literal(event.type)}, {who}, {literal(event.is_public)},"
            f" {literal(event.amount)}, {literal(dumps(event.payload).decode())},"
            f" {literal(_naive(event.created_at))})")


_last_naive: tuple[datetime, datetime] | None = None


def _naive(moment: datetime) -> datetime:
    """`moment.replace(tzinfo=None)`, remembered for the last moment: a batch's events share one
    `now` (the very object; an equal moment in another zone has other fields)."""
    global _last_naive
    last = _last_naive
    if last is not None and last[0] is moment:
        return last[1]
    naive = moment.replace(tzinfo=None)
    _last_naive = (moment, naive)
    return naive
