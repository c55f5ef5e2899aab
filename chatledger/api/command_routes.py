"""The command endpoints: authenticate, validate, put the command on Kafka, answer 201.

Nothing here writes to MySQL: a command is durable once Kafka acknowledged it (acks=all), and the
ledger decides it. The 402 pre-check refuses an obviously unaffordable donation at once, from a
balance the Directory remembers for a few seconds (a 402 itself always comes from a balance read
at that moment: accounts.Balances); the ledger's check inside its transaction is the one that
counts when donations race.

A muted or banned person (403 "muted" / "banned") and a donation below the chat's minimum (400)
are refused from the process's `ChatRules` (projections/chat_rules.py), an in-memory copy of the
ledger's state the events topic keeps current: no round trip. Every rule asked here is the
decider's own function; the API only asks it earlier. Moderation and settings: moderation.py.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
import pymysql
from aiohttp import web
from pydantic import BaseModel, ValidationError

from chatledger.api import idempotency
from chatledger.api.ratelimit import rate_limited
from chatledger.api.schemas import ConnectionBody, DonationBody, GoalBody, MessageBody
from chatledger.bus.command_codec import encode_command
from chatledger.bus.kafka import BusUnavailable
from chatledger.domain.commands import (
    AddGoal,
    ChatCommand,
    Donate,
    PostMessage,
    RegisterConnection,
)
from chatledger.domain.decider import Refusal, recipient_refusal, refusal
from chatledger.domain.wire import money
from chatledger.platform import stages
from chatledger.platform.random_ids import random_uuid
from chatledger.readmodels.chat_rules import ChatRules
from chatledger.web import responses
from chatledger.web.auth import Principal, Unauthorized, authenticate, bearer_token
from chatledger.web.keys import COMMANDS, DIRECTORY, RULES, SETTINGS

log = logging.getLogger(__name__)

B = TypeVar("B", bound=BaseModel)
MYSQL_UNAVAILABLE = (pymysql.err.OperationalError, pymysql.err.InterfaceError, OSError)
API_RECEIVED = "stage_api_received"  # request key, set only when tracing stages


# Each command endpoint's body model, for the OpenAPI document (`openapi_operations.py`).
COMMAND_BODIES: dict[Callable[..., Any], type[BaseModel]] = {}


class Rejected(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


async def principal_of(request: web.Request) -> Principal:
    try:
        token = bearer_token(request.headers.get("Authorization"))
        return await authenticate(token, request.app[SETTINGS], request.app[DIRECTORY])
    except Unauthorized as exc:
        raise Rejected(responses.unauthorized()) from exc
    except MYSQL_UNAVAILABLE as exc:
        raise Rejected(mysql_unavailable(exc)) from exc


def mysql_unavailable(exc: BaseException) -> web.Response:
    # Looking people up (and the 402 pre-check) reads MySQL: while it is away the answer is a
    # clean 503 to retry, never a 500. Commands already acknowledged are on Kafka, not lost.
    log.warning("MySQL unavailable: %r", exc)
    return responses.unavailable()


def _error_text(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "body"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}"


async def parse_body(request: web.Request, schema: type[B]) -> B:
    settings = request.app[SETTINGS]
    try:
        raw = await request.read()
    except ConnectionResetError as exc:  # not MySQL's: MYSQL_UNAVAILABLE would name it so
        raise Rejected(responses.client_gone()) from exc
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise Rejected(responses.bad_params([f"body: not valid JSON ({exc})"])) from exc
    if not isinstance(data, dict):
        raise Rejected(responses.bad_params(["body: must be a JSON object"]))
    context = {"max_text_length": settings.max_text_length, "max_donation": settings.max_donation}
    try:
        return schema.model_validate(data, context=context)
    except ValidationError as exc:
        raise Rejected(responses.bad_params([_error_text(e) for e in exc.errors()])) from exc


async def submit(request: web.Request, command: ChatCommand) -> web.Response:
    traced = stages.ON and API_RECEIVED in request
    stamps = {"api_received": request[API_RECEIVED]} if traced else None
    try:
        await request.app[COMMANDS].send(
            command.chat.encode(),
            encode_command(command),
            stages.header(stamps) if stamps else None,
        )
    except BusUnavailable:
        return responses.unavailable()
    response = responses.accepted(command.command_id)
    if stamps:  # the acknowledgement cannot travel with the record: the caller gets it
        stamps["api_acked"] = stages.now()
        response.headers[stages.RESPONSE_HEADER] = orjson.dumps(stamps).decode()
    return response


Build = Callable[[web.Request, Principal, str, Any], Awaitable[ChatCommand]]
Check = Callable[[web.Request, Any], Awaitable[None]]
RULES_TIMEOUT_S = 5.0  # how long a request waits for a process still seeding its rules


def rejected_by(refusal: Refusal) -> Rejected:
    """A decider's refusal as the answer: 403 for who may not, 400 for what may not be."""
    return Rejected(
        responses.forbidden(refusal.reason)
        if refusal.forbidden
        else responses.bad_params([refusal.reason])
    )


