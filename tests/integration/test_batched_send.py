"""`BatchedSender` (the API's commands): records of concurrent requests share record batches,
land where the producer's partitioner puts their key, keep their order, and never hang."""

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from chatledger.bus.batched_send import BatchedSender
from chatledger.bus.kafka import BusUnavailable, TopicCheckedProducer
from chatledger.bus.partitioner import partition_of
from chatledger.bus.topics import ensure_topics
from chatledger.platform import stages
from chatledger.platform.config import Settings

KEYS = 6
PER_KEY = 40


class CountingProducer(TopicCheckedProducer):
    """A real producer that counts the batches handed to it."""

    batches = 0

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> Any:
        CountingProducer.batches += 1
        return await super().send_batch(batch, topic, partition=partition)


@pytest.fixture
async def producer() -> Any:
    settings = Settings(prefix=f"{Settings().prefix}batched{uuid.uuid4().hex[:6]}.",
                        kafka_partitions=3)
    await ensure_topics(settings)
    producer = CountingProducer(
        topics=(settings.commands_topic,), bootstrap_servers=settings.kafka_bootstrap,
        acks="all", enable_idempotence=False, max_batch_size=2048)
    await producer.start()
    CountingProducer.batches = 0
    yield settings, producer
    await producer.stop()


async def test_concurrent_records_share_batches_and_keep_partition_and_order(
    producer: Any,
) -> None:
    settings, kafka = producer
    sender = BatchedSender(kafka, settings.commands_topic, timeout_s=10)
    keys = [str(uuid.uuid4()) for _ in range(KEYS)]
    # 2 KiB batches: a partition's records of one round need several
    records = [(key, f"{key}/{n}/".encode() + b"x" * 100) for n in range(PER_KEY) for key in keys]
    await asyncio.gather(*(sender.send(key.encode(), value) for key, value in records))
    assert CountingProducer.batches < len(records) / 5, CountingProducer.batches
    found = await _read(settings.commands_topic, settings, len(records))
    for key in keys:
        assert found[(key, partition_of(key, 3))] == [f"{key}/{n}/" for n in range(PER_KEY)]
    assert sum(map(len, found.values())) == len(records)


async def test_headers_travel_with_their_record(producer: Any) -> None:
    settings, kafka = producer
    sender = BatchedSender(kafka, settings.commands_topic, timeout_s=10)
    stamps = {"api_received": 1.5}
    await asyncio.gather(sender.send(b"a", b"a/plain/"),
                         sender.send(b"b", b"b/stamped/", stages.header(stamps)))
    headers = await _headers(settings.commands_topic, settings, 2)
    assert headers == {b"a/plain/": {}, b"b/stamped/": stamps}


async def test_a_record_not_acknowledged_in_time_is_refused_not_waited_for(
    producer: Any,
) -> None:
    settings, kafka = producer
    sender = BatchedSender(kafka, settings.commands_topic, timeout_s=1e-6)
    answers = await asyncio.wait_for(
        asyncio.gather(*(sender.send(b"k", b"v") for _ in range(3)), return_exceptions=True), 10)
    assert all(isinstance(answer, BusUnavailable) for answer in answers), answers
    # the sender is not stuck: a later round is sent and acknowledged
    sender.timeout_s = 10
    await asyncio.wait_for(sender.send(b"k", b"later"), 10)


async def test_a_round_is_not_held_for_the_producers_linger() -> None:
    """The producer holds an open batch for `linger_ms` in case `send` adds to it; a round's
    batches are complete, so they leave at once (measured: a lone POST's produce 2.2 -> 0.9 ms
    at linger_ms=1)."""
    settings = Settings(prefix=f"{Settings().prefix}linger{uuid.uuid4().hex[:6]}.")
    await ensure_topics(settings)
    kafka = TopicCheckedProducer(topics=(settings.commands_topic,),
                                 bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                 enable_idempotence=False, linger_ms=2000)
    await kafka.start()
    try:
        sender = BatchedSender(kafka, settings.commands_topic, timeout_s=10)
        await sender.send(b"k", b"warm")  # metadata and connection, whatever they take
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(sender.send(b"k", b"lone"), 10)
        assert asyncio.get_running_loop().time() - started < 1.0
    finally:
        await kafka.stop()


class StallingProducer(TopicCheckedProducer):
    """A real producer whose metadata lookups can be held (a broker that does not answer)."""

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.held = asyncio.Event()
        self.held.set()
        self.entered = asyncio.Event()

    async def partitions_for(self, topic: str) -> Any:
        self.entered.set()
        await self.held.wait()
        return await super().partitions_for(topic)


async def test_records_behind_a_stuck_round_are_refused_within_the_timeout() -> None:
    settings = Settings(prefix=f"{Settings().prefix}stuck{uuid.uuid4().hex[:6]}.")
    await ensure_topics(settings)
    kafka = StallingProducer(topics=(settings.commands_topic,),
                             bootstrap_servers=settings.kafka_bootstrap, acks="all",
                             enable_idempotence=False)
    await kafka.start()
    try:
        sender = BatchedSender(kafka, settings.commands_topic, timeout_s=0.5)
        kafka.held.clear()
        first = asyncio.ensure_future(sender.send(b"k", b"first"))
        await asyncio.wait_for(kafka.entered.wait(), 10)  # its round is stuck on the broker
        second = asyncio.ensure_future(sender.send(b"k", b"second"))  # waits for the next round
        answers = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True),
                                         5)
        assert all(isinstance(answer, BusUnavailable) for answer in answers), answers
        kafka.held.set()
        await asyncio.wait_for(sender.send(b"k", b"later"), 10)  # and the sender recovers
    finally:
        kafka.held.set()
        await kafka.stop()


async def _records(topic: str, settings: Settings, count: int) -> list[Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    got: list[Any] = []
    try:
        partitions = [TopicPartition(topic, number) for number in range(3)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = asyncio.get_running_loop().time() + 60
        while len(got) < count and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                got.extend(records)
    finally:
        await consumer.stop()
    return got


async def _read(topic: str, settings: Settings, count: int) -> dict[tuple[str, int], list[str]]:
    """(key, partition) -> the values up to their second slash, in offset order."""
    found: dict[tuple[str, int], list[str]] = {}
    for record in sorted(await _records(topic, settings, count),
                         key=lambda r: (r.partition, r.offset)):
        value = record.value.decode()
        found.setdefault((record.key.decode(), record.partition), []).append(
            value[:value.index("/", value.index("/") + 1) + 1])
    return found


async def _headers(topic: str, settings: Settings, count: int) -> dict[bytes, dict[str, float]]:
    return {record.value: stages.from_headers(record.headers)
            for record in await _records(topic, settings, count)}
