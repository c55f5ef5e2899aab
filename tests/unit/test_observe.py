"""The access-log middleware: every request observed, and a self-observed route (`/ws`) let
through without a coroutine of the middlewares parked for its whole life."""

import logging
import sys
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from chatledger.api.app import error_bodies
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


@observes_itself
async def lasting(request: web.Request) -> web.Response:
    started = time.perf_counter()
    SEEN["lasting"] = callers()
    record(request, 202, time.perf_counter() - started)
    return web.Response(status=202)


@pytest.fixture
async def client(aiohttp_client: object) -> TestClient:  # type: ignore[type-arg]
    app = web.Application(middlewares=[observe, error_bodies])
    app.router.add_get("/plain", plain)
    app.router.add_get("/lasting", lasting)
    return await aiohttp_client(app)  # type: ignore[operator, no-any-return]


async def test_a_self_observed_route_parks_no_middleware_coroutine_and_is_logged_once(
    client: TestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="chatledger.access"):
        assert (await client.get("/plain")).status == 204
        assert (await client.get("/lasting")).status == 202
        assert (await client.get("/nowhere")).status == 404
    assert {"_observed", "_error_bodies"} <= set(SEEN["plain"])
    assert not {"_observed", "_error_bodies"} & set(SEEN["lasting"])
    lines = [(line.route, line.status) for line in caplog.records]  # type: ignore[attr-defined]
    assert lines == [("/plain", 204), ("/lasting", 202), ("<unmatched>", 404)]
