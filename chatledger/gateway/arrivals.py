"""Sockets that arrive together register together: one INSERT and one version read per batch.

A reconnect storm (a gateway restarted, thousands of clients back within a second) would
otherwise cost each socket two MySQL round trips of its own on a pool of a few connections.
The batch is whatever arrived during one turn of the event loop; each socket still gets its
own chat's latest seq, read AFTER its `connections` row is written and after it joined its room
(the order the no-gap recovery needs: see connection.py).

The rows are the gateway's, under its id and a lease (ledger/connections.py): before its first
row the gateway takes the lease, then renews it every RENEW_S and sweeps the rows of gateways
whose lease ran out (LEASE_S without a renewal: killed, or cut off from MySQL that long). A
gateway that lost its lease logs it: the rows of its open sockets may be gone until they
reconnect. A gateway sweeps once it has had a socket (the lease starts with the first one).
"""

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from databases import Database

from chatledger.ledger import connections
from chatledger.ledger.event_rows import placeholders

log = logging.getLogger(__name__)

LEASE_S = 20  # a gateway that renewed nothing this long is taken for dead, its rows swept
RENEW_S = 4  # so five renewals in a row must fail before a live gateway loses its lease


@dataclass(frozen=True, slots=True)
class Arrival:
    row: connections.Row
    chat: str
    latest: "asyncio.Future[int]"


class Arrivals:
    def __init__(self, db: Database, gateway: str | None = None) -> None:
        self.db = db
        self.gateway = gateway or str(uuid.uuid4())
        self._waiting: list[Arrival] = []
        self._flushes: set[asyncio.Task[None]] = set()
        self._leasing = asyncio.Lock()
        self._keeper: asyncio.Task[None] | None = None

    async def register(self, role: str, entity: str, connection: str, chat: str) -> int:
        """Write the socket's `connections` row; return its chat's latest seq."""
        loop = asyncio.get_running_loop()
        arrival = Arrival(connections.row(role, entity, connection, chat), chat,
                          loop.create_future())
        if not self._waiting:
            loop.call_soon(self._flush_waiting)
        self._waiting.append(arrival)
        return await arrival.latest

    def _flush_waiting(self) -> None:
        batch, self._waiting = self._waiting, []
        task = asyncio.create_task(self._flush(batch))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self, batch: Sequence[Arrival]) -> None:
        try:
            chats = sorted({arrival.chat for arrival in batch})
            await self._leased()
            async with self.db.connection() as conn, conn.raw_connection.cursor() as cur:
                await connections.register(cur, [arrival.row for arrival in batch], self.gateway)
                await cur.execute(
                    "SELECT stream, version FROM streams"
                    f" WHERE stream IN ({placeholders(len(chats))})",
                    chats,
                )
                versions = {stream: int(version) for stream, version in await cur.fetchall()}
        except Exception as exc:
            for arrival in batch:
                if not arrival.latest.done():
                    arrival.latest.set_exception(exc)
            return
        for arrival in batch:
            if not arrival.latest.done():
                arrival.latest.set_result(versions.get(arrival.chat, 0))

    async def _leased(self) -> None:
        """Take the lease before the first row, then keep it (a failure fails this batch and
        the next batch tries again)."""
        async with self._leasing:
            if self._keeper is None:
                await connections.renew_lease(self.db, self.gateway, LEASE_S)
                self._keeper = asyncio.create_task(self._keep_lease(), name="gateway-lease")

    async def _keep_lease(self) -> None:
        while True:
            await asyncio.sleep(RENEW_S)
            try:
                if not await connections.renew_lease(self.db, self.gateway, LEASE_S):
                    log.warning("gateway %s had lost its lease: rows of its open sockets may"
                                " have been swept", self.gateway)
                swept = await connections.sweep(self.db)
            except Exception as exc:  # MySQL away or a lock timeout: try again next round
                log.warning("gateway lease: renewal or sweep failed: %r", exc)
                continue
            if swept:
                log.info("swept connections of dead gateways", extra={"rows": swept})
