"""Sockets that arrive together register together: one INSERT and one version read per batch.

A reconnect storm (a gateway restarted, thousands of clients back within a second) would
otherwise cost each socket two MySQL round trips of its own on a pool of a few connections.
The batch is whatever arrived during one turn of the event loop; each socket still gets its
own chat's latest seq, read AFTER its `connections` row is written and after it joined its room
(the order the no-gap recovery needs: see socket.py).
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from databases import Database

from chatledger.ledger import connections
from chatledger.ledger.event_rows import placeholders


@dataclass(frozen=True, slots=True)
class Arrival:
    row: connections.Row
    chat: str
    latest: "asyncio.Future[int]"


class Arrivals:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._waiting: list[Arrival] = []
        self._flushes: set[asyncio.Task[None]] = set()

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
            async with self.db.connection() as conn, conn.raw_connection.cursor() as cur:
                await connections.upsert(cur, [arrival.row for arrival in batch])
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
