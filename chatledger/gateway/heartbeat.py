"""The gateway's heartbeat: one loop pings every quiet socket, instead of timers per socket.

aiohttp's heartbeat (`WebSocketResponse(heartbeat=...)`) gives each socket a timer handle (a
libuv timer under uvloop), re-armed as data arrives, plus a task and a second timer per ping:
~0.6 KiB of every idle socket, thousands of which are parked at once. This loop keeps the same
rule for all of them with two numbers per socket: a socket nothing was heard from for
`heartbeat` seconds is pinged, and one still silent `heartbeat / 2` after its ping is cut off
(aiohttp's rule too, and like aiohttp without a close frame: the peer is gone or stuck). Anything
the peer sends counts as a sign of life, its pong or any other frame.

The loop wakes every `heartbeat / 4`, so a ping leaves up to that much later than aiohttp's would,
and a silent socket is cut off between `heartbeat / 2` and `3 / 4 * heartbeat` after its ping.
"""

import asyncio
import time
from collections.abc import Collection
from typing import Protocol

# A server's ping: FIN + opcode 9, no payload, unmasked (RFC 6455 §5.5.2). The same bytes for
# every socket, written like any prepared frame.
PING = b"\x89\x00"
TICKS_PER_BEAT = 4


class Beating(Protocol):
    """A socket as the heartbeat sees it."""

    heard: float  # time.monotonic() when anything last arrived from the peer
    pinged: float  # when the unanswered ping left, 0.0 if none is

    def ping(self) -> None: ...

    def lost(self) -> None:
        """Silent too long after a ping: cut the connection (never blocks)."""
        ...


def beat(sockets: Collection[Beating], now: float, heartbeat: float) -> None:
    """One round: ping who has been quiet for `heartbeat`, cut who did not answer in time."""
    for socket in list(sockets):  # `lost` may take a socket out of the collection
        if socket.pinged:
            if now - socket.pinged >= heartbeat / 2:
                socket.lost()
        elif now - socket.heard >= heartbeat:
            socket.pinged = now
            socket.ping()


async def keep_alive(sockets: Collection[Beating], heartbeat: float) -> None:
    """The gateway's heartbeat loop: a round every `heartbeat / TICKS_PER_BEAT` seconds."""
    while True:
        await asyncio.sleep(heartbeat / TICKS_PER_BEAT)
        beat(sockets, time.monotonic(), heartbeat)
