"""The printed table, results.json and the block of docs/performance.md, from one run's
results (the targets' verdicts are targets.py's)."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools.bench import shows, waterfall
from tools.bench.targets import BARE_MAX, at_path

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _cpu_text(cpu: dict[str, float] | None) -> str:
    if not cpu:
        return "-"
    return ", ".join(f"{name} {value:g}" for name, value in cpu.items())


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


HTTP_ROWS = ("hello_post", "hello_get", "post_message", "post_donation", "post_message_hot",
             "history", "post_message_2_workers", "history_2_workers")


def http_table(results: dict[str, Any]) -> list[str]:
    http = results.get("http") or {}
    rows = ["| HTTP (wrk, same connections) | ok/s | p50 / p99 ms | CPU µs per ok request"
            " (server process) | server busy % | wrk CPU % |", "|---|---|---|---|---|---|"]
    for name in HTTP_ROWS:
        data = http.get(name)
        if not data:
            continue
        rows.append(f"| {name} | {_cell(data.get('ok_per_s'))} | {_cell(data.get('p50_ms'))} /"
                    f" {_cell(data.get('p99_ms'))} | {_cell(data.get('cpu_us_per_ok'))}"
                    f" | {_cell((data.get('cpu_pct') or {}).get('server'))}"
                    f" | {_cell(data.get('loadgen_cpu_pct'))} |")
    page = at_path(results, "redis", "page")
    if page:
        rows.append(f"| raw Redis page read (redis-benchmark `{page.get('command')}`, returns"
                    f" {page.get('returned')}) | {_cell(page.get('rps'))}"
                    f" | {_cell(page.get('p50_ms'))} / {_cell(page.get('p99_ms'))} | - | -"
                    f" | {_cell(page.get('loadgen_cpu_pct'))} |")
    workers = at_path(results, "http", "workers")
    if workers:
        rows.append(f"| 2 api workers | {workers} | | | | |")
    return rows


def fanout_table(results: dict[str, Any]) -> list[str]:
    fanout = results.get("fanout") or {}
    if not fanout or not isinstance(fanout, dict):
        return []
    rows = ["| fan-out, same recorded events and viewers | deliveries/s | server CPU µs per"
            " delivery | viewers CPU % | sockets open at end | idle KiB per socket"
            " | idle sockets connected in s |", "|---|---|---|---|---|---|---|"]
    for name, data in fanout.items():
        if not isinstance(data, dict) or "rate_per_s" not in data:
            continue
        idle = data.get("idle") or {}
        rows.append(f"| {name} | {_cell(data['rate_per_s'])}"
                    f"{' (ran dry)' if data.get('ran_dry') else ''}"
                    f" | {_cell(data.get('server_cpu_us_per_delivery'))}"
                    f" | {_cell(data.get('viewers_cpu_pct'))} | {data.get('open_sockets')}"
                    f" | {_cell(idle.get('kib_per_connection'))}"
                    f" | {idle.get('sockets')} in {_cell(idle.get('connect_s'))} |")
    return rows


def curve_table(results: dict[str, Any]) -> list[str]:
    pipeline = results.get("pipeline") or {}
    curve = pipeline.get("curve") or []
    if not curve:
        return []
    rows = [f"Pipeline max with {pipeline.get('viewers')} viewers attached:"
            f" {_cell(pipeline.get('max_per_s'))} posts/s (stepped: "
            + ", ".join(f"{t['rate']:.0f} {'ok' if t['kept_up'] else 'behind'}"
                        for t in pipeline.get("trials", [])) + ")."
            f" Knee: {pipeline.get('knee_text', '-')}.", "",
            "| share of max | posts/s | POST -> viewer p50 / p99 / p99.9 ms | POST -> ledger"
            " commit p50 / p99 ms | ledger commit -> viewer p50 / p99 ms | CPU % of a core"
            " per process | load average (1 min) |", "|---|---|---|---|---|---|---|"]
    for point in curve:
        rows.append(f"| {point['share']:.0%} | {_cell(point['rate_per_s'])}"
                    f" | {_cell(point['p50_ms'])} / {_cell(point['p99_ms'])} /"
                    f" {_cell(point['p999_ms'])} | {_pair(point.get('ledger_leg_ms'))}"
                    f" | {_pair(point.get('viewer_leg_ms'))} | {_cpu_text(point.get('cpu_pct'))}"
                    f" | {_cell(point.get('loadavg_1m'))} |")
    return rows


def lowload_table(results: dict[str, Any]) -> list[str]:
    low = results.get("lowload") or {}
    rows = ["| low load, 5 chats x 100 viewers | posts/s | POST -> viewer p50 / p99 / p99.9 ms"
            " | POST -> commit p50 / p99 ms | commit -> viewer p50 / p99 ms | CPU % of a core"
            " per process | load average (1 min) |", "|---|---|---|---|---|---|---|"]
    for who, data in low.items():
        if "error" in data:
            rows.append(f"| {who} | - | did not run: {data['error']} | | | | |")
            continue
        name = f"chatledger (`{data['layout']}`)" if "layout" in data else who
        for point in data.get("points", []):
            rows.append(f"| {name} | {_cell(point['rate_per_s'])} | {_cell(point['p50_ms'])}"
                        f" / {_cell(point['p99_ms'])} / {_cell(point['p999_ms'])}"
                        f" | {_pair(point.get('ledger_leg_ms'))}"
                        f" | {_pair(point.get('viewer_leg_ms'))}"
                        f" | {_cpu_text(point.get('cpu_pct'))}"
                        f" | {_cell(point.get('loadavg_1m'))} |")
    most = at_path(results, *BARE_MAX)
    if most:
        rows += ["", f"Bare pipeline max with {most.get('viewers')} viewers attached:"
                 f" {_cell(most.get('max_per_s'))} posts/s (stepped: "
                 + ", ".join(f"{t['rate']:.0f} {'ok' if t['kept_up'] else 'behind'}"
                             for t in most.get("trials", [])) + ")."
                 + (f" No curve: {most['error']}." if most.get("error") else
                    " At shares of it: " + "; ".join(
                        f"{p['share']:.0%} ({_cell(p['rate_per_s'])}/s) p50 / p99 / p99.9"
                        f" {_cell(p['p50_ms'])} / {_cell(p['p99_ms'])} / {_cell(p['p999_ms'])}"
                        f" ms (load {_cell(p.get('loadavg_1m'))})"
                        for p in most.get("curve", [])) + ".")]
    return rows if len(rows) > 2 else []


ONE_PROCESS_NAME = "api,history,gateway,ledger"  # the CPU meter names a process by its roles
BROKER_HOPS = ("api -> ledger fetched", "published -> gateway fetched")


def sweep_table(results: dict[str, Any]) -> list[str]:
    """`--sweep-*`: per broker setting, each rate's two broker hops and end-to-end p50 / p99."""
    runs = results.get("sweep") or []
    if not runs:
        return []
    rates = [point["rate_per_s"] for point in runs[0].get("points", [])]
    hops = " ; ".join(BROKER_HOPS)
    rows = ["| fetch_max_wait_ms | linger_ms | idle CPU % (service, tansu) | "
            + " | ".join(f"{rate:g}/s: {hops} p50 / p99 ms | {rate:g}/s: end to end p50 / p99 ms"
                         " (load)" for rate in rates) + " |",
            "|---|---|---|" + "---|---|" * len(rates)]
    for run in runs:
        idle = run.get("idle_cpu_pct") or {}
        cells = [str(run["fetch_max_wait_ms"]), str(run["linger_ms"]),
                 f"{_cell(idle.get(ONE_PROCESS_NAME))}, {_cell(idle.get('tansu'))}"]
        for point in run.get("points", []):
            hops = {row["stage"]: row for row in point.get("waterfall", [])}
            cells.append(" ; ".join(f"{_cell(hops.get(hop, {}).get('p50_ms'))} /"
                                    f" {_cell(hops.get(hop, {}).get('p99_ms'))}"
                                    for hop in BROKER_HOPS))
            cells.append(f"{_cell(point['p50_ms'])} / {_cell(point['p99_ms'])}"
                         f" ({_cell(point.get('loadavg_1m'))})")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _pair(pair: list[float | None] | None) -> str:
    return "-" if not pair else f"{_cell(pair[0])} / {_cell(pair[1])}"


