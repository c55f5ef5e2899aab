"""Load generator processes (multiprocessing, uvloop + aiohttp clients), apart from the service.

- Viewers: a process holds many websockets, counts what arrives and, for frames that carry a
  `bench <send time ns>` marker, the delay from the POST (or the raw send) to the arrival.
  The parent steers it through a pipe: measure for S seconds, report, stop.
- Poster: an open-loop sender of POSTs at a fixed rate whose messages carry that marker.
Each reports its own CPU time, so the bench can show the load generator is not the bottleneck.
"""

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import uvloop

from tools.bench.stats import percentile

MARKER = "bench "
MAX_SAMPLES = 200_000
CONNECT_CONCURRENCY = 50


SPLIT_EVERY = 25  # one marked frame in this many is also split at the ledger's created_at


@dataclass
class Tally:
    measuring: bool = False
    deliveries: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    # (POST -> ledger decided, ledger decided -> viewer) for a sample of frames, in ms
    splits_ms: list[tuple[float, float]] = field(default_factory=list)


def split_ms(text: str, sent_ns: int, now_ns: int) -> tuple[float, float] | None:
    """Where the time went, from the event's created_at (set by the ledger when it decides)."""
    at = text.find('"created_at":"')
    if at < 0:
        return None
    start = at + len('"created_at":"')
    stamp = text[start:text.find('"', start)].replace("Z", "+00:00")
    try:
        decided_ns = int(datetime.fromisoformat(stamp).timestamp() * 1e9)
    except ValueError:
        return None
    return (decided_ns - sent_ns) / 1e6, (now_ns - decided_ns) / 1e6


def sent_ns(text: str) -> int | None:
    """The send time a marked frame carries (`bench <time_ns>`), or None."""
    at = text.find(MARKER)
    if at < 0:
        return None
    end = at + len(MARKER)
    stop = end
    while stop < len(text) and text[stop].isdigit():
        stop += 1
    return int(text[end:stop]) if stop > end else None


async def _read(ws: aiohttp.ClientWebSocketResponse, tally: Tally) -> None:
    async for message in ws:
        if message.type is not aiohttp.WSMsgType.TEXT or not tally.measuring:
            continue
        tally.deliveries += 1
        if len(tally.latencies_ms) < MAX_SAMPLES:
            now = time.time_ns()
            sent = sent_ns(message.data)
            if sent is not None:
                tally.latencies_ms.append((now - sent) / 1e6)
                if len(tally.latencies_ms) % SPLIT_EVERY == 0:
                    split = split_ms(message.data, sent, now)
                    if split is not None:
                        tally.splits_ms.append(split)


