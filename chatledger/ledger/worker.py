"""The ledger worker: commands topic -> one MySQL transaction per batch -> events topic.

Order of effects per batch: commit in MySQL, then publish the events, then commit the offsets.
A crash between any two steps redelivers the batch; the store recognises the applied commands and
hands back their events, which are published again (consumers drop duplicates by (chat, seq)).

Pipelined: the publish and offset commit of batch N run while batch N+1's MySQL transaction
does. Batches still commit in MySQL in order, publish in order (N+1's publish starts only after
N's has been acknowledged, so each chat's events reach the topic in seq order), and commit their
offsets in order, each only after its own publish: the per-batch order above holds, and a crash
anywhere leaves every uncommitted offset behind a published-or-redelivered batch.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from chatledger.config import Settings
from chatledger.ledger.codec import UndecodableCommand, decode_command
from chatledger.ledger.commands import Command
from chatledger.ledger.events import Event
from chatledger.ledger.store import BatchResult, LedgerStore
from chatledger.ledger.wire import encode_event
from chatledger.metrics import (
    EVENTS_PUBLISHED,
    LEDGER_BATCH_DURATION,
    LEDGER_BATCH_SIZE,
    LEDGER_COMMANDS,
    LEDGER_CONSUMER_LAG,
)
from chatledger.retrying import until_available

log = logging.getLogger(__name__)
T = TypeVar("T")


def decode_batch(records: Sequence[ConsumerRecord[bytes, bytes]]) -> list[Command]:
    commands = []
    for record in records:
        try:
            commands.append(decode_command(record.value))
        except UndecodableCommand as exc:
            log.error(
                "dropping undecodable command at %s@%s: %s", record.partition, record.offset, exc
            )
    return commands


async def publish(producer: AIOKafkaProducer, topic: str, events: Sequence[Event]) -> None:
    sends = [
        await producer.send(topic, key=event.stream.encode(), value=encode_event(event))
        for event in events
    ]
    await asyncio.gather(*sends)


async def consumer_lag(consumer: AIOKafkaConsumer) -> int | None:
    """Records not yet fetched: highwater - position, summed over the assigned partitions.

    Only partitions already fetched from count (before that neither number is known); None when
    there is none yet.
    """
    total: int | None = None
    for partition in consumer.assignment():
        highwater = consumer.highwater(partition)
        if highwater is None:
            continue
        try:
            position = await consumer.position(partition)
        except IllegalStateError:
            continue  # revoked by a rebalance between assignment() and here
        total = (total or 0) + max(highwater - position, 0)
    return total


@dataclass(frozen=True, slots=True)
class Applied:
    """A batch committed in MySQL whose events are not yet published nor its offsets committed."""

    commands: list[Command]
    result: BatchResult
    offsets: dict[TopicPartition, int]
    started: float


class LedgerWorker:
    def __init__(self, settings: Settings, store: LedgerStore, producer: AIOKafkaProducer) -> None:
        self.settings = settings
        self.store = store
        self.producer = producer
        self.lag: int | None = None  # read by /readyz and exported as a gauge

    async def run(self, consumer: AIOKafkaConsumer) -> None:
        publishing: asyncio.Task[None] | None = None  # batch N's publish + offset commit
        try:
            while True:
                batch = await consumer.getmany(
                    timeout_ms=200, max_records=self.settings.ledger_batch_size
                )
                self.lag = await consumer_lag(consumer)
                if self.lag is not None:
                    LEDGER_CONSUMER_LAG.set(self.lag)
                if not batch:
                    continue
                applied = await self.apply(batch)  # batch N+1's transaction, N publishing
                if publishing is not None:
                    await publishing
                publishing = asyncio.create_task(self.publish(consumer, applied))
        finally:
            if publishing is not None:
                # Its offsets stay uncommitted: the batch is redelivered and published again.
                publishing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await publishing

    async def apply(
        self, batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> Applied:
        """Decide and commit in MySQL, retrying while MySQL is away: never skip a batch."""
        started = time.perf_counter()
        records = [record for records in batch.values() for record in records]
        commands = decode_batch(records)
        result = BatchResult()
        if commands:
            result = await until_available(
                lambda: self.store.apply_batch(commands), what="ledger batch"
            )
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
        return Applied(commands, result, offsets, started)

    async def publish(self, consumer: AIOKafkaConsumer, applied: Applied) -> None:
        """Publish a committed batch's events, then commit its offsets."""
        events = applied.result.events
        await until_available(
            lambda: publish(self.producer, self.settings.events_topic, events), what="publish"
        )
        try:
            await consumer.commit(applied.offsets)
        except CommitFailedError:
            log.warning("offset commit lost to a rebalance; the batch will be redelivered")
        if applied.commands:
            _observe(applied)


def _observe(applied: Applied) -> None:
    commands, events = applied.commands, applied.result.events
    elapsed = time.perf_counter() - applied.started
    LEDGER_BATCH_SIZE.observe(len(commands))
    LEDGER_BATCH_DURATION.observe(elapsed)
    LEDGER_COMMANDS.inc(len(commands))
    for event in events:
        EVENTS_PUBLISHED.labels(event.type).inc()
    # One line per batch with every id in it: the way to follow a command from its POST (the
    # access log's command_id) to the events it produced.
    log.info(
        "ledger batch",
        extra={
            "commands": len(commands),
            "events": len(events),
            "duration_ms": round(elapsed * 1000, 2),
            "command_ids": [command.command_id for command in commands],
            "event_ids": [event.event_id for event in events],
        },
    )
