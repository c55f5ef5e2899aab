"""The waterfall: how long a paced POST spent between each pair of stages it passed. Pure.

Every stamp is `time.time()` (the poster's and the viewers' `time.time_ns()`) taken in processes
on ONE machine: one clock, so differences between processes are meaningful (to the clock's
resolution, well under a µs). The stamps come from CHATLEDGER_TRACE_STAGES=1
(chatledger/platform/stages.py): per event, the viewers report the stamps its frame carried;
per delivery, the gap between the gateway's dispatch of the event and that viewer's read.

"Dispatched" is when the gateway built the event's frame and offered it to every socket of its
chat. The uncorked peer writes each socket right then; chatledger's gateway writes each socket
ONCE at the end of the feed batch (chatledger/gateway/cork.py), so its `dispatched -> viewer read`
holds the rest of the batch's fan-out too: the gateway's `chatledger_ws_feed_batch_duration_seconds`
(`feed_batch_ms`) says how much of it that was.

The API's produce acknowledgement is a side branch, not a stage: the ledger may fetch the record
before the API hears its ack, so "api received -> acked" is shown beside the chain, not in it.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from tools.bench.stats import percentile

# (label, from stage, to stage): the chain a command walks, in order. "sent" is the poster's
# marker (the POST's send time).
CHAIN = (
    ("POST sent -> api received", "sent", "api_received"),
    ("api -> ledger fetched", "api_received", "ledger_fetched"),
    ("ledger fetched -> decided", "ledger_fetched", "ledger_decided"),
    ("decided -> committed", "ledger_decided", "ledger_committed"),
    ("committed -> publish began", "ledger_committed", "ledger_published"),
    ("published -> gateway fetched", "ledger_published", "gateway_fetched"),
    ("gateway fetched -> dispatched", "gateway_fetched", "gateway_dispatched"),
)
SOCKET = "dispatched -> viewer read"
SIDE = ("api received -> produce acked", "api_received", "api_acked")
FEED_BATCH = "gateway: a feed batch, first event dispatched -> last socket written (per batch)"


def _ms(stamps: Mapping[str, float], start: str, end: str) -> float | None:
    if start in stamps and end in stamps:
        return 1000 * (stamps[end] - stamps[start])
    return None


def legs(events: Mapping[int, Mapping[str, float]], acks: Mapping[int, Mapping[str, float]],
         socket_ms: Sequence[float],
         feed_batch_ms: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rows of (stage, p50, p99, samples): one per chain link, the socket leg, the side branches.

    `events`: marker (POST send time, ns) -> the stamps its frame carried; `acks`: marker -> the
    API's response stamps; `feed_batch_ms`: the gateway's feed batches in the window
    (feed_batches.py), if it reports them."""
    rows = []
    for label, start, end in CHAIN:
        values = [v for sent, stamps in events.items()
                  if (v := _ms({"sent": sent / 1e9, **stamps}, start, end)) is not None]
        rows.append(_row(label, values))
    rows.append(_row(SOCKET, list(socket_ms)))
    label, start, end = SIDE
    rows.append(_row(label, [v for stamps in acks.values()
                             if (v := _ms(stamps, start, end)) is not None], side=True))
    if feed_batch_ms:
        rows.append({"stage": FEED_BATCH, "p50_ms": feed_batch_ms["p50_ms"],
                     "p99_ms": feed_batch_ms["p99_ms"], "max_ms": None,
                     "samples": feed_batch_ms["batches"], "side": True})
    return rows


def _row(label: str, values: list[float], side: bool = False) -> dict[str, Any]:
    p50, p99 = percentile(values, 50), percentile(values, 99)
    return {"stage": label, "p50_ms": None if p50 is None else round(p50, 2),
            "p99_ms": None if p99 is None else round(p99, 2),
            "max_ms": round(max(values), 2) if values else None,
            "samples": len(values), "side": side}


def slowest(events: Mapping[int, Mapping[str, float]], count: int = 5) -> list[dict[str, Any]]:
    """The `count` slowest events up to the gateway's dispatch, each link of theirs in ms: where a
    stall sat."""
    def total(item: tuple[int, Mapping[str, float]]) -> float:
        return item[1].get("gateway_dispatched", 0.0) - item[0] / 1e9

    out = []
    for sent, stamps in sorted(events.items(), key=total, reverse=True)[:count]:
        full = {"sent": sent / 1e9, **stamps}
        out.append({"sent_s": round(sent / 1e9, 3),
                    **{label: _round(_ms(full, a, b)) for label, a, b in CHAIN}})
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def table(results: dict[str, Any]) -> list[str]:
    """The report's waterfall: one row per stage, p50 / p99 ms at each load point."""
    curve = [p for p in (results.get("pipeline") or {}).get("curve") or [] if p.get("waterfall")]
    return _points_table(curve, [f"{p['rate_per_s']:.0f}/s (load {p.get('loadavg_1m')})"
                                 for p in curve])


def low_load_table(results: dict[str, Any]) -> list[str]:
    """The same for the low-load runs: chatledger in one process beside the bare pipeline, then
    the bare pipeline's own curve (1,000 viewers, shares of its max)."""
    points, heads = [], []
    for who, data in (results.get("lowload") or {}).items():
        for point in data.get("points") or []:
            if point.get("waterfall"):
                points.append(point)
                heads.append(f"{who} {point['rate_per_s']:.0f}/s (load {point.get('loadavg_1m')})")
    bare = ((results.get("lowload") or {}).get("bare") or {}).get("max") or {}
    for point in bare.get("curve") or []:
        if point.get("waterfall"):
            points.append(point)
            heads.append(f"bare {point['share']:.0%} of its max, {point['rate_per_s']:.0f}/s"
                         f" (load {point.get('loadavg_1m')})")
    return _points_table(points, heads)


def _points_table(points: list[dict[str, Any]], heads: list[str]) -> list[str]:
    if not points:
        return []
    rows = ["Waterfall (CHATLEDGER_TRACE_STAGES=1, one clock: time.time() in every process of"
            " this machine), each stage's p50 / p99 ms:", "",
            f"| stage | {' | '.join(heads)} |", "|---|" + "---|" * len(points)]
    stages = {row["stage"]: row["side"] for p in points for row in p["waterfall"]}
    for stage, side in stages.items():  # a peer without a stage (the fan-out's) shows "-"
        found = [next((r for r in p["waterfall"] if r["stage"] == stage), {}) for p in points]
        cells = " | ".join(f"{_cell(r.get('p50_ms'))} / {_cell(r.get('p99_ms'))}"
                           for r in found)
        name = f"({stage}, beside the chain)" if side else stage
        rows.append(f"| {name} | {cells} |")
    rows.append("| end to end (POST sent -> viewer read) | "
                + " | ".join(f"{_cell(p['p50_ms'])} / {_cell(p['p99_ms'])}" for p in points)
                + " |")
    return rows


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
