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
      UPDATE ... JOIN, INSERT ... SELECT of missing rows and DELETE of strays for the others), and
      `projection_positions` records the last event id folded, all in the same transaction.
   d. COMMIT: readers (MVCC) see the old projections or the new ones, never a mix; the ledger
      resumes on projections that include every event it appended.
   Why not RENAME TABLE: it is DDL, which commits the open transaction, so it cannot be atomic
   with the balances UPDATE (accounts is referenced by users/clients and cannot be renamed
   away) nor with `projection_positions`; and it would release the stream locks mid-swap.
   A deadlock or lock-wait timeout rolls the swap back (shadows included) and it is retried:
   the replay keeps what it folded, and the shadows are re-patched from the rows first written.

The Redis history mirror (`--projection history`) needs none of this: a chat key without its
completeness marker is cold, and the next read refills it from `chat_events` (history_mirror.py
explains why that never leaves a hole, even with the projector writing meanwhile). Rebuilding it
is dropping every chat's key of this prefix, exactly the flush the mirror is built to survive.

Rows that a corruption deleted from `sponsors` come back with new ids (after later changes); the
current sponsor is read from `current_sponsors`, which is exact.
"""

import logging
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from databases import Database

from chatledger.config import Settings
from chatledger.db import retry_on_conflict
from chatledger.ledger.projection_rows import (
    balance_rows,
    current_sponsor_rows,
    donor_total_rows,
    goal_rows,
)
from chatledger.ledger.rows import EVENT_COLUMNS, placeholders, row_to_event
from chatledger.projections.history_mirror import HistoryMirror, redis_client
from chatledger.projections.replay import Replay, sponsor_rows
from chatledger.projections.source import event_chunks, last_event_id, snapshot

log = logging.getLogger(__name__)

SQL_PROJECTIONS = ("balances", "goals", "sponsors", "donor_totals")
HISTORY = "history"
ALL_PROJECTIONS = (*SQL_PROJECTIONS, HISTORY)
MAX_SWAP_ATTEMPTS = 8
WRITE_CHUNK = 1000
TAIL_STREAMS_PER_QUERY = 200

Row = tuple[Any, ...]


class Progress(Protocol):
    def start(self, total: int) -> None: ...
    def advance(self, events: int, position: int) -> None: ...
    def note(self, text: str) -> None: ...
    def close(self) -> None: ...


class NoProgress:
    def start(self, total: int) -> None:
        pass

    def advance(self, events: int, position: int) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class ShadowTable:
    """A live projection table, its shadow, and how the replay becomes the shadow's rows."""

    projection: str
    live: str
    columns: str  # the shadow's column definitions and primary key
    keys: tuple[str, ...]
    values: tuple[str, ...]
    rows: Callable[[Replay], dict[Any, Row]]  # key -> (*keys, *values), in column order
    derived: Mapping[str, str] = field(default_factory=dict)  # live column -> SQL over `s`

    @property
    def shadow(self) -> str:
        return f"rebuild_{self.live}"

    @property
    def names(self) -> tuple[str, ...]:
        return self.keys + self.values

    def apply_sql(self) -> list[str]:
        """Make the live table equal to the shadow, writing only the rows that differ."""
        on = " AND ".join(f"l.{k} = s.{k}" for k in self.keys)
        same = " AND ".join(f"l.{v} <=> s.{v}" for v in self.values)
        sets = ", ".join(f"l.{v} = s.{v}" for v in self.values)
        live_cols = ", ".join((*self.names, *self.derived))
        shadow_cols = ", ".join((*(f"s.{c}" for c in self.names), *self.derived.values()))
        return [
            f"UPDATE {self.live} l JOIN {self.shadow} s ON {on} SET {sets} WHERE NOT ({same})",
            f"INSERT INTO {self.live} ({live_cols}) SELECT {shadow_cols} FROM {self.shadow} s"
            f" LEFT JOIN {self.live} l ON {on} WHERE l.{self.keys[0]} IS NULL",
            f"DELETE l FROM {self.live} l LEFT JOIN {self.shadow} s ON {on}"
            f" WHERE s.{self.keys[0]} IS NULL",
        ]


class BalancesTable(ShadowTable):
    def apply_sql(self) -> list[str]:
        # accounts rows belong to users/clients (foreign keys): only their balance is ours.
        # An account no event ever touched holds 0.
        return [
            f"UPDATE accounts a LEFT JOIN {self.shadow} s ON s.owner_uuid = a.owner_uuid"
            " SET a.balance = COALESCE(s.balance, 0)"
            " WHERE a.balance <> COALESCE(s.balance, 0)"
        ]


_UUID = "CHAR(36) CHARACTER SET ascii NOT NULL"
_MONEY = "DECIMAL(20, 2) NOT NULL"


def _user_id(column: str) -> str:
    return f"COALESCE((SELECT id FROM users WHERE uuid = s.{column}), 0)"


def _client_id(column: str) -> str:
    return f"COALESCE((SELECT id FROM clients WHERE uuid = s.{column}), 0)"


