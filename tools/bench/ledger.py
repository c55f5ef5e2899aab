"""Ledger throughput: commands straight onto a fresh commands topic, timed until applied.

Each measurement runs its own `serve --roles ledger` process under a fresh prefix (so its topic
holds only these commands and its consumer group starts clean), waits until a warm-up command is
applied (the group has joined), then produces N commands and polls `applied_commands`.
The raw-SQL peer writes again what the ledger wrote for the same commands (event rows,
applied_commands rows, stream versions, balances, goals, donor totals, sponsors) into scratch
copies of those tables, batch by batch: MariaDB's own cost of the same writes.
Readiness of the ledger-only process is its effect (a warm-up command applied), not HTTP.
"""

import asyncio
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomysql
from databases import Database

from chatledger.domain import events as ev
from chatledger.domain.commands import Command, stream_of
from chatledger.domain.events import Event
from chatledger.ledger.event_rows import EVENT_COLUMNS, event_to_row, placeholders, row_to_event
from chatledger.platform.config import Settings
from chatledger.platform.db import _server_params
from tests.helpers.commands import produce
from tests.helpers.service import free_port, spawn, stop

POLL_S = 0.02
polls = [0]  # COUNT(*) statements this bench sent: left out of the ledger's Questions


async def count(db: Database, table: str) -> int:
    polls[0] += 1
    return int(await db.fetch_val(f"SELECT COUNT(*) FROM {table}"))


async def questions(db: Database) -> int:
    """The server's statements so far (every client's: other load on the server counts too)."""
    row = await db.fetch_one("SHOW GLOBAL STATUS LIKE 'Questions'")
    return int(row[1]) if row is not None else 0


async def wait_count(db: Database, table: str, target: int, timeout_s: float,
                     process: Any = None) -> float:
    """Monotonic time at which `table` first holds `target` rows (raises past the timeout, or as
    soon as `process`, the one expected to write them, has exited)."""
    deadline = time.monotonic() + timeout_s
    while (now := time.monotonic()) < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        if await count(db, table) >= target:
            return now
        await asyncio.sleep(POLL_S)
    raise TimeoutError(f"{table} did not reach {target} rows in {timeout_s}s")


def last_of_each_chat(commands: Sequence[Command]) -> list[str]:
    """The last command of each chat: once it is applied, so is every command of its chat
    before it (a chat's commands share a partition, which the ledger applies in offset order,
    batch after batch, each committed before the next)."""
    return sorted({stream_of(command): command.command_id for command in commands}.values())


async def wait_applied(db: Database, command_ids: Sequence[str], timeout_s: float,
                       process: Any) -> float:
    """Monotonic time at which every one of `command_ids` is in `applied_commands` (raises past
    the timeout, or as soon as `process`, the one expected to apply them, has exited).

    Primary-key lookups of a few ids: a `COUNT(*)` of the table every POLL_S is a scan of all
    its rows (~80 ns each), which after the HTTP section's commands took MariaDB tens of ms per
    poll, and a third of a core from the ledger it was timing."""
    deadline = time.monotonic() + timeout_s
    sql = (f"SELECT COUNT(*) FROM applied_commands WHERE command_id IN"
           f" ({', '.join(['%s'] * len(command_ids))})")
    async with db.connection() as connection, connection.raw_connection.cursor() as cur:
        while (now := time.monotonic()) < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args} exited with {process.returncode}")
            polls[0] += 1
            await cur.execute(sql, list(command_ids))
            if (await cur.fetchone())[0] >= len(command_ids):
                return now
            await asyncio.sleep(POLL_S)
    raise TimeoutError(f"{len(command_ids)} commands not applied in {timeout_s}s")


