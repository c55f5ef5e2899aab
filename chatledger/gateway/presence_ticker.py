"""The gateway's presence loop: a `presence` frame to a room only when its count changed.

One tick every `TICK_S` (2 s) publishes this process's viewers and reads every local room's
distinct count across all gateways (`projections/presence.py`). A room gets
`{"type": "presence", "chat", "viewers"}` at most once per tick whatever the churn; the frame
has no seq and goes to every socket of the room, the model's too.
"""

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from chatledger.gateway.frames import text_frame
from chatledger.gateway.rooms import Rooms
from chatledger.platform.redis_client import REDIS_ERRORS
from chatledger.readmodels.presence_board import PresenceBoard

log = logging.getLogger(__name__)

TICK_S = 2.0


def presence_frame(chat: str, viewers: int) -> bytes:
    return text_frame(orjson.dumps({"type": "presence", "chat": chat, "viewers": viewers}))


@dataclass
class Announcements:
    """Which rooms need a presence frame: those whose count differs from the last one sent."""

    sent: dict[str, int] = field(default_factory=dict)

    def due(self, counts: Mapping[str, int]) -> dict[str, int]:
        changed = {chat: n for chat, n in counts.items() if self.sent.get(chat) != n}
        self.sent.update(changed)
        for chat in set(self.sent) - set(counts):  # rooms closed here: forget them
            del self.sent[chat]
        return changed


def announce(rooms: Rooms, counts: Mapping[str, int], changed: Mapping[str, int]) -> None:
    """A changed count goes to the whole room; an unchanged one only to who just joined."""
    for chat, viewers in counts.items():
        room = rooms.get(chat)
        if room is None:
            continue
        to = room.every_member() if chat in changed else list(room.unannounced)
        room.unannounced.clear()
        if to:
            frame = presence_frame(chat, viewers)
            for member in to:
                member.send(frame)


async def announce_presence(rooms: Rooms, board: PresenceBoard) -> None:
    """The gateway's presence loop: one tick every TICK_S, frames only where a count changed."""
    announcements = Announcements()
    while True:
        started = time.monotonic()
        try:
            counts = await board.tick(rooms.viewers())
        except REDIS_ERRORS as exc:
            log.warning("presence unavailable: %r", exc)
        else:
            announce(rooms, counts, announcements.due(counts))
        await asyncio.sleep(max(0.0, TICK_S - (time.monotonic() - started)))
