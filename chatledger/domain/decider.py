"""decide(command, state) -> events: every rule of the ledger, and no I/O.

A command either becomes facts or is refused. Refusals the person must hear about are facts too
(`donate_rejected`); commands that could never have been valid raise `CommandRefused`, which the
ledger records as handled so a poisoned command is not retried forever.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from chatledger.domain import events as ev
from chatledger.domain.commands import (
    Actor,
    AddGoal,
    BanViewer,
    ChangeSettings,
    Command,
    DeleteMessage,
    Deposit,
    Donate,
    Moderation,
    MuteViewer,
    Payout,
    PostMessage,
    Refund,
    RegisterConnection,
    UnbanViewer,
    stream_of,
)
from chatledger.domain.events import Event, event_id_for
from chatledger.domain.state import ZERO, Donation, Goal, LedgerState, evolve
from chatledger.domain.wire import iso, money

INSUFFICIENT_FUNDS = "insufficient funds"
BELOW_MINIMUM = "below minimum"
MUTED = "muted"
BANNED = "banned"
MAX_MUTE_SECONDS = 86_400


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
    if isinstance(command, Refund):
        return None
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
    if isinstance(command, ChangeSettings | MuteViewer | BanViewer | UnbanViewer):
        return _model_only_refusal(command)
    return None


def _model_only_refusal(command: ChangeSettings | Moderation) -> Refusal | None:
    if command.actor.role != "model":
        return Refusal("only the model of the chat may do this", forbidden=True)
    if isinstance(command, ChangeSettings):
        if command.min_donation < ZERO:
            return Refusal("min_donation: must not be negative")
        return None
    if command.client == command.chat:
        return Refusal("client: the model cannot moderate itself")
    if isinstance(command, MuteViewer) and not 1 <= command.seconds <= MAX_MUTE_SECONDS:
        return Refusal(f"seconds: from 1 to {MAX_MUTE_SECONDS}")
    return None


def speaks(command: Command) -> bool:
    """What a mute silences: a message, or a donation's text (a plain tip still passes)."""
    return isinstance(command, PostMessage) or (
        isinstance(command, Donate) and command.text is not None
    )


def speech_refusal(state: LedgerState, chat: str, client: str, says_something: bool,
                   now: datetime) -> str | None:
    """Why a client may not speak (or tip) in a chat right now: banned, or muted and saying
    something (a plain tip passes a mute). The API asks its copy of the moderation state."""
    if (chat, client) in state.bans:
        return BANNED
    if says_something and state.is_muted(chat, client, now):
        return MUTED
    return None


def below_minimum(state: LedgerState, chat: str, amount: Decimal) -> bool:
    return amount < state.min_donations.get(chat, ZERO)


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
    refused = speech_refusal(state, command.chat, command.actor.uuid, speaks(command),
                             facts.now)
    if refused is not None:
        raise CommandRefused(refused)
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
    rejected = speech_refusal(state, model, donor, speaks(command), facts.now)
    if rejected is None and below_minimum(state, model, amount):
        rejected = BELOW_MINIMUM
    if rejected is None and not affordable(state.balances[donor], amount):
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
    # A public end_goal of a private tip must not name the donor either (DESIGN §6).
    unnamed: dict[str, Any] = {ev.ANONYMOUS: True} if hidden or not command.is_public else {}
    for goal, after in zip(goals, progress, strict=True):
        if goal.sum + amount >= goal.require_sum:
            facts.add(ev.END_GOAL, command.actor, goal={**after, "reached": True}, **unnamed)
    if not unnamed:  # an anonymous or private tip never makes a sponsor
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


def _refund(command: Refund, state: LedgerState, facts: _Facts) -> None:
    donation = state.donations.get(command.donation_id)
    if donation is None or donation.model != command.chat:
        raise CommandRefused(f"{command.donation_id} is not a donation")
    if donation.refund_id is not None:
        raise CommandRefused(f"{command.donation_id} was refunded already")
    model_balance = _require_account(state, donation.model)
    if not affordable(model_balance, donation.amount):
        raise CommandRefused(
            f"the model's balance {money(model_balance)} is below the sum {money(donation.amount)}"
        )
    _require_account(state, donation.donor.uuid)
    reduced = [
        _goal_fact(goal, goal.sum - donation.amount)
        for goal in state.goals.get(donation.model, ())
        if goal.id in donation.goal_ids
    ]
    hidden: dict[str, Any] = {ev.ANONYMOUS: True} if donation.anonymous else {}
    facts.add(
        ev.DONATE_REFUNDED,
        donation.donor,  # whose tip it was: the money goes back to them
        is_public=not donation.private,  # as private as the tip: the donor and the model
        amount=donation.amount,
        donation_id=donation.id,
        reason=command.reason,
        goals=reduced,
        **hidden,
    )
    if donation.ranked:
        _maybe_dethrone(donation, state, facts)


