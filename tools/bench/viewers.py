"""Websocket viewers as cheap as Python allows: raw asyncio protocols, not aiohttp clients.

A viewer does the RFC 6455 handshake itself, then only walks frame headers (a delivery is one
text frame), answers pings, and - for frames that carry a `bench <send time ns>` marker (the
paced POSTs) - records the delay from the POST to the arrival, split at the event's `created_at`
(set by the ledger when it commits). aiohttp's client websocket costs several µs of Python per
message, which at 100k deliveries/s would make the viewers, not the server, the bottleneck.

`ViewerPool` runs the viewers in processes (multiprocessing, uvloop), steered through pipes:
measure for S seconds, report, stop. Each reports its own CPU time, so the bench can show the
viewers are not the bottleneck.
"""

import asyncio
import base64
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import resource
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import uvloop

from tools.bench import population
from tools.bench.tally import MARKER, Tally, next_frame, pong

CONNECT_CONCURRENCY = 100
TEXT, CLOSE, PING = 0x1, 0x8, 0x9


class Viewer(asyncio.Protocol):
    def __init__(self, request: bytes, tally: Tally, greeted: "asyncio.Future[bool]") -> None:
        self.request = request
        self.tally = tally
        self.greeted = greeted
        self.buf = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.greeted.done():
            self.greeted.set_result(False)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            head = buf.find(b"\r\n\r\n")
            if head < 0:
                return
            if b" 101 " not in buf[:buf.find(b"\r\n")]:
                self.greeted.set_result(False)
                self.transport.close()  # type: ignore[union-attr]
                return
            del buf[:head + 4]
            self.upgraded = True
        now = time.time_ns()
        tally, pos, have, delivered = self.tally, 0, len(buf), 0
        # next_frame() inlined for the common case (unmasked frames under 64 KiB): at 100k
        # deliveries/s a function call and a tuple per frame are a noticeable share of a viewer.
        while have - pos >= 2:
            size = buf[pos + 1]
            if size < 126:
                start = pos + 2
            elif size == 126 and have - pos >= 4:
                start, size = pos + 4, (buf[pos + 2] << 8) | buf[pos + 3]
            else:
                frame = next_frame(buf, pos)
                if frame is None:
                    break
                _, start, end = frame
                size = end - start
            end = start + size
            if end > have:
                break
            opcode = buf[pos] & 0x0F
            if opcode == TEXT:
                if not self.greeted.done():
                    self.greeted.set_result(True)  # the `connected` greeting
                elif tally.measuring:
                    delivered += 1
                    if buf.find(MARKER, start, end) >= 0:
                        tally.timed(buf, start, end, now)
            elif opcode == PING:
                self.transport.write(pong(bytes(buf[start:end])))  # type: ignore[union-attr]
            elif opcode == CLOSE:
                self.transport.close()  # type: ignore[union-attr]
            pos = end
        if delivered:
            tally.arrived(delivered, now)
        if pos:
            del buf[:pos]


def handshake(url: str) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n")
    return parts.hostname or "127.0.0.1", parts.port or 80, request.encode()


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


async def _viewers(pipe: multiprocessing.connection.Connection, urls: Sequence[str]) -> None:
    raise_fd_limit(len(urls) + 256)
    loop = asyncio.get_running_loop()
    tally = Tally()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def connect(url: str) -> Viewer | None:
        host, port, request = handshake(url)
        async with gate:
            greeted: asyncio.Future[bool] = loop.create_future()
            try:
                _, viewer = await loop.create_connection(
                    lambda: Viewer(request, tally, greeted), host, port)
                if await asyncio.wait_for(greeted, 60):
                    return viewer
            except (OSError, TimeoutError):
                pass
            return None

    started = time.monotonic()
    connected = await asyncio.gather(*map(connect, urls))
    viewers = [viewer for viewer in connected if viewer is not None]
    pipe.send(("ready", len(viewers), len(urls) - len(viewers), time.monotonic() - started))
    while True:
        order = await loop.run_in_executor(None, pipe.recv)
        if order[0] == "stop":
            break
        tally.reset()
        cpu0, wall0 = time.process_time(), time.monotonic()
        tally.measuring = True
        if order[1] is None:  # until the parent says "finish"
            await loop.run_in_executor(None, pipe.recv)
        else:
            await asyncio.sleep(order[1])
        tally.measuring = False
        pipe.send(("result", {
            "deliveries": tally.deliveries, "first_ns": tally.first_ns, "last_ns": tally.last_ns,
            "sent_ns": tally.sent_ns, "total_ms": tally.total_ms,
            "viewer_leg_ms": tally.viewer_leg_ms,
            "stamps": tally.stamps, "socket_ms": tally.socket_ms,
            "ledger_leg_ms": [(committed - sent) / 1e6
                              for sent, committed in tally.commits.items() if committed],
            "cpu_s": time.process_time() - cpu0, "wall_s": time.monotonic() - wall0,
            "open": sum(1 for viewer in viewers if not viewer.closed)}))
    for viewer in viewers:
        if viewer.transport is not None:
            viewer.transport.abort()


