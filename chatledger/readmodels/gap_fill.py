"""Filling a consumer's gap: the events of a chat between two seqs it saw, read from MySQL.

DESIGN §6: a consumer that sees a chat's seq jump (a CLI write published late, events the broker
lost) reads what it missed from `chat_events` before it hands on anything later of that chat.
Bounded, so one chat's gap never stalls a consumer for long: ONE query per gap (the gap's size
bounds its rows), retried while MySQL is briefly away, given up after `FILL_DEADLINE_S` (the
caller then goes on without it and says so in its log).
"""

import asyncio
import logging

from databases import Database

from chatledger.domain.wire import dumps
from chatledger.platform.retrying import UNAVAILABLE, until_available
from chatledger.readmodels import event_log

log = logging.getLogger(__name__)
FILL_DEADLINE_S = 3.0
_GAVE_UP: tuple[type[BaseException], ...] = (TimeoutError, *UNAVAILABLE)


def seq_of(raw: bytes) -> int | None:
    """The seq of a published event without parsing it: the wire form's envelope comes first
    (`type`, `id`, `seq`), and neither a type nor an id can hold `"seq":`."""
    start = raw.find(b'"seq":')
    if start < 0:
        return None
    start += 6
    end = start
    while end < len(raw) and raw[end : end + 1].isdigit():
        end += 1
    return int(raw[start:end]) if end > start else None


async def missed_events(db: Database, chat: str, after_seq: int, before_seq: int) -> list[bytes]:
    """The chat events with after_seq < seq < before_seq, oldest first, as published bytes;
    [] if MySQL did not answer within FILL_DEADLINE_S (logged)."""
    try:
        async with asyncio.timeout(FILL_DEADLINE_S):
            found = await until_available(
                lambda: event_log.chat_events_between(db, chat, after_seq, before_seq),
                what="gap fill",
            )
    except _GAVE_UP as exc:
        log.error("chat %s: could not fill seqs %d..%d from MySQL: %r",
                  chat, after_seq + 1, before_seq - 1, exc)
        return []
    return [dumps(event) for event in found]