async def measure_ledger(
    db: Database, base_env: dict[str, str], prefix: str, batch_size: int,
    warmup: Command, commands: Sequence[Command], log_dir: Path, cpu: Any, spy: Any,
) -> dict[str, Any]:
    env = {**base_env, "CHATLEDGER_PREFIX": prefix,
           "CHATLEDGER_LEDGER_BATCH_SIZE": str(batch_size),
           "CHATLEDGER_HTTP_PORT": str(free_port())}
    settings = Settings(mysql_dsn=env["CHATLEDGER_MYSQL_DSN"], prefix=prefix,
                        jwt_secret=env["CHATLEDGER_JWT_SECRET"])
    process = spawn("ledger", env, log_dir / f"ledger-{prefix}log")
    try:
        applied0 = await count(db, "applied_commands")
        await produce(settings, [warmup])
        await wait_applied(db, [warmup.command_id], 60, process)
        events0 = await count(db, "chat_events")
        last_id = int(await db.fetch_val("SELECT COALESCE(MAX(id), 0) FROM chat_events"))
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
        profile = spy(process.pid)
        meter.start()
        asked, polled = await questions(db), polls[0]
        started = time.monotonic()
        done = await wait_applied(db, last_of_each_chat(commands), 300, process)
        elapsed = done - started
        applied = await count(db, "applied_commands") - applied0 - 1
        if applied != len(commands):  # the poll's premise (each chat's order) did not hold
            raise RuntimeError(f"{applied} of {len(commands)} commands applied when timed")
        asked = await questions(db) - asked - (polls[0] - polled) - 1
        rows = await count(db, "chat_events") - events0
        usage = meter.stop(elapsed)
        ledger_cpu_s = meter.seconds.get("ledger", 0.0)
        profiled = profile.result()
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
        "ledger_cpu_us_per_command": round(1e6 * ledger_cpu_s / len(commands), 1),
        # Statements per batch (batches full: the backlog is all there when the ledger wakes),
        # counted by the server for every client (this bench's polling left out).
        "questions_per_batch": round(asked * batch_size / len(commands), 1),
        "after_id": last_id,
        "profile": profiled,
    }


PEER_TABLES = ("chat_events", "applied_commands", "streams", "accounts", "goals",
               "donor_totals", "sponsors", "current_sponsors")


@dataclass
class PeerBatch:
    """The writes the ledger made for one batch of commands, as plain SQL parameters."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    applied: list[tuple[str, str]] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    balances: dict[str, Any] = field(default_factory=dict)
    goals: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    donor_totals: dict[tuple[str, str], Any] = field(default_factory=dict)
    sponsors: list[tuple[Any, ...]] = field(default_factory=list)
    current_sponsors: dict[str, tuple[str, str]] = field(default_factory=dict)


def plan_batches(commands: Sequence[Command], events: Sequence[Event], batch_size: int,
                 state: dict[str, Any]) -> list[PeerBatch]:
    """Group the ledger's events by its batches of commands and list each batch's writes: event
    rows, applied_commands rows, stream versions, and for donations the balances, goals, donor
    totals and sponsors, the same rows the ledger's store writes (values from `state`: the
    tables as the ledger left them, since a value's size, not its history, is what costs)."""
    by_command: dict[str, list[Event]] = {}
    for event in events:
        by_command.setdefault(event.command_id or "", []).append(event)
    batches = []
    for at in range(0, len(commands), batch_size):
        batch = PeerBatch()
        for command in commands[at:at + batch_size]:
            batch.applied.append((command.command_id, "applied"))
            batch.versions.setdefault(stream_of(command), 0)
            for event in by_command.get(command.command_id, []):
                batch.events.append(event_to_row(event))
                batch.versions[event.stream] = max(batch.versions[event.stream], event.seq)
                if event.type == ev.DONATE and event.actor is not None:
                    client, model = event.actor.uuid, event.stream
                    batch.balances[client] = state["balances"].get(client, 0)
                    batch.balances[model] = state["balances"].get(model, 0)
                    for goal in state["goals"].get(model, []):
                        batch.goals[goal[0]] = goal
                    batch.donor_totals[(model, client)] = state["donor_totals"].get(
                        (model, client), 0)
                elif event.type == ev.CHANGE_SPONSOR:
                    sponsor = event.payload["sponsor"]
                    batch.sponsors.append((0, 0, event.stream, sponsor["uuid"], event.event_id))
                    batch.current_sponsors[event.stream] = (sponsor["uuid"], sponsor["name"])
        batches.append(batch)
    return batches


async def _peer_state(cur: Any) -> dict[str, Any]:
    await cur.execute("SELECT owner_uuid, balance FROM accounts")
    balances = dict(await cur.fetchall())
    await cur.execute("SELECT uuid, user_id, model_uuid, name, sum, require_sum, is_active"
                      " FROM goals WHERE is_active")
    goals: dict[str, list[tuple[Any, ...]]] = {}
    for row in await cur.fetchall():
        goals.setdefault(row[2], []).append(tuple(row))
    await cur.execute("SELECT model_uuid, client_uuid, total FROM donor_totals")
    totals = {(model, client): total for model, client, total in await cur.fetchall()}
    return {"balances": balances, "goals": goals, "donor_totals": totals}


