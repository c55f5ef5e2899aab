"""MySQL: the connection pool and the schema migrations in `sql/`."""

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import aiomysql
from databases import Database

log = logging.getLogger(__name__)
T = TypeVar("T")
SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
_MIGRATION_NAME = re.compile(r"^(\d+)_[\w-]+\.sql$")


@contextlib.asynccontextmanager
async def snapshot(db: Database) -> AsyncIterator[Any]:
    """A cursor inside a read-only consistent snapshot, rolled back (nothing to keep) at exit."""
    async with db.connection() as connection, connection.raw_connection.cursor() as cur:
        await cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        await cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        try:
            yield cur
        finally:
            await cur.execute("ROLLBACK")


def database(dsn: str, pool_size: int = 10) -> Database:
    return Database(dsn, min_size=1, max_size=pool_size, charset="utf8mb4")


def _server_params(dsn: str) -> tuple[dict[str, object], str]:
    parts = urlsplit(dsn)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise ValueError(f"database name {name!r} in the DSN is not a plain identifier")
    params: dict[str, object] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": parts.username or "root",
        "password": parts.password or "",
        "charset": "utf8mb4",
        "autocommit": True,
    }
    return params, name


def migrations(directory: Path = SQL_DIR) -> list[tuple[int, Path]]:
    found = []
    for path in directory.iterdir():
        match = _MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def split_statements(script: str) -> list[str]:
    """Plain SQL files: statements end with `;` at the end of a line; `--` lines are comments."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [
        stmt.strip() for stmt in re.split(r";\s*$", "\n".join(lines), flags=re.M) if stmt.strip()
    ]


async def migrate(dsn: str, *, recreate: bool = False) -> list[int]:
    """Create the database if needed and apply the migrations not yet recorded. Idempotent."""
    params, name = _server_params(dsn)
    conn = await aiomysql.connect(**params)
    applied_now = []
    try:
        async with conn.cursor() as cur:
            if recreate:
                await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            await cur.execute(
                f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
            await cur.execute(f"USE `{name}`")
            await cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INT UNSIGNED NOT NULL PRIMARY KEY,"
                " applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))"
            )
            await cur.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in await cur.fetchall()}
            for version, path in migrations():
                if version in done:
                    continue
                # DDL commits implicitly in MySQL; a half-applied file is re-run with care.
                for statement in split_statements(path.read_text()):
                    await cur.execute(statement)
                await cur.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                applied_now.append(version)
    finally:
        conn.close()
    return applied_now


def redact(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}:{parts.port or 3306}"
        return urlunsplit(parts._replace(netloc=netloc))
    return dsn
