"""The one middleware: every request observed (its sample and line made at the end of the loop
iteration), aiohttp's errors in the wire format, and a self-observed route (`/ws`) let through
without a coroutine of the middleware parked for its whole life."""

import asyncio
import json
import logging
import sys
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from chatledger.platform.metrics import HTTP_REQUESTS
from chatledger.web.observe import observe, observes_itself, record

Seen = list[str]


def callers() -> Seen:
    """The code names of the frames the caller runs in (awaiting coroutines included)."""
    names, frame = [], sys._getframe(2)
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back  # type: ignore[assignment]
    return names


SEEN: dict[str, Seen] = {}


async def plain(request: web.Request) -> web.Response:
    SEEN["plain"] = callers()
    return web.Response(status=204)


def count(route: str, status: int) -> float:
    return HTTP_REQUESTS.labels("GET", route, str(status))._value.get()  # type: ignore[no-any-return]


async def deferring(request: web.Request) -> web.Response:
    """Notes a request twice: in this loop iteration, and from a thread with no loop."""
    before = count("/deferring", 299)
    record(request, 299, 0.001)
    SEEN["deferring"] = [str(count("/deferring", 299) - before)]
    await asyncio.sleep(0)  # the loop's next iteration: this one has ended
    SEEN["deferring"].append(str(count("/deferring", 299) - before))
    await asyncio.to_thread(record, request, 299, 0.001)  # made at once: nothing would flush
    SEEN["deferring"].append(str(count("/deferring", 299) - before))
    return web.Response(status=204)


async def reading(request: web.Request) -> web.Response:
    await request.read()  # over client_max_size: aiohttp raises 413
    return web.Response(status=204)


@observes_itself
async def lasting(request: web.Request) -> web.Response:
    started = time.perf_counter()
    SEEN["lasting"] = callers()
    record(request, 202, time.perf_counter() - started)
    return web.Response(status=202)


@pytest.fixture
async def client(aiohttp_client: object) -> TestClient:  # type: ignore[type-arg]
    app = web.Application(middlewares=[observe], client_max_size=10)
    app.router.add_get("/plain", plain)
    app.router.add_get("/lasting", lasting)
    app.router.add_post("/reading", reading)
    app.router.add_get("/deferring", deferring)
    return await aiohttp_client(app)  # type: ignore[operator, no-any-return]


async def test_a_self_observed_route_parks_no_middleware_coroutine_and_is_logged_once(
    client: TestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="chatledger.access"):
        assert (await client.get("/plain")).status == 204
        assert (await client.get("/lasting")).status == 202
        assert (await client.get("/nowhere")).status == 404
    assert "_observed" in SEEN["plain"]
    assert "_observed" not in SEEN["lasting"]
    lines = [(line.route, line.status) for line in caplog.records]  # type: ignore[attr-defined]
    assert lines == [("/plain", 204), ("/lasting", 202), ("<unmatched>", 404)]


async def test_the_errors_aiohttp_raises_are_answered_in_the_wire_format_and_observed(
    client: TestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="chatledger.access"):
        answers = [
            await client.get("/nowhere"),
            await client.post("/plain"),
            await client.post("/reading", data=b"x" * 100),
        ]
    statuses = [(answer.status, json.loads(await answer.read())) for answer in answers]
    assert statuses == [
        (404, {"success": "false", "message": "not found"}),
        (405, {"success": "false", "message": "method not allowed"}),
        (413, {"success": "false", "message": "payload too large"}),
    ]
    lines = [(line.route, line.status) for line in caplog.records]  # type: ignore[attr-defined]
    assert lines == [("<unmatched>", 404), ("<unmatched>", 405), ("/reading", 413)]


async def test_a_sample_and_a_line_are_made_when_the_loop_iteration_ends(
    client: TestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="chatledger.access"):
        assert (await client.get("/deferring")).status == 204
    assert SEEN["deferring"] == ["0.0", "1.0", "2.0"]
    lines = [(line.route, line.status) for line in caplog.records]  # type: ignore[attr-defined]
    assert lines == [("/deferring", 299), ("/deferring", 299), ("/deferring", 204)]
