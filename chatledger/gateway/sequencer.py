"""The feed's order per chat: each event handed on once, in seq order, with no seq skipped.

Kafka brings a chat's events in seq order (the topic is keyed by chat), but a seq can be missing:
a writer whose publish failed, a broker that lost what it had acknowledged. When a chat's seq
jumps, its later events are held and the gap is read from MySQL (`readmodels.gap_fill`) in a task
of its own: the chat's events are then handed on in order, the filled ones first, while every
other chat goes on. So rooms deliver contiguous seqs and the rules cache never misses a ban.

What it cannot see: a gap before the first event of a chat since the process started, in a chat
the rules seed gave no version (there is no "before" yet; a socket recovers that with `since`).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Fill = Callable[[str, int, int], Awaitable[list[bytes]]]  # chat, after, before -> events
Deliver = Callable[[str, bytes], None]


class Sequencer:
    def __init__(self, fill: Fill, deliver: Deliver) -> None:
        self.fill = fill
        self.deliver = deliver
        self.last: dict[str, int] = {}  # per chat, the last seq handed on
        self.held: dict[str, list[tuple[int, bytes]]] = {}  # chats being filled: what waits
        self.filling: set[asyncio.Task[None]] = set()
        self.closed = False

    def offer(self, chat: str, seq: int, raw: bytes) -> None:
        if self.closed:
            return  # the feed is stopping: no new fill task may outlive it
        held = self.held.get(chat)
        if held is not None:
            held.append((seq, raw))
            return
        last = self.last.get(chat)
        if last is not None and seq <= last:
            return  # a redelivery
        if last is not None and seq > last + 1:
            self.held[chat] = [(seq, raw)]
            task = asyncio.create_task(self._fill(chat, last, seq))
            self.filling.add(task)
            task.add_done_callback(self.filling.discard)
            return
        self.last[chat] = seq
        self.deliver(chat, raw)

    async def _fill(self, chat: str, last: int, seq: int) -> None:
        log.warning("chat %s: seq jumped from %d to %d on the bus, filling from MySQL",
                    chat, last, seq)
        found: list[bytes] = []
        try:
            found = await self.fill(chat, last, seq)
        finally:
            # Whatever happened, the chat goes on: what the fill found, then what waited.
            waiting = self.held.pop(chat, [])
            for raw in found:
                self.deliver(chat, raw)
            self.last[chat] = seq - 1
            for held_seq, raw in waiting:
                self.offer(chat, held_seq, raw)

    async def close(self) -> None:
        self.closed = True
        for task in list(self.filling):
            task.cancel()
        await asyncio.gather(*self.filling, return_exceptions=True)
