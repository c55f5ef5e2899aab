"""The service's two topics: created with the configured partitions and replication, and
created again whenever a broker has lost them.

Topics are created only here, never by a client asking for a missing topic (a broker that
auto-creates would use its own default partition count, and a chat's commands would be spread
differently from then on).
"""

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from chatledger.bus.kafka import BusUnavailable, started_client
from chatledger.bus.topic_metadata import broker_topics
from chatledger.platform.config import Settings

log = logging.getLogger(__name__)


class TopicsNotCreated(KafkaError):  # type: ignore[misc]
    """The broker answered a CreateTopics with an error (e.g. more replicas than brokers)."""



async def ensure_topics(settings: Settings, deadline_s: float = 30.0) -> None:
    """Create both topics if missing; waits for a broker that is still starting."""
    wanted = [settings.commands_topic, settings.events_topic]
    admin = await started_client(
        lambda: AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap), deadline_s
    )
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name,
                num_partitions=settings.kafka_partitions,
                replication_factor=settings.kafka_replication_factor,
            )
            for name in wanted
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process was first
                answer = await admin.create_topics(missing)
                refused = creation_errors(answer.topic_errors)
                if refused:
                    raise TopicsNotCreated(f"the broker refused to create topics: {refused}")
            log.warning(
                "created topics",
                extra={
                    "topics": [topic.name for topic in missing],
                    "partitions": settings.kafka_partitions,
                    "replication_factor": settings.kafka_replication_factor,
                },
            )
    finally:
        await admin.close()


def creation_errors(topic_errors: list[tuple[Any, ...]]) -> dict[str, str]:
    """topic -> error name, from a CreateTopics answer (aiokafka does not raise them)."""
    return {
        topic: for_code(code).__name__
        for topic, code, *_ in topic_errors
        if code not in (0, TopicAlreadyExistsError.errno)
    }


def missing_topics(settings: Settings, topics: set[str]) -> list[str]:
    """Which of this service's topics a metadata answer (its topic names) lacks."""
    return [name for name in (settings.commands_topic, settings.events_topic) if name not in topics]


async def keep_topics(settings: Settings, producer: AIOKafkaProducer) -> None:
    """Recreate the topics whenever the broker has lost them (a memory broker's restart).

    Every process runs this, so whichever notices first recreates them (a race between processes
    ends in TopicAlreadyExists, ignored). Until then a produce fails at once (no auto-creation):
    the API answers 503 and the ledger retries its publish.
    """
    while True:
        await asyncio.sleep(settings.kafka_heal_interval_s)
        try:
            missing = missing_topics(settings, await broker_topics(settings, producer.client))
            if missing:
                log.warning("topics missing on the broker, recreating", extra={"topics": missing})
                await ensure_topics(settings, deadline_s=settings.kafka_heal_interval_s * 5)
        except (KafkaError, BusUnavailable, OSError) as exc:
            log.debug("topic check: broker unavailable: %r", exc)
