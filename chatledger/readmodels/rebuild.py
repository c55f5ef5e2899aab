"""`chatledger rebuild`: recompute the projections from `chat_events` alone, while the service runs.

The fold is the ledger's own (`Replay` over `state.evolve`); what this module adds is how the
result replaces the live tables without readers ever seeing half of it and without losing an
event the ledger appends meanwhile.

1. Fold: one consistent snapshot (see `source.py`), events paged by id. Nothing is locked; the
   ledger runs at full speed. The fold ends knowing, per stream, the last seq it folded.
2. Shadows: the rows the fold implies go into shadow tables (`rebuild_<table>`), still unlocked.
3. Swap, ONE transaction (REPEATABLE READ):
   a. `SELECT ... FROM streams FOR UPDATE` over the whole table. Every ledger batch begins by
      locking its streams' rows (creating a missing one with INSERT IGNORE), so this waits for
      the batches in flight and then holds every later one at its first statement; the scan's
      next-key locks also cover the gaps, so a batch for a brand-new stream waits too. This is
      the pause, and it costs the ledger nothing per batch: it is the lock it takes anyway.
   b. The tail: a stream whose version is above the folded seq has events appended after the
      snapshot; they are read (locking reads see the latest commits) and folded. Per-stream
      versions are exact where "events with id > N" is not: ids are given at insert, so an
      event with a smaller id can commit after one with a larger id.
   c. The shadow rows the tail changed are rewritten, then each shadow is applied to its live
      table with DML that touches only differing rows (UPDATE accounts ... JOIN for balances;
      UPDATE ... JOIN, INSERT ... SELECT of missing rows and DELETE of strays for the others), all
      in the same transaction.
   d. COMMIT: readers (MVCC) see the old projections or the new ones, never a mix; the ledger
      resumes on projections that include every event it appended.
   Why not RENAME TABLE: it is DDL, which commits the open transaction, so it cannot be atomic
   with the balances UPDATE (accounts is referenced by users/clients and cannot be renamed
   away); and it would release the stream locks mid-swap.
   A deadlock or lock-wait timeout rolls the swap back (shadows included) and it is retried:
   the replay keeps what it folded, and the shadows are re-patched from the rows first written.

The Redis history mirror (`--projection history`) needs none of this: `history_rebuild.py`.
How a shadow is filled and applied is `shadow_tables.py`.

Rows that a corruption deleted from `sponsors` come back with new ids (after later changes); the
current sponsor is read from `current_sponsors`, which is exact.
"""

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from databases import Database

from chatledger.ledger.event_rows import EVENT_COLUMNS, row_to_event
from chatledger.platform.db import snapshot
from chatledger.platform.progress import NoProgress, Progress
from chatledger.platform.retrying import on_conflict
from chatledger.readmodels.replay import Replay
from chatledger.readmodels.shadow_tables import (
    SQL_PROJECTIONS,
    TABLES,
    Row,
    ShadowTable,
    create_shadows,
    drop_shadows,
    patch_shadow,
)
from chatledger.readmodels.snapshot import event_chunks, last_event_id

log = logging.getLogger(__name__)

HISTORY = "history"
ALL_PROJECTIONS = (*SQL_PROJECTIONS, HISTORY)
MAX_SWAP_ATTEMPTS = 8
TAIL_STREAMS_PER_QUERY = 200


@dataclass
class RebuildResult:
    projections: list[str]
    events: int  # folded in all
    tail_events: int  # of which appended while the rebuild ran, folded under the swap's locks
    position: int  # the last chat_events.id folded
    rows_changed: dict[str, int]  # per live table: rows the swap wrote or deleted
    swap_attempts: int
    swap_ms: float
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return {
            "projections": self.projections,
            "events": self.events,
            "tail_events": self.tail_events,
            "position": self.position,
            "rows_changed": self.rows_changed,
            "swap_attempts": self.swap_attempts,
            "swap_ms": round(self.swap_ms, 1),
            "seconds": round(self.seconds, 3),
        }


class RebuildBusy(RuntimeError):
    """Another rebuild of the same database holds the shadow tables."""


