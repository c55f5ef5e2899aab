"""The relay: what the broker lost of `chat.events` after acknowledging it is published again.

DESIGN §6 wants every row of `chat_events` on `chat.events` at least once, even after the broker
lost records it had acknowledged. On Kafka in production that is an unclean leader election, or
a topic deleted and recreated; here it is Tansu with memory storage, which loses every topic when
it restarts (`bus/healing.py`). Either way the partition's end offset goes BACK: that is what the
relay watches. Every ledger process reads the events topic's end offsets every
`kafka_heal_interval_s` and compares them with the ends recorded in MySQL (`bus_partition_ends`,
shared, so a process started after the loss still sees it). A lower end is claimed with a
conditional UPDATE, so exactly one process handles each loss, and that process publishes again,
in id order (each stream's seq order), every row of the history window committed before the
claim whose stream hashes to the reborn partition (keyed by stream, as the ledger does).

Why the window and not a per-stream published watermark: the window is all any consumer reads
again. The gateway starts at the end and recovers sockets from MySQL with `since`; the history
mirror holds the window; and every consumer that sees a chat's seq jump fills the gap from MySQL
(`readmodels/gap_fill.py`, `history/mirror_scripts.py`), which also covers a publish that failed
(a CLI write while the broker was away). A watermark would add a MySQL write to every ledger
batch, the hot path, and it would still vouch for records the broker later lost, the case here.
Republished records are duplicates for whoever saw them already: consumers drop them by
(chat, seq). Newer events the ledger publishes meanwhile may overtake them; consumers then see a
jump and fill it from MySQL first.

What it cannot see (like `bus/healing.py`): a partition reborn AND refilled past its recorded end
between two looks; and the process that claimed a loss dying before it republished (the gaps are
then filled by the consumers at each chat's next event). Tansu 0.6 answers ListOffsets with the
last record batch's first offset + 1, not the true end: a lower bound that still grows with the
partition and goes back to 0 with a rebirth, which is all the comparison needs; a reborn
partition refilled with a batch starting at or past that bound before the next look is missed.
"""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from databases import Database

from chatledger.bus.kafka import BusUnavailable, started_client
from chatledger.bus.partitioner import partition_of
from chatledger.bus.topic_metadata import topic_metadata
from chatledger.domain.events import Event
from chatledger.ledger.event_rows import EVENT_COLUMNS, row_to_event
from chatledger.ledger.worker import publish
from chatledger.platform.config import Settings
from chatledger.platform.retrying import until_available

log = logging.getLogger(__name__)
PAGE = 1000
ENDS_TIMEOUT_S = 5.0


def reborn(recorded: dict[int, int], ends: dict[int, int]) -> list[int]:
    """The partitions whose end went back: their records are gone."""
    return sorted(part for part, end in ends.items() if end < recorded.get(part, 0))


async def partition_ends(consumer: AIOKafkaConsumer, topic: str) -> dict[int, int]:
    """partition -> end offset; {} while the topic is missing (recreated by `keep_topics`)."""
    async with asyncio.timeout(ENDS_TIMEOUT_S):
        # Fresh (the topic may have been recreated), of this topic alone (see topic_metadata)
        metadata = await topic_metadata(consumer._client, [topic])
        numbers = metadata.partitions_for_topic(topic) or set()
        partitions = [TopicPartition(topic, number) for number in sorted(numbers)]
        if not partitions:
            return {}
        ends = await consumer.end_offsets(partitions)
    return {partition.partition: int(end) for partition, end in ends.items()}


