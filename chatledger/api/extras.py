"""DESIGN §11's paid extras: `POST /chat/pin`, `GET /chat/pins`, `GET /chat/toy` (the tiers and
levels are settings: `moderation.post_settings`).

POST is a command endpoint like the others (201 once on Kafka, the ledger decides). What the API
can tell at once it refuses with the decider's own rules: a viewer banned or muted (403, from
the rules cache: a pin speaks), a chat without tiers or a sum below the lowest (400, over the
tiers read by the ledger's own loader: one read, pins are rare next to tips), a sum above the
buyer's available balance (402). The GETs read the projection rows the ledger writes in the
batch that decides (`pins`, `toy_turns`): what a page shows is what the ledger decided, within
the time its transaction takes to commit.
"""

from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chatledger.api.command_routes import Rejected, command_endpoint, principal_of
from chatledger.api.extras_wire_models import ToyLevel
from chatledger.api.openapi_types import Operation, Prose, Reply
from chatledger.api.response_models import Forbidden, InsufficientFunds, Unauthorized, Unavailable
from chatledger.api.schemas import PinBody, SettingsBody
from chatledger.api.wire_models import Actor, Anonymous, MoneyText, Uuid
from chatledger.domain import commands as cmd
from chatledger.domain.commands import ChatCommand, PinMessage
from chatledger.domain.extras import pin_refusal
from chatledger.domain.extras_book import ExtrasBook, Pin, ToyTurn
from chatledger.domain.state import LedgerState
from chatledger.domain.wire import ANONYMOUS_ACTOR, iso, money
from chatledger.ledger import extras_store
from chatledger.web import responses
from chatledger.web.auth import Principal
from chatledger.web.keys import DATABASE, DIRECTORY


def extras_settings(
    body: SettingsBody,
) -> tuple[tuple[cmd.PinTier, ...] | None, tuple[cmd.ToyLevel, ...] | None]:
    """The tiers and levels a settings body names (None: left as they are)."""
    tiers = None if body.pin_tiers is None else tuple(
        cmd.PinTier(t.min, t.seconds) for t in body.pin_tiers)
    levels = None if body.toy_levels is None else tuple(
        cmd.ToyLevel(t.min, t.level, t.seconds) for t in body.toy_levels)
    return tiers, levels


async def _chat_state(request: web.Request, chat: str, *, settings_only: bool) -> LedgerState:
    state = LedgerState()
    async with request.app[DATABASE].connection() as connection, \
            connection.raw_connection.cursor() as cur:
        if settings_only:
            await extras_store.load_settings(cur, state, [chat])
        else:
            await extras_store.load_chat(cur, state, [chat])
    return state


async def build_pin(
    request: web.Request, principal: Principal, command_id: str, body: PinBody
) -> ChatCommand:
    return PinMessage(command_id, principal.chat, principal.person.as_actor(), body.message,
                      body.sum)


async def pin_allowed(request: web.Request, command: PinMessage) -> None:
    state = await _chat_state(request, command.chat, settings_only=True)
    refused = pin_refusal(state, command.chat, command.amount)
    if refused is not None:
        raise Rejected(responses.bad_params([refused]))
    if not await request.app[DIRECTORY].affords(command.actor.uuid, command.amount):
        raise Rejected(responses.insufficient_funds())


post_pin = command_endpoint(PinBody, build_pin, pin_allowed)


def _pin(pin: Pin) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "pin": pin.id, "from": {"uuid": pin.client, "name": pin.client_name, "role": "client"},
        "message": pin.message, "sum": money(pin.amount), "seconds": pin.seconds,
    }
    if pin.started_at is not None and pin.ends_at is not None:
        shown.update(started_at=iso(pin.started_at), ends_at=iso(pin.ends_at))
    return shown