async def rebuild(
    db: Database, projections: Sequence[str] = SQL_PROJECTIONS, progress: Progress | None = None
) -> RebuildResult:
    """Rebuild the named MySQL projections (all by default) from `chat_events`."""
    unknown = set(projections) - set(SQL_PROJECTIONS)
    if unknown:
        raise ValueError(f"unknown projections: {sorted(unknown)}")
    progress = progress or NoProgress()
    tables = [table for table in TABLES if table.projection in projections]
    started = time.perf_counter()
    async with db.connection() as guard:
        # The lock is held by this connection for the whole run (released when it closes too).
        name = await guard.fetch_val("SELECT CONCAT('chatledger.rebuild.', DATABASE())")
        if not await guard.fetch_val("SELECT GET_LOCK(:name, 0)", {"name": name}):
            raise RebuildBusy(f"another rebuild holds {name}")
        try:
            replay = await _fold(db, progress)
            written = {table.shadow: table.rows(replay) for table in tables}
            progress.note(f"folded {replay.count} events; filling shadow tables")
            await create_shadows(db, tables, written)
            before = replay.count
            try:
                changed, attempts, swap_ms = await _swap(db, tables, replay, written)
            finally:
                await drop_shadows(db, tables)
        finally:
            await guard.fetch_val("SELECT RELEASE_LOCK(:name)", {"name": name})
    progress.close()
    return RebuildResult(
        projections=[p for p in SQL_PROJECTIONS if p in projections],
        events=replay.count,
        tail_events=replay.count - before,
        position=replay.position,
        rows_changed=changed,
        swap_attempts=attempts,
        swap_ms=swap_ms,
        seconds=time.perf_counter() - started,
    )


async def _fold(db: Database, progress: Progress) -> Replay:
    replay = Replay()
    async with snapshot(db) as cur:
        progress.start(await last_event_id(cur))
        async for chunk in event_chunks(cur):
            for position, event in chunk:
                replay.fold(event, position)
            progress.advance(len(chunk), chunk[-1][0])
    return replay


async def _swap(
    db: Database,
    tables: Sequence[ShadowTable],
    replay: Replay,
    written: Mapping[str, dict[Any, Row]],
) -> tuple[dict[str, int], int, float]:
    attempts = 0

    async def attempt() -> tuple[dict[str, int], int, float]:
        nonlocal attempts
        attempts += 1
        started = time.perf_counter()
        changed = await _swap_once(db, tables, replay, written)
        return changed, attempts, (time.perf_counter() - started) * 1000

    return await on_conflict(attempt, what="rebuild swap", attempts=MAX_SWAP_ATTEMPTS)


async def _swap_once(
    db: Database,
    tables: Sequence[ShadowTable],
    replay: Replay,
    written: Mapping[str, dict[Any, Row]],
) -> dict[str, int]:
    async with db.connection() as connection, connection.raw_connection.cursor() as cur:
        await cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        await cur.execute("START TRANSACTION")
        try:
            await cur.execute("SELECT stream, version FROM streams ORDER BY stream FOR UPDATE")
            versions = {stream: int(version) for stream, version in await cur.fetchall()}
            await _fold_tail(cur, replay, versions)
            changed: dict[str, int] = {}
            for table in tables:
                await patch_shadow(cur, table, table.rows(replay), written[table.shadow])
                changed[table.live] = 0
                for statement in table.apply_sql():
                    await cur.execute(statement)
                    changed[table.live] += max(cur.rowcount, 0)
            await cur.execute("COMMIT")
        except BaseException:
            await cur.execute("ROLLBACK")
            raise
    return changed


async def _fold_tail(cur: Any, replay: Replay, versions: Mapping[str, int]) -> None:
    """Fold the events appended after the snapshot: every stream is locked, none can grow."""
    folded = replay.state.versions
    behind = sorted(s for s, version in versions.items() if version > folded.get(s, 0))
    rows: list[Row] = []
    for start in range(0, len(behind), TAIL_STREAMS_PER_QUERY):
        streams = behind[start : start + TAIL_STREAMS_PER_QUERY]
        where = " OR ".join(["(stream = %s AND seq > %s)"] * len(streams))
        await cur.execute(
            f"SELECT {EVENT_COLUMNS} FROM chat_events WHERE {where} LOCK IN SHARE MODE",
            [value for s in streams for value in (s, folded.get(s, 0))],
        )
        rows.extend(await cur.fetchall())
    for row in sorted(rows, key=lambda row: int(row[0])):
        replay.fold(row_to_event(row), int(row[0]))


