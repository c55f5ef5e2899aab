"""The rows of the pin and toy tables (`chat_extras`, `pins`, `toy_turns`) from the folded state:
one builder per table, used by the ledger's writes, `rebuild` and `audit` alike (the rule of
`projection_rows.py`), and the way back from a row to the state (`extras_store.py`).
"""

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from chatledger.domain.commands import PinTier, ToyLevel
from chatledger.domain.events import map_money
from chatledger.domain.extras_book import Pin, ToyTurn
from chatledger.domain.extras_settings import entries_fact
from chatledger.domain.state import LedgerState
from chatledger.domain.wire import dumps, money


@dataclass(frozen=True, slots=True)
class ExtrasRow:
    pin_tiers: str  # JSON: [{"min": "5.00", "seconds": 60}]
    toy_levels: str  # JSON: [{"min": "1.00", "level": 3, "seconds": 5}]


@dataclass(frozen=True, slots=True)
class PinRow:
    model_uuid: str
    client_uuid: str
    client_name: str
    message: str
    amount: Decimal
    seconds: int
    seq: int
    bought_at: datetime
    status: str
    started_at: datetime | None
    ends_at: datetime | None
    ended_by: str | None


@dataclass(frozen=True, slots=True)
class ToyRow:
    model_uuid: str
    donor_uuid: str
    donor_name: str
    public: bool
    anonymous: bool
    level: int
    seconds: int
    seq: int
    status: str
    started_at: datetime | None
    ends_at: datetime | None
    ended_by: str | None


def naive(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=None)


def aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


def _json(entries: Iterable[PinTier | ToyLevel]) -> str:
    return dumps(map_money(entries_fact(list(entries)), money)).decode()


def extras_rows(state: LedgerState) -> dict[str, ExtrasRow]:
    """chat_extras: every chat whose tiers or levels were ever set."""
    book = state.extras
    return {
        model: ExtrasRow(_json(book.pin_tiers.get(model, ())),
                         _json(book.toy_levels.get(model, ())))
        for model in book.pin_tiers.keys() | book.toy_levels.keys()
    }


def pin_rows(state: LedgerState, ids: Iterable[str] | None = None) -> dict[str, PinRow]:
    pins = state.extras.pins
    chosen = pins.values() if ids is None else (pins[i] for i in ids if i in pins)
    return {
        p.id: PinRow(p.model, p.client, p.client_name, p.message, p.amount, p.seconds, p.seq,
                     naive(p.bought_at) or p.bought_at, p.status, naive(p.started_at),
                     naive(p.ends_at), p.ended_by)
        for p in chosen
    }


def toy_rows(state: LedgerState, ids: Iterable[str] | None = None) -> dict[str, ToyRow]:
    toys = state.extras.toys
    chosen = toys.values() if ids is None else (toys[i] for i in ids if i in toys)
    return {
        t.donation: ToyRow(t.model, t.donor, t.donor_name, t.public, t.anonymous, t.level,
                           t.seconds, t.seq, t.status, naive(t.started_at), naive(t.ends_at),
                           t.ended_by)
        for t in chosen
    }


def fold_extras_row(state: LedgerState, model: str, row: ExtrasRow) -> None:
    tiers = orjson.loads(row.pin_tiers)
    levels = orjson.loads(row.toy_levels)
    state.extras.pin_tiers[model] = tuple(
        PinTier(Decimal(t["min"]), int(t["seconds"])) for t in tiers)
    state.extras.toy_levels[model] = tuple(
        ToyLevel(Decimal(t["min"]), int(t["level"]), int(t["seconds"])) for t in levels)


def pin_of_row(pin_id: str, row: PinRow) -> Pin:
    return Pin(pin_id, row.model_uuid, row.client_uuid, row.client_name, row.message,
               Decimal(row.amount), int(row.seconds), int(row.seq),
               aware(row.bought_at) or row.bought_at, row.status, aware(row.started_at),
               aware(row.ends_at), row.ended_by)


def turn_of_row(donation: str, row: ToyRow) -> ToyTurn:
    return ToyTurn(donation, row.model_uuid, row.donor_uuid, row.donor_name, bool(row.public),
                   bool(row.anonymous), int(row.level), int(row.seconds), int(row.seq),
                   row.status, aware(row.started_at), aware(row.ends_at), row.ended_by)


def typed(row: type, values: Iterable[Any]) -> Any:
    """A MySQL row as the dataclass holds it (BOOLEAN reads back as 0/1)."""
    kinds = [f.type for f in fields(row)]
    return row(*(bool(v) if k is bool else int(v) if k is int else v
                 for k, v in zip(kinds, values, strict=True)))
