"""The targets of issue 5 as ratios of one run, the printed table, results.json and README block."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


@dataclass(frozen=True)
class Target:
    name: str
    wanted: str  # how the goal reads in the table
    measure: Callable[[dict[str, Any]], float | None]  # the measured value (ratio or ms)
    threshold: float
    at_most: bool = False  # True for latencies: the measured value must stay under the threshold

    def passes(self, value: float) -> bool:
        return value <= self.threshold if self.at_most else value >= self.threshold

    def gap(self, value: float) -> str:
        """How far from the goal: the headroom of a PASS, the shortfall of a MISS."""
        if self.at_most:
            return f"{value / self.threshold:.2f}x the limit"
        return f"{value / self.threshold:.2f}x the goal"


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return None if not top or not bottom else round(top / bottom, 3)


def _get(results: dict[str, Any], *path: str) -> Any:
    value: Any = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


TARGETS = [
    Target("ledger batched vs batch size 1 (commands/s)", ">= 10x",
           lambda r: _ratio(_get(r, "ledger", "batched", "commands_per_s"),
                            _get(r, "ledger", "batch_1", "commands_per_s")),
           10),
    Target("ledger rows/s vs raw executemany rows/s", ">= 0.5",
           lambda r: _ratio(_get(r, "ledger", "batched", "rows_per_s"),
                            _get(r, "ledger", "raw_executemany", "rows_per_s")),
           0.5),
    Target("POST /chat/message/add vs hello-world POST (req/s)", ">= 0.5",
           lambda r: _ratio(_get(r, "http", "post_message", "ok_per_s"),
                            _get(r, "http", "hello_post", "ok_per_s")),
           0.5),
    Target("GET history vs min(hello-world GET, raw Redis) (req/s)", ">= 0.6",
           lambda r: _ratio(_get(r, "http", "history", "ok_per_s"),
                            min(filter(None, [_get(r, "http", "hello_get", "ok_per_s"),
                                              _get(r, "redis", "rps")]), default=None)),
           0.6),
    Target("POST -> websocket p99 at half max load, 1,000 viewers (ms)", "<= 50 ms",
           lambda r: _get(r, "websocket", "latency", "p99_ms"),
           50, at_most=True),
    Target("websocket deliveries/s vs raw send loop", ">= 0.5",
           lambda r: _ratio(_get(r, "websocket", "gateway", "deliveries_per_s"),
                            _get(r, "websocket", "raw", "deliveries_per_s")),
           0.5),
    Target("hot chat (80%) vs uniform: POST accepted/s", ">= 0.5",
           lambda r: _ratio(_get(r, "http", "post_message_hot", "ok_per_s"),
                            _get(r, "http", "post_message", "ok_per_s")),
           0.5),
    Target("hot chat (80%) vs uniform: ledger commands/s", ">= 0.5",
           lambda r: _ratio(_get(r, "ledger", "hot", "commands_per_s"),
                            _get(r, "ledger", "batched", "commands_per_s")),
           0.5),
]


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for target in TARGETS:
        try:
            value = target.measure(results)
        except (TypeError, ValueError):
            value = None
        verdict = "n/a" if value is None else ("PASS" if target.passes(value) else "MISS")
        rows.append({"target": target.name, "goal": target.wanted, "measured": value,
                     "verdict": verdict, "gap": "" if value is None else target.gap(value)})
    return rows


def _numbers(results: dict[str, Any]) -> list[tuple[str, str]]:
    """The raw measurements behind the ratios, one line each."""
    lines = []
    for group in ("http", "ledger", "redis", "websocket"):
        section = results.get(group) or {}
        if group == "redis":
            section = {"zrange": section} if section else {}
        for name, data in section.items():
            if not isinstance(data, dict):
                continue
            if name == "latency_curve":
                continue
            shown = {k: v for k, v in data.items()
                     if k not in ("latencies_ms", "statuses") and not isinstance(v, (dict, list))}
            lines.append((f"{group}.{name}", ", ".join(f"{k}={v}" for k, v in shown.items())))
    return lines


def markdown(results: dict[str, Any]) -> str:
    run = results["run"]
    out = [f"Last run: {run['finished']}, layout `{run['layout']}`, {run['seconds_per_scenario']} s"
           " per scenario, on this 2-core machine shared by the service, MariaDB, Redis, Kafka"
           " and the load generators (so only ratios within the run mean anything).", "",
           "| target | goal | measured | verdict | vs goal |", "|---|---|---|---|---|"]
    for row in results["targets"]:
        out.append(f"| {row['target']} | {row['goal']} | {row['measured']} | {row['verdict']}"
                   f" | {row['gap']} |")
    curve = _get(results, "websocket", "latency_curve") or []
    if curve:
        out += ["", "| POST -> websocket at this share of the max sustained rate | posts/s"
                " | POST -> viewer p50 / p99 ms | POST answered p50 / p99 ms"
                " | POST -> ledger decided p50 / p99 ms | ledger -> viewer p50 / p99 ms |",
                "|---|---|---|---|---|---|"]
        out += [f"| {point['share_of_max']:g} | {point['rate_per_s']} | {point['p50_ms']} /"
                f" {point['p99_ms']} | {point['posted']['post_p50_ms']} /"
                f" {point['posted']['post_p99_ms']} | {_pair(point, 'to_ledger_p50_p99_ms')}"
                f" | {_pair(point, 'ledger_to_viewer_p50_p99_ms')} |" for point in curve]
    out += ["", "| measurement | numbers |", "|---|---|"]
    out += [f"| {name} | {text} |" for name, text in _numbers(results)]
    return "\n".join(out)


def _pair(point: dict[str, Any], key: str) -> str:
    pair = point.get(key)
    return "-" if not pair else f"{pair[0]} / {pair[1]}"


def text_table(results: dict[str, Any]) -> str:
    rows = [("target", "goal", "measured", "verdict", "vs goal")] + [
        (r["target"], r["goal"], str(r["measured"]), r["verdict"], r["gap"])
        for r in results["targets"]]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines += ["", *(f"{name}: {text}" for name, text in _numbers(results))]
    return "\n".join(lines)


def write(results: dict[str, Any], json_path: Path, readme: Path) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    text = readme.read_text()
    block = f"{START}\n{markdown(results)}\n{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Performance\n\n" + block + "\n"
    readme.write_text(text)