def _maybe_dethrone(refunded: Donation, state: LedgerState, facts: _Facts) -> None:
    """§6 again after a refund: the sponsor keeps the title unless someone is now strictly
    ahead (of several tied challengers, the lowest uuid, so a replay decides alike)."""
    model, donor = refunded.model, refunded.donor.uuid
    current = state.sponsors.get(model)
    if current is None or current.uuid != donor:
        return  # only the sponsor's own total fell; nobody else's rank changed
    remaining = state.donor_total(model, donor) - refunded.amount
    challengers = [
        (-total, client)
        for (chat, client), total in state.donor_totals.items()
        if chat == model and client != donor and total > remaining
    ]
    if not challengers:
        return
    negative_total, client = min(challengers)
    name = state.names.get(client, "")
    facts.add(
        ev.CHANGE_SPONSOR,
        Actor(client, name, "client"),
        sponsor={"uuid": client, "name": name},
        previous=donor,
        total=-negative_total,
    )


def _change_settings(command: ChangeSettings, state: LedgerState, facts: _Facts) -> None:
    _require_account(state, command.chat)
    facts.add(ev.SETTINGS_CHANGED, command.actor, min_donation=command.min_donation)


def moderation_refusal(state: LedgerState, command: Moderation,
                       target_kind: str | None) -> Refusal | None:
    """Only a client is moderated (`target_kind`: what the account is, None if there is none);
    a ban of a banned client or an unban of one not banned changes nothing, so it is refused.
    The API asks its copy of the bans with the kind it looked up."""
    if target_kind != "client":
        return Refusal(f"client: {command.client} is not a client")
    banned = (command.chat, command.client) in state.bans
    if isinstance(command, BanViewer) and banned:
        return Refusal("client: banned already")
    if isinstance(command, UnbanViewer) and not banned:
        return Refusal("client: not banned")
    return None


def _target_client(command: Moderation, state: LedgerState) -> dict[str, str]:
    _require_account(state, command.chat)
    refused = moderation_refusal(state, command, state.kinds.get(command.client))
    if refused is not None:
        raise CommandRefused(refused.reason)
    return {"uuid": command.client, "name": state.names.get(command.client, "")}


def _mute(command: MuteViewer, state: LedgerState, facts: _Facts) -> None:
    client = _target_client(command, state)
    until = facts.now + timedelta(seconds=command.seconds)
    facts.add(ev.VIEWER_MUTED, command.actor, client=client, seconds=command.seconds,
              until=iso(until))


def _ban(command: BanViewer, state: LedgerState, facts: _Facts) -> None:
    facts.add(ev.VIEWER_BANNED, command.actor, client=_target_client(command, state))


def _unban(command: UnbanViewer, state: LedgerState, facts: _Facts) -> None:
    facts.add(ev.VIEWER_UNBANNED, command.actor, client=_target_client(command, state))


def deletion_refusal(state: LedgerState, command: DeleteMessage) -> Refusal | None:
    """Only a live message of this chat, and only by the model or its author."""
    message = state.messages.get(command.message_id)
    if message is None or message.model != command.chat:
        return Refusal("id: no such message in this chat")
    if message.deletion_id is not None:
        return Refusal("id: the message is deleted already")
    if command.actor.role != "model" and command.actor.uuid != message.author:
        return Refusal("only the model or the author deletes a message", forbidden=True)
    return None


def _delete_message(command: DeleteMessage, state: LedgerState, facts: _Facts) -> None:
    refused = deletion_refusal(state, command)
    if refused is not None:
        raise CommandRefused(refused.reason)
    facts.add(ev.MESSAGE_DELETED, command.actor, message_id=command.message_id)


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
    Refund: _refund,
    ChangeSettings: _change_settings,
    MuteViewer: _mute,
    BanViewer: _ban,
    UnbanViewer: _unban,
    DeleteMessage: _delete_message,
}
