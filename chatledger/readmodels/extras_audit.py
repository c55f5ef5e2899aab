"""What `audit` and `rebuild` add for paid pins and the toy queue (DESIGN §11).

The audit checks, while folding (before each event is folded, against the state it finds):
- a pin is bought once (its id is its own event's, never seen before), for a positive sum, by a
  client, leaving the buyer's available balance at 0 or more; its money moves by the fold, so
  the balances and conservation checks count it;
- `pin_started` names a queued pin, while no pin of the chat shows, and the best of the queue
  (the highest sum, then the oldest): so at most one pin shows, in the rule's order;
- `pin_expired` names the showing pin, at or after its `ends_at`; `pin_removed` a pin not over:
  so every pin ends at most once;
- `toy_queued` names a tip of the chat with no turn yet; `toy_started` the first queued turn,
  while nothing plays; `toy_finished` the playing turn, at or after its `ends_at`; `toy_removed`
  a queued turn of a refunded tip: every turn plays at most once, in order.
At the end the `chat_extras`, `pins` and `toy_turns` rows equal the replay's. `rebuild` replaces
the same three tables from the replay.
"""

from collections.abc import Callable
from dataclasses import astuple
from typing import Any

from chatledger.domain import events as ev
from chatledger.domain.events import Event
from chatledger.domain.extras_book import PLAYING, QUEUED, SHOWING, Lineup
from chatledger.domain.state import ZERO, LedgerState
from chatledger.ledger.extras_rows import (
    ExtrasRow,
    PinRow,
    ToyRow,
    extras_rows,
    pin_rows,
    toy_rows,
    typed,
)
from chatledger.ledger.extras_store import PIN_COLUMNS, TOY_COLUMNS

Fail = Callable[[str, str, str], None]
EXTRAS_PROJECTIONS = ("extras",)


def check_before(state: LedgerState, event: Event, where: str, fail: Fail) -> None:
    check = _CHECKS.get(event.type)
    if check is not None:
        problem = check(state, event)
        if problem is not None:
            fail("pin" if "pin" in event.type else "toy", where, problem)


def check_after(state: LedgerState, event: Event, where: str, fail: Fail) -> None:
    if event.type == ev.MESSAGE_PINNED and event.actor is not None:
        client = event.actor.uuid
        if state.available(client) < ZERO:
            fail("available", where, f"available of {client} fell to {state.available(client)}")


def _pinned(state: LedgerState, event: Event) -> str | None:
    pin_id = event.payload.get("pin")
    if pin_id != event.event_id or pin_id in state.extras.pins:
        return f"pin {pin_id} is not a new pin of its own event"
    if event.amount is None or event.amount <= ZERO:
        return f"a pin of {event.amount} is not a positive sum"
    if event.actor is None or event.actor.role != "client":
        return "a pin not bought by a client"
    return None


def _not_next(lineup: Lineup[Any], event: Event, key: str | None, noun: str) -> str | None:
    """Why `event` may not start `key`: it must be this chat's first queued item, none on."""
    item = lineup.all.get(key or "")
    if item is None or item.model != event.stream or item.status != QUEUED:
        return f"starts {key}, not a queued {noun} of this chat"
    on = lineup.current(event.stream)
    if on is not None:
        return f"starts {key} while {on.key} is {lineup.on_status}"
    first = lineup.queued(event.stream)[0]
    if first.key != item.key:
        return f"starts {key} before {first.key}, which comes first in the queue"
    return None


def _not_over(lineup: Lineup[Any], event: Event, key: str | None, ran_out: str,
              allowed: tuple[str, ...]) -> str | None:
    """Why `event` may not end `key`: an item of this chat in one of the `allowed` states; one
    whose time ran out (`ran_out`) must be on, and ends at or after its `ends_at`."""
    item = lineup.all.get(key or "")
    if item is None or item.model != event.stream or item.status not in allowed:
        return f"{event.type} of {key}, not an item of this chat in {allowed}"
    if event.type == ran_out and (
        item.status != lineup.on_status or item.ends_at is None or event.created_at < item.ends_at
    ):
        return f"{event.type} of {key} before its time ({item.ends_at}) or while not on"
    return None


def _pin_started(state: LedgerState, event: Event) -> str | None:
    return _not_next(state.extras.pin_lineup, event, event.payload.get("pin"), "pin")


def _pin_ended(state: LedgerState, event: Event) -> str | None:
    return _not_over(state.extras.pin_lineup, event, event.payload.get("pin"), ev.PIN_EXPIRED,
                     (QUEUED, SHOWING))


