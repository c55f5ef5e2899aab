"""What the broker knows of this service's topics, asked about those topics alone."""

from collections.abc import Sequence

import aiokafka.client
from aiokafka.cluster import ClusterMetadata
from aiokafka.errors import KafkaError

from chatledger.platform.config import Settings


async def broker_topics(settings: Settings, client: aiokafka.client.AIOKafkaClient) -> set[str]:
    """Which of this service's two topics the broker has, asking about those two alone.

    Not `fetch_all_metadata`: a broker shared by many services holds thousands of partitions, and
    an answer about all of them, asked every second in every process, built tens of thousands of
    objects each time: the garbage collector then ran a full collection every ~2 s, pausing the
    whole process ~100 ms each time (docs/performance.md, "What stalls posts").
    """
    return set((await topic_metadata(client, (settings.commands_topic, settings.events_topic)))
               .topics())


async def topic_metadata(
    client: aiokafka.client.AIOKafkaClient, topics: Sequence[str]
) -> ClusterMetadata:
    """`client.fetch_all_metadata()` for `topics` only (aiokafka has no public call for it); a
    topic the broker lacks is absent (no auto-creation: `_MetadataWithoutAutoCreation`)."""
    metadata = ClusterMetadata(metadata_max_age_ms=client._metadata_max_age_ms)
    if not await client._metadata_update(metadata, list(topics)):
        raise KafkaError("Unable to get cluster metadata over all known brokers")
    return metadata
