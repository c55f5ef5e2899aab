"""What `audit` checks of goals and their queue (DESIGN §6, §11), besides comparing the rows.

While folding, before each event changes the state:
- a donation fills exactly the goals active when it was decided: its `goals` name them (in any
  order), each at its sum plus the tip (never a queued goal, never an ended one);
- `goal_started` starts the first goal of its chat's queue, and only once no goal of the chat is
  active: queued goals start in order, one at a time, never beside an active batch;
- once a chat's command is folded (its events are consecutive in the stream), a chat with goals
  waiting has an active one: the queue never stalls.
At the end, each goal's row agrees with its sum: an active goal is below it, an ended goal
reached it, a queued goal is not active and holds nothing yet.
"""

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from chatledger.domain import events as ev
from chatledger.domain.events import Event
from chatledger.domain.state import ZERO, LedgerState
from chatledger.domain.wire import money
from chatledger.ledger.projection_rows import GoalRow

Fail = Callable[[str, str, str], None]
_MOVES_GOALS = frozenset({ev.NEW_GOAL, ev.END_GOAL, ev.GOAL_STARTED})


def _by_id(pair: tuple[str, Decimal | None]) -> str:
    return pair[0]  # never the sum: a damaged one may be missing


def _listed(goals: Sequence[tuple[str, Decimal | None]]) -> str:
    return ", ".join(f"{i} at {'?' if s is None else money(s)}" for i, s in goals) or "none"


def _amount(value: object) -> Decimal | None:
    """A sum as a damaged log may hold it: anything; None unless it is a number."""
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        return None
    return amount if amount.is_finite() else None


class GoalAudit:
    def __init__(self, fail: Fail) -> None:
        self.fail = fail
        self.unsettled: dict[str, tuple[str, str]] = {}  # chat -> (command, where) to check

    def before(self, state: LedgerState, event: Event, where: str) -> None:
        pending = self.unsettled.get(event.stream)
        if pending is not None and pending[0] != event.command_id:
            del self.unsettled[event.stream]
            self._check_not_stalled(state, event.stream, pending[1])
        if event.type == ev.DONATE:
            self._check_donation(state, event, where)
        elif event.type == ev.GOAL_STARTED:
            self._check_start(state, event, where)

    def after(self, event: Event, where: str) -> None:
        if event.type in _MOVES_GOALS:
            self.unsettled[event.stream] = (event.command_id, where)

    def finish(self, state: LedgerState, goals: Mapping[str, GoalRow]) -> None:
        for chat, (_, where) in sorted(self.unsettled.items()):
            self._check_not_stalled(state, chat, where)
        for goal_id, goal in sorted(goals.items()):
            reached = goal.sum >= goal.require_sum
            wrong = (goal.is_active or goal.sum != ZERO) if goal.is_queued else (
                reached == goal.is_active)
            if wrong:
                self.fail(
                    "goal_rule",
                    f"goals.uuid={goal_id}",
                    f"sum {money(goal.sum)} of {money(goal.require_sum)}"
                    f" but active={goal.is_active} queued={goal.is_queued}",
                )

    def _check_donation(self, state: LedgerState, event: Event, where: str) -> None:
        active = state.goals.get(event.stream, [])
        filled = event.payload.get("goals") or []
        # In any order: the ledger lists them as it loads them (`state_loader.py`), the replay
        # as they became active.
        want = sorted(((g.id, g.sum + (event.amount or ZERO)) for g in active), key=_by_id)
        have = sorted(((str(g.get("id")), _amount(g.get("sum"))) for g in filled), key=_by_id)
        if have != want:
            self.fail(
                "goal_fill", where,
                f"fills {_listed(have)}, the active goals were {_listed(want)}",
            )

    def _check_start(self, state: LedgerState, event: Event, where: str) -> None:
        goal_id = event.payload["goal"]["id"]
        waiting = state.queued_goals.get(event.stream, [])
        active = state.goals.get(event.stream, [])
        if not waiting or waiting[0].id != goal_id:
            first = waiting[0].id if waiting else None
            self.fail("goal_queue", where, f"starts {goal_id}, the first queued goal is {first}")
        elif active:
            self.fail("goal_queue", where,
                      f"starts {goal_id} while {[g.id for g in active]} are active")

    def _check_not_stalled(self, state: LedgerState, chat: str, where: str) -> None:
        waiting = state.queued_goals.get(chat)
        if waiting and not state.goals.get(chat):
            self.fail("goal_queue", where,
                      f"chat {chat}: {[g.id for g in waiting]} wait, but no goal is active")
