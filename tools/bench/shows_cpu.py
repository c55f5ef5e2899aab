"""The ledger process's own cost of a show boundary, apart from the machine's load.

`python -m tools.bench.shows_cpu` (BENCH_MYSQL_DSN: a database of its own, recreated): 1,000
shows with 1 s minutes, their clock and their batches run in this one process, in simulated
time (each pass advances it by the clock's own pause, and the batches decide at it), so a
loaded machine slows the run but not what it measures: CPU ms of this process per boundary
decided (the clock's reads, deciding, writing) and MySQL round trips per boundary. Kafka is left
out (the ticks go straight to the store, as the worker would hand them over); both sides of a
comparison leave out the same.

MariaDB's side of it, apart from whatever else the server serves: everything runs on one
connection, whose session counters (`SHOW SESSION STATUS`: statements, rows written, updated,
deleted and read by key, per boundary) and whose server thread's CPU (`/proc/<its TID>`, when
the server is on this machine) are its alone.
"""

import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiomysql.cursors

import chatledger.ledger.batch as batch_module
from chatledger.domain.commands import ChangeSettings, Command, Deposit, RequestShow, ShowAction
from chatledger.domain.events import event_id_for
from chatledger.ledger.accounts import create_account
from chatledger.ledger.clock import Clock
from chatledger.ledger.store import LedgerStore
from chatledger.platform.config import Settings
from chatledger.platform.db import database, migrate

DSN = os.environ.get("BENCH_MYSQL_DSN", "mysql://root@127.0.0.1:3306/chatledger_bench_shows")
SHOWS = int(os.environ.get("SHOWS", "1000"))
WINDOW_S = float(os.environ.get("WINDOW_S", "10"))  # simulated seconds measured
BATCH = 500
SIMULATED = [datetime.now(UTC)]
TRIPS = [0]
STATEMENTS = [0]
# The session counters read per boundary (`Handler_*`: rows, as the storage engine saw them).
COUNTERS = {"Questions": "statements", "Handler_write": "rows_written",
            "Handler_update": "rows_updated", "Handler_delete": "rows_deleted",
            "Handler_read_key": "reads_by_key", "Handler_read_next": "reads_next",
            "Handler_read_rnd_next": "reads_scanned"}


class _At(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> "_At":
        return SIMULATED[0]  # type: ignore[return-value]


class _Acknowledged:
    async def send(self, topic: str, key: bytes, value: bytes) -> "asyncio.Future[None]":
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def _count_trips() -> None:
    execute = aiomysql.cursors.Cursor.execute

    async def counted(self: Any, query: str, args: Any = None) -> Any:
        TRIPS[0] += 1
        STATEMENTS[0] += query.count(";") + 1  # a trip of queued writes: several
        return await execute(self, query, args)

    aiomysql.cursors.Cursor.execute = counted  # type: ignore[method-assign]


def thread_cpu_s(tid: int) -> float:
    """CPU seconds of a thread of this machine (NaN: not readable, e.g. a remote server)."""
    try:
        fields = Path(f"/proc/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


async def server_side(db: Any) -> dict[str, float]:
    """This session's counters, and its server thread's CPU seconds."""
    async with db.connection() as connection, connection.raw_connection.cursor() as cur:
        await cur.execute("SHOW SESSION STATUS WHERE Variable_name IN"
                          f" ({', '.join(repr(name) for name in COUNTERS)})")
        found = {COUNTERS[name]: float(value) for name, value in await cur.fetchall()}
        await cur.execute("SELECT TID FROM information_schema.PROCESSLIST"
                          " WHERE ID = CONNECTION_ID()")
        tid = (await cur.fetchone())[0]
    found["server_cpu_s"] = thread_cpu_s(tid)  # a read of /proc: no wait worth a thread
    return found


async def main() -> dict[str, Any]:
    batch_module.datetime = _At  # type: ignore[misc]  # decisions at the simulated time
    _count_trips()
    await migrate(DSN, recreate=True)
    db = database(DSN, 1)  # one session: its counters and its server thread are the run's
    await db.connect()
    store = LedgerStore(db)

    async def apply(commands: list[Any]) -> tuple[int, int]:
        """The boundaries decided (holds captured), and the events appended."""
        captured = made = 0
        for at in range(0, len(commands), BATCH):
            result = await store.apply_batch(commands[at:at + BATCH])
            captured += sum(event.type == "hold_captured" for event in result.events)
            made += len(result.events)
        return captured, made

    models = [await create_account(db, "model", f"M{n}") for n in range(SHOWS)]
    clients = [await create_account(db, "client", f"C{n}") for n in range(SHOWS)]
    await apply([Deposit(str(uuid.uuid4()), c.uuid, Decimal("100000.00")) for c in clients])
    await apply([ChangeSettings(str(uuid.uuid4()), m.uuid, m.as_actor(), None, Decimal(1),
                                Decimal(1)) for m in models])
    asks = [RequestShow(str(uuid.uuid4()), m.uuid, c.as_actor(), 1.0)
            for m, c in zip(models, clients, strict=True)]
    SIMULATED[0] = start = datetime.now(UTC)
    await apply(asks)
    await apply([ShowAction(str(uuid.uuid4()), m.uuid, m.as_actor(), "accept",
                            event_id_for(a.command_id, 0))
                 for m, a in zip(models, asks, strict=True)])
    clock = Clock(Settings(mysql_dsn=DSN, show_minute_s=1.0), db, _Acknowledged(), None)
    if hasattr(clock, "listen"):
        clock.listen(store)
    clock.monotonic = lambda: (SIMULATED[0] - start).total_seconds()
    boundaries, events, measuring, cpu, trips, statements = 0, 0, False, 0.0, 0, 0
    server: dict[str, float] = {}
    while clock.monotonic() < 3 + WINDOW_S:
        if not measuring and clock.monotonic() >= 3:  # past the first boundaries
            server = await server_side(db)
            measuring, boundaries, events = True, 0, 0
            cpu, trips, statements = time.process_time(), TRIPS[0], STATEMENTS[0]
        ticks = await clock.due(SIMULATED[0])
        before = dict(clock.sent)
        await clock.send(ticks)
        sent: list[Command] = [t for t in ticks
                               if clock.sent.get(t.command_id) != before.get(t.command_id)]
        captured, made = await apply(sent)
        boundaries, events = boundaries + captured, events + made
        SIMULATED[0] += timedelta(seconds=clock.pause(SIMULATED[0]))
    cpu, trips = time.process_time() - cpu, TRIPS[0] - trips
    statements = STATEMENTS[0] - statements
    after = await server_side(db)
    ended = await db.fetch_val("SELECT COUNT(*) FROM shows WHERE status = 'ended'")
    await db.disconnect()
    per = max(boundaries, 1)
    return {"shows": SHOWS, "boundaries": boundaries, "ended_early": ended,
            "cpu_ms_per_boundary": round(cpu * 1000 / per, 3),
            "server_cpu_ms_per_boundary": round(
                (after["server_cpu_s"] - server["server_cpu_s"]) * 1000 / per, 3),
            "round_trips_per_boundary": round(trips / per, 4),
            "statements_per_boundary": round(statements / per, 4),
            "events_per_boundary": round(events / per, 3),
            **{f"{name}_per_boundary": round((after[name] - server[name]) / per, 3)
               for name in COUNTERS.values()},
            "loadavg_1m": round(os.getloadavg()[0], 2)}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
