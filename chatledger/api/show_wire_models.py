"""The wire form of the hold and show events (DESIGN §10), beside `wire_models.py`'s."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from chatledger.api.wire_models import MoneyText, Uuid, _Envelope


class _AboutShow(_Envelope):
    show: Uuid = Field(description="The show's id: the `id` of its `show_requested` event.")


class _HoldEvent(_Envelope):
    hold_id: Uuid
    show: Uuid | None = None
    spy: Uuid | None = None


class HoldPlacedEvent(_HoldEvent):
    """Money put on hold: not spendable until the hold is captured, voided or expired."""

    type: Literal["hold_placed"]
    client: Uuid
    amount: MoneyText
    expires_at: datetime
    purpose: str


class HoldCapturedEvent(_HoldEvent):
    """`amount` (at most the held sum) moved from the client to the model; the rest released."""

    type: Literal["hold_captured"]
    amount: MoneyText


class HoldVoidedEvent(_HoldEvent):
    type: Literal["hold_voided"]


class HoldExpiredEvent(_HoldEvent):
    type: Literal["hold_expired"]


class ShowRequestedEvent(_AboutShow):
    """Private to the client and the model."""

    type: Literal["show_requested"]
    rate: MoneyText
    minute_s: float = Field(description="How long a billed minute lasts, in seconds.")


class ShowStartedEvent(_AboutShow):
    """Public; `from` is the model: it names no client."""

    type: Literal["show_started"]


class ShowEndedEvent(_AboutShow):
    type: Literal["show_ended"]
    reason: Literal["client", "model", "declined", "insufficient_funds", "disconnected"]


class ShowChargedEvent(_AboutShow):
    type: Literal["show_charged"]
    client: Uuid
    minutes: int = Field(ge=0)
    charged: MoneyText


class SpyStartedEvent(_AboutShow):
    type: Literal["spy_started"]
    spy: Uuid
    rate: MoneyText


class SpyEndedEvent(_AboutShow):
    type: Literal["spy_ended"]
    spy: Uuid
    reason: Literal["client", "show_ended", "insufficient_funds", "disconnected"]
    minutes: int = Field(ge=0)
    charged: MoneyText
