"""The wire form of every event type (DESIGN §5), declared once as pydantic models.

`wire.event_to_wire` builds these shapes; the models describe them for /openapi.json and for
anyone reading `chat.events`. They are strict on purpose (every key required, no other key
allowed), so a test that validates the decider's real events through `event_to_wire` against
them fails as soon as the code and the models disagree.

`ChatEvent` is what a person sees (websocket and history); `BusEvent` is everything the ledger
publishes on `chat.events`, which adds the account-only events.
"""

from datetime import datetime
from typing import Annotated, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, RootModel

UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
Uuid = Annotated[str, Field(pattern=UUID_PATTERN, json_schema_extra={"format": "uuid"})]
MoneyText = Annotated[
    str, Field(pattern="^[0-9]+\\.[0-9]{2}$", description='Two decimals, never a float: "15.50".')
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Actor(_Strict):
    """Who did it: `from` of an event."""

    uuid: Uuid
    name: str
    role: Literal["client", "model"]


class Anonymous(_Strict):
    """`from` of an anonymous donation and its end_goal, for everyone (DESIGN §9)."""

    uuid: None
    name: Literal["anonymous"]
    role: Literal["client"]


class Goal(_Strict):
    """A goal where it stood once the event happened."""

    id: Uuid
    name: str
    sum: MoneyText
    require_sum: MoneyText
    reached: bool


class Sponsor(_Strict):
    uuid: Uuid
    name: str


class _Envelope(_Strict):
    """The keys every event has."""

    type: str  # each event type narrows it to its name: the union's discriminator
    id: Uuid = Field(description="The event id (unique, stable across redeliveries).")
    seq: int = Field(ge=1, description="The chat's version: consumers drop what they have seen.")
    chat: Uuid = Field(description="The model uuid (an account-only event: the owner's uuid).")
    is_public: bool
    from_: Actor | Anonymous | None = Field(alias="from")
    created_at: datetime


class MessageEvent(_Envelope):
    type: Literal["message"]
    message: str
    to: Uuid | None = Field(description="The client of a model's private reply.")
    audience: list[Uuid] | None = Field(
        None, description="During a private show (DESIGN §10): the show's client and spies, who"
        " see the model's and the client's messages (with the model); no one else does.")


class MenuItem(_Strict):
    """One priced action of a tip menu (DESIGN §10)."""

    id: str = Field(description="Stable while the label and price stay the same.")
    label: str = Field(min_length=1, max_length=100)
    price: MoneyText


class DonateEvent(_Envelope):
    type: Literal["donate"]
    sum: MoneyText
    message: str | None
    goals: list[Goal] = Field(description="Every active goal of the model, this tip included.")
    menu_item: MenuItem | None = Field(
        None, description="Only on a tip menu purchase: the item bought (its price is `sum`)."
    )


class DonateRejectedEvent(_Envelope):
    """Private to the donor: the ledger found the balance too low when it decided."""

    type: Literal["donate_rejected"]
    sum: MoneyText
    reason: str
    message: str | None


class ChangeSponsorEvent(_Envelope):
    type: Literal["change_sponsor"]
    sponsor: Sponsor
    previous: Uuid | None = Field(description="The sponsor before this one, if any.")
    total: MoneyText = Field(description="The new sponsor's total donated to the model.")


class NewGoalEvent(_Envelope):
    type: Literal["new_goal"]
    goal: Goal
    queued: bool = Field(
        False, description="Queued (DESIGN §11): it waits until every active goal has ended, then"
        " `goal_started` says so; a donation fills it only once it has started. Absent on goals"
        " set before the queue existed (they were not queued).")


class GoalStartedEvent(_Envelope):
    """A queued goal became active (from the model): donations fill it from now on."""

    type: Literal["goal_started"]
    goal: Goal


class EndGoalEvent(_Envelope):
    type: Literal["end_goal"]
    goal: Goal


class DonateRefundedEvent(_Envelope):
    """A donation taken back (a disputed payment): the sum went back from the model to the donor
    (`from`; anonymous if the donation was)."""

    type: Literal["donate_refunded"]
    sum: MoneyText = Field(description="The refunded donation's sum.")
    donation_id: Uuid = Field(description="The `id` of the refunded `donate` event.")
    reason: str | None
    goals: list[Goal] = Field(description="The active goals it lowered, as they stand after.")


class SettingsChangedEvent(_Envelope):
    """The chat's settings after the change: every field, changed or not. An event written
    before a field existed lacks it (`private_rate`, `spy_rate`: DESIGN §10; `pin_tiers`,
    `toy_levels`: §11); a reader takes a missing field as off."""

    type: Literal["settings_changed"]
    min_donation: MoneyText | None = Field(
        None, description="The chat's minimum tip from now on (0.00: none).")
    private_rate: MoneyText | None = Field(
        None, description="Per minute of a private show (0.00: none).")
    spy_rate: MoneyText | None = Field(
        None, description="Per minute of spying on a show (0.00: none).")
    pin_tiers: "list[PinTier] | None" = Field(
        None, description="Paid pins' tiers, strictly increasing in min ([]: no pins).")
    toy_levels: "list[ToyLevel] | None" = Field(
        None, description="The toy's levels, strictly increasing in min ([]: no toy).")


class Client(_Strict):
    """The client a moderation event is about."""

    uuid: Uuid
    name: str


class ViewerMutedEvent(_Envelope):
    """Until `until`, the client's messages and donation texts in this chat are refused."""

    type: Literal["viewer_muted"]
    client: Client
    seconds: int = Field(ge=1, le=86_400)
    until: datetime


class ViewerBannedEvent(_Envelope):
    """The client's every POST and websocket in this chat is refused; its sockets are closed."""

    type: Literal["viewer_banned"]
    client: Client


class ViewerUnbannedEvent(_Envelope):
    type: Literal["viewer_unbanned"]
    client: Client


class MessageDeletedEvent(_Envelope):
    """The message is gone from history; a page that shows it removes it."""

    type: Literal["message_deleted"]
    message_id: Uuid = Field(description="The `id` of the deleted `message` event.")


class MenuChangedEvent(_Envelope):
    """The chat's whole tip menu from now on (`items` empty: no menu)."""

    type: Literal["menu_changed"]
    version: int = Field(ge=1, description="Counts the chat's menus: 1, 2, ...")
    items: list[MenuItem] = Field(max_length=25)


class DepositedEvent(_Envelope):
    """Money in, on the account's own stream; never shown in a chat."""

    type: Literal["deposited"]
    sum: MoneyText


class PaidOutEvent(_Envelope):
    type: Literal["paid_out"]
    sum: MoneyText


from chatledger.api.extras_wire_models import (  # noqa: E402  (they build on the above)
    MessagePinnedEvent,
    PinExpiredEvent,
    PinRejectedEvent,
    PinRemovedEvent,
    PinStartedEvent,
    PinTier,
    ToyFinishedEvent,
    ToyLevel,
    ToyQueuedEvent,
    ToyRemovedEvent,
    ToyStartedEvent,
)
from chatledger.api.show_wire_models import (  # noqa: E402  (they build on the above)
    HoldCapturedEvent,
    HoldExpiredEvent,
    HoldPlacedEvent,
    HoldVoidedEvent,
    ShowChargedEvent,
    ShowEndedEvent,
    ShowRequestedEvent,
    ShowStartedEvent,
    SpyEndedEvent,
    SpyStartedEvent,
)

SettingsChangedEvent.model_rebuild()

ChatEvents: TypeAlias = (
    MessageEvent
    | DonateEvent
    | DonateRejectedEvent
    | ChangeSponsorEvent
    | NewGoalEvent
    | EndGoalEvent
    | GoalStartedEvent
    | DonateRefundedEvent
    | SettingsChangedEvent
    | ViewerMutedEvent
    | ViewerBannedEvent
    | ViewerUnbannedEvent
    | MessageDeletedEvent
    | MenuChangedEvent
    | HoldPlacedEvent
    | HoldCapturedEvent
    | HoldVoidedEvent
    | HoldExpiredEvent
    | ShowRequestedEvent
    | ShowStartedEvent
    | ShowEndedEvent
    | ShowChargedEvent
    | SpyStartedEvent
    | SpyEndedEvent
    | MessagePinnedEvent
    | PinRejectedEvent
    | PinStartedEvent
    | PinExpiredEvent
    | PinRemovedEvent
    | ToyQueuedEvent
    | ToyStartedEvent
    | ToyFinishedEvent
    | ToyRemovedEvent
)
AccountEvents = DepositedEvent | PaidOutEvent


class ChatEvent(RootModel[Annotated[ChatEvents, Field(discriminator="type")]]):
    """An event as the websocket and history deliver it (DESIGN §5)."""


class BusEvent(RootModel[Annotated[ChatEvents | AccountEvents, Field(discriminator="type")]]):
    """An event as the ledger publishes it on `chat.events`: chat events and account events."""

