"""The tables `rebuild` replaces, their shadow tables, and the SQL that moves rows between them.

A `ShadowTable` says how the replay's rows (`ledger/projection_rows.py`) fill a shadow table and
how the shadow is applied to its live table touching only the rows that differ. `rebuild.py`
decides when (the fold, the swap and its locks); this module only says how.
"""

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass, field
from typing import Any

from databases import Database

from chatledger.ledger.event_rows import placeholders
from chatledger.ledger.menu_rows import menu_rows
from chatledger.ledger.projection_rows import (
    DeletionRow,
    RefundRow,
    balance_rows,
    ban_rows,
    current_sponsor_rows,
    deletion_rows,
    donor_day_rows,
    donor_total_rows,
    goal_rows,
    mute_rows,
    refund_rows,
    setting_rows,
)
from chatledger.readmodels import extras_audit
from chatledger.readmodels.extras_audit import EXTRAS_PROJECTIONS, EXTRAS_SHADOW_SPECS
from chatledger.readmodels.replay import Replay, sponsor_rows
from chatledger.readmodels.shadow_columns import MONEY, UUID
from chatledger.readmodels.show_audit import SHOW_PROJECTIONS, SHOW_SHADOW_SPECS, shadow_rows

SQL_PROJECTIONS = (
    "balances", "goals", "sponsors", "donor_totals", "donor_days", "chat_settings", "chat_mutes",
    "chat_bans", "refunds", "deleted_messages", "chat_menus", *SHOW_PROJECTIONS,
    *EXTRAS_PROJECTIONS,
)
WRITE_CHUNK = 1000

