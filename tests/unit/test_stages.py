"""Stage stamps: spliced into the wire JSON at its end, read back whole, headers round-trip."""

import orjson

from chatledger.platform import stages


def test_splice_adds_a_trailing_stages_object_then_extends_it() -> None:
    wire = b'{"type":"message","seq":3,"message":{"message":"hi"}}'
    once = stages.splice(wire, {"a": 1.5})
    twice = stages.splice(once, {"b": 2.0})
    body = orjson.loads(twice)
    assert body["_stages"] == {"a": 1.5, "b": 2.0}
    assert body["message"] == {"message": "hi"} and body["seq"] == 3
    assert stages.parse(twice) == {"a": 1.5, "b": 2.0}
    assert stages.parse(wire) == {}


def test_parse_reads_the_stamps_of_one_frame_inside_a_buffer() -> None:
    frame = stages.splice(b'{"seq":1}', {"x": 7.25})
    buf = bytearray(b"\x81\x20" + frame + b"junk")
    assert stages.parse(buf, 2, 2 + len(frame)) == {"x": 7.25}


def test_header_round_trip_and_absence() -> None:
    assert stages.from_headers(stages.header({"api_received": 1.0})) == {"api_received": 1.0}
    assert stages.from_headers(None) == {}
    assert stages.from_headers([("other", b"1")]) == {}


def test_off_unless_asked() -> None:
    assert stages.ON is False  # the test environment never sets CHATLEDGER_TRACE_STAGES
