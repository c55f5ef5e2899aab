"""Logs as JSON lines: one object per record, so a command id can be grepped from POST to delivery.

Structured fields travel in `extra=` (`log.info("request", extra={"status": 201})`) and become
top-level keys of the line; the message stays a short constant that names the kind of line.

Cost: the access log writes a line per request, so lines are cheap here. Inside the event loop,
the lines of one loop iteration are written to stderr together, in one write at the end of that
iteration (warnings and worse are written at once, after whatever is pending), in writes of at
most 4 KiB of whole lines; outside a loop, each line is written at once. Every line carries the
process id (`pid`), which tells `serve --workers` processes apart. `info_fields` writes a line
without building a LogRecord (~2 µs instead of ~25) when the JSON handler is the one configured,
and nothing when INFO is off; `info_lines` writes many such lines at once.

A person at a terminal (stderr is a TTY, e.g. `make run`) gets the same records as readable
lines instead; CHATLEDGER_LOG_FORMAT=json|text overrides the choice.
"""

import asyncio
import logging
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


_second: tuple[int, str] = (-1, "")
_MILLIS = tuple(f".{ms:03d}+00:00" for ms in range(1000))  # a timestamp's end, by millisecond


def timestamp(created: float) -> str:
    """ISO-8601 UTC to the millisecond; the date and time of the current second are reused."""
    global _second
    whole = int(created)
    micros = round((created - whole) * 1_000_000)  # rounded as datetime rounds, then truncated
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    if whole != _second[0]:
        _second = (whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return _second[1] + _MILLIS[micros // 1000]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        line.update(_fields(record))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class ReadableFormatter(logging.Formatter):
    """`16:20:01.123 INFO  chatledger.access  request method=POST status=201 ...`"""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        fields = " ".join(f"{key}={_short(value)}" for key, value in _fields(record).items())
        line = f"{moment} {record.levelname:<7} {record.name}  {record.getMessage()}"
        line = f"{line}  {fields}" if fields else line
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def _short(value: object, limit: int = 120) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= limit else f"{text[:limit]}...({len(text)} chars)"


def choose_formatter(log_format: str, is_tty: bool) -> logging.Formatter:
    """JSON for machines (the default off a terminal), readable lines for a person."""
    if log_format == "text" or (log_format != "json" and is_tty):
        return ReadableFormatter()
    return JsonFormatter()


# Writes up to PIPE_BUF are atomic on a pipe: with several workers on one stderr pipe (serve
# --workers), their lines never interleave mid-line.
ATOMIC_WRITE = 4096


class JsonLinesHandler(logging.Handler):
    """JSON lines on a binary stream, the lines of one event-loop iteration in one write."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self.stream = stream
        self.setFormatter(JsonFormatter())
        self._pending: list[bytes] = []
        self._scheduled = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record).encode()
        except Exception:
            self.handleError(record)
            return
        self.write_line(line, urgent=record.levelno >= logging.WARNING)

    def write_line(self, line: bytes, urgent: bool = False) -> None:
        self.write_lines([line], urgent)

    def write_lines(self, lines: list[bytes], urgent: bool = False) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._pending.extend(lines)
            if urgent:
                self.flush()
                return
            if not self._scheduled:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:  # not in the event loop's thread: write now
                    self.flush()
                    return
                self._scheduled = True
                loop.call_soon(self.flush)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._scheduled = False
            if not self._pending:
                return
            lines, self._pending = self._pending, []
            try:
                for chunk in chunks(lines, ATOMIC_WRITE):
                    self.stream.write(chunk)
                self.stream.flush()
            except (OSError, ValueError):  # stderr closed at exit: nothing left to tell
                pass


def chunks(lines: list[bytes], limit: int) -> Iterator[bytes]:
    """Whole lines joined into writes of at most `limit` bytes (a longer line goes alone)."""
    start, size = 0, 0
    for end, line in enumerate(lines):
        if size and size + len(line) + 1 > limit:
            yield b"\n".join(lines[start:end]) + b"\n"
            start, size = end, 0
        size += len(line) + 1
    if size:
        yield b"\n".join(lines[start:]) + b"\n"


_handler: JsonLinesHandler | None = None


def configure_logging(level: int = logging.INFO) -> None:
    """Replace the root handlers with one handler on stderr (stdout is for output): JSON lines,
    or readable lines for a person at a terminal (CHATLEDGER_LOG_FORMAT=json|text decides)."""
    global _handler
    _handler = JsonLinesHandler(sys.stderr.buffer)
    log_format = os.environ.get("CHATLEDGER_LOG_FORMAT", "auto")
    _handler.setFormatter(choose_formatter(log_format, sys.stderr.isatty()))
    logging.basicConfig(level=level, handlers=[_handler], force=True)


def _fast_handler(logger: logging.Logger) -> JsonLinesHandler | None:
    """The JSON handler when it is the only one configured (lines can skip the LogRecord)."""
    handler = _handler
    if (
        handler is None
        or logging.root.handlers != [handler]
        or logger.handlers
        or not isinstance(handler.formatter, JsonFormatter)
    ):
        return None  # someone configured logging differently
    return handler


def info_fields(logger: logging.Logger, message: str, fields: dict[str, Any]) -> None:
    """`logger.info(message, extra=fields)`, the same line for a fraction of the cost."""
    info_lines(logger, message, [(time.time(), fields)])


def info_lines(
    logger: logging.Logger, message: str, lines: list[tuple[float, dict[str, Any]]]
) -> None:
    """`info_fields` for many lines at once, each (time.time() it happened, fields): one check
    of the configuration and one lock for them all. Through a LogRecord (logging configured
    differently) a line carries the time it is logged instead."""
    if not logger.isEnabledFor(logging.INFO):
        return
    handler = _fast_handler(logger)
    if handler is None:
        for _, fields in lines:
            logger.info(message, extra=fields)
        return
    head = {"ts": "", "level": "info", "logger": logger.name, "msg": message, "pid": os.getpid()}
    # What follows the time in every line, dumped once: a line is its time and its fields' own
    # JSON spliced around it, the bytes dumping head.update(fields) gives (a field named like a
    # head key would replace it in place: such a line is made that way).
    after_ts = orjson.dumps(head)[len(b'{"ts":"') : -1] + b","
    made = []
    for when, fields in lines:
        if fields and _HEAD_KEYS.isdisjoint(fields):
            made.append(b'{"ts":"' + timestamp(when).encode() + after_ts
                        + orjson.dumps(fields, default=str)[1:])
            continue
        line = head.copy()
        line["ts"] = timestamp(when)
        line.update(fields)
        made.append(orjson.dumps(line, default=str))
    handler.write_lines(made)


_HEAD_KEYS = frozenset(("ts", "level", "logger", "msg", "pid"))
