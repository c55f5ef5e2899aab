"""What `audit` and `rebuild` add for holds and shows (DESIGN §10).

The audit checks, while folding: every hold resolved at most once (and only a hold placed
before), a capture never above the held amount, every show's and spying's bill equal to its
captured holds and to its minutes (at most those begun) times its rate, and no client's
available balance (balance - open holds) below 0 after a hold or a tip; at the end, every hold,
rate, show and spying row equal to the replay's, and money conserved counting holds: the
available balances and the open holds add up to deposits - payouts. `rebuild` replaces the same
four tables from the replay.
"""

from collections.abc import Callable
from dataclasses import astuple, fields
from decimal import Decimal
from typing import Any

from chatledger.domain import events as ev
from chatledger.domain.events import Event
from chatledger.domain.hold_book import HOLD_TYPES
from chatledger.domain.state import ZERO, LedgerState
from chatledger.ledger.show_rows import (
    HoldRow,
    ShowRow,
    SpyRow,
    hold_rows,
    rate_rows,
    show_rows,
    spy_rows,
)
from chatledger.readmodels.shadow_columns import MONEY, UUID

Fail = Callable[[str, str, str], None]
SHOW_PROJECTIONS = ("holds", "shows")


def check_before(state: LedgerState, event: Event, where: str, fail: Fail) -> None:
    """Before the fold: a resolution names an open hold, a capture stays within it, and a bill
    is what the captures before it took."""
    if event.type in (ev.SHOW_CHARGED, ev.SPY_ENDED):
        _check_bill(state, event, where, fail)
        return
    if event.type not in HOLD_TYPES or event.type == ev.HOLD_PLACED:
        return
    hold_id = event.payload.get("hold_id", "")
    hold = state.holds.holds.get(hold_id)
    if hold is None:
        fail("hold", where, f"{event.type} of {hold_id}, which was never placed")
    elif not hold.is_open:
        fail("hold", where, f"{hold_id} resolved again ({hold.status} by {hold.resolved_by})")
    elif event.type == ev.HOLD_CAPTURED and Decimal(event.payload["amount"]) > hold.amount:
        fail("hold", where, f"captures {event.payload['amount']} of {hold.amount} held")


def _check_bill(state: LedgerState, event: Event, where: str, fail: Fail) -> None:
    """A `show_charged` or `spy_ended` bills exactly its captured holds (its spies end before
    the show does, so both are still in the state), and its minutes times its rate."""
    show = state.shows.shows.get(event.payload.get("show", ""))
    billed = show.spies.get(event.payload.get("spy", "")) if show and event.type == ev.SPY_ENDED \
        else show
    if billed is None:
        fail("show_bill", where, f"{event.type} of a show or spying never begun")
        return
    charged, minutes = Decimal(event.payload["charged"]), int(event.payload["minutes"])
    if charged != billed.charged:
        fail("show_bill", where, f"bills {charged}, its holds captured {billed.charged}")
    if charged != minutes * billed.rate or minutes > billed.minutes:
        fail("show_bill", where, f"{minutes} minutes at rate {billed.rate} (of {billed.minutes}"
                                 f" begun) is not the {charged} billed")


def check_after(state: LedgerState, event: Event, where: str, fail: Fail) -> None:
    """After the fold: the client whose money a hold or a tip took has none below 0."""
    if event.type == ev.HOLD_PLACED:
        client = event.payload.get("client", "")
    elif event.type == ev.DONATE and event.actor is not None:
        client = event.actor.uuid
    else:
        return
    if state.available(client) < ZERO:
        fail("available", where, f"available of {client} fell to {state.available(client)}")


def conservation(state: LedgerState, deposits: Decimal, payouts: Decimal, fail: Fail) -> None:
    available = sum((state.available(owner) for owner in state.balances), ZERO)
    held = sum((h.amount for h in state.holds.holds.values() if h.is_open), ZERO)
    if available + held != deposits - payouts:
        fail("conservation_holds", "accounts, holds",
             f"available {available} + open holds {held} != deposits - payouts"
             f" {deposits - payouts}")


