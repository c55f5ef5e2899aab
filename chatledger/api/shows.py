"""DESIGN §10's show endpoints: request, accept, decline, end, spy, and stop spying.

Each is a command endpoint like the others (201 once on Kafka; the ledger decides). What the API
can tell at once it refuses with the decider's own rules, over the chat's show read from its
projection rows by the ledger's own loader (one read: shows are rare next to tips): 400 for what
may not be (no rate, another show on, no such show, not running), 403 for who may not, 402 when
the caller's available balance does not cover a minute.
"""

from aiohttp import web

from chatledger.api.command_routes import Rejected, command_endpoint, rejected_by
from chatledger.api.schemas import EmptyBody, ShowBody
from chatledger.api.show_read import get_show
from chatledger.domain.commands import ChatCommand, RequestShow, ShowAction, ShowVerb
from chatledger.domain.facts import Refusal
from chatledger.domain.shows import SHOW_REFUSALS, action_refusal, request_refusal
from chatledger.domain.state import ZERO, LedgerState
from chatledger.ledger.accounts import available_of
from chatledger.ledger.show_loader import chat_shows
from chatledger.web import responses
from chatledger.web.auth import Principal
from chatledger.web.keys import DATABASE, SETTINGS


async def _chat_state(request: web.Request, chat: str) -> LedgerState:
    state = LedgerState()
    async with request.app[DATABASE].connection() as connection, \
            connection.raw_connection.cursor() as cur:
        await chat_shows(cur, state, [chat])
    return state


async def _covers(request: web.Request, client: str, rate: object) -> None:
    available = await available_of(request.app[DATABASE], client)
    if available is None or rate is None or available < rate:  # type: ignore[operator]
        raise Rejected(responses.insufficient_funds())


async def build_show_request(
    request: web.Request, principal: Principal, command_id: str, body: EmptyBody
) -> ChatCommand:
    settings = request.app[SETTINGS]
    return RequestShow(command_id, principal.chat, principal.person.as_actor(),
                       settings.show_minute_s, settings.show_request_timeout_s)


async def request_allowed(request: web.Request, command: RequestShow) -> None:
    state = await _chat_state(request, command.chat)
    refused = request_refusal(state, command)
    if refused is not None:
        raise rejected_by(refused)
    await _covers(request, command.actor.uuid, state.shows.private_rates.get(command.chat))


def _builder(verb: ShowVerb):  # type: ignore[no-untyped-def]
    async def build(
        request: web.Request, principal: Principal, command_id: str, body: ShowBody
    ) -> ChatCommand:
        return ShowAction(command_id, principal.chat, principal.person.as_actor(), verb,
                          body.show)

    build.__name__ = f"build_show_{verb}"
    return build


async def action_allowed(request: web.Request, command: ShowAction) -> None:
    state = await _chat_state(request, command.chat)
    show = state.shows.shows.get(command.show)
    if show is None:
        raise rejected_by(Refusal(SHOW_REFUSALS["unknown"]))
    refused = action_refusal(state, command, show)
    if refused is not None:
        raise rejected_by(refused)
    if command.verb == "spy":
        await _covers(request, command.actor.uuid,
                      state.shows.spy_rates.get(command.chat, ZERO))


post_show_request = command_endpoint(EmptyBody, build_show_request, request_allowed)
post_show_accept = command_endpoint(ShowBody, _builder("accept"), action_allowed)
post_show_decline = command_endpoint(ShowBody, _builder("decline"), action_allowed)
post_show_end = command_endpoint(ShowBody, _builder("end"), action_allowed)
post_show_spy = command_endpoint(ShowBody, _builder("spy"), action_allowed)
post_show_spy_end = command_endpoint(ShowBody, _builder("spy_end"), action_allowed)

ROUTES = [
    ("POST", "/chat/show/request", post_show_request),
    ("POST", "/chat/show/accept", post_show_accept),
    ("POST", "/chat/show/decline", post_show_decline),
    ("POST", "/chat/show/end", post_show_end),
    ("POST", "/chat/show/spy", post_show_spy),
    ("POST", "/chat/show/spy/end", post_show_spy_end),
    ("GET", "/chat/show", get_show),
]
