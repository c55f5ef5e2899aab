"""Shows through the real service (tests/integration/test_shows.py): an API process and a
ledger process it can kill, and the show's rows and bills read back."""

import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
from databases import Database

from chatledger.domain.events import event_id_for
from chatledger.platform.config import Settings
from tests.helpers.people import People, Someone
from tests.helpers.service import Service, launch, stop, wait_http
from tests.helpers.wait import eventually
from tests.helpers.ws import connected
from tests.integration.test_refunds import applied, post

MINUTE = {"CHATLEDGER_SHOW_MINUTE_S": "1"}


class Stack:
    """The API (with a gateway) in one process, the ledger in another, so it can be killed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.api = launch(settings, "api,gateway,history", MINUTE)
        wait_http(self.api.ops_url, self.api.process)
        self.ledger = self.start_ledger()

    def start_ledger(self) -> Service:
        ledger = launch(self.settings, "ledger", MINUTE)
        wait_http(ledger.ops_url, ledger.process)
        return ledger

    def stop(self) -> None:
        stop(self.ledger.process)
        stop(self.api.process)


async def answer(stack: Stack, who: Someone, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(stack.api.url) as http,
        http.post(path, json=body, headers=who.headers) as response,
    ):
        return response.status, await response.json()


async def me(stack: Stack, who: Someone) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession(stack.api.url) as http,
        http.get("/chat/me", headers=who.headers) as response,
    ):
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def a_chat(stack: Stack, people: People, db: Database, money: str,
                 rate: str = "2", spy_rate: str = "1") -> tuple[Someone, Someone]:
    model = await people.model()
    client = await people.client(model, "Bob", money=money)
    await applied(db, await post(stack.api, model, "/chat/settings",
                                 {"private_rate": rate, "spy_rate": spy_rate}))
    return model, client


async def started(stack: Stack, db: Database, model: Someone, client: Someone) -> str:
    asked = await post(stack.api, client, "/chat/show/request", {})
    await applied(db, asked)
    show = event_id_for(asked, 0)
    await applied(db, await post(stack.api, model, "/chat/show/accept", {"show": show}))
    return show


@contextlib.asynccontextmanager
async def show_on(stack: Stack, db: Database, model: Someone, client: Someone,
                  *spies: Someone) -> AsyncIterator[str]:
    """A show of `client` started, with its socket (and `spies`' sockets) open while it runs: a
    show's client without a socket for 10 s ends it ("disconnected"). Yields the show id."""
    async with aiohttp.ClientSession() as http, contextlib.AsyncExitStack() as sockets:
        for who in (client, *spies):
            await sockets.enter_async_context(connected(http, stack.api.url, who))
        yield await started(stack, db, model, client)


async def show_row(db: Database, show: str, until: Any, what: str) -> Any:
    return await eventually(
        lambda: db.fetch_one("SELECT status, minutes, charged FROM shows WHERE show_id = :s",
                             {"s": show}),
        until=lambda row: row is not None and until(row), what=what, timeout=30)


async def charged(db: Database, show: str) -> dict[str, Any]:
    row = await eventually(
        lambda: db.fetch_one(
            "SELECT JSON_VALUE(payload, '$.minutes'), JSON_VALUE(payload, '$.charged'),"
            " (SELECT JSON_VALUE(e.payload, '$.reason') FROM chat_events e"
            "  WHERE e.type = 'show_ended' AND JSON_VALUE(e.payload, '$.show') = :s)"
            " FROM chat_events WHERE type = 'show_charged' AND JSON_VALUE(payload, '$.show') = :s",
            {"s": show}),
        what=f"show {show} charged")
    captured = await db.fetch_val(
        "SELECT COALESCE(SUM(captured), 0) FROM holds h JOIN chat_events e"
        " ON e.event_id = h.resolved_by WHERE h.status = 'captured'"
        " AND JSON_VALUE(e.payload, '$.show') = :s AND JSON_VALUE(e.payload, '$.spy') IS NULL",
        {"s": show})
    return {"minutes": int(row[0]), "charged": Decimal(row[1]), "reason": row[2],
            "captured": Decimal(captured)}
