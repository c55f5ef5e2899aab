"""The minimal Python fan-out peer of `make bench`: what the gateway's fan-out costs
at least, in the same stack (uvloop + aiohttp), fed the same recorded events as the gateway.

`python -m tools.bench.fanout PORT RECORDING` serves:
  GET  /ws?chat=<uuid>  a viewer of one chat, greeted with {"type":"connected"} like the gateway
  POST /start           broadcast the recording once (JSON lines {"chat", "value"}), as fast as
                        the viewers read it
  GET  /health          200
Per event the frame is built once (a server frame is unmasked, so it is the same bytes for every
recipient) and written to each recipient's transport: no per-socket task, no per-socket await.
Every BATCH events (as many as the gateway's Kafka poll returns at most) it yields to the loop,
and waits while any transport holds more than HIGH bytes (the flow control a real server needs;
the node peer does the same). uvloop writes each frame to its socket at once (one syscall per
delivery) unless that socket already has data waiting, exactly as for the gateway's writes.
"""

import asyncio
import sys
from pathlib import Path

import orjson
import uvloop
from aiohttp import web

BATCH = 1000
HIGH = 256 * 1024
ROOMS = web.AppKey("rooms", dict[str, set[asyncio.Transport]])
RECORDING = web.AppKey("recording", list[tuple[str, bytes]])
TASKS = web.AppKey("tasks", set["asyncio.Task[None]"])


def text_frame(payload: bytes) -> bytes:
    """One unmasked, final text frame (RFC 6455 §5.2)."""
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload


def load_recording(path: Path) -> list[tuple[str, bytes]]:
    events = []
    for line in path.read_bytes().splitlines():
        if line:
            record = orjson.loads(line)
            events.append((record["chat"], record["value"].encode()))
    return events


async def broadcast(rooms: dict[str, set[asyncio.Transport]],
                    recording: list[tuple[str, bytes]]) -> None:
    transports = [transport for room in rooms.values() for transport in room]
    for at in range(0, len(recording), BATCH):
        for chat, value in recording[at:at + BATCH]:
            room = rooms.get(chat)
            if room:
                frame = text_frame(value)
                for transport in room:
                    if not transport.is_closing():
                        transport.write(frame)
        await asyncio.sleep(0)
        # Polled: no event fires when the last of many transports falls below HIGH.
        while any(t.get_write_buffer_size() > HIGH  # noqa: ASYNC110
                  for t in transports if not t.is_closing()):
            await asyncio.sleep(0.001)


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)  # the 101 goes out here, before any direct transport write
    await ws.send_str('{"type":"connected"}')
    transport = request.transport
    room = request.app[ROOMS].setdefault(request.query.get("chat", ""), set())
    if transport is not None:
        room.add(transport)
    try:
        async for _ in ws:
            pass
    finally:
        room.discard(transport)  # type: ignore[arg-type]
    return ws


async def start(request: web.Request) -> web.Response:
    task = asyncio.create_task(broadcast(request.app[ROOMS], request.app[RECORDING]))
    request.app[TASKS].add(task)
    task.add_done_callback(request.app[TASKS].discard)
    return web.json_response({"started": True}, status=202)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def make_app(recording: Path) -> web.Application:
    app = web.Application()
    app[ROOMS] = {}
    app[RECORDING] = load_recording(recording)
    app[TASKS] = set()
    app.router.add_get("/ws", websocket)
    app.router.add_post("/start", start)
    app.router.add_get("/health", health)
    return app


if __name__ == "__main__":
    web.run_app(make_app(Path(sys.argv[2])), host="127.0.0.1", port=int(sys.argv[1]), print=None,
                loop=uvloop.new_event_loop(), access_log=None)
