"""Money on hold (DESIGN §10), as the state keeps it: TigerBeetle's pending transfers.

A hold is placed open and resolved exactly once: captured (up to its amount moves client →
model, the rest is released), voided or expired (nothing moves). The book keeps every hold it
folded (the audit needs the resolved ones to see a second resolution) and, per client, the sum of
the open ones, so `available` costs a lookup. The ledger folds only the open holds of the
accounts a batch locked (`ledger/state_loader.py`); a replay folds all of them.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from chatledger.domain import events as ev
from chatledger.domain.events import Event

ZERO = Decimal("0.00")
OPEN = "open"


@dataclass(slots=True)
class Hold:
    id: str
    model: str
    client: str
    client_name: str
    amount: Decimal
    expires_at: datetime
    purpose: str
    status: str = OPEN  # open | captured | voided | expired
    captured: Decimal | None = None
    resolved_by: str | None = None  # the event that resolved it

    @property
    def is_open(self) -> bool:
        return self.status == OPEN

    def copied(self) -> "Hold":
        """A copy (positional: `copy.copy` of a slotted dataclass goes through __reduce_ex__,
        several times slower, for each hold a batch recalls)."""
        return Hold(self.id, self.model, self.client, self.client_name, self.amount,
                    self.expires_at, self.purpose, self.status, self.captured, self.resolved_by)


@dataclass(slots=True)
class HoldBook:
    holds: dict[str, Hold] = field(default_factory=dict)
    held: dict[str, Decimal] = field(default_factory=dict)  # client -> sum of open holds
    # model -> its holds' ids, in order: the clock asks every chat's, over thousands of holds
    of_model: dict[str, dict[str, None]] = field(default_factory=dict)

    def held_by(self, client: str) -> Decimal:
        return self.held.get(client, ZERO)

    def add(self, hold: Hold) -> None:
        self.holds[hold.id] = hold
        self.of_model.setdefault(hold.model, {})[hold.id] = None
        if hold.is_open:
            self.held[hold.client] = self.held_by(hold.client) + hold.amount

    def resolve(self, hold_id: str, status: str, event_id: str,
                captured: Decimal | None = None) -> Hold | None:
        """Close an open hold; None (nothing changes) if it is unknown or resolved already:
        the decider never decides so, and a damaged log is the audit's to report."""
        hold = self.holds.get(hold_id)
        if hold is None or not hold.is_open:
            return None
        hold.status, hold.captured, hold.resolved_by = status, captured, event_id
        self.held[hold.client] = self.held_by(hold.client) - hold.amount
        return hold

    def open_of_chat(self, model: str) -> list[Hold]:
        found = (self.holds[hold_id] for hold_id in self.of_model.get(model, ()))
        return [hold for hold in found if hold.is_open and hold.model == model]


def fold_hold(book: HoldBook, balances: dict[str, Decimal], event: Event) -> None:
    """`evolve` for the hold events: the book, and the money a capture moves."""
    payload = event.payload
    if event.type == ev.HOLD_PLACED:
        actor = event.actor
        book.add(Hold(
            payload["hold_id"], event.stream, payload["client"], actor.name if actor else "",
            Decimal(payload["amount"]), parse_time(payload["expires_at"]), payload["purpose"],
        ))
        return
    status = _STATUS[event.type]
    captured = Decimal(payload["amount"]) if event.type == ev.HOLD_CAPTURED else None
    hold = book.resolve(payload["hold_id"], status, event.event_id, captured)
    if hold is not None and captured:
        balances[hold.client] = balances.get(hold.client, ZERO) - captured
        balances[hold.model] = balances.get(hold.model, ZERO) + captured


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


_STATUS = {ev.HOLD_CAPTURED: "captured", ev.HOLD_VOIDED: "voided", ev.HOLD_EXPIRED: "expired"}
HOLD_TYPES = frozenset({ev.HOLD_PLACED, *_STATUS})
