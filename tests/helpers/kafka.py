"""Read what the ledger published on `chat.events`, from the beginning, for one chat."""

import asyncio
import time
import uuid
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from chatledger.platform.config import Settings


async def events_of_chat(
    settings: Settings, chat: str, *, count: int, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Wait until at least `count` events of `chat` are on the events topic; return them."""
    consumer = AIOKafkaConsumer(
        settings.events_topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"{settings.prefix}test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    if record.key == chat.encode():
                        found.append(orjson.loads(record.value))
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return found


async def published_seqs(
    settings: Settings, wanted: dict[str, set[int]], *, timeout: float = 60.0
) -> dict[str, set[int]]:
    """Read the events topic from the beginning (no group: every partition assigned) until every
    wanted (chat, seq) has been seen or the deadline passes; return the seqs seen per chat."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    seen: dict[str, set[int]] = {chat: set() for chat in wanted}
    deadline = time.monotonic() + timeout
    try:
        await consumer.topics()
        partitions = [
            TopicPartition(settings.events_topic, number)
            for number in consumer.partitions_for_topic(settings.events_topic) or ()
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        while time.monotonic() < deadline and any(
            not wanted[chat] <= seen[chat] for chat in wanted
        ):
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    chat = (record.key or b"").decode()
                    if chat in seen:
                        seen[chat].add(int(orjson.loads(record.value)["seq"]))
    finally:
        await consumer.stop()
    return seen


async def records_in(settings: Settings, topic: str) -> int:
    """How many records `topic` holds (the sum of its partitions' end offsets)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [
            TopicPartition(topic, number) for number in consumer.partitions_for_topic(topic) or ()
        ]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()
