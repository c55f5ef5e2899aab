"""Shows billed beside the ledger's usual load: what the clock's ticks cost the ledger.

One `serve --roles ledger` process under a prefix of its own, minutes shortened to 1 s
(`CHATLEDGER_SHOW_MINUTE_S`), so 1,000 shows make 1,000 boundaries a second, each a `Tick`
command that captures a minute's hold and places the next (DESIGN §10). In order, in the same
process:
1. the usual ledger mix (`population.ledger_commands`: messages and tips) is offered in slices,
   two always in flight (`backlog`), and timed until applied: without shows (after one such
   run unmeasured: a process's first is slower);
2. 1,000 shows are started (a chat, a client with money, rates, a request, an accept each; the
   clients kept present in their chats, as a gateway would) and billed for a steady window: the
   lateness of every boundary decided in it is its capture event's created_at (the ledger's
   decision time) less its due time (started_at + n minutes);
3. the same mix of commands (new ids) is timed again while the shows bill: with shows.
The ratio of 3 to 1 is the target; both timings are of one process in one run. A backlog is
applied once the last command of each chat is: a chat's commands share a partition, in order.
"""

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from databases import Database

from chatledger.bus.command_codec import encode_command
from chatledger.domain.commands import ChangeSettings, Command, Deposit, RequestShow, ShowAction
from chatledger.domain.events import event_id_for
from chatledger.ledger.accounts import Person, create_account
from chatledger.ledger.event_rows import placeholders
from chatledger.ledger.store import LedgerStore
from chatledger.platform.config import Settings
from chatledger.platform.redis_client import redis_client
from chatledger.readmodels.presence_board import PresenceBoard
from tests.helpers.commands import produce
from tests.helpers.service import free_port, spawn, stop
from tools.bench.ledger import last_of_each_chat
from tools.bench.population import Population, ledger_commands
from tools.bench.stats import percentile

MINUTE_S = 1.0
RATE = Decimal("1.00")
POLL_S = 0.01
SLICE = 1000  # commands offered at once
IN_FLIGHT = 2  # slices offered and not yet applied
CHUNK = 1000  # ids per IN (...) when polling
PRESENCE_EVERY_S = 2.0  # as a gateway refreshes its viewers (their entries last 10 s)


async def _count(db: Database, ids: list[str]) -> int:
    async with db.connection() as connection, connection.raw_connection.cursor() as cur:
        await cur.execute("SELECT COUNT(*) FROM applied_commands"
                          f" WHERE command_id IN ({placeholders(len(ids))})", ids)
        row = await cur.fetchone()
    return int(row[0])


async def all_applied(db: Database, ids: Sequence[str], process: Any,
                      timeout_s: float = 300) -> float:
    """Monotonic time at which every one of `ids` is applied (or refused: decided)."""
    deadline = time.monotonic() + timeout_s
    while (now := time.monotonic()) < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        counted = 0
        for at in range(0, len(ids), CHUNK):
            counted += await _count(db, list(ids[at:at + CHUNK]))
        if counted >= len(ids):
            return now
        await asyncio.sleep(POLL_S)
    raise TimeoutError(f"{len(ids)} commands not all decided in {timeout_s}s")


