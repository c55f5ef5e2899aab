"""The gateway's shared state in one process: rooms, open sockets, and whether the feed is on."""

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from chatledger.gateway.rooms import Rooms


class Closable(Protocol):
    async def close(self, code: int, reason: str) -> None: ...


@dataclass
class Gateway:
    rooms: Rooms = field(default_factory=Rooms)
    sockets: set[Closable] = field(default_factory=set)
    # Set once the feed is positioned on the events topic: accepting a socket earlier could miss
    # an event published between its log read and the feed's start.
    ready: asyncio.Event = field(default_factory=asyncio.Event)


GATEWAY = web.AppKey("gateway", Gateway)