def viewers_main(pipe: multiprocessing.connection.Connection, urls: Sequence[str]) -> None:
    uvloop.run(_viewers(pipe, urls))


def merge(replies: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One report from every process's: counts summed, samples joined."""
    firsts = [reply["first_ns"] for reply in replies if reply["first_ns"]]
    lasts = [reply["last_ns"] for reply in replies if reply["last_ns"]]
    wall = max(reply["wall_s"] for reply in replies)
    deliveries = sum(reply["deliveries"] for reply in replies)
    active_s = (max(lasts) - min(firsts)) / 1e9 if firsts else 0.0
    return {
        "deliveries": deliveries,
        "window_s": round(wall, 2),
        "deliveries_per_s": round(deliveries / wall, 1),
        "active_s": round(active_s, 2),
        "first_ns": min(firsts, default=0),
        "last_ns": max(lasts, default=0),
        "sent_ns": [value for reply in replies for value in reply["sent_ns"]],
        "total_ms": [value for reply in replies for value in reply["total_ms"]],
        "viewer_leg_ms": [value for reply in replies for value in reply["viewer_leg_ms"]],
        "stamps": {sent: stamps for reply in replies for sent, stamps in reply["stamps"].items()
                   if stamps},
        "socket_ms": [value for reply in replies for value in reply["socket_ms"]],
        "ledger_leg_ms": [value for reply in replies for value in reply["ledger_leg_ms"]],
        "viewers_cpu_pct": round(100 * sum(reply["cpu_s"] for reply in replies) / wall, 1),
        "open_sockets": sum(reply["open"] for reply in replies),
    }


class ViewerPool:
    """`processes` viewer processes sharing `urls` (one websocket each)."""

    def __init__(self, urls: Sequence[str], processes: int = 2) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[multiprocessing.connection.Connection] = []
        self.processes: list[Any] = []
        for index in range(processes):
            parent, child = context.Pipe()
            process = context.Process(target=viewers_main, args=(child, urls[index::processes]),
                                      daemon=True)
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)
        replies = [pipe.recv() for pipe in self.pipes]
        self.connected = sum(reply[1] for reply in replies)
        self.failed = sum(reply[2] for reply in replies)
        self.connect_s = round(max(reply[3] for reply in replies), 2)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def start_measure(self, seconds: float | None) -> None:
        """Count for `seconds`, or with None until finish()."""
        for pipe in self.pipes:
            pipe.send(("measure", seconds))

    def finish(self) -> dict[str, Any]:
        for pipe in self.pipes:
            pipe.send(("finish",))
        return self.collect()

    def collect(self) -> dict[str, Any]:
        return merge([pipe.recv()[1] for pipe in self.pipes])

    def measure(self, seconds: float) -> dict[str, Any]:
        self.start_measure(seconds)
        return self.collect()

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(("stop",))
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


def ws_urls(base: str, viewers: Sequence[population.Viewer]) -> list[str]:
    """Each viewer's `/ws` URL on the server at `base` (http://...), their token in it."""
    ws = base.replace("http://", "ws://")
    return [f"{ws}/ws?token={viewer.token}" for viewer in viewers]


@contextlib.contextmanager
def attached(base: str, viewers: Sequence[population.Viewer],
             processes: int) -> Iterator[ViewerPool]:
    """`viewers` connected to the server at `base` for the block's length."""
    pool = ViewerPool(ws_urls(base, viewers), processes)
    try:
        yield pool
    finally:
        pool.close()
