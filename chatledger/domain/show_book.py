"""Private and spy shows (DESIGN §10), as the state keeps them, and their fold.

A show is `requested` (its first minute on hold), then `running` (minute 1 begins when it
starts), then `ended`; a chat has at most one show that is not ended (`current`). Minutes are
counted by the holds placed for them: the request's hold is minute 1's, each later hold of the
show (or of a spy) begins one more minute. What a show has charged is the sum of its captures.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from chatledger.domain import events as ev
from chatledger.domain.events import Event

ZERO = Decimal("0.00")
REQUESTED, RUNNING, ENDED = "requested", "running", "ended"


@dataclass(slots=True)
class Spy:
    id: str  # the spy_started event
    show: str
    uuid: str
    name: str
    rate: Decimal
    started_at: datetime
    minutes: int = 0
    charged: Decimal = ZERO
    hold_id: str | None = None

    def copied(self) -> "Spy":
        return Spy(self.id, self.show, self.uuid, self.name, self.rate, self.started_at,
                   self.minutes, self.charged, self.hold_id)


@dataclass(slots=True)
class Show:
    id: str  # the show_requested event
    model: str
    client: str
    client_name: str
    rate: Decimal
    minute_s: float
    requested_at: datetime
    status: str = REQUESTED
    started_at: datetime | None = None
    minutes: int = 0
    charged: Decimal = ZERO
    hold_id: str | None = None
    spies: dict[str, Spy] = field(default_factory=dict)  # spy uuid -> its spying

    def copied(self) -> "Show":
        """A copy sharing its spies' dict (`copy.copy`'s, positionally: several times faster)."""
        return Show(self.id, self.model, self.client, self.client_name, self.rate,
                    self.minute_s, self.requested_at, self.status, self.started_at, self.minutes,
                    self.charged, self.hold_id, self.spies)

    def audience(self) -> list[str]:
        """Who sees the show's private messages besides the model."""
        return [self.client, *self.spies]


@dataclass(slots=True)
class ShowBook:
    private_rates: dict[str, Decimal] = field(default_factory=dict)  # model -> per minute
    spy_rates: dict[str, Decimal] = field(default_factory=dict)
    shows: dict[str, Show] = field(default_factory=dict)
    current: dict[str, str] = field(default_factory=dict)  # model -> its show not ended
    spies: dict[str, Spy] = field(default_factory=dict)  # spy id -> spying not ended

    def current_show(self, model: str) -> Show | None:
        show_id = self.current.get(model)
        return self.shows.get(show_id) if show_id else None

    def running_show(self, model: str) -> Show | None:
        show = self.current_show(model)
        return show if show is not None and show.status == RUNNING else None

    def add(self, show: Show) -> None:
        self.shows[show.id] = show
        if show.status != ENDED:
            self.current[show.model] = show.id
        for spy in show.spies.values():
            self.spies[spy.id] = spy


def fold_show(book: ShowBook, event: Event) -> None:
    handler = _FOLDS.get(event.type)
    if handler is not None:
        handler(book, event)


def fold_rates(book: ShowBook, event: Event) -> None:
    """A `settings_changed` names the chat's settings after it: the rates it carries."""
    for key, rates in (("private_rate", book.private_rates), ("spy_rate", book.spy_rates)):
        if event.payload.get(key) is not None:
            rates[event.stream] = Decimal(event.payload[key])


def _requested(book: ShowBook, event: Event) -> None:
    p, actor = event.payload, event.actor
    assert actor is not None
    book.add(Show(p["show"], event.stream, actor.uuid, actor.name, Decimal(p["rate"]),
                  float(p["minute_s"]), event.created_at))


def _started(book: ShowBook, event: Event) -> None:
    show = book.shows.get(event.payload["show"])
    if show is not None:
        show.status, show.started_at, show.minutes = RUNNING, event.created_at, 1


def _ended(book: ShowBook, event: Event) -> None:
    show = book.shows.get(event.payload["show"])
    if show is not None:
        show.status = ENDED
        book.current.pop(show.model, None)
        for spy in show.spies.values():
            book.spies.pop(spy.id, None)
        show.spies.clear()


def _spy_started(book: ShowBook, event: Event) -> None:
    show = book.shows.get(event.payload["show"])
    actor = event.actor
    if show is not None and actor is not None:
        spy = Spy(event.event_id, show.id, actor.uuid, actor.name, Decimal(event.payload["rate"]),
                  event.created_at)
        show.spies[actor.uuid] = spy
        book.spies[spy.id] = spy


def _spy_ended(book: ShowBook, event: Event) -> None:
    show = book.shows.get(event.payload["show"])
    if show is not None:
        spy = show.spies.pop(event.payload["spy"], None)
        if spy is not None:
            book.spies.pop(spy.id, None)


def _billed(book: ShowBook, payload: dict[str, object]) -> tuple[Show | None, Spy | None]:
    """The show a hold event bills, and its spy when it bills a spy (an ended spying: none)."""
    show = book.shows.get(str(payload.get("show") or ""))
    if show is None or payload.get("spy") is None:
        return show, None
    spy = show.spies.get(str(payload["spy"]))
    return (show, spy) if spy is not None else (None, None)


def _hold_placed(book: ShowBook, event: Event) -> None:
    """A hold for a show or a spy begins its next minute (a request's hold: minute 1's)."""
    show, spy = _billed(book, event.payload)
    hold_id = event.payload["hold_id"]
    if spy is not None:
        spy.hold_id, spy.minutes = hold_id, spy.minutes + 1
    elif show is not None:
        show.hold_id = hold_id
        if show.status == RUNNING:
            show.minutes += 1


def _hold_captured(book: ShowBook, event: Event) -> None:
    show, spy = _billed(book, event.payload)
    amount = Decimal(event.payload["amount"])
    if spy is not None:
        spy.charged += amount
    elif show is not None:
        show.charged += amount


_FOLDS = {
    ev.SHOW_REQUESTED: _requested,
    ev.SHOW_STARTED: _started,
    ev.SHOW_ENDED: _ended,
    ev.SPY_STARTED: _spy_started,
    ev.SPY_ENDED: _spy_ended,
    ev.HOLD_PLACED: _hold_placed,
    ev.HOLD_CAPTURED: _hold_captured,
}
