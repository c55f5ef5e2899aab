"""The rows each projection table holds, from the folded state: one owner per table.

The ledger writes the rows of what a batch touched (`projection_writes.py`); `rebuild` writes
and `audit` compare all of them (`readmodels/replay.py`). Both take them from here, so the live
tables and a replay can only differ by what happened to the tables, never by how rows were built.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from chatledger.domain.events import Event
from chatledger.domain.state import Goal, LedgerState, Pair


@dataclass(frozen=True, slots=True)
class GoalRow:
    """`goals`, keyed by the goal's uuid."""

    model_uuid: str
    name: str
    sum: Decimal
    require_sum: Decimal
    is_active: bool
    is_queued: bool = False  # waiting for every active goal to end (DESIGN §11)
    queue_seq: int | None = None  # a queued goal's place: the seq of its new_goal


@dataclass(frozen=True, slots=True)
class SponsorRow:
    """One row of the brief's `sponsors` table: a change of sponsor, keyed by its event."""

    model_uuid: str
    client_uuid: str


@dataclass(frozen=True, slots=True)
class RefundRow:
    """`refunds`, keyed by the refunded donation's event id."""

    model_uuid: str
    refund_id: str


@dataclass(frozen=True, slots=True)
class DeletionRow:
    """`deleted_messages`, keyed by the deleted message's event id."""

    model_uuid: str
    deletion_id: str


DayKey = tuple[str, date, str]  # donor_days' primary key: (model_uuid, day, client_uuid)
BANNED = "banned"  # the one value of a chat_bans row (the row is the fact)


def goal_row(goal: Goal, queued: bool = False) -> GoalRow:
    return GoalRow(goal.model, goal.name, goal.sum, goal.require_sum,
                   not (goal.reached or queued), queued, goal.queue_seq)


def goal_rows(state: LedgerState, models: set[str] | None = None) -> dict[str, GoalRow]:
    """Active and queued goals (of `models`, or all) and every goal closed in this fold."""
    rows = {goal.id: goal_row(goal) for goal in _of(state.goals, models) + state.closed_goals}
    rows.update((goal.id, goal_row(goal, True)) for goal in _of(state.queued_goals, models))
    return rows


def _of(goals: dict[str, list[Goal]], models: set[str] | None) -> list[Goal]:
    return [
        goal
        for model, chat_goals in goals.items()
        if models is None or model in models
        for goal in chat_goals
    ]


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


def setting_rows(state: LedgerState) -> dict[str, Decimal]:
    """chat_settings: model_uuid -> min_donation."""
    return dict(state.min_donations)


def mute_rows(state: LedgerState) -> dict[Pair, datetime]:
    """chat_mutes: (model_uuid, client_uuid) -> muted_until, naive UTC as DATETIME(6) holds it."""
    return {pair: until.replace(tzinfo=None) for pair, until in state.mutes.items()}


def ban_rows(state: LedgerState) -> dict[Pair, str]:
    """chat_bans: (model_uuid, client_uuid) of every client banned now."""
    return dict.fromkeys(state.bans, BANNED)


def donor_day_rows(state: LedgerState) -> dict[DayKey, Decimal]:
    """donor_days: (model_uuid, day, client_uuid) -> net total of that UTC day.

    In a replay the state holds the totals; in a ledger batch it holds the batch's changes only
    (nothing decides on them, so the store adds them to the rows instead of reading them first).
    """
    return {(model, day, client): total for (model, client, day), total in state.donor_days.items()}


def refund_rows(state: LedgerState, ids: Iterable[str] | None = None) -> dict[str, RefundRow]:
    """refunds: donation_id -> the refund (of the donations `ids`, or of every one folded)."""
    donations = state.donations
    chosen = donations.values() if ids is None else (donations[i] for i in ids)
    return {d.id: RefundRow(d.model, d.refund_id) for d in chosen if d.refund_id is not None}


def deletion_rows(state: LedgerState, ids: Iterable[str] | None = None) -> dict[str, DeletionRow]:
    """deleted_messages: message_id -> its deletion (of the messages `ids`, or of every one)."""
    messages = state.messages
    chosen = messages.values() if ids is None else (messages[i] for i in ids)
    return {
        m.id: DeletionRow(m.model, m.deletion_id) for m in chosen if m.deletion_id is not None
    }
