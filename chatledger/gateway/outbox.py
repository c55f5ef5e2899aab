"""What one socket still has to send: each seq once, in order, within a bound. No I/O of its own.

The outbox writes prepared frames (`frames.text_frame`, the same bytes for every recipient)
straight to its socket's `Sink`. In the common case nothing is queued and nothing wakes up per
socket: the frame goes to the transport at once. Frames wait in `pending` only while the sink's
writing is paused by flow control (the kernel's buffer for that socket is full); when it
resumes, everything pending leaves as ONE write.

A new socket starts *holding*: live events are kept aside while the gateway replays what the
caller missed from the log; then the held events are released, skipping every seq already sent,
and the outbox goes live. That is the whole no-gap, no-duplicate recovery (DESIGN §7).

Guarantees kept here:
- frames reach the sink in the order the outbox took them, and an event's seq at most once and
  only above `sent_seq` (the dedup by seq of DESIGN §6);
- a live event never waits: an outbox that would have to keep more than `bound` frames (held or
  pending) overflows for good, and its socket is cut off as too slow, instead of slowing its room;
- control and replayed frames are never dropped: the caller slows only this socket by waiting for
  its sink (`flush`) before it replays more;
- `connected` is the socket's first frame (DESIGN §7): a frame outside the event stream
  (`presence`) that comes before it waits for it, and only the latest such frame is kept, since
  a newer count supersedes an older one.
"""

from collections import deque
from typing import Protocol


class Sink(Protocol):
    """Where one socket's frames go: its transport, as the gateway sees it."""

    @property
    def paused(self) -> bool:
        """True while flow control says the transport cannot take more now."""
        ...

    def write(self, data: bytes) -> None: ...

    def backlogged(self) -> None:
        """Frames started to wait in `pending`: something must call `flush` on resume."""
        ...


class Outbox:
    __slots__ = (
        "_announced", "_aside", "_bound", "_held", "_pending", "_sink", "overflowed", "sent_seq",
    )

    def __init__(self, sink: Sink, bound: int) -> None:
        self._sink = sink
        self._bound = bound
        self._held: deque[tuple[int, bytes]] | None = deque()
        # Only while the sink holds frames back: most sockets never need one (an empty list is
        # 56 bytes of every idle socket), and every flush lets go of it.
        self._pending: list[bytes] | None = None
        self.sent_seq = 0
        self.overflowed = False
        self._announced = False
        self._aside: bytes | None = None

    def offer(self, seq: int, frame: bytes) -> bool:
        """Take a live event; False means this socket cannot keep up and must go."""
        if self.overflowed:
            return False
        if self._held is not None:
            if len(self._held) >= self._bound:
                self.overflowed = True
                return False
            self._held.append((seq, frame))
            return True
        if seq <= self.sent_seq:
            return True
        if self._pending is not None and len(self._pending) >= self._bound:
            self.overflowed = True
            return False
        self.sent_seq = seq
        self.send(frame)
        return True

    def send(self, frame: bytes) -> None:
        """A frame that is not dropped: the `connected` message, a replayed event."""
        pending = self._pending
        if pending:
            pending.append(frame)
        elif self._sink.paused:
            self._pending = [frame]
            self._sink.backlogged()
        else:
            self._sink.write(frame)

    def announce(self, connected: bytes) -> None:
        """The socket's first frame; then the out-of-stream frame that waited for it, if any."""
        self.send(connected)
        self._announced = True
        if self._aside is not None:
            self.send(self._aside)
            self._aside = None

    def aside(self, frame: bytes) -> None:
        """A frame outside the event stream (`presence`): after `connected`, never before."""
        if self._announced:
            self.send(frame)
        else:
            self._aside = frame

    def replay(self, seq: int, frame: bytes) -> None:
        """A missed event read back from the log, unless that seq was sent already."""
        if seq > self.sent_seq:
            self.sent_seq = seq
            self.send(frame)

    def go_live(self) -> None:
        """Release the held live events, then take new ones straight to the sink."""
        held = self._held
        assert held is not None, "already live"
        self._held = None
        for seq, frame in held:
            self.replay(seq, frame)

    def flush(self) -> bool:
        """Write everything pending as one write if the sink takes it; True when nothing waits."""
        pending = self._pending
        if pending and not self._sink.paused:
            self._pending = None
            self._sink.write(b"".join(pending))
        return not self._pending

    @property
    def pending(self) -> int:
        return len(self._pending) if self._pending is not None else 0
