"""Consumers that follow a partition reborn empty (a memory broker restarted, its topics recreated).

Real Kafka answers a fetch past the end of a partition with OffsetOutOfRange and the consumer's
`auto_offset_reset` decides where to go. Tansu (memory storage) answers it with an empty batch
and the true end as high watermark, so a consumer whose position (or committed offset) is past
the end of the recreated partition would wait there until the partition grows past it, silently
skipping everything in between. `watch_positions` notices and restarts such a partition at its
beginning: everything on a reborn partition is new, and each consumer already copes with seeing
a record twice (the ledger by command id, the history mirror and the gateway by (chat, seq)).
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

log = logging.getLogger(__name__)
POSITION_TIMEOUT_S = 1.0


def past_the_end(position: int | None, highwater: int | None) -> bool:
    """A position beyond the partition's end: it can only be stale (the partition lost data).

    Both numbers come from this consumer: the high watermark from its latest fetch answer for the
    partition (fresh after every assignment), the position from what it consumed or was given.
    """
    return position is not None and highwater is not None and position > highwater


class PositionWatch:
    """Finds partitions past their end twice in a row (one stale answer is never enough)."""

    def __init__(self) -> None:
        self._suspects: set[TopicPartition] = set()

    def confirmed(self, lost: Iterable[TopicPartition]) -> list[TopicPartition]:
        lost = set(lost)
        confirmed = sorted(lost & self._suspects)
        self._suspects = lost - set(confirmed)
        return confirmed


async def _position(consumer: AIOKafkaConsumer, partition: TopicPartition) -> int | None:
    try:
        return await asyncio.wait_for(consumer.position(partition), POSITION_TIMEOUT_S)
    except (IllegalStateError, TimeoutError, KafkaError):
        return None  # revoked by a rebalance, or no position yet: nothing to judge


async def partitions_past_the_end(consumer: AIOKafkaConsumer) -> list[TopicPartition]:
    lost = []
    for partition in consumer.assignment():
        if past_the_end(await _position(consumer, partition), consumer.highwater(partition)):
            lost.append(partition)
    return lost


async def heal_positions(consumer: AIOKafkaConsumer, interval_s: float, name: str) -> None:
    watch = PositionWatch()
    while True:
        await asyncio.sleep(interval_s)
        try:
            for partition in watch.confirmed(await partitions_past_the_end(consumer)):
                await _restart_at_beginning(consumer, partition, name)
        except Exception:  # a rebalance in the middle: never let the watch die silently
            log.warning("position watch of %s: check failed, retrying", name, exc_info=True)


async def _restart_at_beginning(
    consumer: AIOKafkaConsumer, partition: TopicPartition, name: str
) -> None:
    if partition not in consumer.assignment():
        return
    log.warning(
        "consumer position past the end of its partition: restarting at the beginning",
        extra={
            "consumer": name,
            "topic": partition.topic,
            "partition": partition.partition,
            "highwater": consumer.highwater(partition),
        },
    )
    consumer.seek(partition, 0)  # a reborn partition starts at 0; Kafka resets a lower
    # position out of range to the log start itself (auto_offset_reset=earliest)


@contextlib.asynccontextmanager
async def watch_positions(
    consumer: AIOKafkaConsumer, interval_s: float, name: str
) -> AsyncIterator[None]:
    """Run `heal_positions` beside the code that polls `consumer`, for as long as it polls."""
    task = asyncio.create_task(heal_positions(consumer, interval_s, name), name=f"heal-{name}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
