"""decide(command, state) -> events: every rule of the ledger, and no I/O.

This module is the dispatch: which concern decides which command (`_DECIDERS`). The rules live
by concern beside it: `asks.py` (what the API asks first), `donations.py` (tips, goals,
sponsor), `refunds.py`, `moderation.py`; `facts.py` builds the events and the refusals. A
command either becomes facts or is refused (`CommandRefused`; see `facts.py`).
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from chatledger.domain import events as ev
from chatledger.domain.asks import (
    BANNED,
    BELOW_MINIMUM,
    MAX_MUTE_SECONDS,
    MUTED,
    affordable,
    below_minimum,
    message_is_public,
    recipient_refusal,
    refusal,
    speaks,
    speech_refusal,
)
from chatledger.domain.commands import (
    AddGoal,
    BanViewer,
    ChangeSettings,
    Command,
    DeleteMessage,
    Deposit,
    Donate,
    MuteViewer,
    Payout,
    PinMessage,
    PostMessage,
    Refund,
    RegisterConnection,
    RequestShow,
    SetMenu,
    ShowAction,
    Tick,
    UnbanViewer,
)
from chatledger.domain.donations import INSUFFICIENT_FUNDS, add_goal, donate, require_model_chat
from chatledger.domain.events import Event
from chatledger.domain.extra_ticks import extra_tick, is_extra_tick
from chatledger.domain.extras import pin
from chatledger.domain.facts import CommandRefused, Facts, Refusal, refuse_if, require_account
from chatledger.domain.menu import set_menu
from chatledger.domain.moderation import (
    ban,
    change_settings,
    delete_message,
    deletion_refusal,
    moderation_refusal,
    mute,
    unban,
)
from chatledger.domain.refunds import refund
from chatledger.domain.show_ticks import tick
from chatledger.domain.shows import act, request_show, show_audience
from chatledger.domain.state import LedgerState, evolve
from chatledger.domain.wire import money

__all__ = [  # what the API, the CLI and the rules cache ask of the decider
    "BANNED", "BELOW_MINIMUM", "INSUFFICIENT_FUNDS", "MAX_MUTE_SECONDS", "MUTED",
    "CommandRefused", "Refusal", "affordable", "apply", "below_minimum", "decide",
    "deletion_refusal", "message_is_public", "moderation_refusal", "recipient_refusal",
    "refusal", "speaks", "speech_refusal",
]


def decide(command: Command, state: LedgerState, now: datetime) -> list[Event]:
    refuse_if(refusal(command))
    facts = Facts(command, state, now)
    decider = _DECIDERS[type(command)]
    decider(command, state, facts)
    return facts.events


def apply(command: Command, state: LedgerState, now: datetime) -> list[Event]:
    """Decide, then fold the decision into the state, so the next command sees it."""
    events = decide(command, state, now)
    for event in events:
        evolve(state, event)
    return events


def _message(command: PostMessage, state: LedgerState, facts: Facts) -> None:
    require_model_chat(command, state)
    refused = speech_refusal(state, command.chat, command.actor.uuid, speaks(command),
                             facts.now)
    if refused is not None:
        raise CommandRefused(refused)
    audience = show_audience(state, command)
    show: dict[str, Any] = {} if audience is None else {"audience": audience}
    facts.add(
        ev.MESSAGE,
        command.actor,
        is_public=message_is_public(command) and audience is None,
        message=command.text,
        to=command.to,
        **show,
    )


def _deposit(command: Deposit, state: LedgerState, facts: Facts) -> None:
    require_account(state, command.account)
    facts.add(ev.DEPOSITED, None, is_public=False, amount=command.amount)


def _payout(command: Payout, state: LedgerState, facts: Facts) -> None:
    require_account(state, command.account)
    available = state.available(command.account)  # money on hold is not the owner's to take
    if not affordable(available, command.amount):
        raise CommandRefused(f"{INSUFFICIENT_FUNDS}: available {money(available)}")
    facts.add(ev.PAID_OUT, None, is_public=False, amount=command.amount)


def _tick(command: Tick, state: LedgerState, facts: Facts) -> None:
    """Shows' ticks (`show_ticks.py`) and pins' and the toy's (`extra_ticks.py`)."""
    (extra_tick if is_extra_tick(command) else tick)(command, state, facts)


def _connection(command: RegisterConnection, state: LedgerState, facts: Facts) -> None:
    """Connections are not facts of the chat: the store upserts them, nothing is appended."""


_DECIDERS: dict[type, Callable[..., None]] = {
    PostMessage: _message,
    Donate: donate,
    AddGoal: add_goal,
    Deposit: _deposit,
    Payout: _payout,
    RegisterConnection: _connection,
    Refund: refund,
    ChangeSettings: change_settings,
    MuteViewer: mute,
    BanViewer: ban,
    UnbanViewer: unban,
    DeleteMessage: delete_message,
    SetMenu: set_menu,
    RequestShow: request_show,
    ShowAction: act,
    Tick: _tick,
    PinMessage: pin,
}
