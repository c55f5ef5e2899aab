"""The committed Grafana board reads only series the service exposes (platform/metrics.py)."""

import json
import re
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram

from chatledger.platform import metrics

BOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "chatledger.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exposed() -> set[str]:
    names = set()
    for collector in vars(metrics).values():
        if isinstance(collector, Counter | Gauge | Histogram):
            for family in collector.describe():
                names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names


def queries() -> list[str]:
    board = json.loads(BOARD.read_text())
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]


def test_every_query_reads_an_exposed_series_of_the_job() -> None:
    known = exposed()
    assert "chatledger_http_requests_total" in known and "chatledger_ws_connections" in known
    used = set()
    for expr in queries():
        assert 'job="$job"' in expr, expr
        used.update(re.findall(r"\bchatledger_[a-z_]+", expr))
    assert used - known == set()


def test_the_board_covers_every_series_family() -> None:
    used = " ".join(queries())
    for collector in vars(metrics).values():
        if isinstance(collector, Counter | Gauge | Histogram):
            [family] = collector.describe()
            assert family.name in used, f"{family.name} is on no panel"