TABLES: tuple[ShadowTable, ...] = (
    BalancesTable(
        "balances",
        "accounts",
        f"owner_uuid {_UUID} PRIMARY KEY, balance {_MONEY}",
        ("owner_uuid",),
        ("balance",),
        lambda r: {owner: (owner, b) for owner, b in balance_rows(r.state).items()},
    ),
    ShadowTable(
        "goals",
        "goals",
        f"uuid {_UUID} PRIMARY KEY, model_uuid {_UUID}, name VARCHAR(200) NOT NULL,"
        f" sum {_MONEY}, require_sum {_MONEY}, is_active BOOLEAN NOT NULL",
        ("uuid",),
        ("model_uuid", "name", "sum", "require_sum", "is_active"),
        lambda r: {
            gid: (gid, g.model_uuid, g.name, g.sum, g.require_sum, g.is_active)
            for gid, g in goal_rows(r.state).items()
        },
        {"user_id": _user_id("model_uuid")},
    ),
    ShadowTable(
        "donor_totals",
        "donor_totals",
        f"model_uuid {_UUID}, client_uuid {_UUID}, total {_MONEY},"
        " PRIMARY KEY (model_uuid, client_uuid)",
        ("model_uuid", "client_uuid"),
        ("total",),
        lambda r: {pair: (*pair, total) for pair, total in donor_total_rows(r.state).items()},
    ),
    ShadowTable(
        "sponsors",
        "current_sponsors",
        f"model_uuid {_UUID} PRIMARY KEY, client_uuid {_UUID}, client_name VARCHAR(100) NOT NULL",
        ("model_uuid",),
        ("client_uuid", "client_name"),
        lambda r: {m: (m, *sponsor) for m, sponsor in current_sponsor_rows(r.state).items()},
    ),
    ShadowTable(
        "sponsors",
        "sponsors",
        f"event_id {_UUID} PRIMARY KEY, model_uuid {_UUID}, client_uuid {_UUID}",
        ("event_id",),
        ("model_uuid", "client_uuid"),
        lambda r: {e: (e, s.model_uuid, s.client_uuid) for e, s in sponsor_rows(r).items()},
        {"user_id": _user_id("model_uuid"), "client_id": _client_id("client_uuid")},
    ),
)


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
            await _create_shadows(db, tables, written)
            before = replay.count
            try:
                changed, attempts, swap_ms = await _swap(db, tables, replay, written)
            finally:
                await _drop_shadows(db, tables)
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


async def _execute(db: Database, statements: Iterable[str]) -> None:
    async with db.connection() as connection, connection.raw_connection.cursor() as cur:
        for statement in statements:
            await cur.execute(statement)


async def _drop_shadows(db: Database, tables: Sequence[ShadowTable]) -> None:
    with warnings.catch_warnings():  # "Unknown table" notes from IF EXISTS are expected
        warnings.simplefilter("ignore")
        await _execute(db, [f"DROP TABLE IF EXISTS {table.shadow}" for table in tables])


async def _create_shadows(
    db: Database, tables: Sequence[ShadowTable], written: Mapping[str, dict[Any, Row]]
) -> None:
    await _drop_shadows(db, tables)  # a crashed run may have left them
    await _execute(db, [f"CREATE TABLE {t.shadow} ({t.columns}) ENGINE = InnoDB" for t in tables])
    async with db.connection() as connection, connection.raw_connection.cursor() as cur:
        for table in tables:
            await _upsert(cur, table, list(written[table.shadow].values()))


async def _upsert(cur: Any, table: ShadowTable, rows: list[Row]) -> None:
    names = ", ".join(table.names)
    updates = ", ".join(f"{v} = VALUES({v})" for v in table.values)
    for start in range(0, len(rows), WRITE_CHUNK):
        chunk = rows[start : start + WRITE_CHUNK]
        await cur.execute(
            f"INSERT INTO {table.shadow} ({names}) VALUES"
            f" {placeholders(len(chunk), len(table.names))} ON DUPLICATE KEY UPDATE {updates}",
            [value for row in chunk for value in row],
        )


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

    return await retry_on_conflict(attempt, what="rebuild swap", attempts=MAX_SWAP_ATTEMPTS,
                                   pause_s=0.01)


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
                await _patch_shadow(cur, table, table.rows(replay), written[table.shadow])
                changed[table.live] = 0
                for statement in table.apply_sql():
                    await cur.execute(statement)
                    changed[table.live] += max(cur.rowcount, 0)
            projections = sorted({table.projection for table in tables})
            await cur.execute(
                "INSERT INTO projection_positions (name, position)"
                f" VALUES {placeholders(len(projections), 2)}"
                " ON DUPLICATE KEY UPDATE position = VALUES(position)",
                [value for name in projections for value in (name, replay.position)],
            )
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


async def _patch_shadow(
    cur: Any, table: ShadowTable, now: Mapping[Any, Row], written: Mapping[Any, Row]
) -> None:
    """Bring a shadow from the rows first written to `now` (inside the swap transaction)."""
    await _upsert(cur, table, [row for key, row in now.items() if written.get(key) != row])
    gone = [key for key in written if key not in now]
    for start in range(0, len(gone), WRITE_CHUNK):
        chunk = gone[start : start + WRITE_CHUNK]
        keys = [key if isinstance(key, tuple) else (key,) for key in chunk]
        await cur.execute(
            f"DELETE FROM {table.shadow} WHERE ({', '.join(table.keys)})"
            f" IN ({placeholders(len(keys), len(table.keys))})",
            [value for key in keys for value in key],
        )


async def rebuild_history(settings: Settings) -> int:
    """Drop every chat's mirror key (UNLINK, in pages of SCAN): readers refill from MySQL."""
    redis = redis_client(settings)
    dropped = 0
    try:
        pattern = HistoryMirror(settings, redis).key("*")
        batch: list[bytes] = []
        async for key in redis.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                dropped += int(await redis.unlink(*batch))
                batch = []
        if batch:
            dropped += int(await redis.unlink(*batch))
    finally:
        await redis.aclose()
    return dropped
