"""The rows of the hold and show tables (`holds`, `show_rates`, `shows`, `show_spies`) from the
folded state: one builder per table, used by the ledger's writes, `rebuild` and `audit` alike
(like `projection_rows.py`, whose rule this follows)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from chatledger.domain.hold_book import Hold
from chatledger.domain.show_book import ENDED, Show, Spy
from chatledger.domain.state import ZERO, LedgerState


@dataclass(frozen=True, slots=True)
class HoldRow:
    model_uuid: str
    client_uuid: str
    client_name: str
    amount: Decimal
    expires_at: datetime
    purpose: str
    status: str
    captured: Decimal | None
    resolved_by: str | None


@dataclass(frozen=True, slots=True)
class ShowRow:
    model_uuid: str
    client_uuid: str
    client_name: str
    rate: Decimal
    minute_s: float
    requested_at: datetime
    status: str
    started_at: datetime | None
    minutes: int
    charged: Decimal
    hold_id: str | None


@dataclass(frozen=True, slots=True)
class SpyRow:
    show_id: str
    model_uuid: str
    spy_uuid: str
    spy_name: str
    rate: Decimal
    started_at: datetime
    minutes: int
    charged: Decimal
    hold_id: str | None


def naive(moment: datetime | None) -> datetime | None:
    """UTC as DATETIME(6) holds it."""
    return None if moment is None else moment.replace(tzinfo=None)


def hold_row(hold: Hold) -> HoldRow:
    return HoldRow(hold.model, hold.client, hold.client_name, hold.amount,
                   naive(hold.expires_at) or hold.expires_at, hold.purpose, hold.status,
                   hold.captured, hold.resolved_by)


def hold_rows(state: LedgerState, ids: Iterable[str] | None = None) -> dict[str, HoldRow]:
    holds = state.holds.holds
    chosen = holds.values() if ids is None else (holds[i] for i in ids if i in holds)
    return {hold.id: hold_row(hold) for hold in chosen}


def rate_rows(state: LedgerState) -> dict[str, tuple[Decimal, Decimal]]:
    """show_rates: model -> (private_rate, spy_rate)."""
    shows = state.shows
    models = shows.private_rates.keys() | shows.spy_rates.keys()
    return {m: (shows.private_rates.get(m, ZERO), shows.spy_rates.get(m, ZERO)) for m in models}


def show_row(show: Show) -> ShowRow:
    return ShowRow(show.model, show.client, show.client_name, show.rate, show.minute_s,
                   naive(show.requested_at) or show.requested_at, show.status,
                   naive(show.started_at), show.minutes, show.charged, show.hold_id)


def show_rows(state: LedgerState, ids: Iterable[str] | None = None) -> dict[str, ShowRow]:
    shows = state.shows.shows
    chosen = shows.values() if ids is None else (shows[i] for i in ids if i in shows)
    return {show.id: show_row(show) for show in chosen}


def spy_row(spy: Spy, model: str) -> SpyRow:
    return SpyRow(spy.show, model, spy.uuid, spy.name, spy.rate,
                  naive(spy.started_at) or spy.started_at, spy.minutes, spy.charged, spy.hold_id)


def spy_rows(state: LedgerState, models: Iterable[str] | None = None) -> dict[str, SpyRow]:
    """show_spies: the spyings not ended (of the shows of `models`, or of all)."""
    book = state.shows
    wanted = set(models) if models is not None else None
    return {
        spy.id: spy_row(spy, show.model)
        for show in book.shows.values()
        if show.status != ENDED and (wanted is None or show.model in wanted)
        for spy in show.spies.values()
    }


def as_tuple(key: str, row: HoldRow | ShowRow | SpyRow) -> tuple[Any, ...]:
    """(key, *row) in column order. Shallow (`dataclasses.astuple` deep-copies every Decimal
    and datetime: a fifth of a minute tick's CPU in the ledger)."""
    return (key, *(getattr(row, name) for name in row.__slots__))
