"""Every request observed (a metrics sample and one JSON access-log line), and the errors aiohttp
raises answered in the wire format (404, 405, 413).

The route label is the route's canonical path (`/chat/donat/add`), never the raw path, so a
scanner probing random URLs cannot blow up the series count: unrouted requests are `<unmatched>`.
For an accepted command the line carries the command id of the 201 body, the same id the ledger
logs with the batch that applied it.

How: each route's handler is registered `observed` (`add_observed_route`), and `seal` ends the
app's routing with `Unrouted`, which answers what no route matches (404, 405). No aiohttp
middleware: with one, aiohttp wraps every request in a coroutine of its own besides ours
(`_fix_request_current_app`); per-route wrappers cost one coroutine, ~5 µs less per request.
`seal` refuses an app with a route that is neither observed nor `observes_itself`, so no route
is left out.

A request only notes what it observed; the samples and lines of one event-loop iteration are made
together at its end (`Observations`), a series' count added once per iteration: the same work,
done in one tight loop instead of interleaved with the handlers', costs about half the CPU (an api
process serving history, measured in-process).
"""

import asyncio
import logging
import time
from typing import Any

from aiohttp import web
from prometheus_client.metrics import Counter, Histogram

from chatledger.platform.logs import info_lines
from chatledger.platform.metrics import HTTP_LATENCY, HTTP_REQUESTS
from chatledger.web.responses import COMMAND_ID, Handler, failure
from chatledger.web.unrouted import Unrouted

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
    if resource is None or isinstance(resource, Unrouted):
        return UNMATCHED
    return resource.canonical


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

# (request, status, seconds, command id, time.time(), route label or None: route_of's)
Noted = tuple[web.Request, int, float, str | None, float, str | None]


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
        counts: dict[Counter, int] = {}  # a series' requests of this iteration, added at once
        for request, status, elapsed, command_id, when, label in noted:
            route = label or route_of(request)
            requests, latency = series(request.method, route, status)
            counts[requests] = counts.get(requests, 0) + 1
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
        for requests, count in counts.items():
            requests.inc(count)
        if lines:
            info_lines(log, "request", lines)


observations = Observations()


def record(
    request: web.Request,
    status: int,
    elapsed: float,
    command_id: str | None = None,
    route: str | None = None,
) -> None:
    """One request's sample and access-log line (made at the end of this loop iteration);
    `route`: its label when the caller knows it (else `route_of` finds it)."""
    observations.note((request, status, elapsed, command_id, time.time(), route))


# Handlers that record their own request with `record` (`/ws`, whose handler lives as long as
# its connection; `Unrouted`), and the wrappers `observed` made: `seal` checks every route's.
_SELF_OBSERVED: set[Handler] = set()
_OBSERVED: set[Handler] = set()


def observes_itself(handler: Handler) -> Handler:
    """Mark a handler that records its own request line and sample with `record` (the `/ws`
    route): it is routed as it is, without a wrapper's coroutine, which would stay parked for
    the connection's whole life (~0.25 KiB each, per idle socket)."""
    _SELF_OBSERVED.add(handler)
    return handler


def observed(handler: Handler, label: list[str | None] | None = None) -> Handler:
    """`handler`, its every request recorded (status, time, command id), the 404/405/413 it
    raises answered in the wire format (what it answers otherwise, it answers unchanged).
    `label`: where the route's label will be, once known (`add_observed_route`)."""
    if handler in _SELF_OBSERVED or handler in _OBSERVED:
        return handler
    known = label if label is not None else [None]

    async def observing(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            shaped = error_response(exc)
            if shaped is None:
                record(request, exc.status, time.perf_counter() - started, None, known[0])
                raise
            response = shaped
        except BaseException:  # what the client gets if the handler raises something unexpected
            record(request, 500, time.perf_counter() - started, None, known[0])
            raise
        status = response.status
        command_id = command_id_of(response) if status == 201 else None
        record(request, status, time.perf_counter() - started, command_id, known[0])
        return response

    _OBSERVED.add(observing)
    return observing


def add_observed_route(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """`handler` routed observed, its label (the canonical path) known once, not per request."""
    label: list[str | None] = [None]
    route = app.router.add_route(method, path, observed(handler, label))
    if route.resource is not None:
        label[0] = route.resource.canonical


@observes_itself
async def unrouted(request: web.Request) -> web.Response:
    """What no route answers: 405 if a route has the path (another method), else 404."""
    started = time.perf_counter()
    unrouted_by = request.match_info.route.resource
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is not unrouted_by:
            allowed |= (await resource.resolve(request))[1]
    status = 405 if allowed else 404
    record(request, status, time.perf_counter() - started)
    return failure(status, ERROR_MESSAGES[status])


def seal(app: web.Application) -> None:
    """After the app's last route: answer the unrouted, and refuse a route left unobserved."""
    for route in app.router.routes():
        if route.handler not in _OBSERVED and route.handler not in _SELF_OBSERVED:
            where = route.resource.canonical if route.resource is not None else "?"
            raise RuntimeError(f"{route.method} {where}: not observed (add_observed_route)")
    app.router.register_resource(Unrouted(unrouted))
