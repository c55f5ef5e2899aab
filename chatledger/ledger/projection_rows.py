"""The rows each projection table holds, from the folded state: one owner per table.

The ledger writes the rows of what a batch touched (`store.py`); `rebuild` writes and `audit`
compares all of them (`projections/replay.py`). Both take them from here, so the live tables and
a replay can only differ by what happened to the tables, never by how rows were built.
"""

from dataclasses import dataclass
from decimal import Decimal

from chatledger.ledger.events import Event
from chatledger.ledger.state import Goal, LedgerState


@dataclass(frozen=True, slots=True)
class GoalRow:
    """`goals`, keyed by the goal's uuid."""

    model_uuid: str
    name: str
    sum: Decimal
    require_sum: Decimal
    is_active: bool


@dataclass(frozen=True, slots=True)
class SponsorRow:
    """One row of the brief's `sponsors` table: a change of sponsor, keyed by its event."""

    model_uuid: str
    client_uuid: str


def goal_row(goal: Goal) -> GoalRow:
    return GoalRow(goal.model, goal.name, goal.sum, goal.require_sum, not goal.reached)


def goal_rows(state: LedgerState, models: set[str] | None = None) -> dict[str, GoalRow]:
    """Active goals (of `models`, or all) and every goal closed in this fold."""
    active = [
        goal
        for model, goals in state.goals.items()
        if models is None or model in models
        for goal in goals
    ]
    return {goal.id: goal_row(goal) for goal in active + state.closed_goals}


def balance_rows(state: LedgerState) -> dict[str, Decimal]:
    """accounts.balance by owner_uuid (an owner without events has 0, not a row here)."""
    return dict(state.balances)


def donor_total_rows(state: LedgerState) -> dict[tuple[str, str], Decimal]:
    """donor_totals: (model_uuid, client_uuid) -> total."""
    return dict(state.donor_totals)


def current_sponsor_rows(state: LedgerState) -> dict[str, tuple[str, str]]:
    """current_sponsors: model_uuid -> (client_uuid, client_name)."""
    return {model: (s.uuid, s.name) for model, s in state.sponsors.items()}


def sponsor_row(change: Event) -> SponsorRow:
    """The `sponsors` row a `change_sponsor` event adds."""
    return SponsorRow(change.stream, change.payload["sponsor"]["uuid"])
