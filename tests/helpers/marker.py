"""Proof that refused requests changed nothing, not even later.

Reading the tables right after a 4xx proves little: the ledger applies commands asynchronously.
So after the refused requests a valid marker message is posted to the same chat and awaited:
the commands topic keeps a chat's commands in order, so anything a refused request had put on
it would be applied by then. Then exactly one command more is applied (the marker), the chat has
exactly one event more, and the balances named are what they were.
"""

import uuid
from dataclasses import dataclass
from decimal import Decimal

import aiohttp
from databases import Database

from tests.helpers.people import People, Someone
from tests.helpers.wait import eventually


@dataclass(frozen=True)
class Before:
    chat: str
    applied: int
    chat_events: int
    balances: dict[str, Decimal | None]


async def _counts(db: Database, chat: str) -> tuple[int, int]:
    applied = await db.fetch_val("SELECT COUNT(*) FROM applied_commands")
    events = await db.fetch_val("SELECT COUNT(*) FROM chat_events WHERE stream = :c", {"c": chat})
    return int(applied), int(events)


async def before(db: Database, people: People, chat: str, *owners: Someone) -> Before:
    applied, events = await _counts(db, chat)
    balances = {who.uuid: await people.balance(who.uuid) for who in owners}
    return Before(chat, applied, events, balances)


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
    assert await _counts(db, then.chat) == (then.applied + 1, then.chat_events + 1), (
        "something besides the marker was applied"
    )
    for owner, balance in then.balances.items():
        assert await people.balance(owner) == balance, owner
