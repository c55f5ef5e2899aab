"""Flow control in the gateway: a paused reader holds back only its own frames, never its room's.

The gateway runs under a Kafka prefix of its own with a send queue big enough that the paused
reader is not cut off: this test is about what a socket that falls behind, then catches up,
receives (every event once, in order), and about the others meanwhile (everything, at once).
"""

import contextlib
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from chatledger.bus.topics import ensure_topics
from chatledger.platform.config import Settings
from tests.helpers.people import People, Someone
from tests.helpers.service import Service, start_service
from tests.helpers.ws import connected, next_event, ws_url

EVENTS = 4000
PADDING = "x" * 4096  # 16 MB in all: several times what the socket buffers of one peer hold


@pytest.fixture(scope="module")
def roomy_gateway(migrated: Settings) -> Iterator[tuple[Service, Settings]]:
    prefix = f"{migrated.prefix}flow{uuid.uuid4().hex[:6]}."
    # The paused reader answers no ping while it does not read: with the 20 s heartbeat it was
    # cut off (CLOSED instead of its events) when a loaded machine made the test take > 30 s.
    env = {"CHATLEDGER_PREFIX": prefix, "CHATLEDGER_WS_SEND_QUEUE": str(4 * EVENTS),
           "CHATLEDGER_WS_HEARTBEAT_S": "600"}
    with start_service(migrated, roles="gateway", extra_env=env) as gateway:
        yield gateway, migrated.model_copy(update={"prefix": prefix})


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def fake(model: Someone, sender: Someone, seq: int) -> bytes:
    return orjson.dumps(
        {
            **{"type": "message", "id": str(uuid.uuid4()), "seq": seq, "chat": model.uuid},
            **{"is_public": True, "to": None, "message": f"{seq} {PADDING}"},
            "from": {"uuid": sender.uuid, "name": sender.person.name, "role": "client"},
            "created_at": "2024-01-01T00:00:00.000000Z",
        }
    )


def backlogs(gateway: Service) -> float:
    with urllib.request.urlopen(f"{gateway.url}/metrics", timeout=5) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith("chatledger_ws_backlogs_total "):
                return float(line.split()[1])
    raise AssertionError("no chatledger_ws_backlogs_total series")


async def test_a_paused_reader_gets_every_event_once_in_order_and_slows_nobody(
    roomy_gateway: tuple[Service, Settings], people: People, http: aiohttp.ClientSession
) -> None:
    gateway, own = roomy_gateway
    model = await people.model()
    viewers = [await people.client(model, f"Fast{i}") for i in range(3)]
    sluggard = await people.client(model, "Paused")
    await ensure_topics(own)
    before = backlogs(gateway)
    producer = AIOKafkaProducer(bootstrap_servers=own.kafka_bootstrap, acks="all")
    await producer.start()
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(producer.stop)
        fast = [await stack.enter_async_context(connected(http, gateway.url, v)) for v in viewers]
        paused = await http.ws_connect(ws_url(gateway.url, sluggard), max_msg_size=1 << 20)
        stack.push_async_callback(paused.close)
        assert (await paused.receive_json())["type"] == "connected"  # then it stops reading

        sends = [
            await producer.send(own.events_topic, key=model.uuid.encode(),
                                value=fake(model, viewers[0], seq))
            for seq in range(1, EVENTS + 1)
        ]
        for sent in sends:
            await sent

        # The room gets everything while the paused reader has not read a byte more...
        for client in fast:
            await client.until_seq(EVENTS)
            assert client.seqs() == list(range(1, EVENTS + 1))
        # ... because its frames waited in its own outbox, not in the room's way.
        assert backlogs(gateway) > before

        seqs: list[int] = []
        while len(seqs) < EVENTS:
            seqs.append((await next_event(paused))["seq"])
        assert seqs == list(range(1, EVENTS + 1))
        assert not paused.closed
