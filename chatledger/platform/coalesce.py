"""Calls that arrive while one round trip is in flight go together in the next.

The shape of every batched client here (a Redis script, the Directory's MySQL look-ups): calls
are queued, one task sends them, and the calls that arrive while it waits go together in its next
round trip. A lone call is sent on the next loop iteration with no timer, so nothing waits for
company; under load one round trip serves many.

Guarantees:
- each call gets its own reply, or its own error: a reply that is an exception is raised to that
  call alone, and a round trip that fails (or takes longer than `timeout_s`) raises its error to
  every call of that round, each as if it had been sent alone;
- a call whose caller gave up (its future done) is skipped when the replies come;
- the sender cancelled (the loop closing) cancels every call still waiting: nobody waits forever.
"""

import asyncio
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

Q = TypeVar("Q")
R = TypeVar("R")
Waiting = tuple[Q, asyncio.Future[R]]


class Coalescing(Generic[Q, R]):
    """`await self.ask(question)`: its reply from `_replies`, sent with the questions asked
    meanwhile (at most `max_batch` per round trip; None: all of them)."""

    def __init__(self, timeout_s: float | None = None, max_batch: int | None = None) -> None:
        self.timeout_s = timeout_s
        self.max_batch = max_batch
        self._pending: list[Waiting[Q, R]] = []
        self._sender: asyncio.Task[None] | None = None

    async def _replies(self, questions: list[Q]) -> Sequence[Any]:
        """One reply (or exception) per question, in order: one round trip."""
        raise NotImplementedError

    async def ask(self, question: Q) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((question, future))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_all())
        return await future

    async def _send_all(self) -> None:
        batch: list[Waiting[Q, R]] = []
        try:
            while self._pending:
                batch = self._pending[:self.max_batch]
                del self._pending[:len(batch)]
                try:
                    async with asyncio.timeout(self.timeout_s):
                        replies = await self._replies([question for question, _ in batch])
                except Exception as exc:  # a lost connection, mostly: every call gets to know
                    replies = [exc] * len(batch)
                _answer(batch, replies)
        finally:
            self._sender = None
            for _, future in (*batch, *self._pending):  # cancelled: nobody may wait forever
                future.cancel()
            self._pending = []


def _answer(batch: Sequence[Waiting[Any, Any]], replies: Sequence[Any]) -> None:
    for (_, future), reply in zip(batch, replies, strict=True):
        if future.done():  # its caller gave up (a timeout)
            continue
        if isinstance(reply, Exception):
            future.set_exception(reply)
        else:
            future.set_result(reply)
