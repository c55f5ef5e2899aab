"""The targets, each a ratio (or a latency) of ONE run's numbers, and their verdicts. Pure."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The shares of a max the latency targets compare ("p99 at 50% of the max vs at 10%"); the bare
# pipeline's own curve is drawn at these.
LOW_SHARE, HIGH_SHARE = 0.1, 0.5


@dataclass(frozen=True)
class Target:
    name: str
    wanted: str  # how the goal reads in the table
    measure: Callable[[dict[str, Any]], float | None]  # the measured value (ratio or ms)
    threshold: float
    at_most: bool = False  # True for costs and latencies: the value must stay under the threshold
    reported_only: bool = False  # a number shown beside the others, with no verdict
    # (with a threshold, how far it is from that goal is still shown)
    # Why the peer this target compares with did not run (then a MISS naming it, never n/a).
    peer_error: Callable[[dict[str, Any]], str | None] | None = None

    def passes(self, value: float) -> bool:
        return value <= self.threshold if self.at_most else value >= self.threshold

    def gap(self, value: float) -> str:
        """How far from the goal: the headroom of a PASS, the shortfall of a MISS."""
        if self.at_most:
            return f"{value / self.threshold:.2f}x the limit"
        return f"{value / self.threshold:.2f}x the goal"


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return None if not top or not bottom else round(top / bottom, 3)


def at_path(results: dict[str, Any], *path: str) -> Any:
    value: Any = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _lowest(*values: float | None) -> float | None:
    return min((value for value in values if value), default=None)


def _highest(*values: float | None) -> float | None:
    return max((value for value in values if value), default=None)


def _curve_p99(results: dict[str, Any], share: float,
               where: tuple[str, ...] = ("pipeline",)) -> float | None:
    """p99 of the curve point at `share` of the max of the section at `where`."""
    for point in at_path(results, *where, "curve") or []:
        if abs(point.get("share", 0) - share) < 1e-9:
            value = point.get("p99_ms")
            return float(value) if value is not None else None
    return None


def _low_p99(results: dict[str, Any], who: str, rate: float) -> float | None:
    """p99 of chatledger's (one process) or the bare pipeline's low-load run at `rate`."""
    for point in at_path(results, "lowload", who, "points") or []:
        if abs(point.get("rate_per_s", 0) - rate) < 0.05 * rate:
            value = point.get("p99_ms")
            return float(value) if value is not None else None
    return None


def _bare_error(results: dict[str, Any]) -> str | None:
    if at_path(results, "lowload") is None:
        return None  # the comparison was skipped
    error = at_path(results, "lowload", "bare", "error")
    return str(error) if error else None


BARE_MAX = ("lowload", "bare", "max")


def _bare_curve_ratio(results: dict[str, Any]) -> float | None:
    return _ratio(_curve_p99(results, HIGH_SHARE, BARE_MAX),
                  _curve_p99(results, LOW_SHARE, BARE_MAX))


def _bare_curve_error(results: dict[str, Any]) -> str | None:
    """Why the bare pipeline has no curve of its own: it did not run, or kept up with no rate."""
    error = _bare_error(results) or at_path(results, *BARE_MAX, "error")
    return str(error) if error else None


def _cpu_ratio(results: dict[str, Any], name: str) -> float | None:
    return _ratio(at_path(results, "http", name, "cpu_us_per_ok"),
                  at_path(results, "http", "hello_post", "cpu_us_per_ok"))


def _node_best(results: dict[str, Any]) -> float | None:
    peers = at_path(results, "fanout") or {}
    return _highest(*(data.get("rate_per_s") for name, data in peers.items()
                      if name.startswith("node") and isinstance(data, dict)))


TARGETS = [
    # request cost
    Target("api CPU per accepted POST message vs hello-world POST", "<= 3x",
           lambda r: _cpu_ratio(r, "post_message"), 3, at_most=True),
    Target("api CPU per accepted POST donation vs hello-world POST", "<= 4x",
           lambda r: _cpu_ratio(r, "post_donation"), 4, at_most=True),
    Target("GET history req/s vs min(hello-world GET, raw Redis page read)", ">= 0.6",
           lambda r: _ratio(at_path(r, "http", "history", "ok_per_s"),
                            _lowest(at_path(r, "http", "hello_get", "ok_per_s"),
                                    at_path(r, "redis", "page", "rps"))), 0.6),
    Target("POST message req/s, 2 api workers vs 1", "reported",
           lambda r: _ratio(at_path(r, "http", "post_message_2_workers", "ok_per_s"),
                            at_path(r, "http", "post_message", "ok_per_s")), 0,
           reported_only=True),
    Target("GET history req/s, 2 api workers vs 1", "reported",
           lambda r: _ratio(at_path(r, "http", "history_2_workers", "ok_per_s"),
                            at_path(r, "http", "history", "ok_per_s")), 0, reported_only=True),
    # delivery
    Target("gateway deliveries/s vs minimal Python fan-out", ">= 0.8",
           lambda r: _ratio(at_path(r, "fanout", "gateway", "rate_per_s"),
                            at_path(r, "fanout", "python", "rate_per_s")), 0.8),
    Target("gateway deliveries/s vs node.js ws (its faster mode)", ">= 1.0",
           lambda r: _ratio(at_path(r, "fanout", "gateway", "rate_per_s"), _node_best(r)), 1.0),
    Target("POST -> viewer p99 at 50% of the pipeline's max vs at 10%", "<= 2x",
           lambda r: _ratio(_curve_p99(r, HIGH_SHARE), _curve_p99(r, LOW_SHARE)), 2,
           at_most=True),
    Target("POST -> viewer p99 at 50% of the pipeline's max (ms)", "<= 100 ms",
           lambda r: _curve_p99(r, HIGH_SHARE), 100, at_most=True),
    # The two above measured on the bare pipeline at ITS max: whether the limit itself meets them.
    Target("bare pipeline's own p99 at 50% of its max vs at 10%", "reported (<= 2x)",
           _bare_curve_ratio, 2, at_most=True, reported_only=True, peer_error=_bare_curve_error),
    Target("bare pipeline's own p99 at 50% of its max (ms)", "reported (<= 100 ms)",
           lambda r: _curve_p99(r, HIGH_SHARE, BARE_MAX), 100, at_most=True,
           reported_only=True, peer_error=_bare_curve_error),
    Target("ledger commands/s, batched vs batch size 1", ">= 50x",
           lambda r: _ratio(at_path(r, "ledger", "batched", "commands_per_s"),
                            at_path(r, "ledger", "batch_1", "commands_per_s")), 50),
    Target("ledger commands/s vs raw SQL making the same writes", ">= 0.5",
           lambda r: _ratio(at_path(r, "ledger", "batched", "commands_per_s"),
                            at_path(r, "ledger", "raw_same_writes", "commands_per_s")), 0.5),
    Target("gateway memory per idle websocket (KiB)", "<= 16 KiB",
           lambda r: at_path(r, "fanout", "gateway", "idle", "kib_per_connection"), 16,
           at_most=True),
    # low load, all roles in one process, 5 chats x 100 viewers; against the bare pipeline
    Target("POST -> viewer p99, one process, 5 x 100 viewers, at 100 posts/s (ms)", "<= 100 ms",
           lambda r: _low_p99(r, "chatledger", 100), 100, at_most=True),
    Target("same, p99 at 100 posts/s vs at 20 posts/s", "<= 2x",
           lambda r: _ratio(_low_p99(r, "chatledger", 100), _low_p99(r, "chatledger", 20)), 2,
           at_most=True),
    Target("p99 vs the bare pipeline's, at 20 posts/s", "<= 1.25x",
           lambda r: _ratio(_low_p99(r, "chatledger", 20), _low_p99(r, "bare", 20)), 1.25,
           at_most=True, peer_error=_bare_error),
    Target("p99 vs the bare pipeline's, at 100 posts/s", "<= 1.25x",
           lambda r: _ratio(_low_p99(r, "chatledger", 100), _low_p99(r, "bare", 100)), 1.25,
           at_most=True, peer_error=_bare_error),
    Target("pipeline max posts/s (1,000 viewers) vs the bare pipeline's", ">= 0.75",
           lambda r: _ratio(at_path(r, "pipeline", "max_per_s"),
                            at_path(r, "lowload", "bare", "max", "max_per_s")), 0.75,
           peer_error=_bare_error),
    # the ledger, still held
    Target("hot chat (80%) vs uniform: POST accepted/s", ">= 0.5",
           lambda r: _ratio(at_path(r, "http", "post_message_hot", "ok_per_s"),
                            at_path(r, "http", "post_message", "ok_per_s")), 0.5),
    Target("hot chat (80%) vs uniform: ledger commands/s", ">= 0.5",
           lambda r: _ratio(at_path(r, "ledger", "hot", "commands_per_s"),
                            at_path(r, "ledger", "batched", "commands_per_s")), 0.5),
    # shows: what the clock's ticks cost (tools/bench/shows.py)
    Target("ledger commands/s with 1,000 shows vs without", ">= 0.9",
           lambda r: _ratio(at_path(r, "shows", "with", "commands_per_s"),
                            at_path(r, "shows", "without", "commands_per_s")), 0.9),
    Target("show boundary lateness p99, 1,000 shows (s)", "<= 1 s",
           lambda r: at_path(r, "shows", "lateness", "steady", "p99_s"), 1, at_most=True),
]


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for target in TARGETS:
        try:
            value = target.measure(results)
        except (TypeError, ValueError, ZeroDivisionError):
            value = None
        error = target.peer_error(results) if target.peer_error else None
        if error:
            verdict = "did not run" if target.reported_only else "MISS"
            gap = f"the peer did not run: {error}"
        elif value is None:
            verdict, gap = "n/a", ""
        elif target.reported_only:
            verdict, gap = "reported", target.gap(value) if target.threshold else ""
        else:
            verdict = "PASS" if target.passes(value) else "MISS"
            gap = target.gap(value)
        rows.append({"target": target.name, "goal": target.wanted, "measured": value,
                     "verdict": verdict, "gap": gap})
    return rows
