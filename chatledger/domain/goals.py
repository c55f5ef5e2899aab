"""Goals and their queue (DESIGN §6, §11): a goal as events record it, and when a queued goal
starts.

Guarantees kept here, with `state.evolve` folding them:
- A queued goal waits while any goal of its chat is active; when the last active goal ends, the
  first queued one starts (`goal_started`, public, from the model), one at a time, in the order
  queued. So a chat never has goals waiting and none active.
- A queued goal added while no goal is active starts at once, with the same `goal_started` (the
  model asked to queue it behind nothing): every queued goal starts through one event.
- Only what was active when a donation is decided gets it: the tip that ends the last active goal
  is all in that goal (and the ones it ended with); the goal it starts begins at 0.
"""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from chatledger.domain import events as ev
from chatledger.domain.commands import Actor
from chatledger.domain.facts import Facts
from chatledger.domain.state import ZERO, Goal, LedgerState


def goal_fact(goal: Goal, sum_: Decimal) -> dict[str, Any]:
    """A goal as an event records it: where it stood once this event happened."""
    return {
        "id": goal.id,
        "name": goal.name,
        "sum": sum_,
        "require_sum": goal.require_sum,
        "reached": goal.reached,
    }


def start_next(chat: str, state: LedgerState, facts: Facts, waiting: Sequence[Goal]) -> None:
    """No goal of the chat is active any more: the first of `waiting` (the queue) starts."""
    if waiting:
        model = Actor(chat, state.names.get(chat, ""), "model")
        facts.add(ev.GOAL_STARTED, model, goal=goal_fact(waiting[0], ZERO))
