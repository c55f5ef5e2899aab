"""The ledger process's own cost of a show boundary, apart from the machine's load.

`python -m tools.bench.shows_cpu` (BENCH_MYSQL_DSN: a database of its own, recreated): 1,000
shows with 1 s minutes, their clock and their batches run in this one process, in simulated
time (each pass advances it by the clock's own pause, and the batches decide at it), so a
loaded machine slows the run but not what it measures: CPU ms of this process per boundary
decided (the clock's reads, deciding, writing) and MySQL round trips per boundary. Kafka is left
out (the ticks go straight to the store, as the worker would hand them over); both sides of a
comparison leave out the same.
"""

import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
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
        return await execute(self, query, args)

    aiomysql.cursors.Cursor.execute = counted  # type: ignore[method-assign]


async def main() -> dict[str, Any]:
    batch_module.datetime = _At  # type: ignore[misc]  # decisions at the simulated time
    _count_trips()
    await migrate(DSN, recreate=True)
    db = database(DSN, 10)
    await db.connect()
    store = LedgerStore(db)

    async def apply(commands: list[Any]) -> int:
        captured = 0
        for at in range(0, len(commands), BATCH):
            result = await store.apply_batch(commands[at:at + BATCH])
            captured += sum(event.type == "hold_captured" for event in result.events)
        return captured

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
    boundaries, measuring, cpu, trips = 0, False, 0.0, 0
    while clock.monotonic() < 3 + WINDOW_S:
        if not measuring and clock.monotonic() >= 3:  # past the first boundaries
            measuring, boundaries, cpu, trips = True, 0, time.process_time(), TRIPS[0]
        ticks = await clock.due(SIMULATED[0])
        before = dict(clock.sent)
        await clock.send(ticks)
        sent: list[Command] = [t for t in ticks
                               if clock.sent.get(t.command_id) != before.get(t.command_id)]
        boundaries += await apply(sent)
        SIMULATED[0] += timedelta(seconds=clock.pause(SIMULATED[0]))
    cpu, trips = time.process_time() - cpu, TRIPS[0] - trips
    ended = await db.fetch_val("SELECT COUNT(*) FROM shows WHERE status = 'ended'")
    await db.disconnect()
    return {"shows": SHOWS, "boundaries": boundaries, "ended_early": ended,
            "cpu_ms_per_boundary": round(cpu * 1000 / max(boundaries, 1), 3),
            "round_trips_per_boundary": round(trips / max(boundaries, 1), 4),
            "loadavg_1m": round(os.getloadavg()[0], 2)}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
