"""The gateway's shared state in one process: rooms, open sockets, and whether the feed is on."""

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web
from databases import Database

from chatledger.gateway.arrivals import Arrivals
from chatledger.gateway.heartbeat import Beating
from chatledger.gateway.rooms import Rooms


class Socket(Beating, Protocol):
    """An open socket as the process sees it: kept alive by the heartbeat, closed on shutdown."""

    async def close(self, code: int, reason: str) -> None: ...


@dataclass
class Gateway:
    rooms: Rooms = field(default_factory=Rooms)
    arrivals: Arrivals | None = None  # set once the database is connected
    sockets: set[Socket] = field(default_factory=set)
    # Set once the feed is positioned on the events topic: accepting a socket earlier could miss
    # an event published between its log read and the feed's start.
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def arrivals_of(self, db: Database) -> Arrivals:
        if self.arrivals is None:
            self.arrivals = Arrivals(db)
        return self.arrivals


GATEWAY = web.AppKey("gateway", Gateway)
