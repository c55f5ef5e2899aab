"""`GET /chat/show`: the token's chat's show rates and show, as the caller may see them (DESIGN
§10), with the seq they are as of.

Guarantees:
- one consistent snapshot (InnoDB's, in one read-only transaction): the ledger writes a batch's
  events, the stream's version and the show and hold rows in one transaction, so `seq` is exactly
  the last event the answer includes. A page counting minutes from `hold_placed` events therefore
  adds only the events after `seq` to it, and counts no minute twice or never;
- the visibility rule of the events (DESIGN §6, §10): anyone learns the rates and the id of a
  running show (public, as `show_started`); only the show's client and the model learn who it is
  with, its rate, minutes and charge; a spy learns its own spying; only the model its spies.
Read from the primary, like the show endpoints' own checks: shows are rare next to tips.
"""

from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from chatledger.api.command_routes import (
    MYSQL_UNAVAILABLE,
    Rejected,
    mysql_unavailable,
    principal_of,
)
from chatledger.api.openapi_types import Operation, Reply
from chatledger.api.response_models import Unauthorized, Unavailable, _Body
from chatledger.api.wire_models import MoneyText, Uuid
from chatledger.domain.show_book import RUNNING, Show, Spy
from chatledger.domain.state import ZERO, LedgerState
from chatledger.domain.wire import iso, money
from chatledger.ledger.show_loader import chat_shows
from chatledger.web import responses
from chatledger.web.auth import Principal
from chatledger.web.keys import DATABASE


class ShowPerson(_Body):
    uuid: Uuid
    name: str


class ShowNow(_Body):
    show: Uuid = Field(description="The show's id (its `show_requested` event's id).")
    status: Literal["requested", "running"]
    client: ShowPerson
    rate: MoneyText
    minute_s: float = Field(description="How long a billed minute of this show lasts, in seconds.")
    started_at: datetime | None
    minutes: int = Field(ge=0, description="The minutes begun (each one's hold placed).")
    charged: MoneyText = Field(description="Captured so far (the minutes already ended).")


class SpyNow(_Body):
    show: Uuid
    spy: ShowPerson
    rate: MoneyText
    started_at: datetime
    minutes: int = Field(ge=0)
    charged: MoneyText


class ShowState(_Body):
    """`GET /chat/show`: the chat's show rates and show, as the caller may see them."""

    success: Literal[True]
    chat: Uuid
    seq: int = Field(ge=0, description="The answer includes exactly the chat's events up to it.")
    private_rate: MoneyText = Field(description="Per minute of a private show (0.00: none).")
    spy_rate: MoneyText = Field(description="Per minute of spying (0.00: none).")
    running: Uuid | None = Field(description="The id of the chat's running show (public).")
    show: ShowNow | None = Field(description="The chat's show: for its client and the model only.")
    spying: SpyNow | None = Field(description="The caller's own spying on the running show.")
    spies: list[SpyNow] = Field(description="The running show's spies: for the model only.")


async def _snapshot(request: web.Request, chat: str) -> tuple[int, LedgerState]:
    state = LedgerState()
    async with request.app[DATABASE].connection() as connection, \
            connection.raw_connection.cursor() as cur:
        # Whatever the server's default: one snapshot for every statement below.
        await cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        await cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        try:
            await cur.execute("SELECT version FROM streams WHERE stream = %s", [chat])
            row = await cur.fetchone()
            await chat_shows(cur, state, [chat])
        finally:
            await cur.execute("ROLLBACK")
    return (int(row[0]) if row else 0), state


def _show(show: Show) -> dict[str, Any]:
    return {
        "show": show.id, "status": show.status,
        "client": {"uuid": show.client, "name": show.client_name},
        "rate": money(show.rate), "minute_s": show.minute_s,
        "started_at": iso(show.started_at) if show.started_at else None,
        "minutes": show.minutes, "charged": money(show.charged),
    }


def _spy(spy: Spy) -> dict[str, Any]:
    return {
        "show": spy.show, "spy": {"uuid": spy.uuid, "name": spy.name}, "rate": money(spy.rate),
        "started_at": iso(spy.started_at), "minutes": spy.minutes, "charged": money(spy.charged),
    }


def show_state(principal: Principal, seq: int, state: LedgerState) -> dict[str, Any]:
    chat, caller = principal.chat, principal.uuid
    shows = state.shows
    show = shows.current_show(chat)
    running = show if show is not None and show.status == RUNNING else None
    spies = list(running.spies.values()) if running is not None else []
    return {
        "success": True,
        "chat": chat,
        "seq": seq,
        "private_rate": money(shows.private_rates.get(chat, ZERO)),
        "spy_rate": money(shows.spy_rates.get(chat, ZERO)),
        "running": running.id if running is not None else None,
        "show": _show(show) if show is not None and caller in (show.client, chat) else None,
        "spying": next((_spy(spy) for spy in spies if spy.uuid == caller), None),
        "spies": [_spy(spy) for spy in spies] if caller == chat else [],
    }


async def get_show(request: web.Request) -> web.Response:
    try:
        principal = await principal_of(request)
        seq, state = await _snapshot(request, principal.chat)
    except Rejected as rejection:
        return rejection.response
    except MYSQL_UNAVAILABLE as exc:
        return mysql_unavailable(exc)
    return responses.json_response(show_state(principal, seq, state))


SHOW_READ = Operation(
    "getShow",
    "The chat's show rates and show, as the caller may see them",
    (Reply(200, "The rates and the show, as of `seq`.", ShowState), Unauthorized, Unavailable),
    "Anyone: the rates and the id of a running show. The show's client and the model: the"
    " show (client, rate, minutes begun, charged so far). A spy: its own spying. The model:"
    " the spies. `seq` is the chat's last event the answer includes: events after it change it.",
)
