"""Readiness verdicts, consumer lag, the JSON log line and the access log's command id."""

import asyncio
import json
import logging
from typing import Any

import pytest
from aiohttp import web
from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError

from chatledger.ledger.worker import LAG_EVERY_S, LedgerWorker, consumer_lag
from chatledger.platform.config import Settings
from chatledger.platform.logs import JsonFormatter
from chatledger.web.observe import command_id_of
from chatledger.web.probes import NotReady, lag_verdict, run_check
from chatledger.web.responses import accepted, bad_params


def test_lag_under_the_threshold_is_ready_and_at_it_is_not() -> None:
    assert lag_verdict(None, threshold=10) == {"lag": None, "threshold": 10}
    assert lag_verdict(9, threshold=10) == {"lag": 9, "threshold": 10}
    with pytest.raises(NotReady, match="lag 10"):
        lag_verdict(10, threshold=10)


async def test_a_check_reports_details_errors_and_timeouts_without_raising() -> None:
    async def fine() -> dict[str, Any]:
        return {"brokers": 1}

    async def broken() -> dict[str, Any]:
        raise ConnectionError("connection refused")

    async def hanging() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    assert await run_check(fine) == {"ok": True, "brokers": 1}
    assert await run_check(broken) == {"ok": False, "error": "connection refused"}
    assert await run_check(hanging, timeout_s=0.01) == {
        "ok": False,
        "error": "no answer within 0.01s",
    }


class FakeConsumer:
    def __init__(self, highwater: dict[int, int | None], position: dict[int, int]) -> None:
        self._highwater = {TopicPartition("c", p): h for p, h in highwater.items()}
        self._position = {TopicPartition("c", p): o for p, o in position.items()}

    def assignment(self) -> set[TopicPartition]:
        return set(self._highwater)

    def highwater(self, partition: TopicPartition) -> int | None:
        return self._highwater[partition]

    async def position(self, partition: TopicPartition) -> int:
        if partition not in self._position:
            raise IllegalStateError("revoked")
        return self._position[partition]


async def test_consumer_lag_sums_fetched_partitions_and_skips_unknown_ones() -> None:
    consumer = FakeConsumer({0: 10, 1: 7, 2: None, 3: 5}, {0: 4, 1: 7, 2: 0})
    assert await consumer_lag(consumer) == 6  # type: ignore[arg-type]
    assert await consumer_lag(FakeConsumer({0: None}, {0: 0})) is None  # type: ignore[arg-type]


async def test_the_ledgers_lag_is_measured_at_most_every_lag_every_s() -> None:
    """At one command a batch the loop fetches hundreds of times a second; the lag (for the
    readiness probe and a gauge) is measured again only once LAG_EVERY_S has passed."""
    worker = LedgerWorker(Settings(jwt_secret="x" * 32), None, None)  # type: ignore[arg-type]
    now = [100.0]
    worker.clock = lambda: now[0]
    consumer = FakeConsumer({0: 10}, {0: 4})
    await worker.measure_lag(consumer)  # type: ignore[arg-type]
    assert worker.lag == 6
    consumer._position[TopicPartition("c", 0)] = 10
    now[0] += LAG_EVERY_S / 2
    await worker.measure_lag(consumer)  # type: ignore[arg-type]
    assert worker.lag == 6
    now[0] += LAG_EVERY_S / 2
    await worker.measure_lag(consumer)  # type: ignore[arg-type]
    assert worker.lag == 0


def test_a_log_record_is_one_json_line_with_its_extra_fields() -> None:
    record = logging.LogRecord(
        "chatledger.x", logging.INFO, __file__, 1, "hello %s", ("you",), None
    )
    record.command_id = "c-1"
    line = JsonFormatter().format(record)
    assert "\n" not in line
    body = json.loads(line)
    assert body["msg"] == "hello you" and body["level"] == "info" and body["command_id"] == "c-1"
    assert body["logger"] == "chatledger.x" and body["ts"].endswith("+00:00")


def test_the_access_log_takes_the_command_id_from_a_201_only() -> None:
    assert command_id_of(accepted("2c1b4c1e-0000-4000-8000-000000000000")) == (
        "2c1b4c1e-0000-4000-8000-000000000000"
    )
    assert command_id_of(bad_params(["x"])) is None
    assert command_id_of(web.Response(status=201, text="not json")) is None


def test_log_lines_are_json_off_a_terminal_and_readable_on_one() -> None:
    import json
    import logging

    from chatledger.platform.logs import JsonFormatter, ReadableFormatter, choose_formatter

    record = logging.LogRecord("chatledger.access", logging.INFO, "x.py", 1, "request", None, None)
    record.status = 201
    record.command_ids = ["a" * 80, "b" * 80]
    assert isinstance(choose_formatter("auto", is_tty=False), JsonFormatter)
    assert isinstance(choose_formatter("auto", is_tty=True), ReadableFormatter)
    assert isinstance(choose_formatter("json", is_tty=True), JsonFormatter)
    assert isinstance(choose_formatter("text", is_tty=False), ReadableFormatter)
    assert json.loads(JsonFormatter().format(record))["status"] == 201
    line = ReadableFormatter().format(record)
    assert " INFO    chatledger.access  request  status=201 command_ids=[" in line
    assert line.endswith("...(167 chars)") and "\n" not in line


async def test_a_role_loop_is_ready_only_once_it_is_on_the_bus() -> None:
    from chatledger.web.probes import RoleLoops, loop_verdict

    loops = RoleLoops(frozenset({"ledger"}))
    started = loops.loop("ledger")
    assert loops.started == {"ledger": started}
    with pytest.raises(NotReady, match="not on the bus"):
        loop_verdict(started)
    started.set()
    assert loop_verdict(started) == {}
