"""The topic checks ask the broker about this service's two topics only.

A broker shared by many services (or by every test session, here) holds thousands of other
partitions; an answer about all of them, asked every second by every process, built tens of
thousands of objects each time and kept the garbage collector in full collections every ~2 s,
each pausing the whole process for ~100 ms (docs/performance.md, "What stalls posts").
"""

import uuid

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from chatledger.bus.kafka import start_producer
from chatledger.bus.topic_metadata import broker_topics
from chatledger.bus.topics import ensure_topics
from chatledger.platform.config import Settings


async def test_only_our_topics_are_asked_about(migrated: Settings) -> None:
    own = migrated.model_copy(update={"prefix": f"{migrated.prefix}md{uuid.uuid4().hex[:6]}."})
    other = f"{own.prefix}someone-elses"
    await ensure_topics(own)
    admin = AIOKafkaAdminClient(bootstrap_servers=own.kafka_bootstrap)
    await admin.start()
    producer = await start_producer(own)
    try:
        await admin.create_topics([NewTopic(other, num_partitions=1, replication_factor=1)])
        assert await broker_topics(own, producer.client) == {own.commands_topic, own.events_topic}
    finally:
        await producer.stop()
        await admin.delete_topics([other, own.commands_topic, own.events_topic])
        await admin.close()


async def test_a_missing_topic_is_missing(migrated: Settings) -> None:
    own = migrated.model_copy(update={"prefix": f"{migrated.prefix}md{uuid.uuid4().hex[:6]}."})
    await ensure_topics(own)
    admin = AIOKafkaAdminClient(bootstrap_servers=own.kafka_bootstrap)
    await admin.start()
    producer = await start_producer(own)
    try:
        await admin.delete_topics([own.events_topic])
        assert await broker_topics(own, producer.client) <= {own.commands_topic}
    finally:
        await producer.stop()
        await admin.delete_topics([own.commands_topic])
        await admin.close()