async def _viewers(pipe: multiprocessing.connection.Connection, urls: Sequence[str]) -> None:
    tally = Tally()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    async with aiohttp.ClientSession(timeout=timeout,
                                     connector=aiohttp.TCPConnector(limit=0)) as session:

        async def connect(url: str) -> aiohttp.ClientWebSocketResponse | None:
            async with gate:
                try:
                    ws = await session.ws_connect(url, heartbeat=None, autoping=True)
                    await ws.receive(timeout=30)  # the `connected` greeting
                    return ws
                except (aiohttp.ClientError, TimeoutError):
                    return None

        sockets = [ws for ws in await asyncio.gather(*map(connect, urls)) if ws is not None]
        readers = [asyncio.create_task(_read(ws, tally)) for ws in sockets]
        loop = asyncio.get_running_loop()
        pipe.send(("ready", len(sockets), len(urls) - len(sockets)))
        while True:
            order = await loop.run_in_executor(None, pipe.recv)
            if order[0] == "stop":
                break
            seconds = order[1]
            tally.deliveries, tally.latencies_ms, tally.splits_ms = 0, [], []
            cpu0, wall0 = time.process_time(), time.monotonic()
            tally.measuring = True
            await asyncio.sleep(seconds)
            tally.measuring = False
            wall = time.monotonic() - wall0
            open_now = sum(1 for ws in sockets if not ws.closed)
            pipe.send(("result", tally.deliveries, tally.latencies_ms,
                       time.process_time() - cpu0, wall, open_now, tally.splits_ms))
        for task in readers:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def viewers_main(pipe: multiprocessing.connection.Connection, urls: Sequence[str]) -> None:
    uvloop.run(_viewers(pipe, urls))


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

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def start_measure(self, seconds: float) -> None:
        for pipe in self.pipes:
            pipe.send(("measure", seconds))

    def collect(self) -> dict[str, Any]:
        replies = [pipe.recv() for pipe in self.pipes]
        wall = max(reply[4] for reply in replies)
        latencies = [value for reply in replies for value in reply[2]]
        splits = [value for reply in replies for value in reply[6]]
        return {
            "deliveries": sum(reply[1] for reply in replies),
            "deliveries_per_s": round(sum(reply[1] for reply in replies) / wall, 1),
            "latencies_ms": latencies,
            "loadgen_cpu_pct": round(100 * sum(reply[3] for reply in replies) / wall, 1),
            "open_sockets": sum(reply[5] for reply in replies),
            "to_ledger_p50_p99_ms": _p50_p99([split[0] for split in splits]),
            "ledger_to_viewer_p50_p99_ms": _p50_p99([split[1] for split in splits]),
        }

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(("stop",))
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


async def _post_at_rate(
    url: str, tokens: Sequence[str], rate: float, seconds: float
) -> dict[str, Any]:
    interval = 1 / rate
    statuses: dict[int, int] = {}
    answered: list[float] = []
    cpu0 = time.process_time()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:

        async def one(token: str) -> None:
            body = {"message": f"{MARKER}{time.time_ns()}", "is_public": True}
            started = time.monotonic()
            try:
                async with session.post(url, json=body,
                                        headers={"Authorization": f"Bearer {token}"}) as reply:
                    await reply.read()
                    statuses[reply.status] = statuses.get(reply.status, 0) + 1
                    answered.append(1000 * (time.monotonic() - started))
            except aiohttp.ClientError:
                statuses[0] = statuses.get(0, 0) + 1

        tasks = []
        start = time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed / interval) + 1
            while sent < due:  # open loop: catch up on ticks missed, never wait for answers
                tasks.append(asyncio.create_task(one(tokens[sent % len(tokens)])))
                sent += 1
            await asyncio.sleep(interval)
        await asyncio.gather(*tasks)
        wall = time.monotonic() - start
    return {"sent": sent, "statuses": statuses,
            "post_p50_ms": _rounded(percentile(answered, 50)),
            "post_p99_ms": _rounded(percentile(answered, 99)),
            "loadgen_cpu_pct": round(100 * (time.process_time() - cpu0) / wall, 1)}


def _p50_p99(values: list[float]) -> list[float | None] | None:
    if not values:
        return None
    return [_rounded(percentile(values, 50)), _rounded(percentile(values, 99))]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _poster_main(queue: Any, url: str, tokens: Sequence[str], rate: float, seconds: float) -> None:
    queue.put(uvloop.run(_post_at_rate(url, tokens, rate, seconds)))


class Poster:
    """Runs the open-loop POST sender in its own process."""

    def __init__(self, url: str, tokens: Sequence[str], rate: float, seconds: float) -> None:
        context = multiprocessing.get_context("spawn")
        self.queue = context.Queue()
        self.process = context.Process(target=_poster_main,
                                       args=(self.queue, url, list(tokens), rate, seconds),
                                       daemon=True)
        self.process.start()

    @property
    def pid(self) -> int:
        return int(self.process.pid or 0)

    def result(self) -> dict[str, Any]:
        outcome: dict[str, Any] = self.queue.get(timeout=120)
        self.process.join(timeout=10)
        return outcome
