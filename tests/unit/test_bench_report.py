"""The targets' verdicts (targets.py) and the report made of them (report.py): pass, miss,
reported, a peer that did not run, and the docs block replaced in place."""

import json
from pathlib import Path
from typing import Any

import pytest

from tools.bench import report, targets


def _results(**overrides: float) -> dict[str, Any]:
    n = {"batched": 6000.0, "batch_1": 100.0, "raw": 10000.0, "hello_cpu": 50.0,
         "message_cpu": 140.0, "donation_cpu": 210.0, "history": 5000.0, "hello_get": 9000.0,
         "redis": 8000.0, "gateway": 90000.0, "python": 100000.0, "node": 85000.0,
         "p99_10": 30.0, "p99_50": 55.0, "kib": 14.0, **overrides}
    return {
        "ledger": {"batched": {"commands_per_s": n["batched"]},
                   "batch_1": {"commands_per_s": n["batch_1"]},
                   "raw_same_writes": {"commands_per_s": n["raw"]}},
        "http": {"hello_post": {"cpu_us_per_ok": n["hello_cpu"]},
                 "post_message": {"cpu_us_per_ok": n["message_cpu"], "ok_per_s": 1000.0},
                 "post_donation": {"cpu_us_per_ok": n["donation_cpu"]},
                 "history": {"ok_per_s": n["history"]},
                 "hello_get": {"ok_per_s": n["hello_get"]}},
        "redis": {"page": {"rps": n["redis"]}},
        "fanout": {"gateway": {"rate_per_s": n["gateway"], "idle": {"kib_per_connection":
                                                                    n["kib"]}},
                   "python": {"rate_per_s": n["python"]},
                   "node_send": {"rate_per_s": n["node"] - 10000},
                   "node_prepared": {"rate_per_s": n["node"]}},
        "pipeline": {"curve": [{"share": 0.1, "p99_ms": n["p99_10"]},
                               {"share": 0.5, "p99_ms": n["p99_50"]}]},
    }


def _verdicts(results: dict[str, Any]) -> dict[str, str]:
    return {row["target"]: row["verdict"] for row in targets.evaluate(results)}


def test_targets_pass_miss_and_missing() -> None:
    verdicts = _verdicts(_results())
    assert verdicts["api CPU per accepted POST message vs hello-world POST"] == "PASS"  # 2.8x
    assert verdicts["api CPU per accepted POST donation vs hello-world POST"] == "MISS"  # 4.2x
    # 5000 / min(9000, 8000) = 0.625
    assert verdicts["GET history req/s vs min(hello-world GET, raw Redis page read)"] == "PASS"
    assert verdicts["gateway deliveries/s vs minimal Python fan-out"] == "PASS"  # 0.9
    assert verdicts["gateway deliveries/s vs node.js ws (its faster mode)"] == "PASS"
    assert verdicts["POST -> viewer p99 at 50% of the pipeline's max vs at 10%"] == "PASS"
    assert verdicts["POST -> viewer p99 at 50% of the pipeline's max (ms)"] == "PASS"
    assert verdicts["ledger commands/s, batched vs batch size 1"] == "PASS"  # 60x
    assert verdicts["ledger commands/s vs raw SQL making the same writes"] == "PASS"  # 0.6
    assert verdicts["gateway memory per idle websocket (KiB)"] == "PASS"
    assert verdicts["POST message req/s, 2 api workers vs 1"] == "n/a"  # not measured
    assert verdicts["hot chat (80%) vs uniform: POST accepted/s"] == "n/a"
    worse = _verdicts(_results(redis=9000.0, node=95000.0, p99_50=61.0, batch_1=130.0,
                               kib=17.0, python=120000.0))
    # 5000 / min(9000, 9000) = 0.56
    assert worse["GET history req/s vs min(hello-world GET, raw Redis page read)"] == "MISS"
    assert worse["gateway deliveries/s vs node.js ws (its faster mode)"] == "MISS"
    assert worse["POST -> viewer p99 at 50% of the pipeline's max vs at 10%"] == "MISS"
    assert worse["ledger commands/s, batched vs batch size 1"] == "MISS"  # 46x
    assert worse["gateway memory per idle websocket (KiB)"] == "MISS"
    assert worse["gateway deliveries/s vs minimal Python fan-out"] == "MISS"  # 0.75
    slow = _verdicts(_results(p99_10=60.0, p99_50=110.0))
    assert slow["POST -> viewer p99 at 50% of the pipeline's max vs at 10%"] == "PASS"
    assert slow["POST -> viewer p99 at 50% of the pipeline's max (ms)"] == "MISS"


def test_the_http_table_shows_how_busy_each_server_was() -> None:
    results = {"http": {"hello_post": {"ok_per_s": 20000.0, "cpu_us_per_ok": 45.0,
                                       "cpu_pct": {"server": 98.7}},
                        "post_message": {"ok_per_s": 1500.0, "cpu_us_per_ok": 250.0,
                                         "cpu_pct": {"server": 43.5, "tansu": 58.0}}}}
    header, _, hello, post = report.http_table(results)
    assert "server busy %" in header
    assert hello.split(" | ")[4] == "98.7"
    assert post.split(" | ")[4] == "43.5"


