"""Read what the ledger published on `chat.events`, from the beginning, for one chat."""

import asyncio
import time
import uuid
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from chatledger.config import Settings


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