class ShowsBench:
    def __init__(self, db: Database, env: dict[str, str], settings: Settings, log_dir: Path,
                 cpu: Callable[[int], Any]) -> None:
        self.db, self.env, self.settings, self.log_dir, self.cpu = db, env, settings, log_dir, cpu
        self.process: Any = None
        self.presence: asyncio.Task[None] | None = None

    async def backlog(self, commands: Sequence[Command]) -> dict[str, Any]:
        """Time the ledger applying `commands`, offered in slices with two always in flight:
        the ledger is never idle, and the ticks it sends itself meanwhile queue behind at most
        two slices, so they are applied among these commands, not after them all (a backlog
        produced at once would put every tick behind it)."""
        slices = [commands[at:at + SLICE] for at in range(0, len(commands), SLICE)]
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap,
                                    acks="all", enable_idempotence=False, linger_ms=5)
        await producer.start()
        meter = self.cpu(self.process.pid)
        meter.start()
        started = time.monotonic()
        try:
            waiting: list[list[str]] = []
            for part in slices:
                acks = [await producer.send(self.settings.commands_topic,
                                            key=command.chat.encode(),  # type: ignore[union-attr]
                                            value=encode_command(command)) for command in part]
                await asyncio.gather(*acks)
                waiting.append(last_of_each_chat(part))
                if len(waiting) == IN_FLIGHT:
                    await all_applied(self.db, waiting.pop(0), self.process)
            for ids in waiting:
                done = await all_applied(self.db, ids, self.process)
        finally:
            await producer.stop()
        elapsed = done - started
        return {"commands": len(commands), "seconds": round(elapsed, 2),
                "commands_per_s": round(len(commands) / elapsed, 1),
                "cpu_pct": meter.stop(elapsed),
                "loadavg_1m": round(os.getloadavg()[0], 2)}  # the machine's noise, noted

    async def keep_present(self, clients: dict[str, set[str]]) -> None:
        """Each show's client has a socket in its chat, as a gateway would say (or the clock
        would end every show 10 s in, for a disconnect)."""
        redis = redis_client(self.settings)
        board = PresenceBoard(self.settings, redis)
        try:
            while True:
                await board.tick(clients)
                await asyncio.sleep(PRESENCE_EVERY_S)
        finally:
            await redis.aclose()

    async def start_shows(self, count: int) -> tuple[list[str], list[str]]:
        """`count` chats each with a running show; their chats and show ids."""
        gate = asyncio.Semaphore(8)

        async def account(kind: str, name: str) -> Person:
            async with gate:
                return await create_account(self.db, kind, name)  # type: ignore[arg-type]

        models = await asyncio.gather(*(account("model", f"ShowModel{i}") for i in range(count)))
        clients = await asyncio.gather(*(account("client", f"ShowClient{i}")
                                         for i in range(count)))
        await LedgerStore(self.db).apply_batch(
            [Deposit(str(uuid.uuid4()), client.uuid, Decimal("100000.00")) for client in clients])
        self.presence = asyncio.create_task(self.keep_present(
            {model.uuid: {client.uuid} for model, client in zip(models, clients, strict=True)}))
        rates = [ChangeSettings(str(uuid.uuid4()), m.uuid, m.as_actor(), None, RATE, RATE)
                 for m in models]
        asks = [RequestShow(str(uuid.uuid4()), m.uuid, c.as_actor(), MINUTE_S)
                for m, c in zip(models, clients, strict=True)]
        shows = [event_id_for(ask.command_id, 0) for ask in asks]
        accepts = [ShowAction(str(uuid.uuid4()), m.uuid, m.as_actor(), "accept", show)
                   for m, show in zip(models, shows, strict=True)]
        for step in (rates, asks, accepts):
            await produce(self.settings, step)
            await all_applied(self.db, [c.command_id for c in step], self.process)
        return [m.uuid for m in models], shows

    async def lateness(self, chats: list[str], shows: list[str],
                       windows: dict[str, tuple[datetime, datetime]]) -> dict[str, Any]:
        """Per window: the boundaries decided in it, and how late (s) past their due time."""
        started: dict[str, datetime] = {}
        captured: list[tuple[str, datetime]] = []
        async with self.db.connection() as connection, connection.raw_connection.cursor() as cur:
            for at in range(0, len(shows), CHUNK):
                part = shows[at:at + CHUNK]
                await cur.execute("SELECT show_id, started_at FROM shows"
                                  f" WHERE show_id IN ({placeholders(len(part))})", part)
                started.update((show, moment) for show, moment in await cur.fetchall())
            for at in range(0, len(chats), CHUNK):
                part = chats[at:at + CHUNK]
                await cur.execute(
                    "SELECT JSON_VALUE(payload, '$.show'), created_at FROM chat_events"
                    f" WHERE stream IN ({placeholders(len(part))}) AND type = 'hold_captured'"
                    " ORDER BY stream, seq", part)
                captured += [(show, moment) for show, moment in await cur.fetchall()]
            await cur.execute(
                f"SELECT COUNT(*) FROM shows WHERE show_id IN ({placeholders(len(shows))})"
                " AND status = 'ended'", shows)
            ended = int((await cur.fetchone())[0])
        minute: dict[str, int] = {}
        late: dict[str, list[float]] = {name: [] for name in windows}
        for show, moment in captured:
            minute[show] = minute.get(show, 0) + 1
            due = started[show] + timedelta(seconds=MINUTE_S * minute[show])
            for name, (since, until) in windows.items():
                if since <= moment.replace(tzinfo=UTC) < until:
                    late[name].append((moment - due).total_seconds())
        out: dict[str, Any] = {"ended_early": ended}
        for name, values in late.items():
            span = (windows[name][1] - windows[name][0]).total_seconds()
            out[name] = {"boundaries": len(values),
                         "per_s": round(len(values) / span, 1) if span else None,
                         "p50_s": _round(percentile(values, 50)),
                         "p99_s": _round(percentile(values, 99)),
                         "max_s": _round(max(values, default=None))}
        return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def now() -> datetime:
    return datetime.now(UTC)


