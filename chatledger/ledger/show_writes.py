"""The SQL of the hold and show tables a batch touched (`projection_writes.py` calls it, inside
the batch's transaction, with the chat's stream and the clients' accounts locked).

A hold's row is written from the state after the batch: a resolved hold's row says how, once (the
decider never resolves a hold twice; `audit` checks the events say so too).

A row is inserted whole, and an existing one updated only in the columns its fold can change
(`_HOLD_MOVES`, `_SHOW_MOVES`; tests/unit/test_show_writes.py): the others are set once, when
the hold is placed or the show requested, so assigning them again changed nothing but cost
MariaDB a third of the holds' statement (45 against 67 ms of server CPU per 500 boundaries,
measured alternately).
"""

from collections.abc import Awaitable, Callable
from typing import Any

from chatledger.domain import events as ev
from chatledger.domain.events import Event
from chatledger.domain.hold_book import HOLD_TYPES
from chatledger.domain.state import LedgerState
from chatledger.ledger.event_rows import placeholders
from chatledger.ledger.show_rows import as_tuple, hold_rows, rate_rows, show_rows, spy_rows

Upsert = Callable[[str, list[tuple[Any, ...]], str], Awaitable[None]]
_SPY_EVENTS = frozenset({ev.SPY_STARTED, ev.SPY_ENDED, ev.SHOW_ENDED, ev.HOLD_PLACED,
                         ev.HOLD_CAPTURED})
_HOLD_COLUMNS = ("model_uuid, client_uuid, client_name, amount, expires_at, purpose, status,"
                 " captured, resolved_by")
_HOLD_MOVES = "status, captured, resolved_by"  # what `HoldBook.resolve` changes
_SHOW_COLUMNS = ("model_uuid, client_uuid, client_name, rate, minute_s, requested_at, status,"
                 " started_at, minutes, charged, hold_id")
_SHOW_MOVES = "status, started_at, minutes, charged, hold_id"  # what `show_book`'s folds change


def _moves_spies(event: Event) -> bool:
    """Whether the chat's spyings' rows change: a show's own minutes (a hold placed or captured
    for no spy) change none of them, and are most of a show's events."""
    if event.type in (ev.HOLD_PLACED, ev.HOLD_CAPTURED):
        return event.payload.get("spy") is not None
    return event.type in _SPY_EVENTS


def _updates(columns: str) -> str:
    return ", ".join(f"{c} = VALUES({c})" for c in columns.split(", "))


async def write_shows(upsert: Upsert, cur: Any, state: LedgerState, events: list[Event]) -> None:
    mine = [e for e in events if e.type in ev.SHOW_TYPES or e.type == ev.SETTINGS_CHANGED]
    if not mine:
        return
    holds = hold_rows(state, {e.payload["hold_id"] for e in mine if e.type in HOLD_TYPES})
    await upsert(f"holds (hold_id, {_HOLD_COLUMNS})",
                 [as_tuple(key, row) for key, row in holds.items()], _updates(_HOLD_MOVES))
    shows = show_rows(state, {e.payload["show"] for e in mine if e.payload.get("show")})
    await upsert(f"shows (show_id, {_SHOW_COLUMNS})",
                 [as_tuple(key, row) for key, row in shows.items()], _updates(_SHOW_MOVES))
    rates = rate_rows(state)
    changed = sorted({e.stream for e in mine if e.type == ev.SETTINGS_CHANGED} & rates.keys())
    await upsert("show_rates (model_uuid, private_rate, spy_rate)",
                 [(model, *rates[model]) for model in changed],
                 "private_rate = VALUES(private_rate), spy_rate = VALUES(spy_rate)")
    await _spies(cur, state, sorted({e.stream for e in mine if _moves_spies(e)}))


async def _spies(cur: Any, state: LedgerState, chats: list[str]) -> None:
    """The chats' spyings, replaced whole (few rows: the spies of one show per chat)."""
    if not chats:
        return
    await cur.execute(
        f"DELETE FROM show_spies WHERE model_uuid IN ({placeholders(len(chats))})", chats
    )
    rows = [as_tuple(key, row) for key, row in spy_rows(state, chats).items()]
    if rows:
        await cur.execute(
            "INSERT INTO show_spies (spy_id, show_id, model_uuid, spy_uuid, spy_name, rate,"
            f" started_at, minutes, charged, hold_id) VALUES {placeholders(len(rows), 10)}",
            [value for row in rows for value in row],
        )
