"""Operability endpoints, served by every role: /healthz (alive), /readyz (can work), /metrics.

/readyz checks what this process depends on: MySQL answers `SELECT 1`, Redis answers PING, the
broker answers a metadata request, every role loop of this process is running (the ledger's and
the history projector's consumers started, the gateway's feed positioned on the events topic),
and, when this process runs the ledger, the ledger is not too far behind its commands topic.
`mysql_replica` reports where the lag-tolerant reads go (DESIGN §12) and why not to the replica;
it never makes the process unready, because the primary then answers those reads.
A process that cannot serve (a missing setting) never gets here: `serve` refuses to start.
Each check has a short timeout and the whole report is cached for a second, so a tight probe
loop cannot turn into load on the stack.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from chatledger.bus.topic_metadata import topic_metadata
from chatledger.platform.metrics import exposition
from chatledger.platform.redis_client import AnyRedis, redis_client
from chatledger.web.keys import DATABASE, PRODUCER, READS, SETTINGS
from chatledger.web.observe import add_observed_route
from chatledger.web.responses import json_response

CHECK_TIMEOUT_S = 1.0
REPORT_TTL_S = 1.0
MAX_READY_LAG = 10_000  # commands; past this the ledger is too far behind to call the API ready


class NotReady(Exception):
    """A dependency answered, but not well enough."""


class LagSource(Protocol):
    """What the ledger exposes: commands waiting on its assigned partitions (None: not known)."""

    @property
    def lag(self) -> int | None: ...


LEDGER_LAG = web.AppKey("ledger_lag", LagSource)


@dataclass
class RoleLoops:
    """The background loops of this process's roles, each set once it is on the bus."""

    roles: frozenset[str]
    started: dict[str, asyncio.Event] = field(default_factory=dict)

    def loop(self, name: str) -> asyncio.Event:
        return self.watch(name, asyncio.Event())

    def watch(self, name: str, started: asyncio.Event) -> asyncio.Event:
        self.started[name] = started
        return started


ROLE_LOOPS = web.AppKey("role_loops", RoleLoops)


def loop_verdict(started: asyncio.Event) -> dict[str, Any]:
    if not started.is_set():
        raise NotReady("not on the bus yet (starting, or waiting for the broker)")
    return {}
Probe = Callable[[], Awaitable[dict[str, Any]]]


async def run_check(probe: Probe, timeout_s: float = CHECK_TIMEOUT_S) -> dict[str, Any]:
    """{"ok": true, ...details} or {"ok": false, "error": why}; never raises."""
    try:
        details = await asyncio.wait_for(probe(), timeout_s)
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {timeout_s:g}s"}
    except Exception as exc:  # any failure of a dependency is a "not ready", not a 500
        return {"ok": False, "error": str(exc) or type(exc).__name__}
    return {"ok": True, **details}


def lag_verdict(lag: int | None, threshold: int = MAX_READY_LAG) -> dict[str, Any]:
    if lag is not None and lag >= threshold:
        raise NotReady(f"ledger lag {lag} is at or over {threshold}")
    return {"lag": lag, "threshold": threshold}


class Readiness:
    def __init__(self, app: web.Application, redis: AnyRedis) -> None:
        self.app = app
        self.redis = redis
        self._cached: tuple[float, bool, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()  # concurrent probes share one round of checks

    def probes(self) -> dict[str, Probe]:
        probes: dict[str, Probe] = {
            "mysql": self._mysql,
            "redis": self._redis,
            "kafka": self._kafka,
        }
        if READS in self.app and self.app[READS].replica is not None:
            probes["mysql_replica"] = self._replica
        for name, started in self.app[ROLE_LOOPS].started.items():
            probes[name] = _loop_probe(started)
        if LEDGER_LAG in self.app:
            probes["ledger_lag"] = self._ledger_lag
        return probes

    async def report(self) -> tuple[bool, dict[str, Any]]:
        async with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] >= REPORT_TTL_S:
                probes = self.probes()
                results = await asyncio.gather(*(run_check(probe) for probe in probes.values()))
                checks = dict(zip(probes, results, strict=True))
                ready = all(check["ok"] for check in checks.values())
                self._cached = (time.monotonic(), ready, checks)
            return self._cached[1], self._cached[2]

    async def _mysql(self) -> dict[str, Any]:
        await self.app[DATABASE].fetch_val("SELECT 1")
        return {}

    async def _redis(self) -> dict[str, Any]:
        await self.redis.ping()
        return {}

    async def _replica(self) -> dict[str, Any]:
        return self.app[READS].report()

    async def _kafka(self) -> dict[str, Any]:
        settings = self.app[SETTINGS]  # our topics only: see bus/kafka.py broker_topics
        metadata = await topic_metadata(
            self.app[PRODUCER].client, (settings.commands_topic, settings.events_topic))
        return {"brokers": len(metadata.brokers())}

    async def _ledger_lag(self) -> dict[str, Any]:
        return lag_verdict(self.app[LEDGER_LAG].lag)


def _loop_probe(started: asyncio.Event) -> Probe:
    async def probe() -> dict[str, Any]:
        return loop_verdict(started)

    return probe


READINESS = web.AppKey("readiness", Readiness)


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ready, checks = await request.app[READINESS].report()
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return json_response(body, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    body, content_type = exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})


OPS_ROUTES: list[tuple[str, str, Callable[[web.Request], Awaitable[web.Response]]]] = [
    ("GET", "/healthz", healthz),
    ("GET", "/readyz", readyz),
    ("GET", "/metrics", metrics),
]


async def readiness_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # Its own small client: readiness must not depend on which roles (and their Redis use) run.
    redis = redis_client(settings, CHECK_TIMEOUT_S)
    app[READINESS] = Readiness(app, redis)
    yield
    await redis.aclose()


def add_ops(app: web.Application, roles: Iterable[str] = ()) -> None:
    """Every role serves these, so a ledger-only process can be probed and scraped too."""
    app[ROLE_LOOPS] = RoleLoops(frozenset(roles))
    for method, path, handler in OPS_ROUTES:
        add_observed_route(app, method, path, handler)
    app.cleanup_ctx.append(readiness_ctx)