async def rules_of(request: web.Request) -> ChatRules:
    """The process's rules, once seeded (only the first requests after a start ever wait)."""
    rules = request.app[RULES]
    if not rules.seeded.is_set():
        try:
            await asyncio.wait_for(rules.seeded.wait(), RULES_TIMEOUT_S)
        except TimeoutError as exc:
            raise Rejected(responses.unavailable()) from exc
    return rules


async def vet(request: web.Request, command: ChatCommand, check: Check | None) -> None:
    """Refuse what the decider's rules refuse, a silenced person, and what `check` refuses."""
    refused = refusal(command)
    if refused is not None:
        raise rejected_by(refused)
    silenced = (await rules_of(request)).speech(command, datetime.now(UTC))
    if silenced is not None:
        raise Rejected(responses.silenced(silenced))
    if check is not None:
        await check(request, command)


def command_endpoint(
    schema: type[BaseModel], build: Build, check: Check | None = None
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Authenticate, limit, validate, build the command; refuse what the decider's own rules
    refuse (`refusal`: 403 for who may not, 400 for what may not be); refuse a banned person
    anything and a muted one speech (403 with the reason as the message); `check` what the
    ledger's state would say (a recipient that exists, a balance that covers); then submit.
    A retry under a remembered Idempotency-Key skips the checks: it is submitted again and the
    ledger dedups it (idempotency.py)."""

    async def handler(request: web.Request) -> web.Response:
        if stages.ON:
            request[API_RECEIVED] = stages.now()
        try:
            principal = await principal_of(request)
            limited = await rate_limited(request, principal.uuid, handler.__name__)
            if limited is not None:
                return limited
            body = await parse_body(request, schema)
            command = await build(request, principal, random_uuid(), body)
            key = idempotency.keyed(request, principal, command)
            command = idempotency.with_id(command, key)
            if key is None or not await idempotency.seen(request, principal, key):
                await vet(request, command, check)
                if key is not None:
                    await idempotency.remember(request, principal, key)
        except (Rejected, idempotency.KeyRefused) as rejection:
            return rejection.response
        except MYSQL_UNAVAILABLE as exc:
            return mysql_unavailable(exc)
        return await submit(request, command)

    handler.__name__ = f"post_{build.__name__.removeprefix('build_')}"
    COMMAND_BODIES[handler] = schema
    return handler


async def build_message(
    request: web.Request, principal: Principal, command_id: str, body: MessageBody
) -> ChatCommand:
    return PostMessage(
        command_id, principal.chat, principal.person.as_actor(), body.message, body.is_public,
        body.to,
    )


async def recipient_exists(request: web.Request, command: PostMessage) -> None:
    """The decider's rule on a private reply's `to`, asked with the account looked up."""
    if command.to is not None:
        recipient = await request.app[DIRECTORY].find(command.to)
        refused = recipient_refusal(command, recipient.role if recipient else None)
        if refused is not None:
            raise rejected_by(refused)


async def build_donation(
    request: web.Request, principal: Principal, command_id: str, body: DonationBody
) -> ChatCommand:
    return Donate(
        command_id, principal.chat, principal.person.as_actor(), body.sum, body.text,
        body.is_public, body.anonymous, body.menu_item,
    )


async def donation_allowed(request: web.Request, command: Donate) -> None:
    """A menu item at its price and at least the chat's minimum (400), then within the donor's
    balance (402)."""
    rules = await rules_of(request)
    wrong_purchase = rules.purchase(command)
    if wrong_purchase is not None:
        raise rejected_by(wrong_purchase)
    minimum = rules.below_minimum(command.chat, command.amount)
    if minimum is not None:
        raise Rejected(responses.bad_params(
            [f"sum: below minimum: this chat's minimum tip is {money(minimum)}"]
        ))
    if not await request.app[DIRECTORY].affords(command.actor.uuid, command.amount):
        raise Rejected(responses.insufficient_funds())


async def build_connection(
    request: web.Request, principal: Principal, command_id: str, body: ConnectionBody
) -> ChatCommand:
    return RegisterConnection(
        command_id, principal.chat, principal.person.as_actor(), body.connection_id
    )


async def build_goal(
    request: web.Request, principal: Principal, command_id: str, body: GoalBody
) -> ChatCommand:
    return AddGoal(
        command_id, principal.chat, principal.person.as_actor(), body.name, body.require_sum,
        body.queued,
    )


post_message = command_endpoint(MessageBody, build_message, recipient_exists)
post_donation = command_endpoint(DonationBody, build_donation, donation_allowed)
post_connection = command_endpoint(ConnectionBody, build_connection)
post_goal = command_endpoint(GoalBody, build_goal)
