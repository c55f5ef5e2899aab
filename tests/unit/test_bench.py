"""The bench tool's pure parts: percentiles, latency markers, targets and the README block."""

from pathlib import Path

import pytest

from tools.bench import report
from tools.bench.loadgen import sent_ns, split_ms
from tools.bench.stats import percentile
from tools.bench.wrk import HttpRequest


def test_percentile_is_nearest_rank() -> None:
    values = list(range(100, 0, -1))  # unsorted on purpose
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_marker_and_split_read_the_frame() -> None:
    frame = ('{"type":"message","created_at":"2026-01-01T00:00:00.100000Z",'
             '"message":"bench 1767225600000000000"}')
    sent = sent_ns(frame)
    assert sent == 1_767_225_600_000_000_000
    to_ledger, to_viewer = split_ms(frame, sent, sent + 250_000_000) or (None, None)
    assert to_ledger == pytest.approx(100.0)
    assert to_viewer == pytest.approx(150.0)
    assert sent_ns('{"message":"hello"}') is None
    assert split_ms('{"message":"bench 1"}', 1, 2) is None


def _results(**overrides: float) -> dict[str, object]:
    numbers = {"batched": 1000.0, "batch_1": 50.0, "raw": 1500.0, "post": 400.0,
               "hello_post": 1000.0, "p99": 40.0, **overrides}
    return {
        "ledger": {"batched": {"commands_per_s": numbers["batched"],
                               "rows_per_s": numbers["batched"]},
                   "batch_1": {"commands_per_s": numbers["batch_1"]},
                   "raw_executemany": {"rows_per_s": numbers["raw"]}},
        "http": {"post_message": {"ok_per_s": numbers["post"]},
                 "hello_post": {"ok_per_s": numbers["hello_post"]}},
        "websocket": {"latency": {"p99_ms": numbers["p99"]}},
    }


def _verdicts(results: dict[str, object]) -> dict[str, str]:
    return {row["target"]: row["verdict"] for row in report.evaluate(results)}


def test_targets_pass_miss_and_missing() -> None:
    verdicts = _verdicts(_results())
    assert verdicts["ledger batched vs batch size 1 (commands/s)"] == "PASS"  # 20x
    assert verdicts["ledger rows/s vs raw executemany rows/s"] == "PASS"  # 0.67
    assert verdicts["POST /chat/message/add vs hello-world POST (req/s)"] == "MISS"  # 0.4
    assert verdicts["POST -> websocket p99 at half max load, 1,000 viewers (ms)"] == "PASS"
    assert verdicts["websocket deliveries/s vs raw send loop"] == "n/a"  # not measured
    slow = _verdicts(_results(p99=51.0, batch_1=101.0))
    assert slow["POST -> websocket p99 at half max load, 1,000 viewers (ms)"] == "MISS"
    assert slow["ledger batched vs batch size 1 (commands/s)"] == "MISS"  # 9.9x


def test_readme_block_is_replaced_in_place(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{report.START}\nold numbers\n{report.END}\n\n## After\nkept\n")
    results = {**_results(), "run": {"finished": "now", "layout": "api", "seconds_per_scenario": 1}}
    results["targets"] = report.evaluate(results)
    report.write(results, tmp_path / "bench" / "results.json", readme)
    text = readme.read_text()
    assert "old numbers" not in text
    assert text.count(report.START) == 1 and text.endswith("## After\nkept\n")
    assert "| POST /chat/message/add vs hello-world POST (req/s) | >= 0.5 | 0.4 | MISS |" in text
    assert (tmp_path / "bench" / "results.json").exists()


def test_wrk_request_lines_refuse_tabs() -> None:
    assert HttpRequest("GET", "/x").line() == "GET\t/x\t-\t-"
    with pytest.raises(ValueError):
        HttpRequest("POST", "/x", "token", "a\tb").line()
