"""Moderation in tests: POST as someone, wait for a command's events, refusals before upgrades."""

import base64
import os
from typing import Any

import aiohttp
from databases import Database

from tests.helpers.people import Someone
from tests.helpers.wait import eventually
from tests.helpers.ws import ws_url

UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}


async def post(
    http: aiohttp.ClientSession, base: str, path: str, who: Someone, body: object
) -> tuple[int, dict[str, Any]]:
    async with http.post(base + path, json=body, headers=who.headers) as response:
        return response.status, await response.json()


async def accepted(
    http: aiohttp.ClientSession, base: str, path: str, who: Someone, body: object
) -> str:
    """POST that must answer 201; the command id."""
    status, answer = await post(http, base, path, who, body)
    assert status == 201, (path, answer)
    return str(answer["id"])


async def applied(db: Database, command_id: str) -> list[dict[str, Any]]:
    """The events of a command once the ledger has handled it (none if it refused it)."""
    await eventually(
        lambda: db.fetch_val(
            "SELECT outcome FROM applied_commands WHERE command_id = :c", {"c": command_id}
        ),
        what=f"command {command_id} applied",
    )
    rows = await db.fetch_all(
        "SELECT event_id, type, seq FROM chat_events WHERE command_id = :c ORDER BY seq",
        {"c": command_id},
    )
    return [dict(row._mapping) for row in rows]


async def handshake(
    http: aiohttp.ClientSession, base: str, who: Someone
) -> tuple[int, dict[str, Any] | None]:
    """A websocket upgrade request answered as plain HTTP: its status, and its JSON body when
    it was refused (before any upgrade)."""
    key = base64.b64encode(os.urandom(16)).decode()
    async with http.get(
        ws_url(base, who), headers={**UPGRADE, "Sec-WebSocket-Key": key}
    ) as response:
        if response.status == 101:
            return 101, None
        return response.status, await response.json()


BANNED = {"success": "false", "message": "banned"}
MUTED = {"success": "false", "message": "muted"}
