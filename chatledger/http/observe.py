"""One middleware that observes every request: a metrics sample and one JSON access-log line.

The route label is the route's canonical path (`/chat/donat/add`), never the raw path, so a
scanner probing random URLs cannot blow up the series count: unrouted requests are `<unmatched>`.
For an accepted command the line carries the command id of the 201 body, the same id the ledger
logs with the batch that applied it.
"""

import logging
import time

import orjson
from aiohttp import web

from chatledger.http.app import Handler
from chatledger.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = logging.getLogger("chatledger.access")
UNMATCHED = "<unmatched>"


def route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


def command_id_of(response: web.StreamResponse) -> str | None:
    if response.status != 201 or not isinstance(response, web.Response):
        return None
    body = response.body
    if not isinstance(body, bytes):
        return None
    try:
        command_id = orjson.loads(body).get("id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return command_id if isinstance(command_id, str) else None


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500  # what the client gets if the handler raises something unexpected
    command_id = None
    try:
        response = await handler(request)
        status = response.status
        command_id = command_id_of(response)
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = route_of(request)
        HTTP_REQUESTS.labels(request.method, route, str(status)).inc()
        HTTP_LATENCY.labels(request.method, route).observe(elapsed)
        fields = {
            "method": request.method,
            "path": request.path,
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
        }
        if command_id is not None:
            fields["command_id"] = command_id
        log.info("request", extra=fields)
