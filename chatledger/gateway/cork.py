"""One kernel send per socket per feed batch, instead of one per delivery. No I/O of its own.

Each `transport.write` to a socket with nothing queued is a send syscall at once (uvloop), and in
a fan-out that syscall was ~80% of the gateway's CPU (py-spy, docs/performance.md). While the
cork is held, around the feed's dispatch of one Kafka batch, a socket's writes are gathered
instead, and when the batch is done each socket that got any is uncorked: its frames leave as
ONE write, in the order they were written.

Guarantees kept here:
- nothing can reach a socket between its corked frames and their write: the stretch the cork is
  held for never awaits, and the cork is let go (every socket uncorked) in its `finally`, before
  anything else runs on the loop, an exception included (what was taken is still written);
- every socket taken is uncorked, even if writing to another raised;
- outside that stretch (a socket's start, its replay, the heartbeat, presence, a gap filled from
  MySQL) a write goes to the socket at once, as before.
Corked frames are written, not held back: flow control (the outbox's `paused`, its bound) sees
them when they reach the transport at the end of the batch, as it saw each frame before.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Corked(Protocol):
    def uncork(self) -> None:
        """Write everything gathered since the cork took this socket, as one write."""
        ...


class Cork:
    __slots__ = ("_taken",)

    def __init__(self) -> None:
        self._taken: list[Corked] | None = None  # while held: the sockets holding frames

    def take(self, sink: Corked) -> bool:
        """While held: remember `sink` to be uncorked when the cork is let go, and say True
        (the caller keeps the frame). False: not held, write at once."""
        taken = self._taken
        if taken is None:
            return False
        taken.append(sink)
        return True

    @contextmanager
    def held(self) -> Iterator[None]:
        """Gather the writes of this stretch; it must not await (see the guarantees above)."""
        if self._taken is not None:  # nested in a stretch already held: that one lets go
            yield
            return
        self._taken = []
        try:
            yield
        finally:
            taken, self._taken = self._taken, None
            _uncork(taken)


def _uncork(taken: list[Corked]) -> None:
    """Every socket, even past one whose write raised (then raised on): none stays corked."""
    for at, sink in enumerate(taken):
        try:
            sink.uncork()
        except BaseException:
            _uncork(taken[at + 1:])
            raise