def ledger_table(results: dict[str, Any]) -> list[str]:
    ledger = results.get("ledger") or {}
    if not ledger:
        return []
    rows = ["| ledger | batch size | commands | event rows | commands/s | CPU % |",
            "|---|---|---|---|---|---|"]
    for name, data in ledger.items():
        rows.append(f"| {name} | {data.get('batch_size')} | {data.get('commands')}"
                    f" | {data.get('rows')} | {_cell(data.get('commands_per_s'))}"
                    f" | {_cpu_text(data.get('cpu_pct'))} |")
    return rows


ENTRY_POINTS = ("<module> ", "main ", "serve ")  # every sample passes through them


def profile_table(results: dict[str, Any], count: int = 6) -> list[str]:
    profiles = results.get("profiles") or {}
    if not profiles:
        return []
    rows = ["| py-spy, server process during the window | samples | top frames, self %"
            " | chatledger's own frames, total % (the entry points left out) |",
            "|---|---|---|---|"]
    for name, data in profiles.items():
        if "error" in data:
            rows.append(f"| {name} | - | {data['error']} | |")
            continue
        own = "; ".join(f"`{frame}` {share:g}" for frame, share in data["self"][:count])
        ours = [(frame, share) for frame, share in data["total"]
                if "(chatledger/" in frame and not frame.startswith(ENTRY_POINTS)]
        under = "; ".join(f"`{frame}` {share:g}" for frame, share in ours[:count + 2])
        rows.append(f"| {name} | {data['samples']} | {own} | {under} |")
    return rows


