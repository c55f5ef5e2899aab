"""Compose a running service from roles: api, gateway, ledger, history (DESIGN §8 `serve`)."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine, Iterable
from typing import Any

from aiohttp import web
from databases import Database

from chatledger.api.app import add_api_routes, add_demo_routes
from chatledger.bus.batched_send import BatchedSender
from chatledger.bus.consume import Handover
from chatledger.bus.healing import watch_positions
from chatledger.bus.kafka import start_consumer, start_producer, stop_consumer
from chatledger.bus.topics import ensure_topics, keep_topics
from chatledger.gateway.feed import follow
from chatledger.gateway.heartbeat import keep_alive
from chatledger.gateway.hub import GATEWAY
from chatledger.gateway.presence_ticker import announce_presence
from chatledger.gateway.role import add_gateway
from chatledger.history.mirror import HistoryMirror
from chatledger.history.projector import project_history
from chatledger.history.reader import HistoryReader
from chatledger.ledger.accounts import Directory
from chatledger.ledger.clock import Clock
from chatledger.ledger.relay import relay
from chatledger.ledger.store import LedgerStore
from chatledger.ledger.worker import LedgerWorker
from chatledger.platform.config import Settings
from chatledger.platform.db import database
from chatledger.platform.heap import freeze_startup_heap
from chatledger.platform.listen import Listeners, announce, bind, withdraw
from chatledger.platform.redis_client import cluster_problem, redis_client
from chatledger.platform.replica import lag_tolerant, replica_problem
from chatledger.platform.roles import ALL_ROLES
from chatledger.platform.tasks import running
from chatledger.readmodels.chat_rules import ChatRules
from chatledger.readmodels.presence_board import PresenceBoard
from chatledger.web.keys import (
    COMMANDS,
    DATABASE,
    DIRECTORY,
    HISTORY,
    PRESENCE,
    PRODUCER,
    READS,
    REDIS,
    RULES,
    SETTINGS,
)
from chatledger.web.observe import seal
from chatledger.web.probes import LEDGER_LAG, ROLE_LOOPS, add_ops

log = logging.getLogger(__name__)

LISTENERS = web.AppKey("listeners", Listeners)


class Misconfigured(Exception):
    """The process cannot serve its roles with this configuration (the message says why)."""


def check_roles(settings: Settings, roles: Iterable[str]) -> set[str]:
    roles = set(roles)
    unknown = roles - set(ALL_ROLES)
    if unknown:
        raise Misconfigured(
            f"unknown roles: {', '.join(sorted(unknown))} (known: {', '.join(ALL_ROLES)})"
        )
    if not roles:
        raise Misconfigured(f"no role given (known: {', '.join(ALL_ROLES)})")
    reasons = settings.missing_for(roles)
    if reasons:
        raise Misconfigured("; ".join(reasons))
    return roles


def prepare(settings: Settings, roles: Iterable[str]) -> Listeners:
    """Refuse a configuration that cannot serve `roles`, then bind the process's sockets."""
    roles = check_roles(settings, roles)
    check_scale_out(settings)
    try:
        return bind(settings, roles)
    except OSError as exc:
        raise Misconfigured(f"cannot listen: {exc}") from exc

def check_scale_out(settings: Settings) -> None:
    """DESIGN §12: a read DSN that does not answer, or cluster nodes that are not a cluster,
    are refused at start like any bad setting (a process would otherwise serve half-broken)."""
    problem = replica_problem(settings.mysql_read_dsn) or cluster_problem(settings)
    if problem:
        raise Misconfigured(problem)


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    db = database(settings.mysql_dsn, settings.mysql_pool_size)
    await db.connect()
    app[DATABASE] = db
    directory = app[DIRECTORY] = Directory(db, settings.subject_cache_ttl_s)
    async with contextlib.AsyncExitStack() as stack:
        if directory.ttl_s > 0:  # the people who keep coming are read again in batches
            await stack.enter_async_context(
                running(directory.keep_fresh(directory.ttl_s / 4), "directory"))
        await stack.enter_async_context(replica_ctx(app, db))
        yield
    await db.disconnect()


@contextlib.asynccontextmanager
async def replica_ctx(app: web.Application, primary: Database) -> AsyncIterator[None]:
    """The lag-tolerant reads (DESIGN §12): the replica, watched, when a read DSN is set."""
    settings = app[SETTINGS]
    async with lag_tolerant(settings.mysql_read_dsn, primary, settings.mysql_pool_size) as reads:
        app[READS] = reads
        if reads.replica is None:
            yield
            return
        async with running(reads.watch(), "replica watch"):
            yield


async def producer_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    await ensure_topics(settings)
    producer = await start_producer(settings)
    app[PRODUCER] = producer
    app[COMMANDS] = BatchedSender(producer, settings.commands_topic, settings.command_timeout_s)
    async with background(keep_topics(settings, producer), "topics"):
        yield
    await producer.stop()


