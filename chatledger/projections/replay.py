"""A full replay of `chat_events` with the ledger's own fold, and the projection rows it implies.

`Replay` folds events (in `chat_events.id` order) through `evolve`, the very function the ledger
runs inline, and remembers the one thing the state does not keep: which `change_sponsor` events
happened (the `sponsors` table has a row per change). The `*_rows` functions turn the folded
state into the rows each projection table should hold, keyed like the table, so that `rebuild`
writes exactly these and `audit` compares the live tables with exactly these. No I/O here.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from chatledger.ledger import events as ev
from chatledger.ledger.events import Event
from chatledger.projections.state import LedgerState, evolve


@dataclass(frozen=True, slots=True)
class GoalRow:
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


@dataclass(slots=True)
class Replay:
    state: LedgerState = field(default_factory=LedgerState)
    sponsor_changes: dict[str, SponsorRow] = field(default_factory=dict)
    position: int = 0  # the highest chat_events.id folded
    count: int = 0

    def fold(self, event: Event, position: int) -> None:
        evolve(self.state, event)
        if event.type == ev.CHANGE_SPONSOR:
            self.sponsor_changes[event.event_id] = SponsorRow(
                event.stream, event.payload["sponsor"]["uuid"]
            )
        self.position = max(self.position, position)
        self.count += 1


def balance_rows(replay: Replay) -> dict[str, Decimal]:
    """accounts.balance by owner_uuid (an owner without events has 0, not a row here)."""
    return dict(replay.state.balances)


def goal_rows(replay: Replay) -> dict[str, GoalRow]:
    state = replay.state
    goals = [goal for active in state.goals.values() for goal in active] + state.closed_goals
    return {
        goal.id: GoalRow(goal.model, goal.name, goal.sum, goal.require_sum, not goal.reached)
        for goal in goals
    }


def donor_total_rows(replay: Replay) -> dict[tuple[str, str], Decimal]:
    return dict(replay.state.donor_totals)


def current_sponsor_rows(replay: Replay) -> dict[str, tuple[str, str]]:
    """current_sponsors: model_uuid -> (client_uuid, client_name)."""
    return {model: (s.uuid, s.name) for model, s in replay.state.sponsors.items()}


def sponsor_rows(replay: Replay) -> dict[str, SponsorRow]:
    """sponsors: event_id -> the change it records."""
    return dict(replay.sponsor_changes)
