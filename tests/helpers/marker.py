"""Proof that refused requests changed nothing, not even later.

Reading the tables right after a 4xx proves little: the ledger applies commands asynchronously.
So after the refused requests a valid marker message is posted to the same chat and awaited:
the commands topic keeps a chat's commands in order, so anything a refused request had put on
it would be applied by then. Then the chat has exactly one event more (the marker), the only
command applied since that is not another chat's is the marker, and the balances named are
what they were.

The service is shared by a test session: another chat's clock (a show billing, a hold expiring,
a pin ending) may apply commands meanwhile. A command whose every event is in another stream is
therefore not counted; one with no event at all (a refusal) is, as it may be a refused request's.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import aiohttp
from databases import Database

from tests.helpers.people import People, Someone
from tests.helpers.wait import eventually


@dataclass(frozen=True)
class Before:
    chat: str
    at: datetime  # the database's clock, which stamps applied_commands.applied_at
    chat_events: int
    balances: dict[str, Decimal | None]


async def _chat_events(db: Database, chat: str) -> int:
    found = await db.fetch_val("SELECT COUNT(*) FROM chat_events WHERE stream = :c", {"c": chat})
    return int(found)


async def before(db: Database, people: People, chat: str, *owners: Someone) -> Before:
    at = await db.fetch_val("SELECT NOW(6)")
    events = await _chat_events(db, chat)
    balances = {who.uuid: await people.balance(who.uuid) for who in owners}
    return Before(chat, at, events, balances)


async def applied_since(db: Database, then: Before) -> dict[str, str]:
    """Commands applied since `then` that are not only another chat's: id -> outcome."""
    rows = await db.fetch_all(
        "SELECT a.command_id, a.outcome FROM applied_commands a"
        " WHERE a.applied_at >= :at AND NOT ("
        "  EXISTS (SELECT 1 FROM chat_events e WHERE e.command_id = a.command_id)"
        "  AND NOT EXISTS (SELECT 1 FROM chat_events e"
        "                  WHERE e.command_id = a.command_id AND e.stream = :c))",
        {"at": then.at, "c": then.chat},
    )
    return {row[0]: row[1] for row in rows}


async def only_the_marker_followed(
    url: str, db: Database, people: People, author: Someone, then: Before
) -> None:
    text = f"marker {uuid.uuid4()}"
    async with (
        aiohttp.ClientSession(url) as http,
        http.post("/chat/message/add", json={"message": text, "is_public": True},
                  headers=author.headers) as response,
    ):
        assert response.status == 201, await response.text()
        marker = (await response.json())["id"]
    await eventually(
        lambda: db.fetch_val("SELECT 1 FROM applied_commands WHERE command_id = :c",
                             {"c": marker}),
        what="the marker applied",
    )
    applied = await applied_since(db, then)
    assert list(applied) == [marker], f"something besides the marker was applied: {applied}"
    assert await _chat_events(db, then.chat) == then.chat_events + 1, "events besides the marker"
    for owner, balance in then.balances.items():
        assert await people.balance(owner) == balance, owner
