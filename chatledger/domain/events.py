"""Events: past-tense facts, one row of `chat_events` each (DESIGN §5)."""

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from chatledger.domain.commands import Actor

MESSAGE: Final = "message"
DONATE: Final = "donate"
DONATE_REJECTED: Final = "donate_rejected"
CHANGE_SPONSOR: Final = "change_sponsor"
END_GOAL: Final = "end_goal"
NEW_GOAL: Final = "new_goal"
GOAL_STARTED: Final = "goal_started"  # a queued goal starts (DESIGN §11): domain/goals.py
DEPOSITED: Final = "deposited"
PAID_OUT: Final = "paid_out"
DONATE_REFUNDED: Final = "donate_refunded"
SETTINGS_CHANGED: Final = "settings_changed"
VIEWER_MUTED: Final = "viewer_muted"
VIEWER_BANNED: Final = "viewer_banned"
VIEWER_UNBANNED: Final = "viewer_unbanned"
MESSAGE_DELETED: Final = "message_deleted"
MENU_CHANGED: Final = "menu_changed"
# Holds and shows (DESIGN §10): domain/holds.py, domain/shows.py.
HOLD_PLACED: Final = "hold_placed"
HOLD_CAPTURED: Final = "hold_captured"
HOLD_VOIDED: Final = "hold_voided"
HOLD_EXPIRED: Final = "hold_expired"
SHOW_REQUESTED: Final = "show_requested"
SHOW_STARTED: Final = "show_started"
SHOW_ENDED: Final = "show_ended"
SHOW_CHARGED: Final = "show_charged"
SPY_STARTED: Final = "spy_started"
SPY_ENDED: Final = "spy_ended"
SHOW_TYPES: Final = frozenset(
    {HOLD_PLACED, HOLD_CAPTURED, HOLD_VOIDED, HOLD_EXPIRED, SHOW_REQUESTED, SHOW_STARTED,
     SHOW_ENDED, SHOW_CHARGED, SPY_STARTED, SPY_ENDED}
)

# Paid pins and the toy queue (DESIGN §11): domain/extras.py, domain/extras_book.py.
MESSAGE_PINNED: Final = "message_pinned"
PIN_REJECTED: Final = "pin_rejected"
PIN_STARTED: Final = "pin_started"
PIN_EXPIRED: Final = "pin_expired"
PIN_REMOVED: Final = "pin_removed"
TOY_QUEUED: Final = "toy_queued"
TOY_STARTED: Final = "toy_started"
TOY_FINISHED: Final = "toy_finished"
TOY_REMOVED: Final = "toy_removed"
EXTRAS_TYPES: Final = frozenset(
    {MESSAGE_PINNED, PIN_REJECTED, PIN_STARTED, PIN_EXPIRED, PIN_REMOVED, TOY_QUEUED,
     TOY_STARTED, TOY_FINISHED, TOY_REMOVED}
)

MODERATION_TYPES: Final = frozenset({VIEWER_MUTED, VIEWER_BANNED, VIEWER_UNBANNED})
CHAT_TYPES: Final = frozenset(
    {MESSAGE, DONATE, DONATE_REJECTED, CHANGE_SPONSOR, END_GOAL, NEW_GOAL, DONATE_REFUNDED,
     SETTINGS_CHANGED, MESSAGE_DELETED, MENU_CHANGED, GOAL_STARTED}
    | MODERATION_TYPES | SHOW_TYPES | EXTRAS_TYPES
)
ACCOUNT_TYPES: Final = frozenset({DEPOSITED, PAID_OUT})

# A donation's events (donate, end_goal) carry it: their `from` is shown as ANONYMOUS_ACTOR.
ANONYMOUS: Final = "anonymous"

# Payload keys that hold money, at any depth (a goal's `sum` inside `goals`): Decimals in an
# event, rendered with two decimals on the wire (`wire.money`), read back as Decimals (`rows`).
MONEY_FIELDS: Final = frozenset(
    {"sum", "total", "require_sum", "min_donation", "price", "amount", "charged", "rate",
     "private_rate", "spy_rate", "min"}
)


# Values that are neither a mapping nor a list, so `map_money` leaves them as they are: told by
# their exact type, without the ABC check `isinstance(value, Mapping)` costs each of them.
_LEAVES: Final = frozenset({str, int, bool, float, Decimal, type(None)})


def map_money(value: Any, convert: Callable[[Any], Any]) -> Any:
    """A copy of a payload (or part of one) with `convert` applied to every money field."""
    if type(value) in _LEAVES:
        return value
    if isinstance(value, Mapping):
        return {
            key: convert(item) if key in MONEY_FIELDS and item is not None
            else item if type(item) in _LEAVES else map_money(item, convert)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [map_money(item, convert) for item in value]
    return value

_EVENT_NAMESPACE: Final = uuid.UUID("6f1c2d4e-9a57-4b8e-8f0a-2c3e5d7b9a11")
_NAMESPACED: Final = hashlib.sha1(_EVENT_NAMESPACE.bytes)  # copied, then fed the name
# The RFC 4122 variant in the 17th hex digit: its two top bits set to 10 (0-3 -> 8, 4-7 -> 9...).
_VARIANT: Final = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def event_id_for(command_id: str, index: int) -> str:
    """Deterministic: replaying a command yields the very same event ids.

    Exactly `str(uuid.uuid5(_EVENT_NAMESPACE, f"{command_id}/{index}"))` (`uuid5_text`).
    """
    return uuid5_text(_NAMESPACED, f"{command_id}/{index}")


def uuid5_text(namespaced: "hashlib._Hash", name: str) -> str:
    """`str(uuid.uuid5(namespace, name))` (RFC 4122 §4.3), `namespaced` being
    `hashlib.sha1(namespace.bytes)`, built without the UUID object, which was half the cost of
    deciding a donation in the ledger: the hex digest's 13th digit becomes the version (5), its
    17th carries the variant."""
    digest = namespaced.copy()
    digest.update(name.encode())
    h = digest.hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    command_id: str
    stream: str
    seq: int
    type: str
    actor: Actor | None
    is_public: bool
    amount: Decimal | None
    created_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
