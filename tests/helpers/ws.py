"""Websocket clients for gateway tests: read everything in the background, wait on conditions."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson

from tests.helpers.people import Someone
from tests.helpers.wait import eventually

Event = dict[str, Any]


class Client:
    """A websocket client that reads everything it is sent in the background."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: list[Event] = []
        self.texts: list[str] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                self.texts.append(message.data)
                self.messages.append(orjson.loads(message.data))

    @property
    def connected(self) -> Event:
        assert self.messages and self.messages[0]["type"] == "connected", self.messages[:1]
        return self.messages[0]

    @property
    def events(self) -> list[Event]:
        """The chat's events: neither `connected` nor `presence` (frames without a seq)."""
        return [m for m in self.messages if m["type"] not in ("connected", "presence")]

    @property
    def presence(self) -> list[int]:
        return [m["viewers"] for m in self.messages if m["type"] == "presence"]

    def seqs(self) -> list[int]:
        return [e["seq"] for e in self.events]

    async def until(self, holds: Callable[[list[Event]], bool], what: str) -> list[Event]:
        async def snapshot() -> list[Event]:
            return list(self.events)

        return await eventually(snapshot, until=holds, what=what, timeout=30)

    async def until_seq(self, seq: int) -> list[Event]:
        async def seqs() -> list[int]:
            return self.seqs()

        await eventually(seqs, until=lambda got: any(s >= seq for s in got), what=f"seq {seq}")
        return self.events


def ws_url(base: str, who: Someone, since: int | None = None) -> str:
    url = f"{base}/ws?token={who.token}"
    return url if since is None else f"{url}&since={since}"


@contextlib.asynccontextmanager
async def connected(
    http: aiohttp.ClientSession, base: str, who: Someone, since: int | None = None
) -> AsyncIterator[Client]:
    ws = await http.ws_connect(ws_url(base, who, since))
    client = Client(ws)
    try:
        await eventually(lambda: _ready(client), what="the connected message")
        yield client
    finally:
        await ws.close()
        client.reader.cancel()


async def _ready(client: Client) -> bool:
    return bool(client.messages)


async def next_event(ws: aiohttp.ClientWebSocketResponse, timeout: float = 30) -> Event:
    """The next chat event on a raw socket, passing over `presence` frames (they have no seq)."""
    while True:
        frame: Event = await ws.receive_json(timeout=timeout)
        if frame["type"] != "presence":
            return frame
