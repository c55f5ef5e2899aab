"""Self-healing after a memory broker's restart (its topics gone): no chatledger process restarts.

The broker is a private Tansu (never the shared one). Tansu 0.6 with memory storage loses every
topic, record, consumer group and committed offset when it dies, and answers a fetch past the end
of a partition with an empty batch (not OffsetOutOfRange): the cases bus/healing.py handles.
"""

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from databases import Database
from redis.asyncio import Redis

from chatledger.bus.healing import watch_positions
from chatledger.bus.kafka import (
    BusUnavailable,
    send_bounded,
    start_consumer,
    start_producer,
)
from chatledger.bus.topics import ensure_topics
from chatledger.platform import redis_keys
from chatledger.platform.config import Settings
from tests.helpers.broker import private_broker, start_tansu
from tests.helpers.cluster import start_cluster
from tests.helpers.daemons import port_open
from tests.helpers.people import People, Someone
from tests.helpers.wait import at_once, eventually
from tests.helpers.ws import connected

PARTITIONS = 3  # not Tansu's default of 4: an auto-created topic would show


async def test_a_committed_offset_past_the_end_restarts_at_the_beginning() -> None:
    """A group's committed offsets (100) beyond a partition's end (4 records): the consumer
    restarts those partitions at the beginning and reads every record; without the watch it
    would wait at 100 for ever (Tansu answers such a fetch with an empty batch)."""
    prefix = f"{Settings().prefix}past{uuid.uuid4().hex[:6]}."
    # A new Settings, not a copy: model_copy would keep the cached topic names of `migrated`.
    settings = Settings(prefix=prefix, kafka_partitions=2, kafka_heal_interval_s=0.2)
    topic, group = settings.commands_topic, settings.group("ledger")
    await ensure_topics(settings)
    partitions = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    first = await start_consumer(settings, topic, group, max_records=10)
    try:
        await eventually(lambda: at_once(first.assignment()), until=lambda a: len(a) == 2,
                         what="the first consumer's assignment")
        await first.commit({partition: 100 for partition in partitions})
    finally:
        await first.stop()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_idempotence=False)
    await producer.start()
    try:
        for n in range(4):
            await producer.send_and_wait(topic, value=b"%d" % n, partition=n % 2)
    finally:
        await producer.stop()

    consumer = await start_consumer(settings, topic, group, max_records=10)
    got: list[bytes] = []

    async def poll() -> list[bytes]:
        batch = await consumer.getmany(timeout_ms=100)
        got.extend(record.value for records in batch.values() for record in records)
        return got

    try:
        async with watch_positions(consumer, "test"):
            await eventually(poll, until=lambda values: len(values) >= 4, timeout=30,
                             what="the four records read from the beginning")
    finally:
        await consumer.stop()
    assert sorted(got) == [b"0", b"1", b"2", b"3"]


