"""The ledger worker: commands topic -> one MySQL transaction per batch -> events topic.

Order of effects per batch: commit in MySQL, then publish the events, then commit the offsets.
A crash between any two steps redelivers the batch; the store recognises the applied commands and
hands back their events, which are published again (consumers drop duplicates by (chat, seq)).
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import pymysql
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import CommitFailedError, KafkaError

from chatledger.bus.codec import UndecodableCommand, decode_command, encode_event
from chatledger.config import Settings
from chatledger.ledger.commands import Command
from chatledger.ledger.events import Event
from chatledger.ledger.store import LedgerStore

log = logging.getLogger(__name__)
RETRY_PAUSE_S = 0.5
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


class LedgerWorker:
    def __init__(self, settings: Settings, store: LedgerStore, producer: AIOKafkaProducer) -> None:
        self.settings = settings
        self.store = store
        self.producer = producer
        self.batches = 0
        self.commands_applied = 0

    async def run(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batch = await consumer.getmany(
                timeout_ms=200, max_records=self.settings.ledger_batch_size
            )
            if not batch:
                continue
            records = [record for records in batch.values() for record in records]
            await self.handle(decode_batch(records))
            offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
            try:
                await consumer.commit(offsets)
            except CommitFailedError:
                log.warning("offset commit lost to a rebalance; the batch will be redelivered")

    async def handle(self, commands: list[Command]) -> None:
        """Apply and publish, retrying while MySQL or the broker is away: never skip a batch."""
        if not commands:
            return
        started = time.perf_counter()
        result = await _until_done(lambda: self.store.apply_batch(commands), "mysql")
        await _until_done(
            lambda: publish(self.producer, self.settings.events_topic, result.events), "publish"
        )
        self.batches += 1
        self.commands_applied += len(commands)
        log.debug(
            "batch of %d commands, %d events in %.1f ms",
            len(commands),
            len(result.events),
            (time.perf_counter() - started) * 1000,
        )


async def _until_done(step: Callable[[], Awaitable[T]], what: str) -> T:
    attempt = 0
    while True:
        try:
            return await step()
        except (
            pymysql.err.OperationalError,
            pymysql.err.InterfaceError,
            KafkaError,
            OSError,
        ) as exc:
            attempt += 1
            log.warning("%s unavailable (attempt %d): %r; retrying", what, attempt, exc)
            await asyncio.sleep(min(RETRY_PAUSE_S * attempt, 5.0))