def _toy_queued(state: LedgerState, event: Event) -> str | None:
    donation_id = event.payload.get("donation")
    donation = state.donations.get(donation_id or "")
    if donation is None or donation.model != event.stream:
        return f"queues {donation_id}, not a tip of this chat"
    if donation_id in state.extras.toys:
        return f"queues {donation_id} a second time"
    return None


def _toy_started(state: LedgerState, event: Event) -> str | None:
    return _not_next(state.extras.toy_lineup, event, event.payload.get("donation"), "turn")


def _toy_ended(state: LedgerState, event: Event) -> str | None:
    """A turn finishes while playing; it is removed only while queued (a tip refunded first)."""
    allowed = (PLAYING,) if event.type == ev.TOY_FINISHED else (QUEUED,)
    return _not_over(state.extras.toy_lineup, event, event.payload.get("donation"),
                     ev.TOY_FINISHED, allowed)


_CHECKS: dict[str, Callable[[LedgerState, Event], str | None]] = {
    ev.MESSAGE_PINNED: _pinned,
    ev.PIN_STARTED: _pin_started,
    ev.PIN_EXPIRED: _pin_ended,
    ev.PIN_REMOVED: _pin_ended,
    ev.TOY_QUEUED: _toy_queued,
    ev.TOY_STARTED: _toy_started,
    ev.TOY_FINISHED: _toy_ended,
    ev.TOY_REMOVED: _toy_ended,
}


def replay_tables(state: LedgerState) -> dict[str, dict[Any, Any]]:
    return {"chat_extras": extras_rows(state), "pins": pin_rows(state),
            "toy_turns": toy_rows(state)}


async def read_live(cur: Any) -> dict[str, dict[Any, Any]]:
    live: dict[str, dict[Any, Any]] = {}
    await cur.execute("SELECT model_uuid, pin_tiers, toy_levels FROM chat_extras")
    live["chat_extras"] = {m: ExtrasRow(t, lv) for m, t, lv in await cur.fetchall()}
    for table, key, row, columns in (("pins", "pin_id", PinRow, PIN_COLUMNS),
                                     ("toy_turns", "donation_id", ToyRow, TOY_COLUMNS)):
        await cur.execute(f"SELECT {key}, {columns} FROM {table}")
        live[table] = {first: typed(row, rest) for first, *rest in await cur.fetchall()}
    return live


def shadow_rows(table: str, state: LedgerState) -> dict[Any, tuple[Any, ...]]:
    return {key: (key, *astuple(value)) for key, value in replay_tables(state)[table].items()}


_UUID = "CHAR(36) CHARACTER SET ascii NOT NULL"
_NULL_UUID = "CHAR(36) CHARACTER SET ascii NULL"
_TAIL = (" status VARCHAR(10) NOT NULL, started_at DATETIME(6) NULL, ends_at DATETIME(6) NULL,"
         f" ended_by {_NULL_UUID}")
# (projection, table, column definitions, key, value columns) of each shadow table `rebuild`
# fills for pins and the toy (readmodels/shadow_tables.py).
EXTRAS_SHADOW_SPECS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("extras", "chat_extras",
     f"model_uuid {_UUID} PRIMARY KEY, pin_tiers TEXT CHARACTER SET ascii NOT NULL,"
     " toy_levels TEXT CHARACTER SET ascii NOT NULL",
     "model_uuid", ("pin_tiers", "toy_levels")),
    ("extras", "pins",
     f"pin_id {_UUID} PRIMARY KEY, model_uuid {_UUID}, client_uuid {_UUID},"
     " client_name VARCHAR(100) NOT NULL, message VARCHAR(200) CHARACTER SET utf8mb4 COLLATE"
     " utf8mb4_bin NOT NULL, amount DECIMAL(20, 2) NOT NULL, seconds INT NOT NULL,"
     f" seq BIGINT UNSIGNED NOT NULL, bought_at DATETIME(6) NOT NULL,{_TAIL}",
     "pin_id", tuple(PIN_COLUMNS.split(", "))),
    ("extras", "toy_turns",
     f"donation_id {_UUID} PRIMARY KEY, model_uuid {_UUID}, donor_uuid {_UUID},"
     " donor_name VARCHAR(100) NOT NULL, public BOOLEAN NOT NULL, anonymous BOOLEAN NOT NULL,"
     " level INT NOT NULL, seconds INT NOT NULL, seq BIGINT UNSIGNED NOT NULL,"
     f"{_TAIL}",
     "donation_id", tuple(TOY_COLUMNS.split(", "))),
)
