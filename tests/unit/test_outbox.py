"""The outbox: writes straight through, queues only while paused, each seq once and in order."""

from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from chatledger.gateway.outbox import Outbox


@dataclass
class FakeSink:
    """A transport as the outbox sees it: what was written, in which writes, and flow control."""

    paused: bool = False
    writes: list[bytes] = field(default_factory=list)
    wakeups: int = 0

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def backlogged(self) -> None:
        self.wakeups += 1

    @property
    def stream(self) -> bytes:
        return b"".join(self.writes)


def frame(seq: int) -> bytes:
    return f"<{seq}>".encode()


def live_outbox(bound: int = 100) -> tuple[Outbox, FakeSink]:
    sink = FakeSink()
    outbox = Outbox(sink, bound)
    outbox.go_live()
    return outbox, sink


def test_a_writable_socket_gets_each_frame_at_once_without_queueing() -> None:
    outbox, sink = live_outbox()
    for seq in (1, 2, 3):
        assert outbox.offer(seq, frame(seq))
    assert sink.writes == [frame(1), frame(2), frame(3)]
    assert outbox.pending == 0 and sink.wakeups == 0


def test_a_paused_socket_queues_then_gets_everything_in_one_write() -> None:
    outbox, sink = live_outbox()
    outbox.offer(1, frame(1))
    sink.paused = True
    for seq in (2, 3, 4):
        outbox.offer(seq, frame(seq))
    assert sink.writes == [frame(1)] and outbox.pending == 3
    assert sink.wakeups == 1  # one wake-up for the whole backlog, not one per frame
    assert not outbox.flush()  # still paused: nothing moves
    sink.paused = False
    outbox.offer(5, frame(5))  # behind the backlog, never ahead of it
    assert outbox.flush()
    assert sink.writes == [frame(1), frame(2) + frame(3) + frame(4) + frame(5)]


def test_recovery_holds_live_events_and_sends_each_seq_once_in_order() -> None:
    sink = FakeSink()
    outbox = Outbox(sink, bound=100)
    outbox.sent_seq = 2  # the client said since=2
    # Live events that arrive while the log is being read: 4 and 5 (4 will also be in the log).
    assert outbox.offer(4, frame(4)) and outbox.offer(5, frame(5))
    outbox.send(b"connected")
    for seq in (3, 4):
        outbox.replay(seq, frame(seq))
    outbox.go_live()
    assert outbox.offer(5, b"5 again") and outbox.offer(6, frame(6))
    assert sink.stream == b"connected" + b"".join(frame(seq) for seq in (3, 4, 5, 6))


def test_without_since_nothing_at_or_before_the_announced_seq_is_sent() -> None:
    sink = FakeSink()
    outbox = Outbox(sink, bound=10)
    outbox.sent_seq = 7
    outbox.offer(7, frame(7))
    outbox.go_live()
    outbox.offer(8, frame(8))
    assert sink.stream == frame(8)


def test_an_outbox_over_its_bound_overflows_for_good() -> None:
    outbox, sink = live_outbox(bound=2)
    sink.paused = True
    assert outbox.offer(1, frame(1)) and outbox.offer(2, frame(2))
    assert not outbox.offer(3, frame(3))
    assert outbox.overflowed
    sink.paused = False
    outbox.flush()
    assert not outbox.offer(4, frame(4))  # once too slow, the socket is on its way out
    assert sink.stream == frame(1) + frame(2)


def test_holding_too_many_live_events_during_recovery_overflows() -> None:
    outbox = Outbox(FakeSink(), bound=2)
    assert outbox.offer(1, frame(1)) and outbox.offer(2, frame(2))
    assert not outbox.offer(3, frame(3))


def test_replayed_and_control_frames_are_never_dropped_by_the_bound() -> None:
    sink = FakeSink(paused=True)
    outbox = Outbox(sink, bound=2)
    outbox.send(b"connected")
    for seq in range(1, 6):
        outbox.replay(seq, frame(seq))
    assert not outbox.overflowed and outbox.pending == 6
    sink.paused = False
    assert outbox.flush()
    assert sink.stream == b"connected" + b"".join(frame(seq) for seq in range(1, 6))


steps = st.lists(
    st.one_of(
        st.tuples(st.just("offer"), st.integers(1, 40)),
        st.tuples(st.just("pause"), st.booleans()),
        st.tuples(st.just("flush"), st.none()),
    ),
    max_size=200,
)


@given(steps)
def test_whatever_the_flow_control_the_socket_sees_increasing_seqs_each_once(
    script: list[tuple[str, object]],
) -> None:
    outbox, sink = live_outbox(bound=1_000)
    accepted: list[int] = []
    for action, value in script:
        if action == "offer":
            seq = int(value)  # type: ignore[call-overload]
            before = outbox.sent_seq
            assert outbox.offer(seq, frame(seq))
            if seq > before:
                accepted.append(seq)
        elif action == "pause":
            sink.paused = bool(value)
        else:
            outbox.flush()
    sink.paused = False
    assert outbox.flush()
    assert sink.stream == b"".join(frame(seq) for seq in accepted)
    assert accepted == sorted(set(accepted))


def test_connected_comes_first_and_a_presence_frame_before_it_waits_for_it() -> None:
    sink = FakeSink()
    outbox = Outbox(sink, bound=10)
    outbox.aside(b"<presence 1>")  # the ticker found the socket in its room before `connected`
    outbox.aside(b"<presence 2>")
    assert sink.writes == []
    outbox.announce(b"<connected>")
    outbox.aside(b"<presence 3>")
    assert sink.writes == [b"<connected>", b"<presence 2>", b"<presence 3>"]