async def measure_shows(db: Database, base_env: dict[str, str], prefix: str, people: Population,
                        args: Any, log_dir: Path, cpu: Callable[[int], Any]) -> dict[str, Any]:
    env = {**base_env, "CHATLEDGER_PREFIX": prefix,
           "CHATLEDGER_LEDGER_BATCH_SIZE": str(args.batch_size),
           "CHATLEDGER_SHOW_MINUTE_S": str(MINUTE_S), "CHATLEDGER_HTTP_PORT": str(free_port())}
    settings = Settings(mysql_dsn=env["CHATLEDGER_MYSQL_DSN"], prefix=prefix,
                        jwt_secret=env["CHATLEDGER_JWT_SECRET"])
    bench = ShowsBench(db, env, settings, log_dir, cpu)
    warmup, *cold = ledger_commands(people, args.ledger_commands + 1, None,
                                    args.donation_share, seed=101)
    usual, again = (ledger_commands(people, args.ledger_commands, None, args.donation_share,
                                    seed=seed) for seed in (202, 303))
    bench.process = spawn("ledger", env, log_dir / f"ledger-{prefix}log")
    try:
        await produce(settings, [warmup])  # type: ignore[list-item]
        await all_applied(db, [warmup.command_id], bench.process, 120)  # type: ignore[union-attr]
        await bench.backlog(cold)  # unmeasured: the first backlog of a process is slower
        without = await bench.backlog(usual)
        chats, shows = await bench.start_shows(args.shows)
        steady_from = now()
        await asyncio.sleep(args.shows_steady_s)  # the shows bill: the window measured
        steady = (steady_from, busy_from := now())
        with_shows = await bench.backlog(again)
        busy = (busy_from, now())
        late = await bench.lateness(chats, shows, {"steady": steady, "under_backlog": busy})
    finally:
        if bench.presence is not None:
            bench.presence.cancel()
        stop(bench.process)
    return {"shows": args.shows, "minute_s": MINUTE_S, "batch_size": args.batch_size,
            "without": without, "with": with_shows,
            "ratio": round(with_shows["commands_per_s"] / without["commands_per_s"], 3),
            "lateness": late}


def summary(data: dict[str, Any]) -> str:
    steady = data["lateness"]["steady"]
    return (f"{data['without']['commands_per_s']:g} commands/s without, "
            f"{data['with']['commands_per_s']:g} with {data['shows']} shows (x{data['ratio']:g});"
            f" {steady['per_s']} boundaries/s, late p99 {steady['p99_s']} s")


def table(results: dict[str, Any]) -> list[str]:
    data = results.get("shows") or {}
    if not data or "without" not in data:
        return []
    late = data.get("lateness") or {}
    rows = [f"Shows: {data['shows']} billed together, {data['minute_s']:g} s minutes, beside"
            f" the usual ledger mix; {late.get('ended_early', 0)} ended before the end"
            " (none should).", "",
            "| ledger, usual mix | commands | commands/s | CPU % | load average (1 min) |",
            "|---|---|---|---|---|"]
    for name in ("without", "with"):
        run = data[name]
        rows.append(f"| {name} {data['shows']} shows | {run['commands']}"
                    f" | {run['commands_per_s']:g} | {run.get('cpu_pct')}"
                    f" | {run.get('loadavg_1m')} |")
    rows += ["", "| boundaries decided | count | per s | late p50 / p99 / max s |",
             "|---|---|---|---|"]
    for name in ("steady", "under_backlog"):
        part = late.get(name) or {}
        rows.append(f"| {name.replace('_', ' ')} | {part.get('boundaries')} | {part.get('per_s')}"
                    f" | {part.get('p50_s')} / {part.get('p99_s')} / {part.get('max_s')} |")
    return rows