def _turn(turn: ToyTurn) -> dict[str, Any]:
    who = ({"uuid": turn.donor, "name": turn.donor_name, "role": "client"} if turn.named
           else ANONYMOUS_ACTOR)  # a private or anonymous tip names nobody (DESIGN §6)
    shown: dict[str, Any] = {"donation": turn.donation, "from": who, "level": turn.level,
                             "seconds": turn.seconds}
    if turn.started_at is not None and turn.ends_at is not None:
        shown.update(started_at=iso(turn.started_at), ends_at=iso(turn.ends_at))
    return shown


async def _token_chat(request: web.Request) -> tuple[str, ExtrasBook]:
    """The token's chat and its pins and toy, as MySQL has them now (Rejected: 401)."""
    chat = (await principal_of(request)).chat
    return chat, (await _chat_state(request, chat, settings_only=False)).extras


async def get_pins(request: web.Request) -> web.Response:
    try:
        chat, book = await _token_chat(request)
    except Rejected as rejection:
        return rejection.response
    showing = book.showing_pin(chat)
    return responses.json_response({
        "success": True,
        "current": None if showing is None else _pin(showing),
        "queue": [_pin(p) for p in book.queued_pins(chat)],
    })


async def get_toy(request: web.Request) -> web.Response:
    try:
        chat, book = await _token_chat(request)
    except Rejected as rejection:
        return rejection.response
    playing = book.playing_turn(chat)
    return responses.json_response({
        "success": True,
        "playing": None if playing is None else _turn(playing),
        "queue": [_turn(t) for t in book.queued_turns(chat)],
        "levels": [{"min": money(lv.min), "level": lv.level, "seconds": lv.seconds}
                   for lv in book.toy_levels.get(chat, ())],
    })


ROUTES = [
    ("POST", "/chat/pin", post_pin),
    ("GET", "/chat/pins", get_pins),
    ("GET", "/chat/toy", get_toy),
]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class QueuedPin(_Shape):
    pin: Uuid
    from_: Actor = Field(alias="from")
    message: str
    sum: MoneyText
    seconds: int


class ShowingPin(QueuedPin):
    started_at: datetime
    ends_at: datetime


class PinsResponse(_Shape):
    """`GET /chat/pins`: the pin on top (null: none) and the queue, in the order they will
    show (the highest sum first, then the oldest)."""

    success: Literal[True]
    current: ShowingPin | None
    queue: list[QueuedPin]


class QueuedTurn(_Shape):
    donation: Uuid
    from_: Actor | Anonymous = Field(alias="from")
    level: int
    seconds: int


class PlayingTurn(QueuedTurn):
    started_at: datetime
    ends_at: datetime


class ToyResponse(_Shape):
    """`GET /chat/toy`: the turn playing (null: none), the queue in order, and the levels
    (`from` is anonymous for a private or anonymous tip)."""

    success: Literal[True]
    playing: PlayingTurn | None
    queue: list[QueuedTurn]
    levels: list[ToyLevel]


PIN_PROSE = Prose(
    "Pin a paid message on top of the chat (clients only)",
    "Moves `sum` from the caller to the model like a tip (402 above the available balance;"
    " 403 when banned or muted) and appends `message_pinned`; the pin shows for the seconds of"
    " the highest tier its sum reaches (a sum below the lowest tier, or a chat without tiers:"
    " 400). One pin shows at a time, the highest sum first, then the oldest; every pin that"
    " shows gets one `pin_started` (the first one right after its `message_pinned`).",
    (InsufficientFunds, Forbidden),
)
PINS_READ = Operation(
    "getPins", "The pin on top of the token's chat and the queue",
    (Reply(200, "The pin showing (with its ends_at) and the queue in order.", PinsResponse),
     Unauthorized, Unavailable),
)
TOY_READ = Operation(
    "getToy", "The toy's turn playing in the token's chat, the queue and the levels",
    (Reply(200, "The turn playing, the queue in order, the levels.", ToyResponse),
     Unauthorized, Unavailable),
)
