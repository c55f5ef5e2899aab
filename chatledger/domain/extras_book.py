"""Paid pins and the toy queue (DESIGN §11), as the state keeps them, and their fold.

A pin is `queued`, then `showing`, then `expired` (its seconds ran out) or `removed` (a ban of
its buyer, a deletion); a chat has at most one pin showing. A toy turn (one per tip that reaches
a level; keyed by the tip's id) is `queued`, then `playing`, then `finished`, or `removed` (its
tip refunded before it began). The book keeps every pin and turn it folded (the audit needs the
ones that are over) and, per chat, the showing pin, the playing turn and the queues, so that
what comes next costs a look at the queue, not a scan of the chat's history.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from chatledger.domain import events as ev
from chatledger.domain.commands import PinTier, ToyLevel
from chatledger.domain.events import Event

ZERO = Decimal("0.00")
QUEUED, SHOWING, EXPIRED, REMOVED = "queued", "showing", "expired", "removed"
PLAYING, FINISHED = "playing", "finished"


@dataclass(slots=True)
class Pin:
    id: str  # the message_pinned event
    model: str
    client: str
    client_name: str
    message: str
    amount: Decimal
    seconds: int
    seq: int  # its place in the chat: of two pins of the same sum, the older shows first
    bought_at: datetime
    status: str = QUEUED
    started_at: datetime | None = None
    ends_at: datetime | None = None
    ended_by: str | None = None  # the pin_expired or pin_removed event

    @property
    def key(self) -> str:
        return self.id

    @property
    def rank(self) -> tuple[Decimal, int]:
        """The queue's order: the highest sum first, then the oldest."""
        return (-self.amount, self.seq)


@dataclass(slots=True)
class ToyTurn:
    donation: str  # the tip's donate event
    model: str
    donor: str
    donor_name: str
    public: bool  # as the tip: a private tip's turn names nobody to the room
    anonymous: bool
    level: int
    seconds: int
    seq: int
    status: str = QUEUED
    started_at: datetime | None = None
    ends_at: datetime | None = None
    ended_by: str | None = None

    @property
    def key(self) -> str:
        return self.donation

    @property
    def named(self) -> bool:
        """May the room be told whose tip this is (DESIGN §6)."""
        return self.public and not self.anonymous


class OnePlay(Protocol):
    """What a lineup holds: a pin or a toy turn."""

    model: str
    status: str
    started_at: datetime | None
    ends_at: datetime | None
    ended_by: str | None

    @property
    def key(self) -> str: ...


Item = TypeVar("Item", bound=OnePlay)


@dataclass(slots=True)
class Lineup(Generic[Item]):
    """Paid items that play one at a time per chat: each item ever folded, by key; per chat,
    the one on (`on_status`: a pin showing, a turn playing) and the queue (in `order`)."""

    on_status: str
    order: Callable[[Item], Any]
    all: dict[str, Item] = field(default_factory=dict)
    on: dict[str, str] = field(default_factory=dict)  # model -> the key of its item on
    queue: dict[str, dict[str, Item]] = field(default_factory=dict)  # model -> queued, by key

    def current(self, model: str) -> Item | None:
        key = self.on.get(model)
        return self.all.get(key) if key else None

    def queued(self, model: str) -> list[Item]:
        return sorted(self.queue.get(model, {}).values(), key=self.order)

    def is_queued(self, model: str, key: str) -> bool:
        return key in self.queue.get(model, {})

    def add(self, item: Item) -> None:
        self.all[item.key] = item
        if item.status == QUEUED:
            self.queue.setdefault(item.model, {})[item.key] = item
        elif item.status == self.on_status:
            self.on[item.model] = item.key

    def start(self, item: Item, at: datetime, ends_at: datetime | None) -> None:
        self.queue.get(item.model, {}).pop(item.key, None)
        item.status, item.started_at, item.ends_at = self.on_status, at, ends_at
        self.on[item.model] = item.key

    def end(self, item: Item, status: str, by: str) -> None:
        self.queue.get(item.model, {}).pop(item.key, None)
        if self.on.get(item.model) == item.key:
            del self.on[item.model]
        item.status, item.ended_by = status, by


def _by_rank(pin: Pin) -> tuple[Decimal, int]:
    return pin.rank


def _by_seq(item: Pin | ToyTurn) -> int:
    return item.seq