async def partition_counts(bootstrap: str, topics: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        described = await admin.describe_topics([t for t in topics if t in existing])
        return {entry["topic"]: len(entry["partitions"]) for entry in described}
    finally:
        await admin.close()


async def post(http: aiohttp.ClientSession, who: Someone, text: str) -> tuple[int, Any]:
    body = {"message": text, "is_public": True}
    async with http.post("/chat/message/add", json=body, headers=who.headers) as response:
        return response.status, await response.json()


async def applied_seqs(db: Database, ids: list[str]) -> dict[str, list[int]]:
    """command id -> the seqs of the events it appended (exactly once: one seq each)."""
    marks = ", ".join(f":c{i}" for i in range(len(ids)))
    rows = await db.fetch_all(f"SELECT command_id, seq FROM chat_events WHERE command_id IN"
                              f" ({marks})", {f"c{i}": c for i, c in enumerate(ids)})
    found: dict[str, list[int]] = {}
    for row in rows:
        found.setdefault(row[0], []).append(row[1])
    return found


async def test_after_a_broker_restart_every_role_heals_by_itself(
    migrated: Settings, people: People, db: Database, tmp_path: Path
) -> None:
    """api+gateway, ledger and history as three processes of one environment. The broker is
    SIGKILLed and started again empty. Without restarting anything: the topics come back with
    the configured partitions, and every command acknowledged after the restart is applied
    exactly once, reaches the viewer whose websocket stayed open (once, in order) and the
    history mirror in Redis."""
    model = await people.model()
    viewer = await people.client(model, "Vic", money="10")
    with private_broker(tmp_path) as (port, broker):
        bootstrap = f"127.0.0.1:{port}"
        env = {"CHATLEDGER_KAFKA_BOOTSTRAP": bootstrap,
               "CHATLEDGER_KAFKA_PARTITIONS": str(PARTITIONS),
               # Slow on purpose: POSTs reach the restarted broker seconds before the topics
               # are back, when an ack for a lost topic would be a 201 for nothing.
               "CHATLEDGER_KAFKA_HEAL_INTERVAL_S": "3",
               "CHATLEDGER_COMMAND_TIMEOUT_S": "1.5",
               "CHATLEDGER_PREFIX": f"{migrated.prefix}heal{uuid.uuid4().hex[:6]}."}
        settings = Settings(prefix=env["CHATLEDGER_PREFIX"])
        topics = [settings.commands_topic, settings.events_topic]
        with start_cluster(migrated, ["api,gateway", "ledger", "history"], env) as (front, *_):
            async with (aiohttp.ClientSession(front.url) as http,
                        connected(http, front.url, viewer) as watching):
                before = [(await post(http, viewer, f"before {n}"))[1]["id"] for n in range(5)]
                applied = await eventually(lambda: applied_seqs(db, before),
                                           until=lambda found: len(found) == 5,
                                           what="the commands before the crash applied")
                await watching.until_seq(max(max(seqs) for seqs in applied.values()))

                broker.kill()
                broker.wait()
                revived = start_tansu(port, tmp_path / "tansu-revived.log")
                try:
                    # Until the topics are back the API refuses (503); then it accepts.
                    after: list[str] = []
                    statuses: Counter[int] = Counter()

                    async def accepted() -> int:
                        status, answer = await post(http, viewer, f"after {sum(statuses.values())}")
                        statuses[status] += 1
                        if status == 201:
                            after.append(answer["id"])
                        return len(after)

                    await eventually(accepted, until=lambda n: n >= 20, timeout=60,
                                     interval=0.1, what="20 commands accepted after the restart")
                    assert set(statuses) <= {201, 503}, statuses
                    assert await partition_counts(bootstrap, topics) == dict.fromkeys(
                        topics, PARTITIONS)

                    found = await eventually(lambda: applied_seqs(db, after), timeout=60,
                                             until=lambda f: len(f) == len(after),
                                             what="every command after the restart applied")
                    assert all(len(seqs) == 1 for seqs in found.values()), found
                    want = sorted(seqs[0] for seqs in found.values())
                    events = await watching.until_seq(want[-1])
                    seqs = [event["seq"] for event in events]
                    assert seqs == sorted(set(seqs)), seqs  # each once, in order
                    assert set(want) <= set(seqs), (want, seqs)

                    redis = Redis.from_url(settings.redis_url)
                    key = redis_keys.history(settings, model.uuid)
                    try:
                        mirrored = await eventually(
                            lambda: redis.zrangebyscore(key, min(want), max(want)),
                            until=lambda members: len(members) == len(want),
                            what="the history mirror holding the events after the restart")
                    finally:
                        await redis.aclose()
                    assert len(mirrored) == len(want)
                finally:
                    revived.kill()
                    revived.wait()


async def test_a_producer_never_acknowledges_into_a_topic_the_broker_lost(
    tmp_path: Path,
) -> None:
    """Tansu restarted empty acknowledges (acks=all) records for topics it no longer has and
    keeps nothing. A producer holding the old metadata must refuse instead, until the topics are
    back; then what it acknowledges is really there."""
    with private_broker(tmp_path) as (port, broker):
        settings = Settings(kafka_bootstrap=f"127.0.0.1:{port}", kafka_partitions=1,
                            command_timeout_s=1.0, prefix=f"lost{uuid.uuid4().hex[:6]}.")
        await ensure_topics(settings)
        producer = await start_producer(settings)
        try:
            await send_bounded(producer, settings.commands_topic, b"k", b"before", 5)
            broker.kill()
            broker.wait()
            revived = start_tansu(port, tmp_path / "tansu-revived.log")
            try:
                await eventually(lambda: at_once(port_open(port)), what="the broker back")
                refused = 0
                for _ in range(10):  # the topics are not recreated yet
                    refused += not await _sent(producer, settings, b"into the void")
                assert refused == 10
                await ensure_topics(settings)
                await eventually(lambda: _sent(producer, settings, b"after"), timeout=30,
                                 what="a send accepted once the topics are back")
                assert await _read_all(settings) == [b"after"]
            finally:
                revived.kill()
                revived.wait()
        finally:
            await producer.stop()


async def _sent(producer: AIOKafkaProducer, settings: Settings, value: bytes) -> bool:
    try:
        await send_bounded(producer, settings.commands_topic, b"k", value, 1)
    except BusUnavailable:
        return False
    return True


async def _read_all(settings: Settings) -> list[bytes]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        partition = TopicPartition(settings.commands_topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        batch = await consumer.getmany(partition, timeout_ms=2000)
        return [record.value for record in batch.get(partition, [])]
    finally:
        await consumer.stop()
