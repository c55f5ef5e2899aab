"""The ledger's cost per command of the bench's usual mix, apart from the machine's load.

`python -m tools.bench.ledger_cpu` (BENCH_MYSQL_DSN: a database of its own, recreated): the
bench's population (10 chats, 1,000 viewers, 200 donors, an open goal per chat) and its ledger
mix (messages, 25% tips of 1.00), decided by an in-process `LedgerStore` in batches of 500 on
ONE connection (Kafka left out, as the worker hands a batch over). After WARMUP batches, BATCHES
are measured: this process's CPU per command (deciding, building SQL, the driver), and the CPU
of the MariaDB thread serving that connection (`/proc/<its TID>`, other clients' work on the
shared server not counted), with the session's counters per batch (`shows_cpu.server_side`).

PROFILE=1 also lists each statement's server time per batch (`SHOW PROFILES`, wall time of the
statement inside the server, grouped by its first words), to see where MariaDB's time goes.
"""

import asyncio
import json
import os
import re
import time
from collections import defaultdict
from typing import Any

from chatledger.ledger.store import LedgerStore
from chatledger.platform.config import Settings
from chatledger.platform.db import database, migrate
from tools.bench.population import ledger_commands, open_goals, populate
from tools.bench.shows_cpu import COUNTERS, server_side

DSN = os.environ.get("BENCH_MYSQL_DSN", "mysql://root@127.0.0.1:3306/chatledger_bench_ledger")
BATCH = int(os.environ.get("BATCH", "500"))
WARMUP = int(os.environ.get("WARMUP", "4"))
BATCHES = int(os.environ.get("BATCHES", "30"))
PROFILE = os.environ.get("PROFILE") == "1"


def _label(sql: str) -> str:
    """A statement's kind: its first words, values and lists left out."""
    words = re.sub(r"\s+", " ", sql.strip())
    words = re.sub(r"\(.*", "(", words)
    return words[:70]


async def _profiles(db: Any, into: dict[str, list[float]], seen: list[int]) -> None:
    """The statements profiled since the last call (`seen`: the last query id counted)."""
    async with db.connection() as connection, connection.raw_connection.cursor() as cur:
        await cur.execute("SHOW PROFILES")
        for query_id, duration, sql in await cur.fetchall():
            if query_id > seen[0] and not sql.startswith("SHOW PROFILES"):
                into[_label(sql)].append(float(duration))
            seen[0] = max(seen[0], query_id)


async def main() -> dict[str, Any]:
    await migrate(DSN, recreate=True)
    db = database(DSN, 1)  # one session: its counters and its server thread are the run's
    await db.connect()
    settings = Settings(mysql_dsn=DSN, jwt_secret="bench-secret-0123456789abcdef0123456789")
    people = await populate(db, settings, 10, 1000, 200)
    await open_goals(db, people)
    store = LedgerStore(db)
    commands = ledger_commands(people, BATCH * (WARMUP + BATCHES), None, 0.25, seed=7)
    batches = [commands[at:at + BATCH] for at in range(0, len(commands), BATCH)]
    for batch in batches[:WARMUP]:
        await store.apply_batch(batch)
    statements: dict[str, list[float]] = defaultdict(list)
    seen = [0]
    if PROFILE:
        async with db.connection() as connection, connection.raw_connection.cursor() as cur:
            await cur.execute("SET profiling_history_size = 100; SET profiling = 1")
            while await cur.nextset():
                pass
    before = await server_side(db)
    cpu, wall = time.process_time(), time.monotonic()
    events = 0
    for batch in batches[WARMUP:]:
        events += len((await store.apply_batch(batch)).events)
        if PROFILE:
            await _profiles(db, statements, seen)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    after = await server_side(db)
    await db.disconnect()
    n = BATCH * BATCHES
    result: dict[str, Any] = {
        "commands": n, "events": events,
        "ledger_cpu_us_per_command": round(cpu * 1e6 / n, 1),
        "server_cpu_us_per_command": round(
            (after["server_cpu_s"] - before["server_cpu_s"]) * 1e6 / n, 1),
        "wall_us_per_command": round(wall * 1e6 / n, 1),
        **{f"{name}_per_batch": round((after[name] - before[name]) / BATCHES, 1)
           for name in COUNTERS.values()},
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    if PROFILE:
        result["server_ms_per_batch"] = {
            label: round(sum(times) * 1000 / BATCHES, 3)
            for label, times in sorted(statements.items(), key=lambda kv: -sum(kv[1]))}
    return result


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main()), indent=1))
