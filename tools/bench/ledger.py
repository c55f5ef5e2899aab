"""Ledger throughput: commands straight onto a fresh commands topic, timed until applied.

Each measurement runs its own `serve --roles ledger` process under a fresh prefix (so its topic
holds only these commands and its consumer group starts clean), waits until a warm-up command is
applied (the group has joined), then produces N commands and polls `applied_commands`.
Baseline 2 re-inserts the very rows the ledger wrote into a scratch copy of `chat_events` with a
plain `executemany` per batch: MariaDB's own write limit, with no decisions and no Kafka.
"""

import asyncio
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiomysql
from databases import Database

from chatledger.config import Settings
from chatledger.db import _server_params
from chatledger.ledger.commands import PostMessage
from tests.helpers.commands import produce
from tests.helpers.service import free_port, spawn, stop, wait_http

POLL_S = 0.02


async def count(db: Database, table: str) -> int:
    return int(await db.fetch_val(f"SELECT COUNT(*) FROM {table}"))


async def wait_count(db: Database, table: str, target: int, timeout_s: float) -> float:
    """Monotonic time at which `table` first holds `target` rows (raises past the timeout)."""
    deadline = time.monotonic() + timeout_s
    while (now := time.monotonic()) < deadline:
        if await count(db, table) >= target:
            return now
        await asyncio.sleep(POLL_S)
    raise TimeoutError(f"{table} did not reach {target} rows in {timeout_s}s")


async def measure_ledger(
    db: Database, base_env: dict[str, str], prefix: str, batch_size: int,
    warmup: PostMessage, commands: Sequence[PostMessage], log_dir: Path, cpu: Any,
) -> dict[str, Any]:
    env = {**base_env, "CHATLEDGER_PREFIX": prefix,
           "CHATLEDGER_LEDGER_BATCH_SIZE": str(batch_size),
           "CHATLEDGER_HTTP_PORT": str(free_port())}
    settings = Settings(mysql_dsn=env["CHATLEDGER_MYSQL_DSN"], prefix=prefix,
                        jwt_secret=env["CHATLEDGER_JWT_SECRET"])
    process = spawn("ledger", env, log_dir / f"ledger-{prefix}log")
    try:
        wait_http(f"http://127.0.0.1:{env['CHATLEDGER_HTTP_PORT']}", process)
        applied0 = await count(db, "applied_commands")
        await produce(settings, [warmup])
        await wait_count(db, "applied_commands", applied0 + 1, 60)
        events0 = await count(db, "chat_events")
        # The backlog is produced while the ledger is frozen (SIGSTOP, well inside its 6 s
        # session timeout), so the timing is the ledger's alone, not the producer's.
        process.send_signal(signal.SIGSTOP)
        try:
            produce_started = time.monotonic()
            await produce(settings, commands)
            produced = time.monotonic()
        finally:
            process.send_signal(signal.SIGCONT)
        meter = cpu(process.pid)
        meter.start()
        started = time.monotonic()
        done = await wait_count(db, "applied_commands", applied0 + 1 + len(commands), 300)
        elapsed = done - started
        rows = await count(db, "chat_events") - events0
        usage = meter.stop(elapsed)
    finally:
        stop(process)
    return {
        "batch_size": batch_size,
        "commands": len(commands),
        "rows": rows,
        "seconds": round(elapsed, 2),
        "produce_s": round(produced - produce_started, 2),
        "commands_per_s": round(len(commands) / elapsed, 1),
        "rows_per_s": round(rows / elapsed, 1),
        "cpu_pct": usage,
    }


async def raw_executemany(dsn: str, batch_size: int, limit: int) -> dict[str, Any]:
    """Insert the last `limit` chat_events rows again (scratch table, fresh ids) batch by batch."""
    params, name = _server_params(dsn)
    conn = await aiomysql.connect(**{**params, "autocommit": False}, db=name)
    try:
        async with conn.cursor() as cur:
            await cur.execute("CREATE TABLE IF NOT EXISTS chat_events_scratch LIKE chat_events")
            await cur.execute("TRUNCATE TABLE chat_events_scratch")
            await cur.execute(
                "SELECT event_id, command_id, stream, seq, type, actor_uuid, actor_role,"
                " actor_name, is_public, amount, payload, created_at"
                " FROM chat_events ORDER BY id DESC LIMIT %s", (limit,))
            rows = list(await cur.fetchall())
            await conn.commit()
            insert = (
                "INSERT INTO chat_events_scratch (event_id, command_id, stream, seq, type,"
                " actor_uuid, actor_role, actor_name, is_public, amount, payload, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            )
            started = time.monotonic()
            for at in range(0, len(rows), batch_size):
                await cur.executemany(insert, rows[at:at + batch_size])
                await conn.commit()
            elapsed = time.monotonic() - started
            await cur.execute("DROP TABLE chat_events_scratch")
    finally:
        conn.close()
    return {"rows": len(rows), "batch_size": batch_size, "seconds": round(elapsed, 2),
            "rows_per_s": round(len(rows) / elapsed, 1)}


def bench_env(dsn: str, prefix: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHATLEDGER_")}
    return {**env, "CHATLEDGER_MYSQL_DSN": dsn, "CHATLEDGER_PREFIX": prefix,
            "CHATLEDGER_JWT_SECRET": os.environ.get("CHATLEDGER_JWT_SECRET",
                                                    "bench-secret-0123456789abcdef0123456789")}
