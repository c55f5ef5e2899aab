"""The ledger worker: commands topic -> one MySQL transaction per batch -> events topic.

Order of effects per batch: commit in MySQL, then publish the events, then commit the offsets.
A crash between any two steps redelivers the batch; the store recognises the applied commands and
hands back their events, which are published again (consumers drop duplicates by (chat, seq)).

Pipelined by the shared consume loop (`bus/consume.py`): the publish and offset commit of batch
N run while batch N+1's MySQL transaction does. Batches still commit in MySQL in order, publish
in order (N+1's publish starts only after N's has been acknowledged, so each chat's events reach
the topic in seq order), and commit their offsets in order, each only after its own publish.
"""

import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import IllegalStateError

from chatledger.bus.command_codec import UndecodableCommand, decode_command
from chatledger.bus.consume import Batch, Finish, Handover, consume, nothing_left
from chatledger.bus.healing import assigned_highwater
from chatledger.bus.kafka import send_keyed
from chatledger.bus.partitioner import partition_of
from chatledger.bus.stage_stamps import Stamps, command_stamps, stamped
from chatledger.domain.commands import Command
from chatledger.domain.events import Event
from chatledger.domain.wire import encode_event
from chatledger.ledger.store import BatchResult, LedgerStore
from chatledger.platform import stages
from chatledger.platform.config import Settings
from chatledger.platform.logs import info_fields
from chatledger.platform.metrics import (
    EVENTS_PUBLISHED,
    LEDGER_BATCH_DURATION,
    LEDGER_BATCH_SIZE,
    LEDGER_COMMANDS,
    LEDGER_CONSUMER_LAG,
)
from chatledger.platform.retrying import until_available

log = logging.getLogger(__name__)
T = TypeVar("T")
# The lag is measured after a fetch at most this often: at one command a batch the loop fetches
# hundreds of times a second, and a reading (a position per partition) was ~1% of its CPU.
LAG_EVERY_S = 0.1


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


async def publish(
    producer: AIOKafkaProducer, topic: str, events: Sequence[Event], stamps: Stamps | None = None
) -> None:
    """Keyed by stream, in the order given (each stream's seq order), all acknowledged."""
    values = [encode_event(event) for event in events] if stamps is None \
        else stamped(events, stamps)
    await send_keyed(producer, topic, [(event.stream, value)
                                       for event, value in zip(events, values, strict=True)])


async def consumer_lag(consumer: AIOKafkaConsumer) -> int | None:
    """Records not yet fetched: highwater - position, summed over the assigned partitions.

    Only partitions already fetched from count (before that neither number is known); None when
    there is none yet.
    """
    total: int | None = None
    for partition in consumer.assignment():
        # Checked again for each partition: a rebalance during the previous await may have
        # taken it (aiokafka's highwater() asserts the partition is assigned).
        highwater = assigned_highwater(consumer, partition)
        if highwater is None:
            continue
        try:
            position = await consumer.position(partition)
        except IllegalStateError:
            continue  # revoked by a rebalance while position() waited
        total = (total or 0) + max(highwater - position, 0)
    return total


class LedgerWorker:
    def __init__(self, settings: Settings, store: LedgerStore, producer: AIOKafkaProducer) -> None:
        self.settings = settings
        self.store = store
        self.producer = producer
        self.lag: int | None = None  # read by /readyz and exported as a gauge
        self.consumer: AIOKafkaConsumer | None = None
        self.clock: Callable[[], float] = time.monotonic
        self._lag_due = 0.0  # when the lag is measured again
        self._events_topic = settings.events_topic  # a property: built again at each call

    async def run(self, consumer: AIOKafkaConsumer, handover: Handover | None = None) -> None:
        """`handover`: the listener `consumer` was subscribed with (bus/consume.py)."""
        self.consumer = consumer
        try:
            await consume(
                consumer, self.apply, max_records=self.settings.ledger_batch_size,
                after_fetch=self.measure_lag, handover=handover,
            )
        finally:
            self.consumer = None

    def owned(self) -> Callable[[str], bool] | None:
        """Whether a chat's commands are on a partition this worker's consumer is assigned
        now (the clock's `Owned`); None while it is assigned none."""
        consumer, topic = self.consumer, self.settings.commands_topic
        if consumer is None:
            return None
        assigned = {tp.partition for tp in consumer.assignment() if tp.topic == topic}
        total = len(consumer.partitions_for_topic(topic) or ())
        if not assigned or not total:
            return None
        return lambda chat: partition_of(chat, total) in assigned

    async def measure_lag(self, consumer: AIOKafkaConsumer) -> None:
        now = self.clock()
        if now < self._lag_due:
            return
        self._lag_due = now + LAG_EVERY_S
        self.lag = await consumer_lag(consumer)
        if self.lag is not None:
            LEDGER_CONSUMER_LAG.set(self.lag)

    async def apply(self, batch: Batch) -> Finish:
        """Decide and commit in MySQL (waiting while MySQL is away: a batch is never skipped);
        what is left is publishing the events."""
        started = time.perf_counter()
        fetched = stages.now() if stages.ON else 0.0
        records = [record for records in batch.values() for record in records]
        commands = decode_batch(records)
        if not commands:
            return nothing_left
        result = await until_available(
            lambda: self.store.apply_batch(commands), what="ledger batch"
        )
        stamps = command_stamps(records, {
            "ledger_fetched": fetched, "ledger_decided": stages.last("ledger_decided"),
            "ledger_committed": stages.now()}) if stages.ON else None

        async def publish_events() -> None:
            await until_available(
                lambda: publish(self.producer, self._events_topic, result.events, stamps),
                what="publish",
            )
            _observe(commands, result, started)

        return publish_events


def _observe(commands: list[Command], result: BatchResult, started: float) -> None:
    events = result.events
    elapsed = time.perf_counter() - started
    LEDGER_BATCH_SIZE.observe(len(commands))
    LEDGER_BATCH_DURATION.observe(elapsed)
    LEDGER_COMMANDS.inc(len(commands))
    # Counted by type first: a metric's `labels()` costs more than the counting (~1.6 µs each).
    counted: dict[str, int] = {}
    for event in events:
        counted[event.type] = counted.get(event.type, 0) + 1
    for type_, published in counted.items():
        EVENTS_PUBLISHED.labels(type_).inc(published)
    # One line per batch with every id in it: the way to follow a command from its POST (the
    # access log's command_id) to the events it produced. Without a LogRecord (`info_fields`):
    # ~25 µs a batch less, which at one command a batch was ~2% of the ledger's CPU.
    info_fields(log, "ledger batch", {
        "commands": len(commands),
        "events": len(events),
        "duration_ms": round(elapsed * 1000, 2),
        "command_ids": [command.command_id for command in commands],
        "event_ids": [event.event_id for event in events],
    })
