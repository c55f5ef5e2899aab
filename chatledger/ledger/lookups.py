"""Look-ups that arrive together, read together: one MySQL query for the misses of a moment.

The Directory forgets a person `subject_cache_ttl_s` after reading them unless its refresh read
them again, and a refresh reads again only the people found since the one before: people back
after a pause longer than that (a crowd returning, a restarted process, a bench's idle turn) are
each looked up on their next request, ~150-400 µs of API CPU alone against a few µs for a row of
a batch (Directory.refresh). Their requests come together (a loop iteration answers what many
connections sent), so misses are queued, and while one query is in flight the misses that arrive
meanwhile wait for it and go together in the next (BatchedScript's way, platform/redis_batch.py):
a lone miss is still one query of its own, with no timer, sent on the next loop iteration.

Each caller gets its own answer (None: no such person) or the query's error, as a look-up of its
own would have given it.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")
# The found among the asked (keyed by the asked key, lowercase); the asked are distinct.
Read = Callable[[list[str]], Awaitable[Mapping[str, T]]]
Waiting = tuple[str, asyncio.Future[T | None]]


class Lookups(Generic[T]):
    """`await lookups.find(key)`: `read`'s answer for `key`, read with the keys asked meanwhile
    (at most `max_batch` per query)."""

    def __init__(self, read: Read[T], max_batch: int) -> None:
        self.read = read
        self.max_batch = max_batch
        self._pending: list[Waiting[T]] = []
        self._sender: asyncio.Task[None] | None = None

    async def find(self, key: str) -> T | None:
        future: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()
        self._pending.append((key, future))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_all())
        return await future

    async def _send_all(self) -> None:
        batch: list[Waiting[T]] = []
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                await self._answer(batch)
        finally:
            self._sender = None
            for _, future in (*batch, *self._pending):  # cancelled: nobody may wait forever
                future.cancel()
            self._pending = []

    async def _answer(self, batch: list[Waiting[T]]) -> None:
        try:
            found = await self.read(list(dict.fromkeys(key.lower() for key, _ in batch)))
        except Exception as exc:  # MySQL away, mostly: each caller raises it, as alone
            for _, future in batch:
                if not future.done():  # its caller may have given up
                    future.set_exception(exc)
            return
        for key, future in batch:
            if not future.done():
                future.set_result(found.get(key.lower()))
