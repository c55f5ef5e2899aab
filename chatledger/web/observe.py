"""One middleware that observes every request: a metrics sample and one JSON access-log line.

The route label is the route's canonical path (`/chat/donat/add`), never the raw path, so a
scanner probing random URLs cannot blow up the series count: unrouted requests are `<unmatched>`.
For an accepted command the line carries the command id of the 201 body, the same id the ledger
logs with the batch that applied it.

Cost, a few microseconds: the metric children of each (method, route, status) are looked up once
and kept; the line is written by `logs.info_fields` (no LogRecord, one write per loop iteration)
and not even built when INFO is off.
"""

import logging
import time
from collections.abc import Awaitable

from aiohttp import web
from prometheus_client.metrics import Counter, Histogram

from chatledger.platform.logs import info_fields
from chatledger.platform.metrics import HTTP_LATENCY, HTTP_REQUESTS
from chatledger.web.responses import COMMAND_ID, Handler

log = logging.getLogger("chatledger.access")
UNMATCHED = "<unmatched>"
MAX_SERIES = 1000  # the method label is the client's: bound what is kept (the registry keeps all)


def route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


def command_id_of(response: web.StreamResponse) -> str | None:
    command_id = response.get(COMMAND_ID) if response.status == 201 else None
    return command_id if isinstance(command_id, str) else None


class Series:
    """The metric children of one (method, route, status), looked up once."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def __call__(self, method: str, route: str, status: int) -> tuple[Counter, Histogram]:
        key = (method, route, status)
        found = self._children.get(key)
        if found is None:
            if len(self._children) >= MAX_SERIES:
                self._children.clear()
            found = self._children[key] = (
                HTTP_REQUESTS.labels(method, route, str(status)),
                HTTP_LATENCY.labels(method, route),
            )
        return found


series = Series()


# Handlers that live as long as their connection and record their own request (`record`).
_SELF_OBSERVED: set[Handler] = set()


def observes_itself(handler: Handler) -> Handler:
    """Mark a handler that records its own request line and sample with `record` (the `/ws`
    route): the middlewares let its requests through without a coroutine of their own, which
    would stay parked for the connection's whole life (~0.25 KiB each, per idle socket)."""
    _SELF_OBSERVED.add(handler)
    return handler


def passes_through(request: web.Request) -> bool:
    return request.match_info.handler in _SELF_OBSERVED


@web.middleware
def observe(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    if passes_through(request):
        return handler(request)
    return _observed(request, handler)


async def _observed(request: web.Request, handler: Handler) -> web.StreamResponse:
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
        record(request, status, time.perf_counter() - started, command_id)


def record(
    request: web.Request, status: int, elapsed: float, command_id: str | None = None
) -> None:
    """One request's sample and access-log line."""
    route = route_of(request)
    requests, latency = series(request.method, route, status)
    requests.inc()
    latency.observe(elapsed)
    if log.isEnabledFor(logging.INFO):
        fields = {
            "method": request.method,
            "path": request.path,
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
        }
        if command_id is not None:
            fields["command_id"] = command_id
        info_fields(log, "request", fields)
