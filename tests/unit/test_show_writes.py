"""The hold and show rows' upserts update only the columns a fold can change (`show_writes`):
a row, once written, must never need any other column rewritten."""

from dataclasses import fields
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chatledger.domain.events import Event
from chatledger.domain.state import ZERO, LedgerState, evolve
from chatledger.ledger import show_writes
from chatledger.ledger.show_rows import HoldRow, ShowRow, hold_rows, show_rows
from tests.unit.test_holds import CLIENTS, MIA, run, step

HOLD_MOVES = set(show_writes._HOLD_MOVES.split(", "))
SHOW_MOVES = set(show_writes._SHOW_MOVES.split(", "))


def _changed(before: Any, after: Any) -> set[str]:
    return {f.name for f in fields(before) if getattr(before, f.name) != getattr(after, f.name)}


def moved(log: list[Event]) -> tuple[set[str], set[str]]:
    """The columns of hold rows and of show rows that differ between two writes of a row, the
    log folded one event at a time (a batch may end after any of them)."""
    state = LedgerState(balances={a.uuid: ZERO for a in [MIA, *CLIENTS]},
                        kinds={a.uuid: a.role for a in [MIA, *CLIENTS]})
    holds: dict[str, Any] = {}
    shows: dict[str, Any] = {}
    hold_moves: set[str] = set()
    show_moves: set[str] = set()
    for event in log:
        evolve(state, event)
        for written, rows, moves in ((holds, hold_rows(state), hold_moves),
                                     (shows, show_rows(state), show_moves)):
            for key, row in rows.items():
                if key in written:
                    moves |= _changed(written[key], row)
                written[key] = row
    return hold_moves, show_moves


def test_the_updated_columns_are_columns_of_the_rows() -> None:
    assert {f.name for f in fields(HoldRow)} > HOLD_MOVES
    assert {f.name for f in fields(ShowRow)} > SHOW_MOVES


def test_a_show_s_life_moves_exactly_the_columns_updated() -> None:
    rates = ("rates", Decimal("2.00"), Decimal("1.00"))
    _, log = run([("deposit", CLIENTS[0], Decimal("9")), rates, ("request", CLIENTS[0], None),
                  ("act", MIA, "accept"), ("wait", 130, None), ("act", CLIENTS[0], "end")])
    assert moved(log) == (HOLD_MOVES, SHOW_MOVES)


@settings(max_examples=200, deadline=None)
@given(st.lists(step, max_size=50))
def test_a_row_once_written_changes_only_in_the_columns_its_upsert_updates(steps: list) -> None:
    _, log = run(steps)
    hold_moves, show_moves = moved(log)
    assert hold_moves <= HOLD_MOVES and show_moves <= SHOW_MOVES
