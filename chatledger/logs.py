"""Logs as JSON lines: one object per record, so a command id can be grepped from POST to delivery.

Structured fields travel in `extra=` (`log.info("request", extra={"status": 201})`) and become
top-level keys of the line; the message stays a short constant that names the kind of line.
A person at a terminal (stderr is a TTY, e.g. `make run`) gets the same records as readable
lines instead; CHATLEDGER_LOG_FORMAT=json|text overrides the choice.
"""

import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
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


def configure_logging(level: int = logging.INFO) -> None:
    """Replace the root handlers with one handler on stderr (stdout is for output)."""
    handler = logging.StreamHandler(sys.stderr)
    log_format = os.environ.get("CHATLEDGER_LOG_FORMAT", "auto")
    handler.setFormatter(choose_formatter(log_format, sys.stderr.isatty()))
    logging.basicConfig(level=level, handlers=[handler], force=True)
