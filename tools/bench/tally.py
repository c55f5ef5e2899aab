"""What a bench viewer makes of the frames it reads: where a frame ends, the POST's send time
and the ledger's commit time a marked frame carries, its stage stamps, all tallied per process.
Pure: the sockets are viewers.py's."""

import array
from dataclasses import dataclass, field
from datetime import datetime

from chatledger.platform.stages import parse as parse_stages

MARKER = b"bench "
CREATED = b'"created_at":"'
MAX_SAMPLES = 1_000_000


def next_frame(buf: bytes | bytearray, pos: int) -> tuple[int, int, int] | None:
    """(opcode, payload start, payload end) of the complete frame at `pos`, or None if partial."""
    have = len(buf)
    if have - pos < 2:
        return None
    second = buf[pos + 1]
    size = second & 0x7F
    at = pos + 2
    if size == 126:
        if have < at + 2:
            return None
        size = int.from_bytes(buf[at:at + 2], "big")
        at += 2
    elif size == 127:
        if have < at + 8:
            return None
        size = int.from_bytes(buf[at:at + 8], "big")
        at += 8
    if second & 0x80:
        at += 4  # a masked frame (servers never send one; skip the key anyway)
    end = at + size
    return None if end > have else (buf[pos] & 0x0F, at, end)


def marker_ns(buf: bytes | bytearray, start: int, end: int) -> int | None:
    """The send time a marked frame carries (`bench <time_ns>` in its text), or None."""
    at = buf.find(MARKER, start, end)
    if at < 0:
        return None
    digits = at + len(MARKER)
    stop = digits
    while stop < end and 48 <= buf[stop] <= 57:
        stop += 1
    return int(buf[digits:stop]) if stop > digits else None


def created_ns(buf: bytes | bytearray, start: int, end: int) -> int | None:
    """The event's `created_at` (the ledger's commit-time stamp) in ns since the epoch, or None."""
    at = buf.find(CREATED, start, end)
    if at < 0:
        return None
    at += len(CREATED)
    stop = buf.find(b'"', at, end)
    try:
        stamp = bytes(buf[at:stop]).decode().replace("Z", "+00:00")
        return int(datetime.fromisoformat(stamp).timestamp() * 1_000_000) * 1000
    except ValueError:
        return None


def pong(payload: bytes) -> bytes:
    """A client frame must be masked; a zero key leaves the payload as it is."""
    return bytes((0x8A, 0x80 | len(payload))) + b"\0\0\0\0" + payload


@dataclass
class Tally:
    """What one process's viewers received while measuring."""

    measuring: bool = False
    deliveries: int = 0
    first_ns: int = 0
    last_ns: int = 0
    # per marked delivery: POST sent (ns) and POST -> viewer (ms), ledger commit -> viewer (ms)
    sent_ns: array.array = field(default_factory=lambda: array.array("q"))
    total_ms: array.array = field(default_factory=lambda: array.array("d"))
    viewer_leg_ms: array.array = field(default_factory=lambda: array.array("d"))
    # per event (once per process): POST sent -> ledger commit (ms)
    commits: dict[int, int] = field(default_factory=dict)
    # with CHATLEDGER_TRACE_STAGES=1: per event its stage stamps, per delivery dispatched -> read
    stamps: dict[int, dict[str, float]] = field(default_factory=dict)
    socket_ms: array.array = field(default_factory=lambda: array.array("d"))

    def reset(self) -> None:
        self.deliveries = self.first_ns = self.last_ns = 0
        self.sent_ns, self.total_ms = array.array("q"), array.array("d")
        self.viewer_leg_ms = array.array("d")
        self.commits = {}
        self.stamps, self.socket_ms = {}, array.array("d")

    def arrived(self, frames: int, now: int) -> None:
        """`frames` deliveries read at `now` (one read of one socket)."""
        self.deliveries += frames
        if not self.first_ns:
            self.first_ns = now
        self.last_ns = now

    def timed(self, buf: bytearray, start: int, end: int, now: int) -> None:
        """A marked frame: POST -> viewer, and the split at the ledger commit."""
        sent = marker_ns(buf, start, end)
        if sent is None or len(self.total_ms) >= MAX_SAMPLES:
            return
        committed = self.commits.get(sent)
        if committed is None:
            committed = self.commits[sent] = created_ns(buf, start, end) or 0
            self.stamps[sent] = parse_stages(buf, start, end)
        dispatched = self.stamps[sent].get("gateway_dispatched")
        if dispatched is not None:
            self.socket_ms.append(now / 1e6 - dispatched * 1000)
        self.sent_ns.append(sent)
        self.total_ms.append((now - sent) / 1e6)
        if committed:
            self.viewer_leg_ms.append((now - committed) / 1e6)
