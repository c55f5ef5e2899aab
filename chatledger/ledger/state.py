"""The state the rules need, and `evolve`: how one event changes it.

The same fold runs inline in the ledger (over the rows a batch touches), in `rebuild` and in
`audit` (over all of `chat_events`). It updates the state in place because a full replay folds
millions of events into one state; `decide` never mutates it.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from chatledger.ledger import events as ev
from chatledger.ledger.events import Event

ZERO = Decimal("0.00")


@dataclass(slots=True)
class Goal:
    id: str
    model: str
    name: str
    require_sum: Decimal
    sum: Decimal = ZERO
    reached: bool = False


@dataclass(slots=True)
class Sponsor:
    uuid: str
    name: str


@dataclass(slots=True)
class LedgerState:
    """Balances by owner; active goals by model; donor totals by (model, client); sponsors."""

    versions: dict[str, int] = field(default_factory=dict)
    balances: dict[str, Decimal] = field(default_factory=dict)
    goals: dict[str, list[Goal]] = field(default_factory=dict)
    donor_totals: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    sponsors: dict[str, Sponsor] = field(default_factory=dict)
    closed_goals: list[Goal] = field(default_factory=list)

    def donor_total(self, model: str, client: str) -> Decimal:
        return self.donor_totals.get((model, client), ZERO)


def evolve(state: LedgerState, event: Event) -> LedgerState:
    state.versions[event.stream] = event.seq
    handler = _EVOLVERS.get(event.type)
    if handler is not None:
        handler(state, event)
    return state


def _credit(state: LedgerState, owner: str, amount: Decimal) -> None:
    state.balances[owner] = state.balances.get(owner, ZERO) + amount


def _deposited(state: LedgerState, event: Event) -> None:
    assert event.amount is not None
    _credit(state, event.stream, event.amount)


def _paid_out(state: LedgerState, event: Event) -> None:
    assert event.amount is not None
    _credit(state, event.stream, -event.amount)


def _donated(state: LedgerState, event: Event) -> None:
    assert event.amount is not None and event.actor is not None
    model, donor = event.stream, event.actor.uuid
    _credit(state, donor, -event.amount)
    _credit(state, model, event.amount)
    if not event.payload.get(ev.ANONYMOUS):  # anonymous tips rank nobody
        state.donor_totals[(model, donor)] = state.donor_total(model, donor) + event.amount
    for goal in state.goals.get(model, ()):
        goal.sum += event.amount


def _goal_added(state: LedgerState, event: Event) -> None:
    raw = event.payload["goal"]
    goal = Goal(raw["id"], event.stream, raw["name"], Decimal(raw["require_sum"]))
    state.goals.setdefault(event.stream, []).append(goal)


def _goal_ended(state: LedgerState, event: Event) -> None:
    goal_id = event.payload["goal"]["id"]
    active = state.goals.get(event.stream, [])
    for goal in active:
        if goal.id == goal_id:
            goal.reached = True
            state.closed_goals.append(goal)
    state.goals[event.stream] = [goal for goal in active if goal.id != goal_id]


def _sponsor_changed(state: LedgerState, event: Event) -> None:
    sponsor = event.payload["sponsor"]
    state.sponsors[event.stream] = Sponsor(sponsor["uuid"], sponsor["name"])


_EVOLVERS = {
    ev.DEPOSITED: _deposited,
    ev.PAID_OUT: _paid_out,
    ev.DONATE: _donated,
    ev.NEW_GOAL: _goal_added,
    ev.END_GOAL: _goal_ended,
    ev.CHANGE_SPONSOR: _sponsor_changed,
}