@dataclass(slots=True)
class ExtrasBook:
    pin_tiers: dict[str, tuple[PinTier, ...]] = field(default_factory=dict)
    toy_levels: dict[str, tuple[ToyLevel, ...]] = field(default_factory=dict)
    pin_lineup: Lineup[Pin] = field(default_factory=lambda: Lineup(SHOWING, _by_rank))
    toy_lineup: Lineup[ToyTurn] = field(default_factory=lambda: Lineup(PLAYING, _by_seq))

    @property
    def pins(self) -> dict[str, Pin]:
        return self.pin_lineup.all

    @property
    def toys(self) -> dict[str, ToyTurn]:
        return self.toy_lineup.all

    def showing_pin(self, model: str) -> Pin | None:
        return self.pin_lineup.current(model)

    def queued_pins(self, model: str) -> list[Pin]:
        return self.pin_lineup.queued(model)

    def oldest_queued_pin(self, model: str) -> Pin | None:
        return min(self.pin_lineup.queue.get(model, {}).values(), key=_by_seq, default=None)

    def playing_turn(self, model: str) -> ToyTurn | None:
        return self.toy_lineup.current(model)

    def queued_turns(self, model: str) -> list[ToyTurn]:
        return self.toy_lineup.queued(model)

    def add_pin(self, pin: Pin) -> None:
        self.pin_lineup.add(pin)

    def add_turn(self, turn: ToyTurn) -> None:
        self.toy_lineup.add(turn)


def fold_settings(book: ExtrasBook, event: Event) -> None:
    """A `settings_changed` names the chat's settings after it: the tiers and levels it carries
    (an event older than the feature carries neither)."""
    tiers, levels = event.payload.get("pin_tiers"), event.payload.get("toy_levels")
    if tiers is not None:
        book.pin_tiers[event.stream] = tuple(
            PinTier(Decimal(t["min"]), int(t["seconds"])) for t in tiers)
    if levels is not None:
        book.toy_levels[event.stream] = tuple(
            ToyLevel(Decimal(t["min"]), int(t["level"]), int(t["seconds"])) for t in levels)


def fold_extra(book: ExtrasBook, balances: dict[str, Decimal], event: Event) -> None:
    """`evolve` for the pin and toy events: the book, and the money a pin moves."""
    handler = _FOLDS.get(event.type)
    if handler is not None:
        handler(book, balances, event)


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _pinned(book: ExtrasBook, balances: dict[str, Decimal], event: Event) -> None:
    actor, amount, p = event.actor, event.amount, event.payload
    assert actor is not None and amount is not None
    balances[actor.uuid] = balances.get(actor.uuid, ZERO) - amount
    balances[event.stream] = balances.get(event.stream, ZERO) + amount
    book.add_pin(Pin(p["pin"], event.stream, actor.uuid, actor.name, p["message"], amount,
                     int(p["seconds"]), event.seq, event.created_at))


def _toy_queued(book: ExtrasBook, balances: dict[str, Decimal], event: Event) -> None:
    actor, p = event.actor, event.payload
    assert actor is not None
    book.add_turn(ToyTurn(p["donation"], event.stream, actor.uuid, actor.name, event.is_public,
                          bool(p.get(ev.ANONYMOUS)), int(p["level"]), int(p["seconds"]),
                          event.seq))


def _started(lineup: Lineup[Any], name: str, event: Event) -> None:
    item = lineup.all.get(event.payload[name])
    if item is None:  # never decided so; a damaged log is the audit's to report
        return
    lineup.start(item, event.created_at, parse_time(event.payload["ends_at"]))


def _over(lineup: Lineup[Any], name: str, ran_out: str, ended: str, event: Event) -> None:
    """`ran_out` is the event type of an item whose time ran out, `ended` the status it gets."""
    item = lineup.all.get(event.payload[name])
    if item is None or item.status not in (QUEUED, lineup.on_status):
        return
    lineup.end(item, ended if event.type == ran_out else REMOVED, event.event_id)


def _pin_started(book: ExtrasBook, balances: dict[str, Decimal], event: Event) -> None:
    _started(book.pin_lineup, "pin", event)


def _pin_over(book: ExtrasBook, balances: dict[str, Decimal], event: Event) -> None:
    _over(book.pin_lineup, "pin", ev.PIN_EXPIRED, EXPIRED, event)


def _toy_started(book: ExtrasBook, balances: dict[str, Decimal], event: Event) -> None:
    _started(book.toy_lineup, "donation", event)


def _toy_over(book: ExtrasBook, balances: dict[str, Decimal], event: Event) -> None:
    _over(book.toy_lineup, "donation", ev.TOY_FINISHED, FINISHED, event)


_FOLDS = {
    ev.MESSAGE_PINNED: _pinned,
    ev.PIN_STARTED: _pin_started,
    ev.PIN_EXPIRED: _pin_over,
    ev.PIN_REMOVED: _pin_over,
    ev.TOY_QUEUED: _toy_queued,
    ev.TOY_STARTED: _toy_started,
    ev.TOY_FINISHED: _toy_over,
    ev.TOY_REMOVED: _toy_over,
}
