"""The one middleware: every request observed (a metrics sample and one JSON access-log line),
and the errors aiohttp raises answered in the wire format (404, 405, 413).

The route label is the route's canonical path (`/chat/donat/add`), never the raw path, so a
scanner probing random URLs cannot blow up the series count: unrouted requests are `<unmatched>`.
For an accepted command the line carries the command id of the 201 body, the same id the ledger
logs with the batch that applied it.

Cost: one middleware, not two (each is a coroutine and a wrapper per request). A request only
notes what it observed; the samples and lines of one event-loop iteration are made together at
its end (`Observations`): the same work, done in one tight loop instead of interleaved with the
handlers', costs about half the CPU (an api process serving history, measured in-process).
"""

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any

from aiohttp import web
from prometheus_client.metrics import Counter, Histogram

from chatledger.platform.logs import info_lines
from chatledger.platform.metrics import HTTP_LATENCY, HTTP_REQUESTS
from chatledger.web.responses import COMMAND_ID, Handler, failure

log = logging.getLogger("chatledger.access")
UNMATCHED = "<unmatched>"
MAX_SERIES = 1000  # the method label is the client's: bound what is kept (the registry keeps all)

# The errors aiohttp raises itself (routing, a body over client_max_size), in the wire format.
ERROR_MESSAGES = {404: "not found", 405: "method not allowed", 413: "payload too large"}


def error_response(exc: web.HTTPException) -> web.Response | None:
    message = ERROR_MESSAGES.get(exc.status)
    return failure(exc.status, message) if message is not None else None


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

# (request, status, seconds, command id, time.time()) of one request
Noted = tuple[web.Request, int, float, str | None, float]


class Observations:
    """The requests observed in this loop iteration; their samples and lines are made at its
    end, by a callback scheduled with the first (at once outside a running loop). A sample or a
    line is late by at most the rest of the iteration, and carries the time it was noted."""

    def __init__(self) -> None:
        self._noted: list[Noted] = []

    def note(self, noted: Noted) -> None:
        if not self._noted:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop in this thread: nothing would ever flush
                self._noted.append(noted)
                self.flush()
                return
        self._noted.append(noted)

    def flush(self) -> None:
        noted, self._noted = self._noted, []
        lines: list[tuple[float, dict[str, Any]]] = []
        logging_on = log.isEnabledFor(logging.INFO)
        for request, status, elapsed, command_id, when in noted:
            route = route_of(request)
            requests, latency = series(request.method, route, status)
            requests.inc()
            latency.observe(elapsed)
            if logging_on:
                fields = {
                    "method": request.method,
                    "path": request.path,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                }
                if command_id is not None:
                    fields["command_id"] = command_id
                lines.append((when, fields))
        if lines:
            info_lines(log, "request", lines)


observations = Observations()


def record(
    request: web.Request, status: int, elapsed: float, command_id: str | None = None
) -> None:
    """One request's sample and access-log line (made at the end of this loop iteration)."""
    observations.note((request, status, elapsed, command_id, time.time()))


# Handlers that live as long as their connection and record their own request (`record`).
_SELF_OBSERVED: set[Handler] = set()


def observes_itself(handler: Handler) -> Handler:
    """Mark a handler that records its own request line and sample with `record` (the `/ws`
    route): the middleware lets its requests through without a coroutine of its own, which
    would stay parked for the connection's whole life (~0.25 KiB each, per idle socket)."""
    _SELF_OBSERVED.add(handler)
    return handler


def passes_through(request: web.Request) -> bool:
    return request.match_info.handler in _SELF_OBSERVED


@web.middleware
def observe(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    if passes_through(request):  # `/ws`: raises none of the errors shaped here
        return handler(request)
    return _observed(request, handler)


async def _observed(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        shaped = error_response(exc)
        if shaped is None:
            record(request, exc.status, time.perf_counter() - started)
            raise
        response = shaped
    except BaseException:  # what the client gets if the handler raises something unexpected
        record(request, 500, time.perf_counter() - started)
        raise
    status = response.status
    command_id = command_id_of(response) if status == 201 else None
    record(request, status, time.perf_counter() - started, command_id)
    return response
