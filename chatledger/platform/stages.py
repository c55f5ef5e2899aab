"""Stage stamps: when a command passed each stage on its way to the viewers (the bench's waterfall).

Only with CHATLEDGER_TRACE_STAGES=1 (`config.TRACE_STAGES`); every call site tests that bool
first, so with it off nothing here runs. One clock: `time.time()` in every process, which on one
machine is the same clock (across machines it would be only as good as their NTP).

How the stamps travel:
- api -> ledger: a Kafka header `stages` on the command record (`header`), since the command's
  JSON is the ledger's contract and the header is invisible to it;
- ledger -> gateway -> viewer: one extra key `"_stages": {...}` at the END of the event's wire
  JSON (`splice`), which the gateway forwards verbatim, so the viewer sees every stamp. The wire
  form never has that key when tracing is off.
- the API's produce acknowledgement cannot travel with the record (the ledger may fetch it before
  the API hears the ack): the API answers it in the `X-Chatledger-Stages` response header.
"""

import time
from collections.abc import Iterable, Mapping

import orjson

from chatledger.platform.config import TRACE_STAGES

ON = TRACE_STAGES
HEADER = "stages"
RESPONSE_HEADER = "X-Chatledger-Stages"
_KEY = b'"_stages":{'
_last: dict[str, float] = {}  # the latest stamp of a stage taken where no record is at hand


def now() -> float:
    return time.time()


def mark(stage: str) -> None:
    """Remember when `stage` was last passed (read back with `last`; one batch at a time)."""
    _last[stage] = time.time()


def last(stage: str) -> float | None:
    return _last.get(stage)


def header(stamps: Mapping[str, float]) -> list[tuple[str, bytes]]:
    return [(HEADER, orjson.dumps(stamps))]


def from_headers(headers: Iterable[tuple[str, bytes]] | None) -> dict[str, float]:
    for name, value in headers or ():
        if name == HEADER:
            stamps: dict[str, float] = orjson.loads(value)
            return stamps
    return {}


def splice(value: bytes, stamps: Mapping[str, float]) -> bytes:
    """The wire JSON object `value` with `stamps` added to its trailing `_stages` object (made
    if missing). `_stages` is always the last key, so both cases are an insert before the end."""
    body = orjson.dumps(stamps)[1:-1]
    if not body:
        return value
    if _KEY in value:  # ...,"_stages":{...}} -> insert before the inner object's brace
        return value[:-2] + b"," + body + b"}}"
    return value[:-1] + b"," + _KEY + body + b"}}"


def parse(value: bytes | bytearray, start: int = 0, end: int | None = None) -> dict[str, float]:
    """The stamps a wire JSON object carries (`{}` if none)."""
    end = len(value) if end is None else end
    at = value.find(_KEY, start, end)
    if at < 0:
        return {}
    stamps: dict[str, float] = orjson.loads(bytes(value[at + len(_KEY) - 1:end - 1]))
    return stamps
