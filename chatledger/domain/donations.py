"""Tips, goals and the sponsor (DESIGN §6): a donation moves money, fills every active goal,
ends the goals it reaches (the last one ending starts the next queued goal: `goals.py`), and
may crown a new sponsor.

What follows from an anonymous or a private tip never names its donor publicly: an end_goal it
causes is from `anonymous` on the wire, and it never makes a sponsor.
"""

from typing import Any

from chatledger.domain import events as ev
from chatledger.domain.asks import BELOW_MINIMUM, affordable, below_minimum, speaks, speech_refusal
from chatledger.domain.commands import AddGoal, Donate
from chatledger.domain.events import event_id_for
from chatledger.domain.extras import queue_toy
from chatledger.domain.facts import Facts, require_account
from chatledger.domain.goals import goal_fact, start_next
from chatledger.domain.menu import MENU_CHANGED, menu_changed, purchase_fact
from chatledger.domain.state import ZERO, Goal, LedgerState

INSUFFICIENT_FUNDS = "insufficient funds"


def require_model_chat(command: Any, state: LedgerState) -> None:
    require_account(state, command.chat)
    require_account(state, command.actor.uuid)


def donate(command: Donate, state: LedgerState, facts: Facts) -> None:
    require_model_chat(command, state)
    model, donor, amount = command.chat, command.actor.uuid, command.amount
    rejected = speech_refusal(state, model, donor, speaks(command), facts.now)
    if rejected is None and menu_changed(state, command):
        rejected = MENU_CHANGED
    if rejected is None and below_minimum(state, model, amount):
        rejected = BELOW_MINIMUM
    if rejected is None and not affordable(state.available(donor), amount):
        rejected = INSUFFICIENT_FUNDS
    if rejected is not None:
        facts.add(
            ev.DONATE_REJECTED,
            command.actor,
            is_public=False,
            amount=amount,
            reason=rejected,
            message=command.text,
        )
        return
    goals = state.goals.get(model, [])
    progress = [goal_fact(goal, goal.sum + amount) for goal in goals]
    # Anonymous: the facts keep the donor (refunds and the audit need it), the wire hides it.
    hidden: dict[str, Any] = {ev.ANONYMOUS: True} if command.anonymous else {}
    donation_id = facts.next_id()
    facts.add(
        ev.DONATE,
        command.actor,
        is_public=command.is_public,
        amount=amount,
        message=command.text,
        goals=progress,
        **hidden,
        **purchase_fact(state, command),
    )
    # A public end_goal of a private tip must not name the donor either (DESIGN §6).
    unnamed: dict[str, Any] = {ev.ANONYMOUS: True} if hidden or not command.is_public else {}
    ended = 0
    for goal, after in zip(goals, progress, strict=True):
        if goal.sum + amount >= goal.require_sum:
            facts.add(ev.END_GOAL, command.actor, goal={**after, "reached": True}, **unnamed)
            ended += 1
    if goals and ended == len(goals):  # the last active goal ended: the queue moves on
        start_next(model, state, facts, state.queued_goals.get(model, ()))
    if not unnamed:  # an anonymous or private tip never makes a sponsor
        _maybe_change_sponsor(command, state, facts)
    queue_toy(state, facts, command, donation_id)


def _maybe_change_sponsor(command: Donate, state: LedgerState, facts: Facts) -> None:
    model, donor = command.chat, command.actor.uuid
    total = state.donor_total(model, donor) + command.amount
    current = state.sponsors.get(model)
    if current is not None and (
        current.uuid == donor or total <= state.donor_total(model, current.uuid)
    ):
        return
    facts.add(
        ev.CHANGE_SPONSOR,
        command.actor,
        sponsor={"uuid": donor, "name": command.actor.name},
        previous=current.uuid if current else None,
        total=total,
    )


def add_goal(command: AddGoal, state: LedgerState, facts: Facts) -> None:
    require_model_chat(command, state)
    goal = Goal(event_id_for(command.command_id, 0), command.chat, command.name,
                command.require_sum)
    facts.add(ev.NEW_GOAL, command.actor, goal=goal_fact(goal, ZERO), queued=command.queued)
    if command.queued and not state.goals.get(command.chat):  # nothing to wait for
        start_next(command.chat, state, facts, [*state.queued_goals.get(command.chat, ()), goal])
