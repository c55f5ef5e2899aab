"""Consumers that follow a partition reborn empty (a memory broker restarted, its topics recreated).

Real Kafka answers a fetch past the end of a partition with OffsetOutOfRange and the consumer's
`auto_offset_reset` decides where to go. Tansu (memory storage) answers it with an empty batch
and the true end as high watermark, so a consumer whose position (or committed offset) is past
the end of the recreated partition would wait there until the partition grows past it, silently
skipping everything in between. `watch_positions` notices and restarts such a partition at its
beginning: everything on a reborn partition is new, and each consumer already copes with seeing
a record twice (the ledger by command id, the history mirror and the gateway by (chat, seq)).

A group consumer that refreshed its metadata after the rebirth but before the topics were
recreated (`bus/topics.keep_topics`) drops the topic's partitions, and aiokafka asks again only
after `metadata_max_age_ms` (5 minutes): `TopicWatch` asks every REASK_S while a subscribed topic
is unknown, and rejoins once it is back.
"""

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Iterable, Iterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.cluster import ClusterMetadata
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import IllegalStateError, KafkaError
from aiokafka.protocol.group import JoinGroupRequest

from chatledger.platform.tasks import running

log = logging.getLogger(__name__)
POSITION_TIMEOUT_S = 1.0


CHECK_EVERY_S = 0.1  # local state only (no request): cheap, and the race below stays short
REASK_S = 1.0  # a metadata request per second per consumer, only while its topic is unknown
RECHECK_S = 5.0  # a join in flight has had its answer by then (rebalances here take ~1 s)

# How many times each consumer's partitions were restarted because the broker lost them. A batch
# fetched before a rebirth must not commit its offsets afterwards: they count records of the lost
# partition, and on the reborn one they would skip records never read (bus/consume.py).
_rebirths: "weakref.WeakKeyDictionary[AIOKafkaConsumer, int]" = weakref.WeakKeyDictionary()


def rebirths(consumer: AIOKafkaConsumer) -> int:
    return _rebirths.get(consumer, 0)


def assigned_highwater(consumer: AIOKafkaConsumer, partition: TopicPartition) -> int | None:
    """The partition's last known high watermark, None if unknown or no longer assigned.

    aiokafka asserts the partition is assigned: after any await a rebalance may have taken it.
    """
    if partition not in consumer.assignment():
        return None
    highwater: int | None = consumer.highwater(partition)
    return highwater


def past_the_end(position: int | None, highwater: int | None) -> bool:
    """A position beyond the partition's end: it can only be stale (the partition lost data).

    Both numbers come from this consumer: the high watermark from its latest fetch answer at its
    current position (None again after every assignment), the position from what it consumed.
    So one observation is enough; no healthy partition ever shows it.
    """
    return position is not None and highwater is not None and position > highwater


class TopicWatch:
    """A subscribed topic the consumer's metadata lost: ask again until it is back, then rejoin
    the group as a new member.

    While the topic is unknown the group gives this consumer none of its partitions. Once it is
    back aiokafka rejoins with the same member id, and Tansu answers that with the assignment it
    gave that member before (its generation stays 0): the empty one. A new member id makes the
    group change and the assignment new (the old member leaves by session timeout). `seen`
    hears every metadata answer as the group does, before the group rejoins, so the rejoin
    already uses the new id; a join already in flight then may answer with the old id again,
    so `ask` resets once more if the old id is still there RECHECK_S later. On Kafka this
    costs one rebalance more, after a lost topic.
    """

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer
        self.asked = 0.0
        self.missed = False
        self.leaving: tuple[str, float] | None = None  # the member id given up, and when

    def seen(self, cluster: ClusterMetadata) -> None:
        if any(not cluster.partitions_for_topic(topic) for topic in self.consumer.subscription()):
            self.missed = True
        elif self.missed:
            self.missed = False
            log.warning("subscribed topics are back: rejoining the group as a new member")
            self._new_member()

    def ask(self) -> None:
        """While a topic is unknown, its metadata again every REASK_S (not awaited: a broker
        that is away must not hold up the position check); a new member id not taken, again."""
        now = time.monotonic()
        if self.missed and now - self.asked >= REASK_S:
            self.asked = now
            self.consumer._client.force_metadata_update()
        if self.leaving is not None and now - self.leaving[1] >= RECHECK_S:
            member = self.consumer._coordinator.member_id
            if member == self.leaving[0]:
                log.warning("the group kept this consumer's old member id: resetting it again")
                self._new_member()
            elif member != JoinGroupRequest.UNKNOWN_MEMBER_ID:  # a new one: done
                self.leaving = None

    def _new_member(self) -> None:
        coordinator = self.consumer._coordinator
        self.leaving = (coordinator.member_id, time.monotonic())
        coordinator.reset_generation()

    @contextlib.contextmanager
    def listening(self) -> Iterator[None]:
        cluster = self.consumer._client.cluster
        cluster.add_listener(self.seen)
        try:
            yield
        finally:
            cluster.remove_listener(self.seen)


