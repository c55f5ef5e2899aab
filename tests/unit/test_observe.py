"""Every route observed (its sample and line made at the end of the loop iteration), aiohttp's
errors in the wire format, a self-observed route (`/ws`) routed without a wrapper's coroutine
parked for its whole life, and no route left unobserved."""

import asyncio
import json
import logging
import sys
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from chatledger.platform.metrics import HTTP_REQUESTS
from chatledger.web.observe import add_observed_route, observes_itself, record, seal

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
    app = web.Application(client_max_size=10)
    add_observed_route(app, "GET", "/plain", plain)
    app.router.add_get("/lasting", lasting)
    add_observed_route(app, "POST", "/reading", reading)
    add_observed_route(app, "GET", "/deferring", deferring)
    seal(app)
    return await aiohttp_client(app)  # type: ignore[operator, no-any-return]



def access_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, int]]:
    """(route, status) of each access-log line captured."""
    return [(line.route, line.status) for line in caplog.records]  # type: ignore[attr-defined]

async def test_a_self_observed_route_parks_no_middleware_coroutine_and_is_logged_once(
    client: TestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="chatledger.access"):
        assert (await client.get("/plain")).status == 204
        assert (await client.get("/lasting")).status == 202
        assert (await client.get("/nowhere")).status == 404
    assert "observing" in SEEN["plain"]
    assert "observing" not in SEEN["lasting"]
    assert access_lines(caplog) == [("/plain", 204), ("/lasting", 202), ("<unmatched>", 404)]


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
    assert access_lines(caplog) == [("<unmatched>", 404), ("<unmatched>", 405), ("/reading", 413)]


async def test_a_sample_and_a_line_are_made_when_the_loop_iteration_ends(
    client: TestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="chatledger.access"):
        assert (await client.get("/deferring")).status == 204
    assert SEEN["deferring"] == ["0.0", "1.0", "2.0"]
    assert access_lines(caplog) == [("/deferring", 299), ("/deferring", 299), ("/deferring", 204)]


async def test_a_route_is_awaited_by_aiohttp_through_its_observer_alone(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    """No aiohttp middleware: it would wrap every request in a coroutine of its own."""
    assert (await client.get("/plain")).status == 204
    assert SEEN["plain"][:2] == ["observing", "_handle"]


async def test_what_no_route_answers_is_a_404_or_a_405_by_the_path_and_observed(
    aiohttp_client: object, caplog: pytest.LogCaptureFixture
) -> None:
    app = web.Application()
    add_observed_route(app, "GET", "/items/{item}", plain)
    add_observed_route(app, "POST", "/", plain)
    seal(app)
    http: TestClient = await aiohttp_client(app)  # type: ignore[operator, type-arg]
    with caplog.at_level(logging.INFO, logger="chatledger.access"):
        answers = [
            await http.get("/items/3"),
            await http.post("/items/3"),
            await http.head("/items/3"),
            await http.get("/items/3/more"),
            await http.get("/"),
            await http.get("/nowhere"),
        ]
    assert [answer.status for answer in answers] == [204, 405, 405, 404, 405, 404]
    for answer in answers[1:]:
        assert answer.content_type == "application/json"
    assert access_lines(caplog) == [("/items/{item}", 204)] + [
        ("<unmatched>", answer.status) for answer in answers[1:]
    ]


def test_an_app_with_a_route_left_unobserved_is_refused() -> None:
    app = web.Application()
    add_observed_route(app, "GET", "/plain", plain)
    app.router.add_get("/lasting", lasting)  # observes itself
    app.router.add_get("/forgotten", plain)
    with pytest.raises(RuntimeError, match="/forgotten"):
        seal(app)
