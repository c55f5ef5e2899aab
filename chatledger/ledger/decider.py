"""decide(command, state) -> events: every rule of the ledger, and no I/O.

A command either becomes facts or is refused. Refusals the person must hear about are facts too
(`donate_rejected`); commands that could never have been valid raise `CommandRefused`, which the
ledger records as handled so a poisoned command is not retried forever.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from chatledger.ledger import events as ev
from chatledger.ledger.commands import (
    Actor,
    AddGoal,
    Command,
    Deposit,
    Donate,
    Payout,
    PostMessage,
    RegisterConnection,
    stream_of,
)
from chatledger.ledger.events import Event, event_id_for
from chatledger.ledger.state import ZERO, Goal, LedgerState, evolve
from chatledger.ledger.wire import money

INSUFFICIENT_FUNDS = "insufficient funds"


class CommandRefused(Exception):
    """The command breaks a rule that the API should already have enforced."""


class _Facts:
    """Builds the events of one command: ids and seqs follow from the command and the state."""

    def __init__(self, command: Command, state: LedgerState, now: datetime) -> None:
        self.command_id = command.command_id
        self.stream = stream_of(command)
        self.version = state.versions.get(self.stream, 0)
        self.now = now
        self.events: list[Event] = []

    def add(
        self,
        type_: str,
        actor: Actor | None,
        *,
        is_public: bool = True,
        amount: Decimal | None = None,
        **payload: Any,
    ) -> None:
        index = len(self.events)
        self.events.append(
            Event(
                event_id=event_id_for(self.command_id, index),
                command_id=self.command_id,
                stream=self.stream,
                seq=self.version + index + 1,
                type=type_,
                actor=actor,
                is_public=is_public,
                amount=amount,
                created_at=self.now,
                payload=payload,
            )
        )


def decide(command: Command, state: LedgerState, now: datetime) -> list[Event]:
    refused = refusal(command)
    if refused is not None:
        raise CommandRefused(refused.reason)
    facts = _Facts(command, state, now)
    decider = _DECIDERS[type(command)]
    decider(command, state, facts)  # type: ignore[operator]
    return facts.events


def apply(command: Command, state: LedgerState, now: datetime) -> list[Event]:
    """Decide, then fold the decision into the state, so the next command sees it."""
    events = decide(command, state, now)
    for event in events:
        evolve(state, event)
    return events


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a command can never apply: `forbidden` when the asker may not, else what is asked."""

    reason: str
    forbidden: bool = False


def refusal(command: Command) -> Refusal | None:
    """The rules that need no state: who may do what, and sums above zero.

    The API answers them at once (403 or 400) by calling this very function; `decide` applies
    it again to whatever reaches the ledger.
    """
    if isinstance(command, Deposit | Payout):
        return None if command.amount > ZERO else Refusal("the amount must be positive")
    actor = command.actor
    if actor.role == "model" and actor.uuid != command.chat:
        return Refusal("a model acts only in its own chat", forbidden=True)
    if isinstance(command, PostMessage) and command.to is not None and actor.role != "model":
        return Refusal("to: only the model sends private replies")
    if isinstance(command, Donate):
        if actor.role != "client":
            return Refusal("only clients donate", forbidden=True)
        if command.amount <= ZERO:
            return Refusal("sum: a donation is positive")
    if isinstance(command, AddGoal):
        if actor.role != "model":
            return Refusal("only the model sets goals", forbidden=True)
        if command.require_sum <= ZERO:
            return Refusal("require_sum: a goal needs a positive sum")
    return None


def affordable(balance: Decimal | None, amount: Decimal) -> bool:
    """A donation or payout the balance covers (the ledger's check is the one that counts)."""
    return balance is not None and amount <= balance


def message_is_public(command: PostMessage) -> bool:
    """A private reply is private whatever the flag says."""
    return command.is_public and command.to is None


def _require_account(state: LedgerState, owner: str) -> Decimal:
    balance = state.balances.get(owner)
    if balance is None:
        raise CommandRefused(f"unknown account {owner}")
    return balance


def _require_model_chat(command: PostMessage | Donate | AddGoal, state: LedgerState) -> None:
    _require_account(state, command.chat)
    _require_account(state, command.actor.uuid)


def _message(command: PostMessage, state: LedgerState, facts: _Facts) -> None:
    _require_model_chat(command, state)
    facts.add(
        ev.MESSAGE,
        command.actor,
        is_public=message_is_public(command),
        message=command.text,
        to=command.to,
    )


def _donate(command: Donate, state: LedgerState, facts: _Facts) -> None:
    _require_model_chat(command, state)
    model, donor, amount = command.chat, command.actor.uuid, command.amount
    if not affordable(state.balances[donor], amount):
        facts.add(
            ev.DONATE_REJECTED,
            command.actor,
            is_public=False,
            amount=amount,
            reason=INSUFFICIENT_FUNDS,
            message=command.text,
        )
        return
    goals = state.goals.get(model, [])
    progress = [_goal_fact(goal, goal.sum + amount) for goal in goals]
    # Anonymous: the facts keep the donor (refunds and the audit need it), the wire hides it.
    hidden: dict[str, Any] = {ev.ANONYMOUS: True} if command.anonymous else {}
    facts.add(
        ev.DONATE,
        command.actor,
        is_public=command.is_public,
        amount=amount,
        message=command.text,
        goals=progress,
        **hidden,
    )
    for goal, after in zip(goals, progress, strict=True):
        if goal.sum + amount >= goal.require_sum:
            facts.add(ev.END_GOAL, command.actor, goal={**after, "reached": True}, **hidden)
    if not command.anonymous:  # an anonymous tip never makes a sponsor
        _maybe_change_sponsor(command, state, facts)


def _goal_fact(goal: Goal, sum_: Decimal) -> dict[str, Any]:
    """A goal as an event records it: where it stood once this event happened."""
    return {
        "id": goal.id,
        "name": goal.name,
        "sum": sum_,
        "require_sum": goal.require_sum,
        "reached": goal.reached,
    }


def _maybe_change_sponsor(command: Donate, state: LedgerState, facts: _Facts) -> None:
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


def _add_goal(command: AddGoal, state: LedgerState, facts: _Facts) -> None:
    _require_model_chat(command, state)
    goal = Goal(event_id_for(command.command_id, 0), command.chat, command.name,
                command.require_sum)
    facts.add(ev.NEW_GOAL, command.actor, goal=_goal_fact(goal, ZERO))


def _deposit(command: Deposit, state: LedgerState, facts: _Facts) -> None:
    _require_account(state, command.account)
    facts.add(ev.DEPOSITED, None, is_public=False, amount=command.amount)


def _payout(command: Payout, state: LedgerState, facts: _Facts) -> None:
    balance = _require_account(state, command.account)
    if not affordable(balance, command.amount):
        raise CommandRefused(f"{INSUFFICIENT_FUNDS}: balance {money(balance)}")
    facts.add(ev.PAID_OUT, None, is_public=False, amount=command.amount)


def _connection(command: RegisterConnection, state: LedgerState, facts: _Facts) -> None:
    """Connections are not facts of the chat: the store upserts them, nothing is appended."""


_DECIDERS: dict[type, Callable[..., None]] = {
    PostMessage: _message,
    Donate: _donate,
    AddGoal: _add_goal,
    Deposit: _deposit,
    Payout: _payout,
    RegisterConnection: _connection,
}