def to_restart(
    assignment: Iterable[TopicPartition], lost: Iterable[TopicPartition]
) -> list[TopicPartition]:
    """Every assigned partition of a topic with a partition past its end.

    A broker loses a topic whole, so its partitions are reborn together: one that has already
    grown past this consumer's old position (records that must not be skipped) is restarted
    with the empty ones that revealed the rebirth.
    """
    reborn = {partition.topic for partition in lost}
    return sorted(partition for partition in assignment if partition.topic in reborn)


async def _position(consumer: AIOKafkaConsumer, partition: TopicPartition) -> int | None:
    try:
        # asyncio.timeout, not wait_for: Python 3.11's wait_for, cancelled once the position has
        # arrived but before it resumed, returns the position and drops the cancellation. This
        # watch then never ended, and the process told to stop waited for it forever, still in
        # its consumer group (seen when stopped in the middle of a rebalance).
        async with asyncio.timeout(POSITION_TIMEOUT_S):
            position: int = await consumer.position(partition)
            return position
    except (IllegalStateError, TimeoutError, KafkaError):
        return None  # revoked by a rebalance, or no position yet: nothing to judge


async def partitions_past_the_end(consumer: AIOKafkaConsumer) -> list[TopicPartition]:
    lost = []
    for partition in consumer.assignment():
        position = await _position(consumer, partition)
        # Read after the await, from the same fetch state: None once a rebalance took it.
        if past_the_end(position, assigned_highwater(consumer, partition)):
            lost.append(partition)
    return lost


async def heal_positions(consumer: AIOKafkaConsumer, name: str) -> None:
    """Restart reborn partitions at their beginning, for as long as the consumer runs.

    What it cannot see: a reborn partition that already holds more records than this consumer
    had read before the crash when it first looks (every CHECK_EVERY_S). The other partitions
    of the topic, empty or shorter, usually reveal the rebirth first; a single-partition topic
    filled that fast would be skipped up to the old position. Real Kafka has the same window
    (its OffsetOutOfRange comes only from a fetch past the end).
    """
    # Only a group consumer loses partitions with a topic: one that assigned itself its
    # partitions (the gateway's feed) keeps them, and its fetch errors ask for metadata.
    topics = TopicWatch(consumer) if isinstance(consumer._coordinator, GroupCoordinator) else None
    with topics.listening() if topics is not None else contextlib.nullcontext():
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            if topics is not None:
                topics.ask()
            await _heal_once(consumer, name)


async def _heal_once(consumer: AIOKafkaConsumer, name: str) -> None:
    try:
        lost = await partitions_past_the_end(consumer)
        if not lost:
            return
        restart = to_restart(consumer.assignment(), lost)
        log.warning(
            "partitions reborn empty (the broker lost them): restarting at the beginning",
            extra={
                "consumer": name,
                "past_the_end": [f"{p.topic}[{p.partition}]" for p in lost],
                "restarted": [f"{p.topic}[{p.partition}]" for p in restart],
            },
        )
        _rebirths[consumer] = rebirths(consumer) + 1
        for partition in restart:
            # A reborn partition starts at 0; on Kafka a lower position out of range is
            # reset to the log start by auto_offset_reset=earliest.
            consumer.seek(partition, 0)
    except Exception:  # a rebalance in the middle: never let the watch die silently
        log.warning("position watch of %s: check failed, retrying", name, exc_info=True)


@contextlib.asynccontextmanager
async def watch_positions(consumer: AIOKafkaConsumer, name: str) -> AsyncIterator[None]:
    """Run `heal_positions` beside the code that polls `consumer`, for as long as it polls."""
    async with running(heal_positions(consumer, name), f"heal-{name}"):
        yield
