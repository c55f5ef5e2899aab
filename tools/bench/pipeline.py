"""The pipeline with viewers attached: paced POSTs (open loop) timed POST -> viewer, the max
rate found by stepping, then the latency curve at shares of it, with the waterfall per window."""

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from databases import Database

from tools.bench import curve, feed_batches, waterfall
from tools.bench.console import log
from tools.bench.ledger import count
from tools.bench.loadgen import Poster
from tools.bench.population import Population
from tools.bench.stats import percentile
from tools.bench.viewers import ViewerPool, attached

if TYPE_CHECKING:
    from tools.bench.run import Bench


async def settle(bench: "Bench", db: Database, pool: ViewerPool, applied: int,
                 table: str = "applied_commands") -> None:
    """Until the ledger has applied every accepted POST and the viewers receive nothing:
    a window that starts on a backlog would time the backlog, not the pipeline."""
    await bench.drain(db, applied, "paced POSTs", table)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if pool.measure(0.5)["deliveries"] == 0:
            return
    bench.warn("viewers still receiving a backlog after 60 s")


async def paced(bench: "Bench", db: Database, pool: ViewerPool, senders: list[str], rate: float,
                seconds: float, per_chat: float, api: str | None = None,
                table: str = "applied_commands") -> tuple[curve.Trial, dict[str, Any]]:
    """POST at `rate` for `seconds` (open loop) to `api` (default: the service's); the
    viewers time every arrival. `table` holds a row per applied command."""
    applied = await count(db, table)
    meter = bench.meter(*pool.pids)
    meter.start()
    started, started_at = time.monotonic(), time.time()
    gateway = api or bench.stack.urls["gateway"]  # one process serves every role's /metrics
    batches = await feed_batches.scrape(gateway)
    pool.start_measure(None)
    posted = Poster(f"{api or bench.stack.urls['api']}/chat/message/add", senders, rate,
                    seconds).result()
    await asyncio.sleep(bench.args.grace)  # the last POSTs' events are still on their way
    got = pool.finish()
    cpu = meter.stop(time.monotonic() - started)
    feed_batch_ms = feed_batches.summary(batches, await feed_batches.scrape(gateway))
    cpu["poster"] = posted["loadgen_cpu_pct"]
    accepted = posted["accepted"]
    # The warm-up's unmarked messages reach the viewers too.
    expected = int((accepted + posted["warmup_accepted"]) * per_chat)
    trial = curve.judge(rate, posted["sent"], accepted, posted["achieved_per_s"],
                        expected, got["deliveries"], got["sent_ns"], got["total_ms"])
    total = got["total_ms"]
    point = {
        "rate_per_s": round(rate, 1), "posted": posted["sent"], "accepted": accepted,
        "deliveries": got["deliveries"], "expected": expected,
        "window": [started_at, time.time()],
        "samples": len(total), "p50_ms": _round(percentile(total, 50)),
        "p99_ms": _round(percentile(total, 99)), "p999_ms": _round(percentile(total, 99.9)),
        "max_ms": _round(max(total, default=None)),
        "ledger_leg_ms": _p50_p99(got["ledger_leg_ms"]),
        "viewer_leg_ms": _p50_p99(got["viewer_leg_ms"]),
        "post_p50_p99_ms": [posted["post_p50_ms"], posted["post_p99_ms"]],
        "cpu_pct": cpu, "open_sockets": got["open_sockets"],
        "kept_up": trial.kept_up, "why": trial.why,
        "loadavg_1m": round(os.getloadavg()[0], 2),  # the machine's noise, noted
    }
    if got["stamps"]:
        point["waterfall"] = waterfall.legs(got["stamps"], posted["acks"], got["socket_ms"],
                                            feed_batch_ms)
        point["slowest"] = waterfall.slowest(got["stamps"])
        point["events"] = {str(sent): stamps for sent, stamps in got["stamps"].items()}
    log(f"{rate:.0f} posts/s: {'kept up' if trial.kept_up else 'behind: ' + trial.why};"
        f" p50 {point['p50_ms']} p99 {point['p99_ms']} p99.9 {point['p999_ms']} ms,"
        f" {got['deliveries']}/{point['expected']} deliveries")
    await settle(bench, db, pool, applied + accepted + posted["warmup_accepted"], table)
    return trial, point


