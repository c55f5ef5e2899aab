"""What the ledger worker tells its metrics after publishing a batch (`worker._observe`)."""

import time
from datetime import UTC, datetime

from prometheus_client import REGISTRY

from chatledger.domain.events import Event
from chatledger.ledger.store import BatchResult
from chatledger.ledger.worker import _observe

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _published(type_: str) -> float:
    return REGISTRY.get_sample_value("chatledger_events_published_total", {"type": type_}) or 0.0


def _event(type_: str, seq: int) -> Event:
    return Event(f"e{seq}", "c", "chat", seq, type_, None, True, None, NOW)


def test_each_published_event_counts_once_under_its_type() -> None:
    types = ["message", "donate", "message", "end_goal", "message"]
    before = {type_: _published(type_) for type_ in set(types)}
    result = BatchResult(events=[_event(type_, seq) for seq, type_ in enumerate(types, 1)])
    _observe([], result, time.perf_counter())
    assert {type_: _published(type_) - before[type_] for type_ in before} == {
        "message": 3, "donate": 1, "end_goal": 1}