async def claim_reborn(db: Database, topic: str, ends: dict[int, int]) -> list[int]:
    """Record the ends; the reborn partitions whose lower end THIS call recorded (claimed)."""
    claimed = []
    async with db.connection() as connection, connection.raw_connection.cursor() as cur:
        await cur.execute(
            "SELECT part, end_offset FROM bus_partition_ends WHERE topic = %s", (topic,)
        )
        recorded = {int(part): int(end) for part, end in await cur.fetchall()}
        for part in reborn(recorded, ends):
            await cur.execute(
                "UPDATE bus_partition_ends SET end_offset = %s"
                " WHERE topic = %s AND part = %s AND end_offset = %s",
                (ends[part], topic, part, recorded[part]),
            )
            if cur.rowcount == 1:
                claimed.append(part)
        grown = [(topic, part, end) for part, end in ends.items() if end > recorded.get(part, -1)]
        if grown:
            await cur.executemany(
                "INSERT INTO bus_partition_ends (topic, part, end_offset) VALUES (%s, %s, %s)"
                " ON DUPLICATE KEY UPDATE end_offset = GREATEST(end_offset, VALUES(end_offset))",
                grown,
            )
        await connection.raw_connection.commit()
    return claimed


async def window_rows(db: Database, since: datetime) -> list[Event]:
    """Every row created at or after `since` and committed by now, oldest first.

    Read newest first by id (the primary key) and stopped at the window's start, so it costs
    the window, not the table."""
    found: list[Event] = []
    below: int | None = None
    async with db.connection() as connection, connection.raw_connection.cursor() as cur:
        while True:
            bound = "" if below is None else "WHERE id < %s"
            await cur.execute(
                f"SELECT {EVENT_COLUMNS} FROM chat_events {bound} ORDER BY id DESC LIMIT %s",
                (PAGE,) if below is None else (below, PAGE),
            )
            rows = await cur.fetchall()
            events = [row_to_event(row) for row in rows]
            found.extend(event for event in events if event.created_at >= since)
            if len(rows) < PAGE or any(event.created_at < since for event in events):
                break
            below = rows[-1][0]  # EVENT_COLUMNS start with the id
    found.reverse()
    return found


async def republish(
    settings: Settings, db: Database, producer: AIOKafkaProducer, parts: list[int], total: int
) -> int:
    """Publish the window's rows of streams on `parts` again; how many."""
    since = datetime.now(UTC) - timedelta(seconds=settings.history_window_s)
    rows = await until_available(lambda: window_rows(db, since), what="relay read")
    wanted = set(parts)
    events = [event for event in rows if partition_of(event.stream, total) in wanted]
    for start in range(0, len(events), PAGE):
        await _publish_page(settings, producer, events[start : start + PAGE])
    return len(events)


async def _publish_page(settings: Settings, producer: AIOKafkaProducer, page: list[Event]) -> None:
    await until_available(
        lambda: publish(producer, settings.events_topic, page), what="relay publish"
    )


async def _claim(db: Database, topic: str, ends: dict[int, int]) -> list[int]:
    return await until_available(lambda: claim_reborn(db, topic, ends), what="relay ends")


async def relay(settings: Settings, db: Database, producer: AIOKafkaProducer) -> None:
    """The ledger role's relay loop, for as long as the process runs."""
    consumer = await _relay_consumer(settings)
    try:
        while True:
            await asyncio.sleep(settings.kafka_heal_interval_s)
            try:
                await _look(settings, db, producer, consumer)
            except Exception:  # never let the relay die silently: look again next time
                log.warning("relay: look failed, retrying", exc_info=True)
    finally:
        await consumer.stop()


async def _relay_consumer(settings: Settings) -> AIOKafkaConsumer:
    """Group-less: it only asks for end offsets. A broker away at start is waited for (the
    relay must not stop the ledger process)."""
    while True:
        try:
            return await started_client(
                lambda: AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                         group_id=None),
                30.0,
            )
        except BusUnavailable as exc:
            log.warning("relay: broker unavailable, waiting: %r", exc)


async def _look(
    settings: Settings, db: Database, producer: AIOKafkaProducer, consumer: AIOKafkaConsumer
) -> None:
    topic = settings.events_topic
    try:
        ends = await partition_ends(consumer, topic)
    except (KafkaError, TimeoutError, OSError) as exc:
        log.debug("relay: end offsets unavailable: %r", exc)
        return
    if not ends:
        return
    claimed = await _claim(db, topic, ends)
    if claimed:
        log.warning("events topic partitions lost their records: republishing",
                    extra={"partitions": claimed})
        count = await republish(settings, db, producer, claimed, len(ends))
        log.warning("republished the window", extra={"partitions": claimed, "events": count})
