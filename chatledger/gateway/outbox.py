"""What one socket still has to send: each seq once, in order, within a bound. No I/O.

A new socket starts *holding*: live events are kept aside while the gateway replays what the
caller missed from MySQL; then the held events are released, skipping every seq already sent,
and the outbox goes live. That is the whole no-gap, no-duplicate recovery (DESIGN §7).

Live events are offered without waiting (the fan-out never blocks on one socket); an outbox that
cannot take one more is marked overflowed and its socket gets disconnected as too slow.
"""

import asyncio
from collections import deque


class Outbox:
    def __init__(self, bound: int) -> None:
        self._bound = bound
        self._queue: asyncio.Queue[str] = asyncio.Queue(bound)
        self._held: deque[tuple[int, str]] | None = deque()
        self.sent_seq = 0
        self.overflowed = False

    def offer(self, seq: int, text: str) -> bool:
        """Take a live event; False means this socket cannot keep up and must go."""
        if self.overflowed:
            return False
        if self._held is not None:
            if len(self._held) >= self._bound:
                self.overflowed = True
                return False
            self._held.append((seq, text))
            return True
        if seq <= self.sent_seq:
            return True
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self.overflowed = True
            return False
        self.sent_seq = seq
        return True

    async def put(self, text: str) -> None:
        """A message that is not an event (`connected`): waits for room, never dropped."""
        await self._queue.put(text)

    async def replay(self, seq: int, text: str) -> None:
        """A missed event read back from the log; waits for room (only this socket is slowed)."""
        if seq > self.sent_seq:
            await self._queue.put(text)
            self.sent_seq = seq

    async def go_live(self) -> None:
        """Release the held live events, then take new ones straight into the queue."""
        held = self._held
        assert held is not None, "already live"
        while held:
            seq, text = held.popleft()
            await self.replay(seq, text)
        # No await between the last check of `held` and this line: nothing can slip past.
        self._held = None

    async def next(self) -> str:
        return await self._queue.get()

    @property
    def live(self) -> bool:
        return self._held is None
