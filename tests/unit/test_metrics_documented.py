"""Every metric the service exports is in docs/operating.md's table, which operators read."""

from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from chatledger.platform import metrics

OPERATING = Path(__file__).resolve().parents[2] / "docs" / "operating.md"


def exported() -> list[str]:
    return sorted(value._name for value in vars(metrics).values()
                  if isinstance(value, MetricWrapperBase))


def test_every_exported_metric_is_documented() -> None:
    names = exported()
    assert "chatledger_ledger_commands" in names  # the scan finds the module's metrics
    table = OPERATING.read_text()
    assert [name for name in names if f"`{name}" not in table] == []