async def announce_ctx(app: web.Application) -> AsyncIterator[None]:
    target = announce(app[SETTINGS], app[ROLE_LOOPS].roles, app[LISTENERS])
    yield
    withdraw(target)


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    # Connections open lazily: a Redis that is down slows nothing at startup (history then
    # reads MySQL, and the projector waits for Redis).
    settings = app[SETTINGS]
    client = redis_client(settings)
    app[REDIS] = client
    app[HISTORY] = HistoryReader(
        settings, HistoryMirror(settings, client), app[DATABASE], app[READS]
    )
    app[PRESENCE] = PresenceBoard(settings, client)
    yield
    await client.aclose()


async def history_ctx(app: web.Application) -> AsyncIterator[None]:
    started = app[ROLE_LOOPS].loop("history")
    async with background(project_history(app[SETTINGS], app[HISTORY].mirror, started), "history"):
        yield


async def ledger_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = LedgerStore(app[DATABASE])
    worker = LedgerWorker(settings, store, app[PRODUCER])
    app[LEDGER_LAG] = worker
    started = app[ROLE_LOOPS].loop("ledger")
    clock = Clock(settings, app[DATABASE], app[PRODUCER], app[PRESENCE].here_in,
                  worker.owned)
    clock.listen(store)  # what the batches decide, the clock need not read again
    async with (
        background(_consume_commands(settings, worker, started), "ledger"),
        # What the broker lost after acknowledging it is published again (ledger/relay.py).
        background(relay(settings, app[DATABASE], app[PRODUCER]), "relay"),
        background(clock.run(), "clock"),
    ):
        yield


async def gateway_ctx(app: web.Application) -> AsyncIterator[None]:
    """The gateway's feed delivers events to its rooms and keeps the process's rules current."""
    gateway = app[GATEWAY]
    app[ROLE_LOOPS].watch("gateway", gateway.ready)
    feed = follow(app[SETTINGS], app[RULES], app[READS], gateway.ready, gateway.rooms)
    async with (
        background(feed, "gateway"),
        background(announce_presence(gateway.rooms, app[PRESENCE]), "presence"),
        background(keep_alive(gateway.sockets, app[SETTINGS].ws_heartbeat_s), "heartbeat"),
    ):
        yield


async def rules_ctx(app: web.Application) -> AsyncIterator[None]:
    """An api process without the gateway follows the events topic for its rules alone."""
    started = app[ROLE_LOOPS].loop("rules")
    async with background(follow(app[SETTINGS], app[RULES], app[READS], started), "rules"):
        yield


async def _consume_commands(
    settings: Settings, worker: LedgerWorker, started: asyncio.Event
) -> None:
    # Joining a consumer group can take seconds; the API must not wait for it to start serving.
    handover = Handover()
    consumer = await start_consumer(
        settings,
        settings.commands_topic,
        settings.group("ledger"),
        max_records=settings.ledger_batch_size,
        listener=handover,
    )
    started.set()
    try:
        async with watch_positions(consumer, "ledger"):
            await worker.run(consumer, handover)
    finally:
        started.clear()
        await stop_consumer(consumer)


@contextlib.asynccontextmanager
async def background(coro: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    """Run a role's loop for the app's lifetime; a crash of the loop stops the process loudly."""
    async with running(coro, name, on_done=_report_crash):
        yield


def _report_crash(task: "asyncio.Task[None]") -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("role %s crashed", task.get_name(), exc_info=task.exception())
        raise SystemExit(f"role {task.get_name()} crashed")


def create_app(
    settings: Settings, roles: Iterable[str] = ALL_ROLES, listeners: Listeners | None = None
) -> web.Application:
    """The app of one process. With `listeners` (from `prepare`) it announces where it listens."""
    roles = check_roles(settings, roles)
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(producer_ctx)
    app.cleanup_ctx.append(redis_ctx)
    add_ops(app, roles)
    if listeners is not None:
        app[LISTENERS] = listeners
        app.cleanup_ctx.append(announce_ctx)
    if roles & {"api", "gateway"}:
        app[RULES] = ChatRules()  # one per process: the API and the gateway read the same
    if "api" in roles:
        add_api_routes(app)
        add_demo_routes(app, dev=settings.dev)
        if "gateway" not in roles:
            app.cleanup_ctx.append(rules_ctx)
    if "ledger" in roles:
        app.cleanup_ctx.append(ledger_ctx)
    if "history" in roles:
        app.cleanup_ctx.append(history_ctx)
    if "gateway" in roles:
        add_gateway(app)
        app.cleanup_ctx.append(gateway_ctx)
    seal(app)  # after the last route: every route observed, the unrouted answered
    app.on_startup.append(freeze_startup_heap)  # last: after every role has started
    return app
