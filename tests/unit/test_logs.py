"""JSON lines: batched per event-loop iteration, the same shape from the fast and the slow path."""

import asyncio
import io
import json
import logging
import os
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from chatledger.platform import logs


class Writes(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.calls += 1
        return super().write(data)

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.getvalue().splitlines()]


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[Writes]:
    """configure_logging on a stream of our own; the previous logging set-up is restored."""
    saved = logging.root.handlers[:], logging.root.level
    out = Writes()
    monkeypatch.setattr("sys.stderr", SimpleNamespace(buffer=out, isatty=lambda: False))
    logs.configure_logging()
    yield out
    logging.root.handlers[:], _ = saved
    logging.root.setLevel(saved[1])
    monkeypatch.setattr(logs, "_handler", None)


async def test_the_lines_of_one_loop_iteration_go_out_in_one_write(stream: Writes) -> None:
    access = logging.getLogger("chatledger.access")
    for status in (201, 400, 429):
        logs.info_fields(access, "request", {"status": status})
    logging.getLogger("chatledger.other").info("slow path", extra={"k": 1})
    assert stream.calls == 0  # nothing yet: the loop has not finished this iteration
    await asyncio.sleep(0)
    assert stream.calls == 1
    lines = stream.lines()
    assert [line.get("status") for line in lines] == [201, 400, 429, None]
    assert lines[0]["logger"] == "chatledger.access" and lines[0]["msg"] == "request"
    assert lines[0]["level"] == "info" and str(lines[0]["ts"]).endswith("+00:00")
    assert set(lines[0]) == {"ts", "level", "logger", "msg", "pid", "status"}
    assert lines[0]["pid"] == lines[3]["pid"] == os.getpid()
    assert lines[3]["k"] == 1


async def test_a_warning_is_written_at_once_after_what_was_pending(stream: Writes) -> None:
    logs.info_fields(logging.getLogger("chatledger.access"), "request", {"status": 201})
    logging.getLogger("chatledger.x").warning("trouble")
    assert [line["msg"] for line in stream.lines()] == ["request", "trouble"]


def test_outside_a_loop_each_line_is_written_at_once(stream: Writes) -> None:
    logs.info_fields(logging.getLogger("chatledger.access"), "request", {"status": 201})
    assert stream.calls == 1 and stream.lines()[0]["status"] == 201


def test_nothing_is_written_when_info_is_off(stream: Writes) -> None:
    access = logging.getLogger("chatledger.access")
    access.setLevel(logging.WARNING)
    try:
        logs.info_fields(access, "request", {"status": 201})
    finally:
        access.setLevel(logging.NOTSET)
    assert stream.getvalue() == b""


def test_lines_are_written_whole_in_chunks_of_at_most_the_limit() -> None:
    lines = [b"a" * 10, b"b" * 10, b"c" * 30, b"d" * 5]
    written = list(logs.chunks(lines, limit=25))
    assert written == [b"a" * 10 + b"\n" + b"b" * 10 + b"\n", b"c" * 30 + b"\n", b"d" * 5 + b"\n"]
    assert b"".join(written) == b"\n".join(lines) + b"\n"
    assert list(logs.chunks([], limit=25)) == []


def test_timestamps_match_isoformat_to_the_millisecond() -> None:
    from datetime import UTC, datetime

    for moment in (0.0, 1_700_000_000.0, 1_700_000_000.9999, 1_700_000_001.5, 1_764_000_000.123):
        expected = datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")
        assert logs.timestamp(moment) == expected, moment


def test_a_fast_line_is_byte_for_byte_the_dumped_head_updated_with_its_fields(
    stream: Writes,
) -> None:
    import decimal
    import uuid

    import orjson

    logger = logging.getLogger("chatledger.test_splice")
    when = 1_764_000_000.1234
    cases: list[dict[str, object]] = [
        {},
        {"method": "GET", "path": "/chat/event/history", "status": 200, "duration_ms": 0.12},
        {"path": "/caf\u00e9/\"quoted\"\n", "command_id": str(uuid.uuid4())},
        {"sum": decimal.Decimal("1.50"), "who": uuid.uuid4(), "nested": {"a": [1, 2.5, None]}},
        {"msg": "replaced in place", "extra": 1},  # named like head keys: made the dict way
        {"pid": 7, "ts": "not a time"},
    ]
    during_tests = logging.root.handlers[:]  # pytest's own: the fast path needs ours alone
    logging.root.handlers[:] = [logs._handler]  # type: ignore[list-item]
    try:
        logs.info_lines(logger, "request", [(when, fields) for fields in cases])
    finally:
        logging.root.handlers[:] = during_tests
    expected = []
    for fields in cases:
        line: dict[str, object] = {"ts": logs.timestamp(when), "level": "info",
                                   "logger": logger.name, "msg": "request", "pid": os.getpid()}
        line.update(fields)
        expected.append(orjson.dumps(line, default=str))
    assert stream.getvalue() == b"".join(line + b"\n" for line in expected)
