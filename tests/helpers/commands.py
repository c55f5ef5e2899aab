"""Put commands on the commands topic directly, as the API would (redelivery, crash tests)."""

from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from chatledger.bus.command_codec import encode_command
from chatledger.bus.topics import ensure_topics
from chatledger.domain.commands import ChatCommand, Refund
from chatledger.platform.config import Settings


async def produce(settings: Settings, commands: Sequence[ChatCommand | Refund]) -> None:
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                enable_idempotence=False, linger_ms=5)
    await producer.start()
    try:
        sends = [await producer.send(settings.commands_topic, key=c.chat.encode(),
                                     value=encode_command(c)) for c in commands]
        for sent in sends:
            await sent
    finally:
        await producer.stop()
