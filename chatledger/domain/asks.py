"""The rules the API asks before the ledger does: who may do what, sums above zero, speech under
a mute or a ban, the minimum tip, a private reply's recipient.

Each is a pure function the API calls to answer at once (403 or 400); the decider applies the
very same function again to whatever reaches the ledger.
"""

from datetime import datetime
from decimal import Decimal

from chatledger.domain.commands import (
    AddGoal,
    BanViewer,
    ChangeSettings,
    Command,
    Deposit,
    Donate,
    Moderation,
    MuteViewer,
    Payout,
    PinMessage,
    PostMessage,
    Refund,
    SetMenu,
    Tick,
    UnbanViewer,
)
from chatledger.domain.extras_settings import MAX_PIN_TEXT, settings_refusal
from chatledger.domain.facts import Refusal
from chatledger.domain.menu import menu_refusal
from chatledger.domain.state import ZERO, LedgerState

BELOW_MINIMUM = "below minimum"
MUTED = "muted"
BANNED = "banned"
MAX_MUTE_SECONDS = 86_400
MONEY_SETTINGS = ("min_donation", "private_rate", "spy_rate")
SETTINGS_FIELDS = (*MONEY_SETTINGS, "pin_tiers", "toy_levels")  # what POST /chat/settings sets
# The kinds of command the rules below tell apart, as tuples made once: `A | B` in a call builds
# a new union each time (the ledger asks these of every command it decides).
_MONEY_MOVES = (Deposit, Payout)
_UNACTED = (Refund, Tick)  # no actor: a refund is the operator's, a tick the clock's
_MODEL_ONLY = (ChangeSettings, MuteViewer, BanViewer, UnbanViewer)
_SPOKEN = (PostMessage, PinMessage)


def refusal(command: Command) -> Refusal | None:
    """The rules that need no state: who may do what, and sums above zero."""
    if isinstance(command, _MONEY_MOVES):
        return None if command.amount > ZERO else Refusal("the amount must be positive")
    if isinstance(command, _UNACTED):
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
    if isinstance(command, PinMessage):
        return _pin_refusal(command)
    if isinstance(command, AddGoal):
        if actor.role != "model":
            return Refusal("only the model sets goals", forbidden=True)
        if command.require_sum <= ZERO:
            return Refusal("require_sum: a goal needs a positive sum")
    if isinstance(command, _MODEL_ONLY):
        return _model_only_refusal(command)
    if isinstance(command, SetMenu):
        return menu_refusal(command)
    return None


def _pin_refusal(command: PinMessage) -> Refusal | None:
    if command.actor.role != "client":
        return Refusal("only clients pin messages", forbidden=True)
    if command.amount <= ZERO:
        return Refusal("sum: a pin is positive")
    if not 1 <= len(command.text) <= MAX_PIN_TEXT or not command.text.strip():
        return Refusal(f"message: from 1 to {MAX_PIN_TEXT} characters, not only whitespace")
    return None


def _model_only_refusal(command: ChangeSettings | Moderation) -> Refusal | None:
    if command.actor.role != "model":
        return Refusal("only the model of the chat may do this", forbidden=True)
    if isinstance(command, ChangeSettings):
        for name in MONEY_SETTINGS:
            value = getattr(command, name)
            if value is not None and value < ZERO:
                return Refusal(f"{name}: must not be negative")
        return settings_refusal(command)
    if command.client == command.chat:
        return Refusal("client: the model cannot moderate itself")
    if isinstance(command, MuteViewer) and not 1 <= command.seconds <= MAX_MUTE_SECONDS:
        return Refusal(f"seconds: from 1 to {MAX_MUTE_SECONDS}")
    return None


def recipient_refusal(command: PostMessage, recipient_kind: str | None) -> Refusal | None:
    """A model's private reply goes to a client (`recipient_kind`: what the `to` account is,
    None if there is none)."""
    if command.to is not None and recipient_kind != "client":
        return Refusal("to: no such client")
    return None


def speaks(command: Command) -> bool:
    """What a mute silences: a message, or a donation's text (a plain tip still passes)."""
    return isinstance(command, _SPOKEN) or (
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
