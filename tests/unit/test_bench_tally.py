"""tools/bench/tally.py: what a viewer reads from a frame (where it ends, its marker, its
commit time and stage stamps) and how a process tallies it."""

import pytest

from tools.bench.fanout import text_frame
from tools.bench.tally import Tally, created_ns, marker_ns, next_frame, pong


def test_frames_are_read_whole_or_not_at_all() -> None:
    small, medium, large = b"x" * 5, b"y" * 300, b"z" * 70_000
    stream = text_frame(small) + text_frame(medium) + text_frame(large)
    frames, pos = [], 0
    while (frame := next_frame(stream, pos)) is not None:
        frames.append(frame)
        pos = frame[2]
    assert [stream[start:end] for _, start, end in frames] == [small, medium, large]
    assert all(opcode == 1 for opcode, _, _ in frames)
    assert pos == len(stream)
    assert next_frame(stream[:-1], len(text_frame(small) + text_frame(medium))) is None
    assert next_frame(b"\x81", 0) is None
    assert next_frame(b"\x81\x7e\x01", 0) is None  # a 16-bit length cut short


def test_pong_is_a_masked_client_frame_with_the_ping_payload() -> None:
    frame = pong(b"abc")
    assert frame[0] == 0x8A and frame[1] == 0x80 | 3
    assert frame[2:6] == b"\0\0\0\0" and frame[6:] == b"abc"


def test_marker_and_created_at_are_read_from_the_frame() -> None:
    text = (b'{"type":"message","created_at":"2026-01-01T00:00:00.100000Z",'
            b'"message":"bench 1767225600000000000"}')
    assert marker_ns(text, 0, len(text)) == 1_767_225_600_000_000_000
    assert created_ns(text, 0, len(text)) == 1_767_225_600_100_000_000
    assert marker_ns(b'{"message":"hello"}', 0, 19) is None
    assert created_ns(b'{"message":"hello"}', 0, 19) is None


def test_tally_splits_each_delivery_at_the_ledger_commit() -> None:
    text = bytearray(b'{"created_at":"2026-01-01T00:00:00.100000Z","message":"bench '
                     b'1767225600000000000"}')
    tally = Tally(measuring=True)
    sent = 1_767_225_600_000_000_000
    tally.timed(text, 0, len(text), sent + 250_000_000)
    tally.timed(text, 0, len(text), sent + 300_000_000)  # the same event, another viewer
    tally.arrived(2, sent + 300_000_000)
    tally.arrived(3, sent + 400_000_000)
    assert tally.deliveries == 5
    assert (tally.first_ns, tally.last_ns) == (sent + 300_000_000, sent + 400_000_000)
    assert list(tally.total_ms) == pytest.approx([250.0, 300.0])
    assert list(tally.viewer_leg_ms) == pytest.approx([150.0, 200.0])
    assert tally.commits == {sent: sent + 100_000_000}  # the ledger leg once per event


def test_a_viewer_keeps_a_traced_frames_stamps_once_and_times_its_socket_leg() -> None:
    from chatledger.platform.stages import splice

    sent = 1_700_000_000_000_000_000
    payload = splice(f'{{"seq":1,"message":"bench {sent}"}}'.encode(),
                     {"gateway_dispatched": 1_700_000_000.010})
    frame = bytearray(text_frame(payload))
    tally = Tally()
    for _ in range(2):  # two viewers of one process read the same event
        tally.timed(frame, len(frame) - len(payload), len(frame), 1_700_000_000_012_000_000)
    assert tally.stamps == {sent: {"gateway_dispatched": 1_700_000_000.010}}
    assert [round(ms, 3) for ms in tally.socket_ms] == [2.0, 2.0]
