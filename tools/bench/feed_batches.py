"""How long chatledger's gateway took to fan its feed batches out during a window.

The waterfall's last stage runs from the gateway's dispatch of an event to a viewer's read. The
uncorked peer writes each socket at dispatch; chatledger's gateway writes each socket once, at
the end of the feed batch (chatledger/gateway/cork.py), so that stage also holds the rest of the
batch's fan-out. The gateway times each batch, first event offered to last socket written
(`chatledger_ws_feed_batch_duration_seconds`); the difference of two scrapes of it is the
window's batches, read here as Prometheus's `histogram_quantile` reads them: linear within a
bucket, so a quantile is only as fine as the buckets.
"""

import asyncio
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

METRIC = "chatledger_ws_feed_batch_duration_seconds"
Buckets = dict[float, float]  # upper bound (s) -> cumulative count


def buckets_of(text: str, name: str = METRIC) -> Buckets:
    """The histogram's cumulative buckets in a /metrics text (empty if it is not there)."""
    return {float(sample.labels["le"]): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == f"{name}_bucket"}


async def scrape(base: str) -> Buckets | None:
    """The fan-out buckets of the process at `base`; None where there is no such histogram (the
    bare pipeline serves no /metrics)."""
    def read() -> str:
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as reply:
            return str(reply.read().decode())

    try:
        found = buckets_of(await asyncio.to_thread(read))
    except OSError:
        return None
    return found or None


def quantile(before: Buckets, after: Buckets, q: float) -> float | None:
    """The q-quantile (0..1), in seconds, of what was observed between the two scrapes."""
    window = sorted((bound, after[bound] - before.get(bound, 0.0)) for bound in after)
    total = window[-1][1] if window else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound, cumulative in window:
        if cumulative >= rank:
            if bound == float("inf"):
                return lower  # past the last finite bound: that bound is all one can say
            share = (rank - below) / (cumulative - below) if cumulative > below else 1.0
            return lower + (bound - lower) * share
        lower, below = bound, cumulative
    return lower


def summary(before: Buckets | None, after: Buckets | None) -> dict[str, Any] | None:
    """The window's batches and their p50 / p99 in ms, or None without both scrapes."""
    if before is None or after is None:
        return None
    p50, p99 = quantile(before, after, 0.5), quantile(before, after, 0.99)
    batches = after.get(float("inf"), 0.0) - before.get(float("inf"), 0.0)
    return {"batches": int(batches),
            "p50_ms": None if p50 is None else round(1000 * p50, 2),
            "p99_ms": None if p99 is None else round(1000 * p99, 2)}
