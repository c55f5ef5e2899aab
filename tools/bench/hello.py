"""The hello-world baselines: the cheapest aiohttp app, served like the service (uvloop).

`python -m tools.bench.hello PORT` serves, with uvloop like the service:
  POST /hello       reads the JSON body, answers 201 with a small JSON body (the POST baseline)
  GET  /hello       answers 200 with a small JSON body (the GET baseline)
"""

import sys

import orjson
import uvloop
from aiohttp import web


async def hello_post(request: web.Request) -> web.Response:
    body = orjson.loads(await request.read())
    return web.Response(status=201, body=orjson.dumps({"success": "ok", "id": str(len(body))}),
                        content_type="application/json")


async def hello_get(request: web.Request) -> web.Response:
    return web.Response(body=b'{"success":true,"events":[]}', content_type="application/json")



def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/hello", hello_post)
    app.router.add_get("/hello", hello_get)
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(sys.argv[1]), print=None,
                loop=uvloop.new_event_loop(), access_log=None)
