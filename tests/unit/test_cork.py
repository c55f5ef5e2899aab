"""The cork: a socket's frames of one feed batch leave as one write, in order, and only then."""

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from chatledger.gateway.connection import CORK_FRAMES, Connection
from chatledger.gateway.cork import Cork
from chatledger.gateway.feed import dispatch
from chatledger.gateway.frames import text_frame
from chatledger.gateway.heartbeat import PING
from chatledger.gateway.hub import Gateway
from tests.unit.test_rooms import ALICE, BOB, MODEL, event


@dataclass(eq=False)
class FakeSink:
    writes: list[str] = field(default_factory=list)
    breaks: bool = False
    frames: list[str] | None = None

    def write(self, frame: str, cork: Cork) -> None:
        if self.frames is not None:
            self.frames.append(frame)
        elif cork.take(self):
            self.frames = [frame]
        else:
            self.writes.append(frame)

    def uncork(self) -> None:
        frames, self.frames = self.frames, None
        if self.breaks:
            raise OSError("write failed")
        self.writes.append("".join(frames or []))


def test_writes_wait_for_the_end_of_the_stretch_then_leave_as_one_per_sink() -> None:
    cork, a, b = Cork(), FakeSink(), FakeSink()
    with cork.held():
        for frame in ("1", "2", "3"):
            a.write(frame, cork)
        b.write("x", cork)
        assert a.writes == [] and b.writes == []
    assert a.writes == ["123"] and b.writes == ["x"]
    a.write("4", cork)  # not held: at once
    assert a.writes == ["123", "4"]


def test_an_exception_in_the_stretch_still_writes_what_was_taken() -> None:
    cork, sink = Cork(), FakeSink()
    with pytest.raises(ValueError), cork.held():
        sink.write("1", cork)
        raise ValueError
    assert sink.writes == ["1"]
    assert not cork.take(sink)


def test_a_failing_write_leaves_no_other_sink_corked() -> None:
    cork, first, broken, last = Cork(), FakeSink(), FakeSink(breaks=True), FakeSink()
    with pytest.raises(OSError), cork.held():
        for sink in (first, broken, last):
            sink.write("1", cork)
    assert first.writes == ["1"] and last.writes == ["1"]
    assert not cork.take(last)


def test_a_nested_hold_lets_go_only_with_the_outer_one() -> None:
    cork, sink = Cork(), FakeSink()
    with cork.held():
        with cork.held():
            sink.write("1", cork)
        sink.write("2", cork)
        assert sink.writes == []
    assert sink.writes == ["12"]


@dataclass
class FakeTransport:
    writes: list[bytes] = field(default_factory=list)
    closing: bool = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closing


def connection(gateway: Gateway, person: str) -> tuple[Connection, FakeTransport]:
    transport = FakeTransport()
    request: Any = SimpleNamespace(transport=transport,
                                   protocol=SimpleNamespace(writing_paused=False))
    principal: Any = SimpleNamespace(uuid=person, chat=MODEL)
    socket = Connection(request, None, principal, gateway, 100)  # type: ignore[arg-type]
    socket.outbox.go_live()
    return socket, transport


def test_a_batch_dispatched_under_the_cork_is_one_write_per_socket_in_seq_order() -> None:
    gateway = Gateway()
    sockets = [connection(gateway, person) for person in (ALICE, BOB)]
    for socket, _ in sockets:
        socket.enter()
    raws = [orjson.dumps(event(seq)) for seq in (1, 2, 3)]
    with gateway.rooms.cork.held():
        for raw in raws:
            dispatch(gateway.rooms, MODEL.encode(), raw)
        sockets[0][0].ping()  # a write between frames keeps its place
        assert all(transport.writes == [] for _, transport in sockets)
    frames = [text_frame(raw) for raw in raws]
    assert sockets[0][1].writes == [b"".join(frames) + PING]
    assert sockets[1][1].writes == [b"".join(frames)]
    raw = orjson.dumps(event(4))
    dispatch(gateway.rooms, MODEL.encode(), raw)  # not corked: at once
    assert sockets[1][1].writes[1:] == [text_frame(raw)]


def test_a_socket_closing_before_the_batch_ends_gets_nothing_written() -> None:
    gateway = Gateway()
    socket, transport = connection(gateway, ALICE)
    socket.enter()
    with gateway.rooms.cork.held():
        dispatch(gateway.rooms, MODEL.encode(), orjson.dumps(event(1)))
        transport.closing = True
    assert transport.writes == []


async def test_a_socket_that_stops_taking_frames_mid_batch_holds_at_most_a_cork_s_worth() -> None:
    """A batch can hold a thousand events of one chat. Gathered whole, a socket whose kernel
    buffer is full would get all of them in one write, past flow control (and a copy of them
    per socket). The cork sends a socket's frames every CORK_FRAMES, so flow control sees the
    socket pause mid-batch and its outbox takes the rest, within its bound, as without a cork."""
    gateway = Gateway()
    socket, transport = connection(gateway, ALICE)
    socket.enter()
    protocol = socket.protocol

    def write_fills_the_buffer(data: bytes) -> None:
        transport.writes.append(data)
        protocol.writing_paused = True  # the kernel took no more: flow control pauses

    transport.write = write_fills_the_buffer  # type: ignore[method-assign]
    raws = [orjson.dumps(event(seq)) for seq in range(1, CORK_FRAMES + 21)]
    try:
        with gateway.rooms.cork.held():
            for raw in raws:
                dispatch(gateway.rooms, MODEL.encode(), raw)
        assert transport.writes == [b"".join(text_frame(raw) for raw in raws[:CORK_FRAMES])]
        assert socket.outbox.flush() is False  # the other 20 wait in the outbox, bounded
    finally:
        if socket._flusher is not None:
            socket._flusher.cancel()
