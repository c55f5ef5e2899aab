"""Websocket viewers that reconnect with `since=<last seq seen>` (DESIGN §7) whenever their
socket drops, and keep every event frame they were sent, duplicates included, for the checks.

The first connection is made before any load, without `since`: its `connected` frame's seq is
the viewer's baseline, and from then on the viewer must see every event it may see after it.
A viewer told to `leave` closes its socket and stays away for a while (a show's client gone
long enough for the 10 s disconnect rule), then comes back with `since` like any other.
"""

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from tests.helpers.people import Someone


@dataclass
class Viewer:
    who: Someone
    chat: str
    baseline: int | None = None
    frames: list[dict[str, Any]] = field(default_factory=list)  # events: (seq, id, type) kept
    connects: int = 0
    failed_connects: int = 0
    closes: list[str] = field(default_factory=list)  # why each socket ended
    away_until: float = 0.0  # time.monotonic() before which it does not reconnect
    socket: aiohttp.ClientWebSocketResponse | None = None

    async def leave(self, seconds: float) -> None:
        self.away_until = time.monotonic() + seconds
        if self.socket is not None:
            await self.socket.close()

    @property
    def last_seq(self) -> int | None:
        return self.frames[-1]["seq"] if self.frames else self.baseline

    def seqs(self) -> list[int]:
        return [frame["seq"] for frame in self.frames]

    async def watch(self, http: aiohttp.ClientSession, url: str, stop: asyncio.Event,
                    rng: random.Random) -> None:
        while not stop.is_set():
            if (away := self.away_until - time.monotonic()) > 0:  # the absence is the point
                await asyncio.sleep(away)
            since = self.last_seq
            query = f"{url}/ws?token={self.who.token}"
            query += "" if since is None else f"&since={since}"
            try:
                async with http.ws_connect(query, heartbeat=10) as ws:
                    self.connects += 1
                    self.socket = ws
                    await self._read(ws, stop)
                    self.socket = None
                    self.closes.append(f"closed {ws.close_code}")
            except (TimeoutError, aiohttp.ClientError, OSError) as failed:
                self.failed_connects += 1
                self.closes.append(type(failed).__name__)
            if not stop.is_set():
                await asyncio.sleep(rng.uniform(0.1, 0.6))  # reconnect backoff, with jitter

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, stop: asyncio.Event) -> None:
        stopping = asyncio.create_task(stop.wait())
        try:
            while True:
                receiving = asyncio.create_task(ws.receive())
                done, _ = await asyncio.wait({receiving, stopping},
                                             return_when=asyncio.FIRST_COMPLETED)
                if receiving not in done:
                    receiving.cancel()
                    return
                message = receiving.result()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    return
                self._frame(orjson.loads(message.data))
        finally:
            stopping.cancel()

    def _frame(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "connected":
            if self.baseline is None:
                self.baseline = int(frame["seq"])
        elif "seq" in frame and frame.get("type") != "presence":
            self.frames.append({"seq": frame["seq"], "id": frame.get("id"),
                                "type": frame.get("type")})


class Audience:
    """All viewers, reading at once on one HTTP session (no connection limit: 200+ sockets)."""

    def __init__(self, viewers: list[Viewer], url: str, seed: int) -> None:
        self.viewers = viewers
        self.url = url
        self.rng = random.Random(seed)
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self.tasks = [asyncio.create_task(v.watch(self.http, self.url, self.stop, self.rng))
                      for v in self.viewers]

    def baselined(self) -> int:
        return sum(v.baseline is not None for v in self.viewers)

    async def close(self) -> None:
        self.stop.set()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, 10)
        if self.http is not None:
            await self.http.close()