async def run(bench: "Bench", db: Database, people: Population) -> None:
    """The max, then the curve at shares of it, each on topics of its own (`fresh_stack`):
    Tansu 0.6 lists every record batch of a partition on each fetch that finds new data,
    under a lock its produces wait for (docs/performance.md, "Why Tansu slows as a topic
    grows"), so a curve drawn on the search's topics (tens of thousands of batches by then)
    would measure that listing more than the service. The bare pipeline's is drawn the same
    way."""
    section = bench.results["pipeline"]
    async with bench.fresh_stack(db, people, bench.args.layout, "pipe"):
        with viewers_on_gateway(bench, people) as (pool, per_chat, senders):
            if bench.args.rates:
                await fixed_rates(bench, db, pool, senders, per_chat)
                return
            start = bench.args.start_rate or max(20.0, 0.3 * (
                bench.results["http"].get("post_message", {}).get("ok_per_s") or 300))
            maximum = await search_max(bench, db, pool, senders, per_chat, start, section)
    log(f"pipeline max with viewers: {maximum or 0:.1f} posts/s")
    if not maximum:
        bench.warn("the pipeline kept up with no rate tried")
        return
    async with bench.fresh_stack(db, people, bench.args.layout, "curve"):
        with viewers_on_gateway(bench, people) as (pool, per_chat, senders):
            points = await curve_at(bench, db, pool, senders, per_chat, maximum,
                                    bench.args.shares)
    section["curve"] = points
    flat, bent = curve.knee([(p["rate_per_s"], p["p99_ms"] or 0) for p in points])
    section["knee_per_s"] = flat
    section["knee_text"] = (
        f"p99 within 2x of its lowest-rate value up to {flat:.0f} posts/s"
        + (f", past it by {bent:.0f} posts/s" if bent else " (the highest rate drawn)"))


@contextlib.contextmanager
def viewers_on_gateway(bench: "Bench", people: Population
                       ) -> Iterator[tuple[ViewerPool, float, list[str]]]:
    """Every viewer on the stack's gateway: the pool, viewers per chat, the senders."""
    with attached(bench.stack.urls["gateway"], people.viewers,
                  bench.args.viewer_processes) as pool:
        log(f"{pool.connected} viewers on the gateway ({pool.failed} failed)"
            f" in {pool.connect_s} s")
        per_chat = pool.connected / len(people.models)
        bench.results["pipeline"].update(viewers=pool.connected, viewers_per_chat=per_chat)
        yield pool, per_chat, [viewer.token for viewer in people.mix(2000, None)]


async def search_max(bench: "Bench", db: Database, pool: ViewerPool, senders: list[str],
                     per_chat: float, start: float, section: dict[str, Any],
                     **target: str) -> float | None:
    """Step the rate from `start` until the max is known (`target`: paced's api and table);
    the trials and the max go into `section`."""
    trials: list[curve.Trial] = []
    rate = curve.next_rate(trials, start, refine=bench.args.refine)
    while rate is not None:
        trial, _ = await paced(bench, db, pool, senders, rate, bench.args.step_seconds,
                               per_chat, **target)
        trials.append(trial)
        rate = curve.next_rate(trials, start, refine=bench.args.refine)
    maximum = curve.max_sustained(trials)
    section["trials"] = [{"rate": t.rate, "kept_up": t.kept_up, "why": t.why}
                         for t in trials]
    section["max_per_s"] = _round(maximum)
    return maximum


async def curve_at(bench: "Bench", db: Database, pool: ViewerPool, senders: list[str],
                   per_chat: float, maximum: float, shares: Sequence[float],
                   **target: str) -> list[dict[str, Any]]:
    """The latency curve: a paced window at each share of `maximum` (`target`: paced's api
    and table)."""
    points = []
    for share in shares:
        _, point = await paced(bench, db, pool, senders, maximum * share, bench.seconds,
                               per_chat, **target)
        points.append({"share": share, **point})
    return points


async def fixed_rates(bench: "Bench", db: Database, pool: ViewerPool, senders: list[str],
                      per_chat: float) -> None:
    """--rates: the curve at the rates given, no search for the maximum."""
    points = []
    for rate in bench.args.rates:
        _, point = await paced(bench, db, pool, senders, rate, bench.seconds, per_chat)
        points.append({"share": 0.0, **point})
    bench.results["pipeline"]["curve"] = points


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _p50_p99(values: list[float]) -> list[float | None] | None:
    return [_round(percentile(values, 50)), _round(percentile(values, 99))] if values else None
