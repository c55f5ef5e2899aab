"""chatledger against the bare-pipeline peer (tools/bench/bare_pipeline.py), in the same run.

1. Low load: chatledger with all roles in ONE process (as `make run` serves), 5 chats x 100
   viewers, paced POSTs at 20 and 100 posts/s (`--low-rates`); then the bare pipeline, the same
   viewers, senders and rates.
2. The bare pipeline's max posts/s with every viewer attached (1,000: the population of the
   pipeline section), found by the same stepping as chatledger's max; then its latency at 10%
   and 50% of that max, the shares of the pipeline's latency targets: whether the limit itself
   meets them (`lowload.bare.max.curve`, or `lowload.bare.max.error` when no rate kept up).

The peer is one process with chatledger's broker settings (the same CHATLEDGER_* environment):
what it costs is the hops themselves, so each ratio is chatledger's logic on top of them. A peer
that fails to run is recorded with its error (`lowload.bare.error`), which makes its targets a
MISS, never n/a.
"""

import asyncio
import contextlib
import itertools
import json
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from databases import Database

from chatledger.platform.config import Settings
from tests.helpers.service import free_port, stop
from tools.bench import pipeline
from tools.bench.bare_pipeline import TABLE
from tools.bench.ledger import count, wait_count
from tools.bench.peers import wait_listening
from tools.bench.population import Population, Viewer
from tools.bench.targets import HIGH_SHARE, LOW_SHARE
from tools.bench.viewers import attached
from tools.bench.wrk import run_wrk

if TYPE_CHECKING:
    from tools.bench.run import Bench

ROOT = Path(__file__).resolve().parents[2]
ONE_PROCESS = "api,history,gateway,ledger"
IDLE_S = 3.0
_LOW_RUNS = itertools.count(1)


def low_population(people: Population, chats: int, per_chat: int) -> list[Viewer]:
    """`per_chat` viewers of each of the first `chats` chats."""
    wanted = {model.uuid for model in people.models[:chats]}
    taken: dict[str, int] = {}
    chosen = []
    for viewer in people.viewers:
        if viewer.chat in wanted and taken.get(viewer.chat, 0) < per_chat:
            taken[viewer.chat] = taken.get(viewer.chat, 0) + 1
            chosen.append(viewer)
    return chosen


async def at_rates(bench: "Bench", db: Database, base: str, viewers: Sequence[Viewer],
                   senders: list[str], chats: int, table: str) -> dict[str, Any]:
    with attached(base, viewers, bench.args.viewer_processes) as pool:
        if pool.connected < 0.99 * len(viewers):
            raise RuntimeError(f"only {pool.connected} of {len(viewers)} viewers connected")
        # Idle, viewers attached: what the consumers' polling alone costs (a Tansu fetch waits
        # its whole fetch_max_wait_ms, so each consumer sends ~1000 / wait fetches a second).
        meter = bench.meter()
        meter.start()
        await asyncio.sleep(IDLE_S)
        idle = meter.stop(IDLE_S)
        points = []
        for rate in bench.args.low_rates:
            _, point = await pipeline.paced(bench, db, pool, senders, rate, bench.seconds,
                                            pool.connected / chats, api=base, table=table)
            point.pop("events", None)  # the pipeline section keeps the per-event stamps
            points.append(point)
        return {"viewers": pool.connected, "chats": chats, "idle_cpu_pct": idle,
                "points": points}


async def quiet_cpu(bench: "Bench") -> dict[str, float]:
    """CPU of the stack with neither peer running: on the shared broker, other clients' share
    of Tansu's CPU (each peer's own share is its windows' value less this)."""
    meter = bench.meter()
    meter.start()
    await asyncio.sleep(IDLE_S)
    return meter.stop(IDLE_S)


async def chatledger_low(bench: "Bench", db: Database, people: Population,
                         viewers: list[Viewer], senders: list[str],
                         **settings: str) -> dict[str, Any]:
    """`settings`: CHATLEDGER_* variables of this run (the sweep's broker settings)."""
    before = await quiet_cpu(bench)
    label = f"low{next(_LOW_RUNS)}"
    async with bench.fresh_stack(db, people, ONE_PROCESS, label, **settings) as stack:
        result = await at_rates(bench, db, stack.urls["gateway"], viewers, senders,
                                bench.args.low_chats, "applied_commands")
    return {"layout": ONE_PROCESS, "before_start_cpu_pct": before,
            "prefix": f"{bench.prefix}{label}.", **result}


