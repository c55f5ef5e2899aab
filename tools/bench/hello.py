"""Baselines 3 and 5: a hello-world aiohttp app and a raw websocket send loop, in one process.

`python -m tools.bench.hello PORT` serves, with uvloop like the service:
  POST /hello       reads the JSON body, answers 201 with a small JSON body (the POST baseline)
  GET  /hello       answers 200 with a small JSON body (the GET baseline)
  GET  /ws          a websocket that only receives what the blast sends
  POST /blast?seconds=S&size=B  sends B-byte text frames to every open socket in a plain loop
                    for S seconds; each frame carries its send time like a chat event would.
"""

import sys
import time

import orjson
import uvloop
from aiohttp import web

SOCKETS = web.AppKey("sockets", set[web.WebSocketResponse])


async def hello_post(request: web.Request) -> web.Response:
    body = orjson.loads(await request.read())
    return web.Response(status=201, body=orjson.dumps({"success": "ok", "id": str(len(body))}),
                        content_type="application/json")


async def hello_get(request: web.Request) -> web.Response:
    return web.Response(body=b'{"success":true,"events":[]}', content_type="application/json")


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    await ws.send_str('{"type":"connected"}')
    request.app[SOCKETS].add(ws)
    try:
        async for _ in ws:
            pass
    finally:
        request.app[SOCKETS].discard(ws)
    return ws


async def blast(request: web.Request) -> web.Response:
    seconds = float(request.query.get("seconds", "5"))
    padding = "x" * max(0, int(request.query.get("size", "300")) - 60)
    open_sockets: set[web.WebSocketResponse] = request.app[SOCKETS]
    sockets = list(open_sockets)
    deadline = time.monotonic() + seconds
    frames = 0
    while time.monotonic() < deadline:
        text = f'{{"type":"message","message":"bench {time.time_ns()}","pad":"{padding}"}}'
        for ws in sockets:
            await ws.send_str(text)
        frames += len(sockets)
    return web.json_response({"frames": frames, "sockets": len(sockets)})


def make_app() -> web.Application:
    app = web.Application()
    app[SOCKETS] = set()
    app.router.add_post("/hello", hello_post)
    app.router.add_get("/hello", hello_get)
    app.router.add_get("/ws", websocket)
    app.router.add_post("/blast", blast)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(sys.argv[1]), print=None,
                loop=uvloop.new_event_loop(), access_log=None)
