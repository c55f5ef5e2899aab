"""Prepared frames against the examples of RFC 6455 §5.7 (text opcode where they use binary)."""

from chatledger.gateway.frames import text_frame


def test_a_short_text_is_one_unmasked_final_frame() -> None:
    assert text_frame(b"Hello") == bytes([0x81, 0x05]) + b"Hello"


def test_126_to_65535_bytes_take_a_16_bit_length() -> None:
    assert text_frame(b"a" * 125)[:2] == bytes([0x81, 125])
    assert text_frame(b"a" * 256)[:4] == bytes([0x81, 0x7E, 0x01, 0x00])
    assert text_frame(b"a" * 65535)[:4] == bytes([0x81, 0x7E, 0xFF, 0xFF])


def test_64_kib_and_more_take_a_64_bit_length() -> None:
    frame = text_frame(b"a" * 65536)
    assert frame[:10] == bytes([0x81, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])
    assert len(frame) == 10 + 65536
