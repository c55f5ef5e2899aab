"""Reads that tolerate a replica's lag (DESIGN §12): the replica when it is healthy, else the
primary. Which reads come here is the callers' choice (leaderboards, history's MySQL fallback,
the rules seed, `audit`, `GET /chat/me`); whatever decides money or writes reads the primary.

Guarantees:
- without CHATLEDGER_MYSQL_READ_DSN every read goes to the primary, unchanged;
- a replica read takes at most `timeout_s` (1 s): past it, or on any error, the same read runs on
  the primary, and for `cooldown_s` every read goes straight to the primary (the breaker) before
  the replica is tried again. A stopped replica costs one read at most 1 s, then nothing;
- a replica that `watch` (every second) finds more than `max_lag_s` behind, or not replicating,
  or not answering, serves nothing until it is back;
- `fresh=True`: the replica answers only once it has applied everything the primary had committed
  when the read began (MASTER_GTID_WAIT on the primary's @@gtid_binlog_pos, at most half of
  `timeout_s`), else the primary does: such a read sees every write acknowledged before it.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import aiomysql
from databases import Database

from chatledger.platform.db import _server_params, database
from chatledger.platform.metrics import REPLICA_FALLBACKS

log = logging.getLogger(__name__)
T = TypeVar("T")
Read = Callable[[Database], Awaitable[T]]


class ReplicaReads:
    def __init__(
        self,
        primary: Database,
        replica: Database | None = None,
        *,
        timeout_s: float = 1.0,
        cooldown_s: float = 5.0,
        max_lag_s: float = 5.0,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.timeout_s = timeout_s
        self.cooldown_s = cooldown_s
        self.max_lag_s = max_lag_s
        self._open_until = 0.0  # the breaker: the replica serves nothing before this moment
        self._problem: str | None = None  # why the replica is not serving (None: it is)
        self.lag_s: float | None = None

    @property
    def serving(self) -> bool:
        return self.replica is not None and time.monotonic() >= self._open_until

    async def read(
        self, fn: Read[T], *, fresh: bool = False, timeout_s: float | None = 1.0
    ) -> T:
        """fn(the replica) when it may serve, else fn(the primary). `timeout_s` bounds fn on the
        replica; None: a long read (audit), not timed once the replica answered a ping."""
        if self.replica is None or not self.serving:
            return await fn(self.primary)
        try:
            return await self._on_replica(self.replica, fn, fresh, timeout_s)
        except _Behind:
            REPLICA_FALLBACKS.labels(reason="behind").inc()
        except Exception as exc:  # any failure of the replica: the primary answers instead
            self.trip(f"replica read failed: {exc!r}")
            REPLICA_FALLBACKS.labels(reason="failed").inc()
        return await fn(self.primary)

    async def _on_replica(
        self, replica: Database, fn: Read[T], fresh: bool, timeout_s: float | None
    ) -> T:
        # The replica must show it is alive (and caught up, when asked) within 1 s, whatever
        # the read's own bound: a stopped replica never costs more than that.
        async with asyncio.timeout(self.timeout_s):
            if fresh:
                await self._catch_up(replica)
            elif timeout_s is None:
                await replica.fetch_val("SELECT 1")
        async with asyncio.timeout(timeout_s):
            return await fn(replica)

    async def _catch_up(self, replica: Database) -> None:
        position = await self.primary.fetch_val("SELECT @@gtid_binlog_pos")
        waited = await replica.fetch_val(
            "SELECT MASTER_GTID_WAIT(:position, :wait)",
            {"position": position or "", "wait": self.timeout_s / 2},
        )
        if waited != 0:
            raise _Behind

    def trip(self, problem: str) -> None:
        if self.serving:
            log.warning("reads go to the primary for %gs: %s", self.cooldown_s, problem)
        self._open_until = time.monotonic() + self.cooldown_s
        self._problem = problem

    async def watch(self, interval_s: float = 1.0) -> None:
        """Measure the replica's lag every `interval_s`, tripping the breaker when it is too far
        behind, not replicating or not answering (the process's life long)."""
        while self.replica is not None:
            try:
                async with asyncio.timeout(self.timeout_s):
                    status = await self.replica.fetch_one("SHOW SLAVE STATUS")
                self._judge(dict(status._mapping) if status is not None else None)
            except Exception as exc:
                self.trip(f"replica does not answer: {exc!r}")
            await asyncio.sleep(interval_s)

    def _judge(self, status: dict[str, Any] | None) -> None:
        if status is None:  # not a replica of anything: it cannot fall behind (a test's own)
            self.lag_s, self._problem = None, None
            return
        lag = status.get("Seconds_Behind_Master")
        self.lag_s = None if lag is None else float(lag)
        if self.lag_s is None:
            self.trip(f"replication stopped: {status.get('Last_Error') or 'not running'}")
        elif self.lag_s > self.max_lag_s:
            self.trip(f"replica {self.lag_s:g}s behind (more than {self.max_lag_s:g}s)")
        elif self.serving:
            self._problem = None

    def report(self) -> dict[str, Any]:
        """For /readyz: where lag-tolerant reads go now, and why not to the replica."""
        if self.replica is None:
            return {"configured": False}
        serving = self.serving
        return {
            "configured": True,
            "serving": "replica" if serving else "primary",
            "lag_s": self.lag_s,
            **({} if serving or not self._problem else {"problem": self._problem}),
        }


@contextlib.asynccontextmanager
async def lag_tolerant(
    read_dsn: str | None, primary: Database, pool_size: int
) -> AsyncIterator[ReplicaReads]:
    """The reads of a process or a command: the replica's pool is open while they run. A
    replica that cannot be reached now leaves the primary to serve (`serve` refused it at start
    already; `audit` just says so)."""
    replica = None
    if read_dsn is not None:
        replica = database(read_dsn, pool_size)
        try:
            await replica.connect()
        except Exception as exc:  # any failure: the primary serves every read
            log.warning("replica unavailable, reading the primary: %r", exc)
            replica = None
    try:
        yield ReplicaReads(primary, replica)
    finally:
        if replica is not None:
            await replica.disconnect()


class _Behind(Exception):
    """The replica has not applied what the primary had committed: not a failure of it."""


def replica_problem(dsn: str | None, timeout_s: float = 3.0) -> str | None:
    """Why the read DSN cannot serve (None: it answers, or none is set). Asked once at start."""
    if dsn is None:
        return None
    return asyncio.run(_replica_problem(dsn, timeout_s))


async def _replica_problem(dsn: str, timeout_s: float) -> str | None:
    try:
        params, name = _server_params(dsn)
        async with asyncio.timeout(timeout_s):
            conn = await aiomysql.connect(**params, db=name, connect_timeout=timeout_s)
            try:
                async with conn.cursor() as cur:
                    await cur.execute("SELECT 1 FROM chat_events LIMIT 1")
            finally:
                conn.close()
    except Exception as exc:  # any failure: the setting is refused with the reason
        return f"CHATLEDGER_MYSQL_READ_DSN: does not answer ({exc!r})"
    return None
