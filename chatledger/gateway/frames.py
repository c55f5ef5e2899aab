"""Server-to-client websocket frames, built once per event (RFC 6455 §5.2). Pure.

A frame from the server is never masked, so one event's frame is the same bytes for every
recipient: the gateway builds it once and writes those bytes to each socket. aiohttp has no
public "prepared frame", and the framing of an unmasked, unfragmented, uncompressed text frame
is the few lines below.
"""

import struct

_FIN_TEXT = 0x81  # FIN bit + opcode 1 (text); RSV1 clear: never compressed


def text_frame(payload: bytes) -> bytes:
    """One final text frame carrying `payload` (UTF-8, which the wire JSON always is)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", _FIN_TEXT, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, 126, length)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, length)
    return header + payload