async def _write_peer_batch(cur: Any, batch: PeerBatch) -> None:
    if batch.events:
        await cur.executemany(
            "INSERT INTO chat_events_peer (event_id, command_id, stream, seq, type, actor_uuid,"
            " actor_role, actor_name, is_public, amount, payload, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", batch.events)
    await cur.executemany("INSERT INTO applied_commands_peer (command_id, outcome)"
                          " VALUES (%s, %s)", batch.applied)
    await cur.execute(
        f"INSERT INTO streams_peer (stream, version) VALUES {placeholders(len(batch.versions), 2)}"
        " ON DUPLICATE KEY UPDATE version = VALUES(version)",
        [value for item in batch.versions.items() for value in item])
    if batch.balances:
        cases = " ".join(["WHEN %s THEN %s"] * len(batch.balances))
        await cur.execute(
            f"UPDATE accounts_peer SET balance = CASE owner_uuid {cases} END"
            f" WHERE owner_uuid IN ({placeholders(len(batch.balances))})",
            [v for item in batch.balances.items() for v in item] + list(batch.balances))
    if batch.goals:
        await cur.execute(
            "INSERT INTO goals_peer (uuid, user_id, model_uuid, name, sum, require_sum,"
            f" is_active) VALUES {placeholders(len(batch.goals), 7)}"
            " ON DUPLICATE KEY UPDATE sum = VALUES(sum), is_active = VALUES(is_active)",
            [v for goal in batch.goals.values() for v in goal])
    if batch.donor_totals:
        await cur.execute(
            "INSERT INTO donor_totals_peer (model_uuid, client_uuid, total)"
            f" VALUES {placeholders(len(batch.donor_totals), 3)}"
            " ON DUPLICATE KEY UPDATE total = VALUES(total)",
            [v for pair, total in sorted(batch.donor_totals.items()) for v in (*pair, total)])
    if batch.sponsors:
        await cur.executemany(
            "INSERT INTO sponsors_peer (user_id, client_id, model_uuid, client_uuid, event_id)"
            " VALUES (%s, %s, %s, %s, %s)", batch.sponsors)
        await cur.execute(
            "INSERT INTO current_sponsors_peer (model_uuid, client_uuid, client_name)"
            f" VALUES {placeholders(len(batch.current_sponsors), 3)}"
            " ON DUPLICATE KEY UPDATE client_uuid = VALUES(client_uuid),"
            " client_name = VALUES(client_name)",
            [v for model, (client, name) in batch.current_sponsors.items()
             for v in (model, client, name)])


async def raw_same_writes(dsn: str, commands: Sequence[Command], after_id: int,
                          batch_size: int) -> dict[str, Any]:
    """Baseline: the rows the ledger wrote for `commands` (its events after `after_id`), written
    again into scratch copies of its tables, batch by batch, one transaction each, in plain SQL:
    MariaDB's own cost of the ledger's writes, with no reads, no decisions and no Kafka."""
    params, name = _server_params(dsn)
    conn = await aiomysql.connect(**{**params, "autocommit": False}, db=name)
    try:
        async with conn.cursor() as cur:
            for table in PEER_TABLES:
                await cur.execute(f"DROP TABLE IF EXISTS {table}_peer")
                await cur.execute(f"CREATE TABLE {table}_peer LIKE {table}")
            await cur.execute("INSERT INTO accounts_peer SELECT * FROM accounts")
            await cur.execute("INSERT INTO goals_peer SELECT * FROM goals")
            await cur.execute(f"SELECT {EVENT_COLUMNS} FROM chat_events WHERE id > %s"
                              " ORDER BY id", (after_id,))
            events = [row_to_event(row) for row in await cur.fetchall()]
            batches = plan_batches(commands, events, batch_size, await _peer_state(cur))
            await conn.commit()
            started = time.monotonic()
            for batch in batches:
                await _write_peer_batch(cur, batch)
                await conn.commit()
            elapsed = time.monotonic() - started
            for table in PEER_TABLES:
                await cur.execute(f"DROP TABLE {table}_peer")
    finally:
        conn.close()
    return {"commands": len(commands), "rows": len(events), "batch_size": batch_size,
            "seconds": round(elapsed, 2), "commands_per_s": round(len(commands) / elapsed, 1),
            "rows_per_s": round(len(events) / elapsed, 1)}


def bench_env(dsn: str, prefix: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHATLEDGER_")}
    return {**env, "CHATLEDGER_MYSQL_DSN": dsn, "CHATLEDGER_PREFIX": prefix,
            "CHATLEDGER_JWT_SECRET": os.environ.get("CHATLEDGER_JWT_SECRET",
                                                    "bench-secret-0123456789abcdef0123456789")}