def _tables() -> tuple[Callable[[dict[str, Any]], list[str]], ...]:
    return (curve_table, waterfall.table, lowload_table, waterfall.low_load_table, fanout_table,
            http_table, ledger_table, shows.table, profile_table, sweep_table)


def markdown(results: dict[str, Any], chart: str | None = None) -> str:
    run = results["run"]
    out = [f"Last run: {run['finished']}, {'QUICK smoke run, ' if run.get('quick') else ''}"
           f"layout `{run['layout']}`, {run['seconds_per_scenario']} s per scenario, "
           f"{run.get('total_s', '?')} s in all, load average at the end "
           f"{run.get('loadavg_at_end', '?')}, on this 2-core machine shared by the service,"
           " MariaDB, Redis, Kafka and the load generators (so only ratios within the run mean"
           " anything).", "",
           "| target | goal | measured | verdict | vs goal |", "|---|---|---|---|---|"]
    for row in results["targets"]:
        out.append(f"| {row['target']} | {row['goal']} | {_cell(row['measured'])}"
                   f" | {row['verdict']} | {row['gap']} |")
    for table in _tables():
        rows = table(results)
        if rows:
            out += ["", *rows]
    if chart:
        out += ["", f"![POST -> viewer latency against the posting rate]({chart})"]
        if waterfall.table(results):
            drawn = chart.replace("latency", "waterfall")
            out += ["", f"![each stage's p50 and p99, stacked]({drawn})"]
    for warning in results.get("warnings", []):
        out += ["", f"Warning: {warning}"]
    return "\n".join(out)


def text_table(results: dict[str, Any]) -> str:
    rows = [("target", "goal", "measured", "verdict", "vs goal")] + [
        (r["target"], r["goal"], _cell(r["measured"]), r["verdict"], r["gap"])
        for r in results["targets"]]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    for table in _tables():
        rows_md = table(results)
        if rows_md:
            lines += ["", *rows_md]
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    """The report with its bench block replaced (or a Performance section added at the end)."""
    wrapped = f"{START}\n{block}\n{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        return head + wrapped + rest.split(END, 1)[1]
    return text.rstrip("\n") + "\n\n## Performance\n\n" + wrapped + "\n"


# Per-event samples: the charts and tables are drawn from them during the run, but a committed
# results.json of megabytes per run helps nobody.
RAW_SAMPLES = frozenset({"socket_ms", "stamps", "events"})


def compact(value: Any) -> Any:
    """`value` without the raw samples, at any depth (a copy: the run keeps its own)."""
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items() if k not in RAW_SAMPLES}
    if isinstance(value, list):
        return [compact(v) for v in value]
    return value


def write(results: dict[str, Any], json_path: Path, readme: Path, chart: str | None = None) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(compact(results), indent=2, sort_keys=True) + "\n")
    readme.write_text(replace_block(readme.read_text(), markdown(results, chart)))
