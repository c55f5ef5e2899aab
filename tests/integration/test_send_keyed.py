"""`send_keyed` (the ledger's publish): each key's records on the partition the producer's own
partitioner picks, in the order given, also when a partition's records fill several batches."""

import time
import uuid
from collections import defaultdict

from aiokafka import AIOKafkaConsumer, TopicPartition

from chatledger.bus.kafka import TopicCheckedProducer, send_keyed
from chatledger.bus.partitioner import partition_of
from chatledger.bus.topics import ensure_topics
from chatledger.platform.config import Settings

KEYS = 6
PER_KEY = 40


async def test_a_publish_is_not_held_for_the_producers_linger() -> None:
    """The producer holds an open batch for `linger_ms` in case `send` adds to it; the ledger's
    batches are complete when handed over, so they leave at once."""
    settings = Settings(prefix=f"{Settings().prefix}keyedlinger{uuid.uuid4().hex[:6]}.")
    topic = settings.events_topic
    await ensure_topics(settings)
    producer = TopicCheckedProducer(topics=(topic,), bootstrap_servers=settings.kafka_bootstrap,
                                    acks="all", enable_idempotence=False, linger_ms=2000)
    await producer.start()
    try:
        await send_keyed(producer, topic, [("k", b"warm")])  # metadata, connection
        started = time.monotonic()
        await send_keyed(producer, topic, [("k", b"one"), ("other", b"two")])
        assert time.monotonic() - started < 1.0
    finally:
        await producer.stop()


async def test_records_keep_their_key_s_partition_and_order_across_batches() -> None:
    settings = Settings(prefix=f"{Settings().prefix}keyed{uuid.uuid4().hex[:6]}.",
                        kafka_partitions=3)
    topic = settings.events_topic
    await ensure_topics(settings)
    keys = [str(uuid.uuid4()) for _ in range(KEYS)]
    records = [(key, f"{key}/{n}/".encode() + b"x" * 100) for n in range(PER_KEY) for key in keys]
    # 2 KiB batches: each partition's records need several (about 15 records each).
    producer = TopicCheckedProducer(topics=(topic,), bootstrap_servers=settings.kafka_bootstrap,
                                    acks="all", enable_idempotence=False, max_batch_size=2048)
    await producer.start()
    try:
        await send_keyed(producer, topic, records)
        # The producer's partitioner, through the plain `send`, agrees on each key's partition.
        plain = {key: (await (await producer.send(topic, key=key.encode(), value=b"plain")))
                 .partition for key in keys}
    finally:
        await producer.stop()
    found = await _read(settings, topic, len(records) + KEYS)
    for key in keys:
        place = partition_of(key, 3)
        assert plain[key] == place
        assert found[(key, place)] == [f"{key}/{n}/" for n in range(PER_KEY)] + ["plain"]
    assert sum(map(len, found.values())) == len(records) + KEYS


async def _read(settings: Settings, topic: str, count: int,
                timeout_s: float = 60.0) -> dict[tuple[str, int], list[str]]:
    """(key, partition) -> the records' values (up to the second slash), in offset order, once
    `count` records are read (or the deadline passed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    found: dict[tuple[str, int], list[str]] = defaultdict(list)
    try:
        partitions = [TopicPartition(topic, number) for number in range(3)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout_s
        while sum(map(len, found.values())) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for tp, got in batch.items():
                for record in got:
                    value = record.value.decode()
                    text = value if value == "plain" else value[:value.rindex("/") + 1]
                    found[(record.key.decode(), tp.partition)].append(text)
    finally:
        await consumer.stop()
    return found
