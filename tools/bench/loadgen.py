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
import uvloop

from tools.bench.stats import percentile

MARKER = "bench "


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
        sending_s = time.monotonic() - start
        await asyncio.gather(*tasks)
        wall = time.monotonic() - start
    return {"sent": sent, "statuses": statuses, "achieved_per_s": round(sent / sending_s, 1),
            "accepted": sum(n for status, n in statuses.items() if 200 <= status < 300),
            "post_p50_ms": _rounded(percentile(answered, 50)),
            "post_p99_ms": _rounded(percentile(answered, 99)),
            "loadgen_cpu_pct": round(100 * (time.process_time() - cpu0) / wall, 1)}


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