class BarePeer:
    """The bare pipeline in its own process, ready once a POST has gone all the way round."""

    def __init__(self, bench: "Bench", people: Population, label: str = "") -> None:
        tokens = bench.log_dir / "bare-tokens.json"
        tokens.write_text(json.dumps({viewer.token: viewer.chat for viewer in people.viewers}))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        with (bench.log_dir / "bare-pipeline.log").open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tools.bench.bare_pipeline", str(self.port), str(tokens)],
                cwd=ROOT, env={**bench.traced, "CHATLEDGER_PREFIX": f"{bench.prefix}{label}"},
                stdout=out,
                stderr=subprocess.STDOUT)
        self.log = bench.log_dir / "bare-pipeline.log"

    async def ready(self, bench: "Bench", db: Database, people: Population) -> None:
        """Listening, a POST applied, then 2 s of unmeasured POSTs from everyone (as the
        service's warm-up), drained."""
        wait_listening(self.url + "/ws", self.process)
        before = await count(db, TABLE)  # an earlier peer's rows stay (a curve's own topics)
        viewer = people.viewers[0]
        body = json.dumps({"message": "warm-up", "is_public": True}).encode()
        request = urllib.request.Request(
            self.url + "/chat/message/add", data=body, method="POST",
            headers={"Authorization": f"Bearer {viewer.token}",
                     "Content-Type": "application/json"})
        await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).read())
        await wait_count(db, TABLE, before + 1, 60, self.process)
        message = json.dumps({"message": "warm-up", "is_public": True})
        applied = await count(db, TABLE)
        warm = await asyncio.to_thread(
            run_wrk, self.url, bench.post_lines(people, "/chat/message/add", None, message),
            duration_s=2, connections=bench.args.connections)
        await bench.drain(db, applied + int(warm["ok"]), "bare warm-up", TABLE)

    def alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-600:]
            raise RuntimeError(f"bare pipeline exited with {self.process.returncode}: {tail}")


@contextlib.asynccontextmanager
async def running_bare(bench: "Bench", db: Database, people: Population,
                       label: str = "") -> AsyncIterator[BarePeer]:
    """A bare pipeline, ready; `label`: topics of its own (`<prefix><label>bare.*`)."""
    peer = BarePeer(bench, people, label)
    bench.service_pids = {"bare": [peer.process.pid]}
    try:
        await peer.ready(bench, db, people)
        yield peer
        peer.alive()
    finally:
        stop(peer.process)
        bench.service_pids = {}


async def bare(bench: "Bench", db: Database, people: Population, viewers: list[Viewer],
               senders: list[str]) -> dict[str, Any]:
    """The low rates, then the max on the same peer, then the curve at shares of that max on a
    new peer with topics of its own, as chatledger's curve is drawn (run.py, `pipeline`)."""
    before = await quiet_cpu(bench)
    every = [viewer.token for viewer in people.mix(2000, None)]
    async with running_bare(bench, db, people) as peer:
        result: dict[str, Any] = await at_rates(bench, db, peer.url, viewers, senders,
                                                bench.args.low_chats, TABLE)
        result["before_start_cpu_pct"] = before
        peer.alive()
        if not bench.args.bare_max:
            return result
        with attached(peer.url, people.viewers, bench.args.viewer_processes) as pool:
            start = bench.results["pipeline"].get("max_per_s") or 100.0
            section: dict[str, Any] = {"viewers": pool.connected}
            maximum = await pipeline.search_max(
                bench, db, pool, every, pool.connected / len(people.models), start, section,
                api=peer.url, table=TABLE)
            result["max"] = section
    if not maximum:
        lowest = min(section["trials"], key=lambda trial: trial["rate"])
        section["error"] = (f"kept up with no rate tried, down to"
                            f" {lowest['rate']:.0f}/s: {lowest['why']}")
        return result
    async with running_bare(bench, db, people, "curve.") as fresh:
        with attached(fresh.url, people.viewers, bench.args.viewer_processes) as pool:
            section["curve"] = await pipeline.curve_at(
                bench, db, pool, every, pool.connected / len(people.models), maximum,
                (LOW_SHARE, HIGH_SHARE), api=fresh.url, table=TABLE)
    for point in section["curve"]:
        point.pop("events", None)  # as at the low rates: the pipeline's are kept
    return result


async def run(bench: "Bench", db: Database, people: Population) -> None:
    section = bench.results.setdefault("lowload", {})
    viewers = low_population(people, bench.args.low_chats, bench.args.low_viewers_per_chat)
    senders = [viewer.token for viewer in people.mix(2000, None, viewers)]
    section["chatledger"] = await chatledger_low(bench, db, people, viewers, senders)
    try:
        section["bare"] = await bare(bench, db, people, viewers, senders)
    except (OSError, RuntimeError, TimeoutError, KeyError, ValueError) as exc:
        section["bare"] = {"error": f"{type(exc).__name__}: {exc}"}
        bench.warn(f"the bare pipeline did not run: {section['bare']['error']}")


async def sweep(bench: "Bench", db: Database, people: Population) -> None:
    """chatledger's low-load run again for each fetch_max_wait_ms (`--sweep-fetch-wait`) and
    each linger_ms (`--sweep-linger`), the other setting at its default: each broker hop's wait
    (the waterfall), the end-to-end p99 and the idle polling cost, side by side."""
    defaults = Settings()
    viewers = low_population(people, bench.args.low_chats, bench.args.low_viewers_per_chat)
    senders = [viewer.token for viewer in people.mix(2000, None, viewers)]
    runs = [(wait, defaults.kafka_linger_ms) for wait in bench.args.sweep_fetch_wait]
    runs += [(defaults.kafka_fetch_max_wait_ms, linger) for linger in bench.args.sweep_linger]
    rows = bench.results.setdefault("sweep", [])
    for wait, linger in runs:
        result = await chatledger_low(bench, db, people, viewers, senders,
                                      CHATLEDGER_KAFKA_FETCH_MAX_WAIT_MS=str(wait),
                                      CHATLEDGER_KAFKA_LINGER_MS=str(linger))
        rows.append({"fetch_max_wait_ms": wait, "linger_ms": linger, **result})
