"""`python -m tools.bench.stallwatch serve ...`: chatledger with two watchers, for finding stalls.

Writes JSON lines to $STALLWATCH_OUT (one file per process):
- {"gc": generation, "at": time.time() at its start, "ms": pause, "collected": n} per collection
  of generation >= $STALLWATCH_GC_MIN (default 1);
- {"lag_ms": ..., "at": ...} whenever the event loop ran a callback posted from a watcher thread
  more than 5 ms late (the loop was busy or blocked for that long).
SIGUSR1 makes it call gc.collect(); gc.freeze() (the candidate fix, tried on a running service:
one window before the signal, one after); SIGUSR2 a full collection alone (timed as above).
STALLWATCH_NO_FREEZE=1 runs the service without its own start-up freeze (platform/heap.py), to
compare.
"""

import gc
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from typing import Any

import uvloop

OUT = open(os.environ.get("STALLWATCH_OUT", f"/tmp/stallwatch-{os.getpid()}.jsonl"), "a")  # noqa: SIM115
GC_MIN = int(os.environ.get("STALLWATCH_GC_MIN", "1"))
_started: list[float] = [0.0]


def _write(record: dict[str, Any]) -> None:
    OUT.write(json.dumps(record) + "\n")
    OUT.flush()


_types: list[Counter[str]] = [Counter()]


def _grown() -> dict[str, int]:
    """STALLWATCH_TYPES=1: which types grew most in the oldest generation since the last full
    collection (what keeps triggering them)."""
    now = Counter(type(o).__name__ for o in gc.get_objects(2))
    grown = dict((now - _types[0]).most_common(6))
    _types[0] = now
    return grown


def _gc(phase: str, info: dict[str, Any]) -> None:
    if info["generation"] < GC_MIN:
        return
    if phase == "start":
        if info["generation"] == 2 and os.environ.get("STALLWATCH_TYPES") == "1":
            _write({"grown_since_last_full": _grown()})
        _started[0] = time.time()
    else:
        _write({"gc": info["generation"], "at": _started[0],
                "ms": round(1000 * (time.time() - _started[0]), 2),
                "collected": info["collected"], "objects": len(gc.get_objects(2))
                if info["generation"] == 2 else None})


def _watch(loop: Any) -> None:
    while True:
        posted = time.time()
        ran = threading.Event()
        loop.call_soon_threadsafe(ran.set)
        ran.wait()
        lag = 1000 * (time.time() - posted)
        if lag > 5:
            _write({"lag_ms": round(lag, 2), "at": posted})
        time.sleep(0.01)


def _new_loop() -> Any:
    loop = _original()
    threading.Thread(target=_watch, args=(loop,), daemon=True).start()
    return loop


def _freeze(*_: object) -> None:
    gc.collect()
    gc.freeze()
    _write({"frozen": gc.get_freeze_count(), "at": time.time()})


_original = uvloop.new_event_loop
uvloop.new_event_loop = _new_loop
gc.callbacks.append(_gc)
signal.signal(signal.SIGUSR1, _freeze)
signal.signal(signal.SIGUSR2, lambda *_: gc.collect())

if __name__ == "__main__":
    if os.environ.get("STALLWATCH_NO_FREEZE") == "1":
        from chatledger.platform import heap

        async def _no_freeze(_app: object = None) -> None:
            """The service as it was before the start-up freeze."""

        heap.freeze_startup_heap = _no_freeze  # before chatledger.service imports it

    from chatledger.cli.main import main

    sys.exit(main(sys.argv[1:]))
