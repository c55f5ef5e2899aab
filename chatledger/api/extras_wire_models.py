"""The wire form of the paid pin and toy events (DESIGN §11), beside `wire_models.py`'s."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from chatledger.api.wire_models import MoneyText, Uuid, _Envelope, _Strict


class PinTier(_Strict):
    """A pin of at least `min` shows for `seconds`."""

    min: MoneyText
    seconds: int = Field(ge=1, le=18_000)


class ToyLevel(_Strict):
    """A tip of at least `min` plays the toy at `level` for `seconds`."""

    min: MoneyText
    level: int = Field(ge=1, le=20)
    seconds: int = Field(ge=1, le=600)


class _AboutPin(_Envelope):
    pin: Uuid = Field(description="The pin's id: the `id` of its `message_pinned` event.")


class MessagePinnedEvent(_AboutPin):
    """A client paid `sum` (client → model, like a tip) to pin `message` for `seconds`. It
    shows at once (a `pin_started` follows in the same decision) or waits its turn."""

    type: Literal["message_pinned"]
    sum: MoneyText
    message: str = Field(min_length=1, max_length=200)
    seconds: int = Field(ge=1, le=18_000, description="The tier its sum reached.")


class PinRejectedEvent(_Envelope):
    """Private to the buyer: the ledger refused the pin when it decided; nothing moved."""

    type: Literal["pin_rejected"]
    sum: MoneyText
    reason: str
    message: str


class PinStartedEvent(_AboutPin):
    """The pin now on top of the chat, until `ends_at` (from its buyer)."""

    type: Literal["pin_started"]
    message: str
    sum: MoneyText
    seconds: int = Field(ge=1, le=18_000)
    ends_at: datetime


class PinExpiredEvent(_AboutPin):
    """The showing pin's seconds ran out; the next pin, if any, starts in the same decision."""

    type: Literal["pin_expired"]


class PinRemovedEvent(_AboutPin):
    """A pin taken down without refund (`from`: who removed it): its buyer was banned, or the
    model or the buyer deleted it."""

    type: Literal["pin_removed"]
    reason: Literal["banned", "deleted"]


class _AboutTurn(_Envelope):
    donation: Uuid = Field(description="The `id` of the tip whose turn it is.")


class ToyQueuedEvent(_AboutTurn):
    """A tip reached a toy level: its turn joins the queue. As private and as anonymous as the
    tip (`from` is `anonymous` for an anonymous tip)."""

    type: Literal["toy_queued"]
    level: int = Field(ge=1, le=20)
    seconds: int = Field(ge=1, le=600)


class ToyStartedEvent(_AboutTurn):
    """The toy plays this turn until `ends_at`. From the model: it names no donor."""

    type: Literal["toy_started"]
    level: int = Field(ge=1, le=20)
    seconds: int = Field(ge=1, le=600)
    ends_at: datetime


class ToyFinishedEvent(_AboutTurn):
    type: Literal["toy_finished"]


class ToyRemovedEvent(_AboutTurn):
    """The tip was refunded before its turn began: the turn is gone (as private as the tip)."""

    type: Literal["toy_removed"]
    reason: Literal["refunded"]
