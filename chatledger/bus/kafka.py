"""Kafka clients: a producer that never hangs a request, consumers with manual commits.

A request on a connection uvloop has already closed is the connection error aiokafka expects
(`closed_connections.py`), for every client of the process: installed when this is imported.

No client ever creates a topic by asking for it (only `bus/topics.py` creates them): a broker
that auto-creates would use its own default partition count, and a chat's commands would be
spread differently from then on.
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import aiokafka.client
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
)
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from chatledger.bus import closed_connections
from chatledger.bus.partitioner import CachedPartitioner, partition_of
from chatledger.bus.topic_metadata import topic_metadata
from chatledger.platform.config import Settings
from chatledger.platform.retrying import until_available

log = logging.getLogger(__name__)
T = TypeVar("T")
closed_connections.install()


class _MetadataWithoutAutoCreation(MetadataRequest):  # type: ignore[misc]
    """aiokafka always sends allow_auto_topic_creation=true (Metadata v4+): ask for false.

    Kafka in production should also run with auto.create.topics.enable=false; Tansu honours the
    flag, and after a restart with memory storage it would otherwise recreate our topics with its
    default partition count at the first produce or subscribe.
    """

    def __init__(self, topics: list[str] | None = None, allow_auto_topic_creation: bool = False):
        super().__init__(topics, allow_auto_topic_creation=False)


# Every AIOKafkaClient (producers, consumers) builds its metadata requests from this name.
aiokafka.client.MetadataRequest = _MetadataWithoutAutoCreation  # type: ignore[misc]


class BusUnavailable(Exception):
    """The broker could not take the record in time."""


class TopicsNotConfirmed(KafkaError):  # type: ignore[misc]
    """The broker may have lost our topics: an acknowledgement from it proves nothing now."""


class TopicCheckedProducer(AIOKafkaProducer):  # type: ignore[misc]
    """A producer whose acknowledgement means the record is in a topic that exists.

    Tansu with memory storage, restarted, acknowledges records sent to a topic it no longer has
    (acks=all, a normal offset) and keeps nothing. A producer still holding the old metadata would
    turn each such ack into a 201 for a command that is gone. So after any of its connections
    closed (a broker restart always closes them), the producer first confirms with a metadata
    request that the topics exist before it sends again; a send during which a connection closed
    fails instead of being acknowledged (the API answers 503, the ledger publishes again).
    """

    def __init__(self, *, topics: tuple[str, ...], **config: Any) -> None:
        super().__init__(**config)
        self._topics = topics
        self._closes = 0  # connections closed so far
        self._confirmed_at = -1  # value of _closes when the topics were last confirmed
        self._confirming = asyncio.Lock()
        notify = self.client._on_connection_closed

        def closed(conn: object, reason: object) -> None:
            self._closes += 1
            notify(conn, reason)

        # Read by the client each time it opens a connection (aiokafka has no listener API).
        self.client._on_connection_closed = closed

    async def _confirm_topics(self) -> int:
        if self._confirmed_at == self._closes:
            return self._confirmed_at  # the hot path: no lock, no request
        async with self._confirming:
            while self._confirmed_at != self._closes:
                closes = self._closes
                metadata = await topic_metadata(self.client, self._topics)
                missing = [name for name in self._topics if name not in metadata.topics()]
                if missing:
                    raise TopicsNotConfirmed(f"topics missing on the broker: {missing}")
                self._confirmed_at = closes
            return self._confirmed_at

    async def send(self, topic: str, *args: Any, **kwargs: Any) -> "asyncio.Future[Any]":
        confirmed = await self._confirm_topics()
        return self._checked(await super().send(topic, *args, **kwargs), confirmed)

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> "asyncio.Future[Any]":
        confirmed = await self._confirm_topics()
        return self._checked(await super().send_batch(batch, topic, partition=partition),
                             confirmed)

    def _checked(self, delivery: "asyncio.Future[Any]", confirmed: int) -> "asyncio.Future[Any]":
        """`delivery`'s outcome, failed if a connection closed since the topics were confirmed."""
        checked: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def settle(done: "asyncio.Future[Any]") -> None:
            if checked.done():
                return
            if done.cancelled():
                checked.cancel()
            elif done.exception() is not None:
                checked.set_exception(done.exception())  # type: ignore[arg-type]
            elif self._closes != confirmed:
                checked.set_exception(_closed_while_sending())
            else:
                checked.set_result(done.result())

        delivery.add_done_callback(settle)
        return checked

    async def send_and_wait(self, topic: str, *args: Any, **kwargs: Any) -> Any:
        """`send` and its acknowledgement, checked the same way, without a second future and
        its callback per record (the API's every POST): the closes are compared once the ack is
        in, which can only refuse more (an ack whose connection closed meanwhile), never less."""
        confirmed = await self._confirm_topics()
        delivery = await super().send(topic, *args, **kwargs)
        metadata = await delivery
        if self._closes != confirmed:
            raise _closed_while_sending()
        return metadata


def _closed_while_sending() -> TopicsNotConfirmed:
    return TopicsNotConfirmed("a connection closed while sending: the ack proves nothing")


