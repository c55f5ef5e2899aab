"""Paid pins and the toy queue (DESIGN §11), as the state keeps them, and their fold.

A pin is `queued`, then `showing`, then `expired` (its seconds ran out) or `removed` (a ban of
its buyer, a deletion); a chat has at most one pin showing. A toy turn (one per tip that reaches
a level; keyed by the tip's id) is `queued`, then `playing`, then `finished`, or `removed` (its
tip refunded before it began). The book keeps every pin and turn it folded (the audit needs the
ones that are over) and, per chat, the showing pin, the playing turn and the queues, so that
what comes next costs a look at the queue, not a scan of the chat's history.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

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
    def named(self) -> bool:
        """May the room be told whose tip this is (DESIGN §6)."""
        return self.public and not self.anonymous


@dataclass(slots=True)
class ExtrasBook:
    pin_tiers: dict[str, tuple[PinTier, ...]] = field(default_factory=dict)
    toy_levels: dict[str, tuple[ToyLevel, ...]] = field(default_factory=dict)
    pins: dict[str, Pin] = field(default_factory=dict)
    toys: dict[str, ToyTurn] = field(default_factory=dict)
    showing: dict[str, str] = field(default_factory=dict)  # model -> its pin showing
    playing: dict[str, str] = field(default_factory=dict)  # model -> its turn playing
    pin_queue: dict[str, dict[str, Pin]] = field(default_factory=dict)  # model -> queued pins
    toy_queue: dict[str, dict[str, ToyTurn]] = field(default_factory=dict)  # in seq order

    def showing_pin(self, model: str) -> Pin | None:
        pin_id = self.showing.get(model)
        return self.pins.get(pin_id) if pin_id else None

    def oldest_queued_pin(self, model: str) -> Pin | None:
        return min(self.pin_queue.get(model, {}).values(), key=lambda pin: pin.seq,
                   default=None)

    def queued_pins(self, model: str) -> list[Pin]:
        return sorted(self.pin_queue.get(model, {}).values(), key=lambda pin: pin.rank)

    def playing_turn(self, model: str) -> ToyTurn | None:
        turn = self.playing.get(model)
        return self.toys.get(turn) if turn else None

    def queued_turns(self, model: str) -> list[ToyTurn]:
        return sorted(self.toy_queue.get(model, {}).values(), key=lambda turn: turn.seq)

    def add_pin(self, pin: Pin) -> None:
        self.pins[pin.id] = pin
        if pin.status == QUEUED:
            self.pin_queue.setdefault(pin.model, {})[pin.id] = pin
        elif pin.status == SHOWING:
            self.showing[pin.model] = pin.id

    def add_turn(self, turn: ToyTurn) -> None:
        self.toys[turn.donation] = turn
        if turn.status == QUEUED:
            self.toy_queue.setdefault(turn.model, {})[turn.donation] = turn
        elif turn.status == PLAYING:
            self.playing[turn.model] = turn.donation


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


def _pin_started(book: ExtrasBook, balances: dict[str, Decimal], event: Event) -> None:
    pin = book.pins.get(event.payload["pin"])
    if pin is None:  # never decided so; a damaged log is the audit's to report
        return
    book.pin_queue.get(pin.model, {}).pop(pin.id, None)
    pin.status, pin.started_at = SHOWING, event.created_at
    pin.ends_at = parse_time(event.payload["ends_at"])
    book.showing[pin.model] = pin.id


def _pin_over(book: ExtrasBook, balances: dict[str, Decimal], event: Event) -> None:
    pin = book.pins.get(event.payload["pin"])
    if pin is None or pin.status not in (QUEUED, SHOWING):
        return
    book.pin_queue.get(pin.model, {}).pop(pin.id, None)
    if book.showing.get(pin.model) == pin.id:
        del book.showing[pin.model]
    pin.status = EXPIRED if event.type == ev.PIN_EXPIRED else REMOVED
    pin.ended_by = event.event_id


def _toy_queued(book: ExtrasBook, balances: dict[str, Decimal], event: Event) -> None:
    actor, p = event.actor, event.payload
    assert actor is not None
    book.add_turn(ToyTurn(p["donation"], event.stream, actor.uuid, actor.name, event.is_public,
                          bool(p.get(ev.ANONYMOUS)), int(p["level"]), int(p["seconds"]),
                          event.seq))


def _toy_started(book: ExtrasBook, balances: dict[str, Decimal], event: Event) -> None:
    turn = book.toys.get(event.payload["donation"])
    if turn is None:
        return
    book.toy_queue.get(turn.model, {}).pop(turn.donation, None)
    turn.status, turn.started_at = PLAYING, event.created_at
    turn.ends_at = parse_time(event.payload["ends_at"])
    book.playing[turn.model] = turn.donation


def _toy_over(book: ExtrasBook, balances: dict[str, Decimal], event: Event) -> None:
    turn = book.toys.get(event.payload["donation"])
    if turn is None or turn.status not in (QUEUED, PLAYING):
        return
    book.toy_queue.get(turn.model, {}).pop(turn.donation, None)
    if book.playing.get(turn.model) == turn.donation:
        del book.playing[turn.model]
    turn.status = FINISHED if event.type == ev.TOY_FINISHED else REMOVED
    turn.ended_by = event.event_id


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