def replay_tables(state: LedgerState) -> dict[str, dict[Any, Any]]:
    """The four tables as the replay implies them, keyed like `read_live` reads them."""
    return {
        "holds": hold_rows(state),
        "show_rates": rate_rows(state),
        "shows": show_rows(state),
        "show_spies": spy_rows(state),
    }


async def read_live(cur: Any) -> dict[str, dict[Any, Any]]:
    live: dict[str, dict[Any, Any]] = {}
    for table, key, row in (("holds", "hold_id", HoldRow), ("shows", "show_id", ShowRow),
                            ("show_spies", "spy_id", SpyRow)):
        names = ", ".join(f.name for f in fields(row))
        await cur.execute(f"SELECT {key}, {names} FROM {table}")
        live[table] = {first: row(*_typed(row, rest)) for first, *rest in await cur.fetchall()}
    await cur.execute("SELECT model_uuid, private_rate, spy_rate FROM show_rates")
    live["show_rates"] = {m: (Decimal(p), Decimal(s)) for m, p, s in await cur.fetchall()}
    return live


def _typed(row: type, values: list[Any]) -> list[Any]:
    """MySQL's DOUBLE and INT as the rows hold them (a DECIMAL reads back as a Decimal)."""
    kinds = [f.type for f in fields(row)]
    return [float(v) if k is float else v for k, v in zip(kinds, values, strict=True)]


def shadow_rows(table: str, state: LedgerState) -> dict[Any, tuple[Any, ...]]:
    rows = replay_tables(state)[table]
    if table == "show_rates":
        return {key: (key, *value) for key, value in rows.items()}
    return {key: (key, *astuple(value)) for key, value in rows.items()}


# (projection, table, column definitions, key, value columns) of each shadow table `rebuild`
# fills for holds and shows (readmodels/shadow_tables.py).
SHOW_SHADOW_SPECS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
        ("holds", "holds",
         f"hold_id {UUID} PRIMARY KEY, model_uuid {UUID}, client_uuid {UUID},"
         f" client_name VARCHAR(100) NOT NULL, amount {MONEY}, expires_at DATETIME(6) NOT"
         " NULL, purpose VARCHAR(20) NOT NULL, status VARCHAR(10) NOT NULL,"
         " captured DECIMAL(20, 2) NULL, resolved_by CHAR(36) CHARACTER SET ascii NULL",
         "hold_id", ("model_uuid", "client_uuid", "client_name", "amount", "expires_at",
                     "purpose", "status", "captured", "resolved_by")),
        ("shows", "show_rates",
         f"model_uuid {UUID} PRIMARY KEY, private_rate {MONEY}, spy_rate {MONEY}",
         "model_uuid", ("private_rate", "spy_rate")),
        ("shows", "shows",
         f"show_id {UUID} PRIMARY KEY, model_uuid {UUID}, client_uuid {UUID},"
         f" client_name VARCHAR(100) NOT NULL, rate {MONEY}, minute_s DOUBLE NOT NULL,"
         " requested_at DATETIME(6) NOT NULL, status VARCHAR(10) NOT NULL, started_at"
         f" DATETIME(6) NULL, minutes INT NOT NULL, charged {MONEY},"
         " hold_id CHAR(36) CHARACTER SET ascii NULL",
         "show_id", ("model_uuid", "client_uuid", "client_name", "rate", "minute_s",
                     "requested_at", "status", "started_at", "minutes", "charged",
                     "hold_id")),
        ("shows", "show_spies",
         f"spy_id {UUID} PRIMARY KEY, show_id {UUID}, model_uuid {UUID},"
         f" spy_uuid {UUID}, spy_name VARCHAR(100) NOT NULL, rate {MONEY}, started_at"
         f" DATETIME(6) NOT NULL, minutes INT NOT NULL, charged {MONEY},"
         " hold_id CHAR(36) CHARACTER SET ascii NULL",
         "spy_id", ("show_id", "model_uuid", "spy_uuid", "spy_name", "rate", "started_at",
                    "minutes", "charged", "hold_id")),
)