def test_reported_targets_have_no_verdict() -> None:
    results = _results()
    results["http"]["post_message_2_workers"] = {"ok_per_s": 1500.0}
    rows = {row["target"]: row for row in targets.evaluate(results)}
    row = rows["POST message req/s, 2 api workers vs 1"]
    assert (row["measured"], row["verdict"], row["gap"]) == (1.5, "reported", "")


def test_readme_block_is_replaced_in_place(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{report.START}\nold numbers\n{report.END}\n\n## After\nkept\n")
    results = {**_results(), "run": {"finished": "now", "layout": "api",
                                     "seconds_per_scenario": 1}}
    results["pipeline"]["curve"] = [
        {"share": 0.1, "rate_per_s": 50.0, "p50_ms": 10.0, "p99_ms": 30.0, "p999_ms": 40.0,
         "ledger_leg_ms": [5.0, 9.0], "viewer_leg_ms": [4.0, 20.0], "cpu_pct": {"api": 12.5},
         "loadavg_1m": 1.5}]
    results["targets"] = targets.evaluate(results)
    report.write(results, tmp_path / "bench" / "results.json", readme, "bench/latency.png")
    text = readme.read_text()
    assert "old numbers" not in text
    assert text.count(report.START) == 1 and text.endswith("## After\nkept\n")
    assert ("| api CPU per accepted POST message vs hello-world POST | <= 3x | 2.8 | PASS"
            " | 0.93x the limit |") in text
    assert "| 10% | 50 | 10 / 30 / 40 | 5 / 9 | 4 / 20 | api 12.5 | 1.5 |" in text
    assert "![POST -> viewer latency against the posting rate](bench/latency.png)" in text
    assert (tmp_path / "bench" / "results.json").exists()
    fresh = tmp_path / "NEW.md"
    fresh.write_text("# y\n")
    report.write(results, tmp_path / "r.json", fresh)
    assert fresh.read_text().startswith("# y\n\n## Performance\n\n" + report.START)


def _low(chatledger: tuple[float, float], bare: tuple[float, float] | None,
         bare_max: float = 400.0) -> dict[str, Any]:
    def points(p99s: tuple[float, float]) -> list[dict[str, Any]]:
        return [{"rate_per_s": rate, "p99_ms": p99} for rate, p99 in zip((20.0, 100.0), p99s,
                                                                         strict=True)]
    low: dict[str, Any] = {"chatledger": {"layout": "api,history,gateway,ledger",
                                          "points": points(chatledger)}}
    low["bare"] = ({"points": points(bare), "max": {"max_per_s": bare_max}} if bare
                   else {"error": "RuntimeError: bare pipeline exited with 1"})
    return {"lowload": low, "pipeline": {"max_per_s": 320.0}}


def test_low_load_targets_compare_with_the_bare_pipeline() -> None:
    verdicts = _verdicts(_low((40.0, 70.0), (35.0, 60.0)))
    assert verdicts["POST -> viewer p99, one process, 5 x 100 viewers, at 100 posts/s (ms)"] \
        == "PASS"
    assert verdicts["same, p99 at 100 posts/s vs at 20 posts/s"] == "PASS"  # 1.75x
    assert verdicts["p99 vs the bare pipeline's, at 20 posts/s"] == "PASS"  # 1.14x
    assert verdicts["p99 vs the bare pipeline's, at 100 posts/s"] == "PASS"  # 1.17x
    assert verdicts["pipeline max posts/s (1,000 viewers) vs the bare pipeline's"] == "PASS"
    worse = _verdicts(_low((40.0, 110.0), (30.0, 60.0), bare_max=500.0))
    assert worse["POST -> viewer p99, one process, 5 x 100 viewers, at 100 posts/s (ms)"] \
        == "MISS"
    assert worse["same, p99 at 100 posts/s vs at 20 posts/s"] == "MISS"  # 2.75x
    assert worse["p99 vs the bare pipeline's, at 20 posts/s"] == "MISS"  # 1.33x
    assert worse["pipeline max posts/s (1,000 viewers) vs the bare pipeline's"] == "MISS"


def test_a_peer_that_did_not_run_is_a_miss_naming_its_error() -> None:
    rows = {row["target"]: row for row in targets.evaluate(_low((40.0, 70.0), None))}
    for name in ("p99 vs the bare pipeline's, at 20 posts/s",
                 "p99 vs the bare pipeline's, at 100 posts/s",
                 "pipeline max posts/s (1,000 viewers) vs the bare pipeline's"):
        assert rows[name]["verdict"] == "MISS"
        assert "bare pipeline exited with 1" in rows[name]["gap"]
    # chatledger's own low-load targets still judged
    assert rows["same, p99 at 100 posts/s vs at 20 posts/s"]["verdict"] == "PASS"
    # skipped altogether: nothing to judge, so n/a
    assert _verdicts({})["p99 vs the bare pipeline's, at 20 posts/s"] == "n/a"


def test_the_bare_pipelines_own_curve_is_reported_beside_the_pipelines_targets() -> None:
    results = _low((40.0, 70.0), (35.0, 60.0))
    results["lowload"]["bare"]["max"]["curve"] = [
        {"share": 0.1, "rate_per_s": 40.0, "p50_ms": 20.0, "p99_ms": 40.0, "p999_ms": 45.0},
        {"share": 0.5, "rate_per_s": 200.0, "p50_ms": 60.0, "p99_ms": 150.0, "p999_ms": 170.0}]
    rows = {row["target"]: row for row in targets.evaluate(results)}
    ratio = rows["bare pipeline's own p99 at 50% of its max vs at 10%"]
    ms = rows["bare pipeline's own p99 at 50% of its max (ms)"]
    # informational: the limit's distance from "<= 2x and <= 100 ms", never a verdict
    assert (ratio["measured"], ratio["verdict"], ratio["gap"]) == (3.75, "reported",
                                                                   "1.88x the limit")
    assert (ms["measured"], ms["verdict"], ms["gap"]) == (150.0, "reported", "1.50x the limit")
    table = report.lowload_table({"lowload": {"bare": {"max": results["lowload"]["bare"]["max"]}}})
    assert "50% (200/s) p50 / p99 / p99.9 60 / 150 / 170 ms" in "\n".join(table)
    # the peer failed, or kept up with no rate: the rows name why, never n/a
    failed = {row["target"]: row for row in targets.evaluate(_low((40.0, 70.0), None))}
    results["lowload"]["bare"]["max"] = {"max_per_s": None, "error": "kept up with no rate"}
    slow = {row["target"]: row for row in targets.evaluate(results)}
    for rows in (failed, slow):
        for name in ("bare pipeline's own p99 at 50% of its max vs at 10%",
                     "bare pipeline's own p99 at 50% of its max (ms)"):
            assert rows[name]["verdict"] == "did not run"
    assert "bare pipeline exited with 1" in failed[
        "bare pipeline's own p99 at 50% of its max (ms)"]["gap"]
    assert "kept up with no rate" in slow["bare pipeline's own p99 at 50% of its max (ms)"]["gap"]


def test_sweep_table_shows_each_setting_with_both_broker_hops() -> None:
    def point(rate: float, hop_ms: float) -> dict[str, Any]:
        return {"rate_per_s": rate, "p50_ms": 3 * hop_ms, "p99_ms": 5 * hop_ms,
                "loadavg_1m": 2.5,
                "waterfall": [{"stage": "api -> ledger fetched", "p50_ms": hop_ms,
                               "p99_ms": 2 * hop_ms},
                              {"stage": "published -> gateway fetched", "p50_ms": hop_ms + 1,
                               "p99_ms": 2 * hop_ms + 1}]}
    runs = [{"fetch_max_wait_ms": wait, "linger_ms": 1,
             "idle_cpu_pct": {"api,history,gateway,ledger": 100 / wait, "tansu": 3.0},
             "points": [point(20.0, wait / 2), point(100.0, wait / 2 + 1)]} for wait in (5, 20)]
    rows = report.sweep_table({"sweep": runs})
    assert len(rows) == 4 and rows[0].count("|") == rows[1].count("|") == rows[2].count("|")
    assert rows[2].startswith("| 5 | 1 | 20, 3 | 2.5 / 5 ; 3.5 / 6 | 7.5 / 12.5 (2.5) |")
    assert rows[3].startswith("| 20 | 1 | 5, 3 | 10 / 20 ; 11 / 21 | 30 / 50 (2.5) |")
    assert report.sweep_table({}) == []


def test_results_json_keeps_summaries_not_raw_samples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """results.json is committed after every run: per-event samples (megabytes) stay out of it,
    the summaries the report and the targets are made of stay in."""
    results = {"fanout": {"gateway": {"deliveries_per_s": 10.0, "socket_ms": [1.0] * 5,
                                      "stamps": {"1": [1, 2]}}},
               "pipeline": {"curve": [{"p99_ms": 9.0, "events": {"1": [1]}, "waterfall": []}]}}
    out, readme = tmp_path / "results.json", tmp_path / "README.md"
    readme.write_text("# x\n")
    monkeypatch.setattr(report, "markdown", lambda results, chart=None: "the block")
    report.write(results, out, readme)
    written = json.loads(out.read_text())
    assert written == {"fanout": {"gateway": {"deliveries_per_s": 10.0}},
                       "pipeline": {"curve": [{"p99_ms": 9.0, "waterfall": []}]}}
    assert results["fanout"]["gateway"]["socket_ms"] == [1.0] * 5  # the run's own copy untouched
