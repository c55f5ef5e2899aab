"""tools/bench/feed_batches.py: the gateway's feed-batch histogram, read between two scrapes."""

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from tools.bench import feed_batches, waterfall

INF = float("inf")


def exposition(observations: list[float]) -> str:
    registry = CollectorRegistry()
    histogram = Histogram(feed_batches.METRIC.removesuffix("_seconds"), "feed batches",
                          unit="seconds", buckets=(0.001, 0.01, 0.1), registry=registry)
    for seconds in observations:
        histogram.observe(seconds)
    return generate_latest(registry).decode()


def test_the_buckets_are_read_from_the_metrics_text() -> None:
    found = feed_batches.buckets_of(exposition([0.0005, 0.005, 0.005, 0.5]))
    assert found == {0.001: 1.0, 0.01: 3.0, 0.1: 3.0, INF: 4.0}
    assert feed_batches.buckets_of("# nothing here\n") == {}


def test_a_quantile_counts_only_the_window_and_interpolates_in_its_bucket() -> None:
    before = {0.001: 100.0, 0.01: 100.0, 0.1: 100.0, INF: 100.0}  # all before the window
    after = {0.001: 100.0, 0.01: 104.0, 0.1: 108.0, INF: 108.0}  # 4 in (1, 10] ms, 4 more up to 100
    assert feed_batches.quantile(before, after, 0.5) == pytest.approx(0.01)
    assert feed_batches.quantile(before, after, 0.25) == pytest.approx(0.001 + (0.01 - 0.001) * 0.5)
    assert feed_batches.quantile(before, before, 0.5) is None  # nothing observed in the window


def test_a_quantile_past_the_last_bound_says_that_bound() -> None:
    assert feed_batches.quantile({}, {0.001: 0.0, 0.1: 1.0, INF: 10.0}, 0.99) == 0.1


def test_a_summary_needs_both_scrapes() -> None:
    after = {0.001: 0.0, 0.01: 2.0, INF: 2.0}
    assert feed_batches.summary(None, after) is None
    assert feed_batches.summary({}, None) is None
    assert feed_batches.summary({}, after) == {"batches": 2, "p50_ms": 5.5, "p99_ms": 9.91}


def test_the_feed_batch_row_sits_beside_the_chain_and_a_peer_without_it_shows_a_dash() -> None:
    fanned = waterfall.legs({}, {}, [], {"batches": 40, "p50_ms": 13.5, "p99_ms": 36.1})
    bare = waterfall.legs({}, {}, [])
    row = next(r for r in fanned if r["stage"] == waterfall.FEED_BATCH)
    assert row["side"] and row["p99_ms"] == 36.1
    assert all(r["stage"] != waterfall.FEED_BATCH for r in bare)
    table = waterfall._points_table(
        [{"waterfall": bare, "p50_ms": 1, "p99_ms": 2}, {"waterfall": fanned, "p50_ms": 3,
                                                         "p99_ms": 4}], ["bare", "chatledger"])
    assert f"| ({waterfall.FEED_BATCH}, beside the chain) | - / - | 13.5 / 36.1 |" in table
