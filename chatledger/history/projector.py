"""The history projector: `chat.events` -> the Redis mirror, one pipelined round trip per batch.

Offsets are committed only after Redis took the batch, so a crash redelivers it; writing an event
twice changes nothing (one member per seq). A `message_deleted` takes its message out of the
mirror in the same call (history_mirror.py says how it stays out). Events of a chat arrive in
seq order (one partition per chat, and the ledger publishes a batch before it takes the next);
one the bus skipped (a lost publish, a broker that lost records) turns the chat cold in the
mirror, which refills it from MySQL at its next read (mirror_scripts.py).
"""

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaConsumer

from chatledger.bus.consume import Batch, Finish, Handover, consume, nothing_left
from chatledger.bus.healing import watch_positions
from chatledger.bus.kafka import start_consumer, stop_consumer
from chatledger.domain import events as ev
from chatledger.history.mirror import SEQ_ONLY, HistoryMirror
from chatledger.history.picking import window_start
from chatledger.platform.config import Settings
from chatledger.platform.redis_client import REDIS_ERRORS
from chatledger.platform.retrying import until_available

log = logging.getLogger(__name__)
BATCH_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Grouped:
    """One batch for the mirror: per chat, its events as (seq, the published bytes) in arrival
    order, and the ids of the messages its `message_deleted` events delete."""

    events: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    deletions: dict[str, list[str]] = field(default_factory=dict)


def group_by_chat(values: Iterable[bytes]) -> Grouped:
    grouped = Grouped()
    for value in values:
        try:
            event = orjson.loads(value)
            chat, seq, type_ = event["chat"], int(event["seq"]), event["type"]
            deleted = str(event["message_id"]) if type_ == ev.MESSAGE_DELETED else None
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.error("history: dropping an undecodable event: %r", exc)
            continue
        # The others (a payout) only tell the mirror their seq: no jump where there is none.
        member = value if type_ in ev.CHAT_TYPES else SEQ_ONLY
        grouped.events.setdefault(chat, []).append((seq, member))
        if deleted is not None:
            grouped.deletions.setdefault(chat, []).append(deleted)
    return grouped


class HistoryProjector:
    def __init__(self, settings: Settings, mirror: HistoryMirror) -> None:
        self.settings = settings
        self.mirror = mirror

    async def run(self, consumer: AIOKafkaConsumer, handover: Handover | None = None) -> None:
        """`handover`: the listener `consumer` was subscribed with (bus/consume.py)."""
        await consume(consumer, self.handle, max_records=BATCH_SIZE, handover=handover)

    async def handle(self, batch: Batch) -> Finish:
        await self.project(record.value for records in batch.values() for record in records)
        return nothing_left  # the offsets follow, once Redis took the batch

    async def project(self, values: Iterable[bytes]) -> None:
        """Write one batch; while Redis is away, wait for it: never skip a batch."""
        grouped = group_by_chat(values)
        if not grouped.events:
            return

        async def append() -> None:
            # The cutoff is taken per attempt: after an outage the window has moved on.
            cutoff = window_start(datetime.now(UTC), self.settings.history_window_s)
            await self.mirror.append(grouped.events, cutoff, grouped.deletions)

        # REDIS_ERRORS: a cluster failing over too
        await until_available(append, what="history mirror", errors=REDIS_ERRORS)


async def project_history(
    settings: Settings, mirror: HistoryMirror, started: asyncio.Event | None = None
) -> None:
    """The history role's loop (joining the group takes seconds: run it in the background).

    Several history processes share the partitions through their consumer group; after a broker
    lost its topics the projector restarts a reborn partition at its beginning (bus.healing).
    """
    handover = Handover()
    consumer = await start_consumer(
        settings, settings.events_topic, settings.group("history"), max_records=BATCH_SIZE,
        listener=handover, fetch_max_wait_ms=settings.kafka_history_fetch_max_wait_ms,
    )
    if started is not None:
        started.set()
    try:
        async with watch_positions(consumer, "history"):
            await HistoryProjector(settings, mirror).run(consumer, handover)
    finally:
        if started is not None:
            started.clear()
        await stop_consumer(consumer)
