"""The paced POST sender: open loop at a fixed rate, each message carrying its send time.

The message text is `bench <time.time_ns()>`, so a viewer can time the POST -> viewer delay from
the frame it receives (tools/bench/viewers.py). It runs in its own process and reports its own
CPU time, so the bench can show it is not the bottleneck.
"""

import asyncio
import multiprocessing
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson
import uvloop

from chatledger.platform.stages import RESPONSE_HEADER as STAGES_HEADER
from tools.bench.stats import percentile

MARKER = "bench "


async def _post_at_rate(
    url: str, tokens: Sequence[str], rate: float, seconds: float, warmup_s: float
) -> dict[str, Any]:
    """`warmup_s` of unmarked POSTs at `rate` (the client's connections opened, the server's
    caches warm: a start-up transient would make the window's first quarter look slow), then
    `seconds` of marked ones. Only the marked ones are counted as sent/accepted/answered."""
    interval = 1 / rate
    statuses: dict[int, int] = {}
    warm: dict[int, int] = {}
    answered: list[float] = []
    acks: dict[int, dict[str, float]] = {}  # marker -> the API's stamps (when tracing stages)
    cpu0 = time.process_time()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:

        async def one(token: str, marked: bool) -> None:
            sent_ns = time.time_ns()
            text = f"{MARKER}{sent_ns}" if marked else "warm-up"
            counts = statuses if marked else warm
            started = time.monotonic()
            try:
                async with session.post(url, json={"message": text, "is_public": True},
                                        headers={"Authorization": f"Bearer {token}"}) as reply:
                    await reply.read()
                    counts[reply.status] = counts.get(reply.status, 0) + 1
                    if marked:
                        answered.append(1000 * (time.monotonic() - started))
                        if STAGES_HEADER in reply.headers:
                            acks[sent_ns] = orjson.loads(reply.headers[STAGES_HEADER])
            except aiohttp.ClientError:
                counts[0] = counts.get(0, 0) + 1

        tasks = []
        start = time.monotonic()
        due_total = sent = 0
        measured_from = None
        while (elapsed := time.monotonic() - start) < warmup_s + seconds:
            due_total = int(elapsed / interval) + 1
            marked = elapsed >= warmup_s
            if marked and measured_from is None:
                measured_from = (time.monotonic(), sent)
            while sent < due_total:  # open loop: catch up on ticks missed, never wait for answers
                tasks.append(asyncio.create_task(one(tokens[sent % len(tokens)], marked)))
                sent += 1
            await asyncio.sleep(interval)
        sending_s = time.monotonic() - (measured_from or (start, 0))[0]
        measured = sent - (measured_from or (start, 0))[1]
        await asyncio.gather(*tasks)
        wall = time.monotonic() - start
    return {"sent": measured, "statuses": statuses,
            "achieved_per_s": round(measured / sending_s, 1) if sending_s else 0.0,
            "accepted": _ok(statuses), "warmup_accepted": _ok(warm),
            "acks": acks,
            "post_p50_ms": _rounded(percentile(answered, 50)),
            "post_p99_ms": _rounded(percentile(answered, 99)),
            "loadgen_cpu_pct": round(100 * (time.process_time() - cpu0) / wall, 1)}


def _ok(statuses: dict[int, int]) -> int:
    return sum(n for status, n in statuses.items() if 200 <= status < 300)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _poster_main(queue: Any, url: str, tokens: Sequence[str], rate: float, seconds: float,
                 warmup_s: float) -> None:
    queue.put(uvloop.run(_post_at_rate(url, tokens, rate, seconds, warmup_s)))


class Poster:
    """Runs the open-loop POST sender in its own process."""

    def __init__(self, url: str, tokens: Sequence[str], rate: float, seconds: float,
                 warmup_s: float = 1.0) -> None:
        context = multiprocessing.get_context("spawn")
        self.queue = context.Queue()
        self.process = context.Process(
            target=_poster_main, args=(self.queue, url, list(tokens), rate, seconds, warmup_s),
            daemon=True)
        self.process.start()

    @property
    def pid(self) -> int:
        return int(self.process.pid or 0)

    def result(self) -> dict[str, Any]:
        outcome: dict[str, Any] = self.queue.get(timeout=120)
        self.process.join(timeout=10)
        return outcome