Row = tuple[Any, ...]


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
        live_cols = ", ".join((*self.names, *self.derived))
        shadow_cols = ", ".join((*(f"s.{c}" for c in self.names), *self.derived.values()))
        update = []
        if self.values:  # a table of keys only (chat_bans) has nothing to update in place
            same = " AND ".join(f"l.{v} <=> s.{v}" for v in self.values)
            sets = ", ".join(f"l.{v} = s.{v}" for v in self.values)
            update.append(
                f"UPDATE {self.live} l JOIN {self.shadow} s ON {on} SET {sets} WHERE NOT ({same})"
            )
        return [
            *update,
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


def _user_id(column: str) -> str:
    return f"COALESCE((SELECT id FROM users WHERE uuid = s.{column}), 0)"


def _client_id(column: str) -> str:
    return f"COALESCE((SELECT id FROM clients WHERE uuid = s.{column}), 0)"


def _model_rows(rows: Mapping[str, RefundRow | DeletionRow]) -> dict[Any, Row]:
    """A row marking an event as refunded or deleted: (its id, model_uuid, the later event)."""
    return {key: (key, *astuple(row)) for key, row in rows.items()}


TABLES: tuple[ShadowTable, ...] = (
    BalancesTable(
        "balances",
        "accounts",
        f"owner_uuid {UUID} PRIMARY KEY, balance {MONEY}",
        ("owner_uuid",),
        ("balance",),
        lambda r: {owner: (owner, b) for owner, b in balance_rows(r.state).items()},
    ),
    ShadowTable(
        "goals",
        "goals",
        f"uuid {UUID} PRIMARY KEY, model_uuid {UUID}, name VARCHAR(200) NOT NULL,"
        f" sum {MONEY}, require_sum {MONEY}, is_active BOOLEAN NOT NULL,"
        " is_queued BOOLEAN NOT NULL, queue_seq BIGINT UNSIGNED NULL",
        ("uuid",),
        ("model_uuid", "name", "sum", "require_sum", "is_active", "is_queued", "queue_seq"),
        lambda r: {gid: (gid, *astuple(g)) for gid, g in goal_rows(r.state).items()},
        {"user_id": _user_id("model_uuid")},
    ),
    ShadowTable(
        "donor_totals",
        "donor_totals",
        f"model_uuid {UUID}, client_uuid {UUID}, total {MONEY},"
        " PRIMARY KEY (model_uuid, client_uuid)",
        ("model_uuid", "client_uuid"),
        ("total",),
        lambda r: {pair: (*pair, total) for pair, total in donor_total_rows(r.state).items()},
    ),
    ShadowTable(
        "sponsors",
        "current_sponsors",
        f"model_uuid {UUID} PRIMARY KEY, client_uuid {UUID}, client_name VARCHAR(100) NOT NULL",
        ("model_uuid",),
        ("client_uuid", "client_name"),
        lambda r: {m: (m, *sponsor) for m, sponsor in current_sponsor_rows(r.state).items()},
    ),
    ShadowTable(
        "sponsors",
        "sponsors",
        f"event_id {UUID} PRIMARY KEY, model_uuid {UUID}, client_uuid {UUID}",
        ("event_id",),
        ("model_uuid", "client_uuid"),
        lambda r: {e: (e, s.model_uuid, s.client_uuid) for e, s in sponsor_rows(r).items()},
        {"user_id": _user_id("model_uuid"), "client_id": _client_id("client_uuid")},
    ),
    ShadowTable(
        "donor_days",
        "donor_days",
        f"model_uuid {UUID}, day DATE NOT NULL, client_uuid {UUID}, total {MONEY},"
        " PRIMARY KEY (model_uuid, day, client_uuid)",
        ("model_uuid", "day", "client_uuid"),
        ("total",),
        lambda r: {key: (*key, total) for key, total in donor_day_rows(r.state).items()},
    ),
    ShadowTable(
        "chat_settings",
        "chat_settings",
        f"model_uuid {UUID} PRIMARY KEY, min_donation {MONEY}",
        ("model_uuid",),
        ("min_donation",),
        lambda r: {m: (m, minimum) for m, minimum in setting_rows(r.state).items()},
    ),
    ShadowTable(
        "chat_mutes",
        "chat_mutes",
        f"model_uuid {UUID}, client_uuid {UUID}, muted_until DATETIME(6) NOT NULL,"
        " PRIMARY KEY (model_uuid, client_uuid)",
        ("model_uuid", "client_uuid"),
        ("muted_until",),
        lambda r: {pair: (*pair, until) for pair, until in mute_rows(r.state).items()},
    ),
    ShadowTable(
        "chat_bans",
        "chat_bans",
        f"model_uuid {UUID}, client_uuid {UUID}, PRIMARY KEY (model_uuid, client_uuid)",
        ("model_uuid", "client_uuid"),
        (),
        lambda r: {pair: pair for pair in ban_rows(r.state)},
    ),
    ShadowTable(
        "refunds",
        "refunds",
        f"donation_id {UUID} PRIMARY KEY, model_uuid {UUID}, refund_id {UUID}",
        ("donation_id",),
        ("model_uuid", "refund_id"),
        lambda r: _model_rows(refund_rows(r.state)),
    ),
    ShadowTable(
        "deleted_messages",
        "deleted_messages",
        f"message_id {UUID} PRIMARY KEY, model_uuid {UUID}, deletion_id {UUID}",
        ("message_id",),
        ("model_uuid", "deletion_id"),
        lambda r: _model_rows(deletion_rows(r.state)),
    ),
    ShadowTable(
        "chat_menus",
        "chat_menus",
        f"model_uuid {UUID} PRIMARY KEY, version INT UNSIGNED NOT NULL,"
        " items TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL",
        ("model_uuid",),
        ("version", "items"),
        lambda r: {m: (m, row.version, row.items) for m, row in menu_rows(r.state).items()},
    ),
    *(
        ShadowTable(projection, table, columns, (key,), values,
                    lambda r, table=table: shadow_rows(table, r.state))  # type: ignore[misc]
        for projection, table, columns, key, values in SHOW_SHADOW_SPECS
    ),
    *(
        ShadowTable(projection, table, columns, (key,), values,
                    lambda r, table=table: extras_audit.shadow_rows(table, r.state))  # type: ignore[misc]
        for projection, table, columns, key, values in EXTRAS_SHADOW_SPECS
    ),
)


async def execute(db: Database, statements: Iterable[str]) -> None:
    async with db.connection() as connection, connection.raw_connection.cursor() as cur:
        for statement in statements:
            await cur.execute(statement)


async def drop_shadows(db: Database, tables: Sequence[ShadowTable]) -> None:
    with warnings.catch_warnings():  # "Unknown table" notes from IF EXISTS are expected
        warnings.simplefilter("ignore")
        await execute(db, [f"DROP TABLE IF EXISTS {table.shadow}" for table in tables])


async def create_shadows(
    db: Database, tables: Sequence[ShadowTable], written: Mapping[str, dict[Any, Row]]
) -> None:
    await drop_shadows(db, tables)  # a crashed run may have left them
    await execute(db, [f"CREATE TABLE {t.shadow} ({t.columns}) ENGINE = InnoDB" for t in tables])
    async with db.connection() as connection, connection.raw_connection.cursor() as cur:
        for table in tables:
            await upsert(cur, table, list(written[table.shadow].values()))


async def upsert(cur: Any, table: ShadowTable, rows: list[Row]) -> None:
    names = ", ".join(table.names)
    updates = ", ".join(f"{v} = VALUES({v})" for v in table.values)
    # A row of keys only is there or not: inserting it again changes nothing.
    insert, on_duplicate = (
        ("INSERT", f" ON DUPLICATE KEY UPDATE {updates}") if updates else ("INSERT IGNORE", "")
    )
    for start in range(0, len(rows), WRITE_CHUNK):
        chunk = rows[start : start + WRITE_CHUNK]
        await cur.execute(
            f"{insert} INTO {table.shadow} ({names}) VALUES"
            f" {placeholders(len(chunk), len(table.names))}{on_duplicate}",
            [value for row in chunk for value in row],
        )


async def patch_shadow(
    cur: Any, table: ShadowTable, now: Mapping[Any, Row], written: Mapping[Any, Row]
) -> None:
    """Bring a shadow from the rows first written to `now` (inside the swap transaction)."""
    await upsert(cur, table, [row for key, row in now.items() if written.get(key) != row])
    gone = [key for key in written if key not in now]
    for start in range(0, len(gone), WRITE_CHUNK):
        chunk = gone[start : start + WRITE_CHUNK]
        keys = [key if isinstance(key, tuple) else (key,) for key in chunk]
        await cur.execute(
            f"DELETE FROM {table.shadow} WHERE ({', '.join(table.keys)})"
            f" IN ({placeholders(len(keys), len(table.keys))})",
            [value for key in keys for value in key],
        )