async def send_keyed(
    producer: AIOKafkaProducer, topic: str, records: Sequence[tuple[str, bytes]]
) -> None:
    """Send (key, value) records where the default partitioner would put them, each partition's
    in the order given, and wait until the broker has acknowledged every one.

    Built into record batches here, one per partition (more only past the producer's batch
    size), sent one after another: the producer keeps a partition's batches in the order they
    were handed to it. One future per batch, where `send` makes one per record and runs the
    partitioner for each: that was most of a ledger batch's publishing cost.
    """
    if not records:
        return
    count = len(await producer.partitions_for(topic))
    places: dict[str, int] = {}
    by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
    for key, value in records:
        place = places.get(key)
        if place is None:
            place = places[key] = partition_of(key, count)
        by_partition.setdefault(place, []).append((key.encode(), value))
    acks = []

    async def send(batch: Any, partition: int) -> None:
        batch.close()  # complete: an open one would be held for `linger_ms` (batched_send.py)
        acks.append(await producer.send_batch(batch, topic, partition=partition))

    for partition, items in by_partition.items():
        batch = producer.create_batch()
        for key_bytes, value in items:
            if batch.append(timestamp=None, key=key_bytes, value=value) is None:  # full
                await send(batch, partition)
                batch = producer.create_batch()  # takes its first record whatever its size
                batch.append(timestamp=None, key=key_bytes, value=value)
        await send(batch, partition)
    await asyncio.gather(*acks)


async def started_client(factory: Callable[[], T], deadline_s: float) -> T:
    """A started client, waiting (the `until_available` policy) for a broker still starting."""

    async def start() -> T:
        client = factory()
        try:
            await client.start()  # type: ignore[attr-defined]
        except BaseException:  # a refusal, or the process stopping while the broker is awaited
            await _close_quietly(client)
            raise
        return client

    try:
        return await until_available(
            start, what="broker", errors=(KafkaError,), deadline_s=deadline_s
        )
    except KafkaError as exc:
        raise BusUnavailable(f"broker {exc!r}") from exc


async def _close_quietly(client: object) -> None:
    closer = getattr(client, "stop", None) or getattr(client, "close", None)
    if closer is None:
        return
    try:
        await closer()
    except Exception:
        log.debug("closing a half-started Kafka client failed", exc_info=True)


async def start_producer(settings: Settings, deadline_s: float = 30.0) -> AIOKafkaProducer:
    # acks=all: a 201 means the command is on every in-sync replica. Tansu has no idempotent
    # producer, and duplicates are harmless anyway: the ledger dedups by command id.
    def factory() -> AIOKafkaProducer:
        return TopicCheckedProducer(
            topics=(settings.commands_topic, settings.events_topic),
            bootstrap_servers=settings.kafka_bootstrap,
            acks="all",
            enable_idempotence=False,
            linger_ms=settings.kafka_linger_ms,
            request_timeout_ms=int(settings.command_timeout_s * 1000),
            max_batch_size=1 << 20,
            partitioner=CachedPartitioner(),
        )

    return await started_client(factory, deadline_s)


async def start_consumer(
    settings: Settings,
    topic: str,
    group: str,
    *,
    max_records: int,
    listener: ConsumerRebalanceListener | None = None,
    fetch_max_wait_ms: int | None = None,
    deadline_s: float = 30.0,
) -> AIOKafkaConsumer:
    """A consumer of `topic` in `group`; `listener` hears of every rebalance from the first
    join on (it can only be given at subscription: a later subscribe would rejoin the group).
    `fetch_max_wait_ms`: this consumer's, instead of `kafka_fetch_max_wait_ms`."""

    def factory() -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=max_records,
            fetch_max_wait_ms=fetch_max_wait_ms or settings.kafka_fetch_max_wait_ms,
            session_timeout_ms=6_000,
            heartbeat_interval_ms=1_000,
        )
        consumer.subscribe([topic], listener=listener)
        return consumer

    return await started_client(factory, deadline_s)


# How long a stopping process tries to leave its consumer group. A broker in the middle of a
# rebalance may hold the LeaveGroup answer (Tansu does, up to the request timeout): the member
# that did not leave is dropped after the session timeout, as one that died would be.
STOP_TIMEOUT_S = 5.0


async def stop_consumer(consumer: AIOKafkaConsumer, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Stop a group consumer (leaving the group), giving up after `timeout_s`."""
    try:
        async with asyncio.timeout(timeout_s):
            await consumer.stop()
    except TimeoutError:
        log.warning("consumer did not leave its group in %.1f s: the broker drops it", timeout_s)



async def send_bounded(
    producer: AIOKafkaProducer, topic: str, key: bytes, value: bytes, timeout_s: float,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """Send and wait for acks=all, or raise BusUnavailable within `timeout_s` (never hang).
    `headers`: only the stage stamps, when tracing (platform/stages.py)."""
    try:
        # asyncio.timeout, not wait_for: no task per send (wait_for makes one on Python 3.11).
        async with asyncio.timeout(timeout_s):
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    except (KafkaError, TimeoutError) as exc:
        raise BusUnavailable(repr(exc)) from exc
