"""Commands: what a person asked for. The ledger decides what they become."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

Role = Literal["client", "model"]


@dataclass(frozen=True, slots=True)
class Actor:
    uuid: str
    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class PostMessage:
    command_id: str
    chat: str
    actor: Actor
    text: str
    is_public: bool
    to: str | None = None


@dataclass(frozen=True, slots=True)
class Donate:
    command_id: str
    chat: str
    actor: Actor
    amount: Decimal
    text: str | None = None
    is_public: bool = True
    anonymous: bool = False  # shown as "anonymous"; never a sponsor (the ledger still knows)
    menu_item: str | None = None  # a tip menu item's id: the amount must be its price


@dataclass(frozen=True, slots=True)
class AddGoal:
    command_id: str
    chat: str
    actor: Actor
    name: str
    require_sum: Decimal
    queued: bool = False  # waits until every active goal has ended (DESIGN §11)


@dataclass(frozen=True, slots=True)
class RegisterConnection:
    command_id: str
    chat: str
    actor: Actor
    connection_id: str


@dataclass(frozen=True, slots=True)
class Deposit:
    command_id: str
    account: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Payout:
    command_id: str
    account: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class PinTier:
    """A pin of at least `min` shows for `seconds` (DESIGN §11)."""

    min: Decimal
    seconds: int


@dataclass(frozen=True, slots=True)
class ToyLevel:
    """A tip of at least `min` plays the toy at `level` for `seconds` (DESIGN §11)."""

    min: Decimal
    level: int
    seconds: int


@dataclass(frozen=True, slots=True)
class ChangeSettings:
    command_id: str
    chat: str
    actor: Actor
    min_donation: Decimal | None  # 0 is no minimum; None (here and below): left as it is
    private_rate: Decimal | None = None  # per minute of a private show; 0 turns shows off
    spy_rate: Decimal | None = None
    pin_tiers: tuple[PinTier, ...] | None = None  # (): no pins
    toy_levels: tuple[ToyLevel, ...] | None = None  # (): no toy


@dataclass(frozen=True, slots=True)
class PinMessage:
    """A client pays `amount` to pin `text` on top of the chat (DESIGN §11)."""

    command_id: str
    chat: str
    actor: Actor
    text: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class MenuEntry:
    """One priced action as the model asks for it (its id is the decider's: `menu.py`)."""

    label: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class SetMenu:
    command_id: str
    chat: str
    actor: Actor
    items: tuple[MenuEntry, ...]  # empty: no menu


@dataclass(frozen=True, slots=True)
class MuteViewer:
    command_id: str
    chat: str
    actor: Actor
    client: str
    seconds: int


@dataclass(frozen=True, slots=True)
class BanViewer:
    command_id: str
    chat: str
    actor: Actor
    client: str


@dataclass(frozen=True, slots=True)
class UnbanViewer:
    command_id: str
    chat: str
    actor: Actor
    client: str


@dataclass(frozen=True, slots=True)
class DeleteMessage:
    command_id: str
    chat: str
    actor: Actor
    message_id: str


@dataclass(frozen=True, slots=True)
class Refund:
    """An operator takes a donation back (a disputed card payment): no person acts in the chat."""

    command_id: str
    chat: str
    donation_id: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RequestShow:
    """A client asks the model for a private show (DESIGN §10); minutes last `minute_s`."""

    command_id: str
    chat: str
    actor: Actor
    minute_s: float
    timeout_s: float = 60.0  # unanswered this long, it is declined (shows.REQUEST_TIMEOUT_S)


ShowVerb = Literal["accept", "decline", "end", "spy", "spy_end"]


@dataclass(frozen=True, slots=True)
class ShowAction:
    """What a person does to the chat's show `show`: the model accepts or declines it, the
    client or the model ends it, another client spies on it or stops."""

    command_id: str
    chat: str
    actor: Actor
    verb: ShowVerb
    show: str


@dataclass(frozen=True, slots=True)
class Tick:
    """The ledger's clock (ledger/clock.py): `what` of the chat fell due at `due`.

    No person acts: the decider decides it with `due` and the state, never the wall clock, and
    its command id is derived from (chat, what, due), so a tick produced twice applies once."""

    command_id: str
    chat: str
    what: str
    due: datetime


Moderation = MuteViewer | BanViewer | UnbanViewer
ChatCommand = (
    PostMessage | Donate | AddGoal | RegisterConnection | ChangeSettings | Moderation
    | DeleteMessage
    | SetMenu
    | RequestShow
    | ShowAction
    | PinMessage
)
Command = ChatCommand | Refund | Deposit | Payout | Tick
_ACCOUNT_COMMANDS = (Deposit, Payout)  # made once: `A | B` in a call builds a union each time


def stream_of(command: Command) -> str:
    """The stream a command's events append to: the chat, or the account for money in/out."""
    if isinstance(command, _ACCOUNT_COMMANDS):
        return command.account
    return command.chat
