"""The websocket gateway against the real stack: routing, recovery, restarts, duplicates, slowness.

Events are made by the real api + ledger (the shared `service`); some tests run their own gateway
process to kill it or to give it small limits. The slow-reader test runs its gateway under its own
Kafka prefix, so the oversized events it fakes on the bus reach no other consumer.
"""

import asyncio
import contextlib
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from databases import Database

from chatledger.bus.topics import ensure_topics
from chatledger.platform.config import Settings
from tests.helpers.people import People, Someone
from tests.helpers.service import Service, start_service
from tests.helpers.wait import eventually
from tests.helpers.ws import Client, Event, connected, next_event, ws_url


async def say(
    http: aiohttp.ClientSession,
    base: str,
    who: Someone,
    text: str,
    *,
    public: bool = True,
    to: str | None = None,
) -> None:
    body: dict[str, Any] = {"message": text, "is_public": public}
    if to is not None:
        body["to"] = to
    answer = await http.post(f"{base}/chat/message/add", json=body, headers=who.headers)
    assert answer.status == 201, await answer.text()


def texts_of(events: list[Event]) -> list[str]:
    return [e["message"] for e in events if e["type"] == "message"]


async def trio(people: People) -> tuple[Someone, Someone, Someone]:
    model = await people.model()
    return model, await people.client(model, "Alice"), await people.client(model, "Bob")


@contextlib.asynccontextmanager
async def room_of_three(
    http: aiohttp.ClientSession, base: str, *who: Someone
) -> AsyncIterator[tuple[Client, ...]]:
    async with contextlib.AsyncExitStack() as stack:
        yield tuple([await stack.enter_async_context(connected(http, base, w)) for w in who])


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_public_event_reaches_the_whole_room(
    service: Service, people: People, http: aiohttp.ClientSession, db: Database
) -> None:
    model, alice, bob = await trio(people)
    async with room_of_three(http, service.url, model, alice, bob) as (m, a, b):
        for client in (m, a, b):
            assert client.connected["chat"] == model.uuid
            assert client.connected["seq"] == 0
            uuid.UUID(client.connected["connection_id"])
        rows = await db.fetch_all(
            "SELECT type, entity_uuid, connection_uuid FROM connections WHERE chat_uuid = :c",
            {"c": model.uuid},
        )
        assert {(r[0], r[1], r[2]) for r in rows} == {
            ("user", model.uuid, m.connected["connection_id"]),
            ("client", alice.uuid, a.connected["connection_id"]),
            ("client", bob.uuid, b.connected["connection_id"]),
        }
        await say(http, service.url, alice, "hello everyone")
        for client in (m, a, b):
            events = await client.until_seq(1)
            assert texts_of(events) == ["hello everyone"]
            assert events[0]["from"]["uuid"] == alice.uuid and events[0]["is_public"] is True
    closed = await eventually(
        lambda: db.fetch_val(
            "SELECT COUNT(*) FROM connections WHERE chat_uuid = :c", {"c": model.uuid}
        ),
        until=lambda n: n == 0,
        what="the gateway to remove closed connections",
    )
    assert closed == 0


async def test_private_events_reach_only_sender_model_and_recipient(
    service: Service, people: People, http: aiohttp.ClientSession
) -> None:
    model, alice, bob = await trio(people)
    async with room_of_three(http, service.url, model, alice, bob) as (m, a, b):
        await say(http, service.url, alice, "just for you", public=False)  # seq 1
        await say(http, service.url, model, "thanks alice", public=False, to=alice.uuid)  # 2
        await say(http, service.url, bob, "public again")  # seq 3: everyone's marker
        for client in (m, a, b):
            await client.until_seq(3)
        # Per chat the bus is in seq order: once seq 3 arrived, nothing earlier is still coming.
        assert texts_of(m.events) == ["just for you", "thanks alice", "public again"]
        assert texts_of(a.events) == ["just for you", "thanks alice", "public again"]
        assert texts_of(b.events) == ["public again"]


async def test_reconnect_with_since_gets_exactly_what_was_missed(
    service: Service, people: People, http: aiohttp.ClientSession
) -> None:
    model, alice, bob = await trio(people)
    async with connected(http, service.url, model) as m:
        async with connected(http, service.url, alice) as a:
            await say(http, service.url, bob, "seen live")
            last = (await a.until_seq(1))[-1]["seq"]
        # Alice is away: public and private events happen; she may only see some of them.
        await say(http, service.url, bob, "missed 1")
        await say(http, service.url, bob, "bob's secret", public=False)
        await say(http, service.url, model, "to alice", public=False, to=alice.uuid)
        await say(http, service.url, bob, "missed 2")
        await m.until_seq(5)
        async with connected(http, service.url, alice, since=last) as back:
            # Live traffic while she is recovering must neither overtake nor repeat the replay.
            for n in range(5):
                await say(http, service.url, bob, f"live {n}")
            await back.until_seq(10)
            assert back.connected["seq"] >= 5
            assert texts_of(back.events) == [
                "missed 1",
                "to alice",
                "missed 2",
                *(f"live {n}" for n in range(5)),
            ]
            assert back.seqs() == sorted(set(back.seqs()))


async def test_reconnecting_again_and_again_under_live_traffic_loses_and_repeats_nothing(
    service: Service, people: People, http: aiohttp.ClientSession
) -> None:
    _model, alice, bob = await trio(people)
    total = 40

    async def chatter() -> None:
        for n in range(total):
            await say(http, service.url, bob, f"n{n}")

    poster = asyncio.create_task(chatter())
    seen: list[Event] = []
    sessions = 0
    try:
        while len(seen) < total:
            since = seen[-1]["seq"] if seen else 0
            ws = await http.ws_connect(ws_url(service.url, alice, since))
            sessions += 1
            assert (await ws.receive_json(timeout=30))["type"] == "connected"
            # Leave after a few events: whatever was in flight must come back next time.
            for _ in range(min(total - len(seen), 3)):
                seen.append(await next_event(ws))
            await ws.close()
    finally:
        await poster
    assert [e["seq"] for e in seen] == list(range(1, total + 1))
    assert texts_of(seen) == [f"n{n}" for n in range(total)]
    assert sessions > 3


async def test_gateway_shutdown_says_going_away_and_kill_loses_nothing(
    service: Service, people: People, http: aiohttp.ClientSession, migrated: Settings
) -> None:
    _model, alice, bob = await trio(people)

    with start_service(migrated, roles="gateway") as gateway:
        ws = await http.ws_connect(ws_url(gateway.url, alice))
        assert (await ws.receive_json())["type"] == "connected"
        gateway.process.send_signal(signal.SIGTERM)
        closing = await ws.receive(timeout=15)
        while closing.type is aiohttp.WSMsgType.TEXT:  # a presence frame may come first
            assert orjson.loads(closing.data)["type"] == "presence", closing
            closing = await ws.receive(timeout=15)
        assert closing.type is aiohttp.WSMsgType.CLOSE, closing
        assert closing.data == aiohttp.WSCloseCode.GOING_AWAY

    with start_service(migrated, roles="gateway") as gateway:
        async with connected(http, gateway.url, alice) as a:
            await say(http, service.url, bob, "before the crash")
            last = (await a.until_seq(1))[-1]["seq"]
            gateway.process.send_signal(signal.SIGKILL)
            gateway.process.wait(timeout=10)
        for n in range(3):
            await say(http, service.url, bob, f"while down {n}")

    with start_service(migrated, roles="gateway") as gateway:
        async with connected(http, gateway.url, alice, since=last) as back:
            await say(http, service.url, bob, "after the restart")
            events = await back.until_seq(last + 4)
            assert texts_of(events) == [
                "while down 0",
                "while down 1",
                "while down 2",
                "after the restart",
            ]
            assert back.seqs() == list(range(last + 1, last + 5))


async def test_a_duplicate_on_the_bus_is_delivered_once(
    service: Service, people: People, http: aiohttp.ClientSession, settings: Settings
) -> None:
    model = await people.model()
    alice = await people.client(model, "Alice")
    async with connected(http, service.url, alice) as a:
        await say(http, service.url, alice, "only once")
        await a.until_seq(1)
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for _ in range(2):  # the very bytes the ledger published, redelivered twice
                await producer.send_and_wait(
                    settings.events_topic, key=model.uuid.encode(), value=a.texts[1].encode()
                )
        finally:
            await producer.stop()
        await say(http, service.url, alice, "next")
        await a.until_seq(2)
        assert texts_of(a.events) == ["only once", "next"]
        assert a.seqs() == [1, 2]


@pytest.fixture(scope="module")
def tight_gateway(migrated: Settings) -> Iterator[tuple[Service, Settings]]:
    """A gateway of its own: its own bus prefix, a 4-message send queue, one allowed origin."""
    prefix = f"{migrated.prefix}gw{uuid.uuid4().hex[:6]}."
    env = {
        "CHATLEDGER_PREFIX": prefix,
        "CHATLEDGER_WS_SEND_QUEUE": "4",
        "CHATLEDGER_ALLOWED_ORIGINS": '["https://ok.example"]',
    }
    with start_service(migrated, roles="gateway", extra_env=env) as gateway:
        yield gateway, Settings(prefix=prefix)


async def test_a_slow_reader_is_disconnected_while_the_room_keeps_receiving(
    tight_gateway: tuple[Service, Settings],
    people: People,
    http: aiohttp.ClientSession,
    db: Database,
) -> None:
    gateway, own = tight_gateway
    model = await people.model()
    fast, slow = await people.client(model, "Fast"), await people.client(model, "Slow")
    padding, most = "x" * 256 * 1024, 400  # 100 MB at most; TCP buffers hold a few MB

    def fake(seq: int) -> bytes:
        return orjson.dumps(
            {
                **{"type": "message", "id": str(uuid.uuid4()), "seq": seq, "chat": model.uuid},
                **{"is_public": True, "to": None, "message": padding},
                "from": {"uuid": fast.uuid, "name": "Fast", "role": "client"},
                "created_at": "2024-01-01T00:00:00.000000Z",
            }
        )

    async def slow_is_registered() -> bool:
        query = "SELECT COUNT(*) FROM connections WHERE connection_uuid = :c"
        return bool(await db.fetch_val(query, {"c": slow_id}))

    await ensure_topics(own)
    producer = AIOKafkaProducer(
        bootstrap_servers=own.kafka_bootstrap, acks="all", max_request_size=2 << 20
    )
    await producer.start()
    async with connected(http, gateway.url, fast) as reader:
        # The slow one takes its `connected` message, then never reads again.
        sluggard = await http.ws_connect(ws_url(gateway.url, slow))
        slow_id = (await sluggard.receive_json())["connection_id"]
        try:
            seq = 0
            # In step with the fast reader, so only the slow one can ever fall behind.
            while seq < most and await slow_is_registered():
                seq += 1
                await producer.send_and_wait(
                    own.events_topic, key=model.uuid.encode(), value=fake(seq)
                )
                await reader.until_seq(seq)
            assert not await slow_is_registered(), f"still connected after {seq} events"
            for _ in range(3):  # the room goes on without it
                seq += 1
                await producer.send_and_wait(
                    own.events_topic, key=model.uuid.encode(), value=fake(seq)
                )
            await reader.until_seq(seq)
        finally:
            await producer.stop()
        assert reader.seqs() == list(range(1, seq + 1))
        assert not reader.ws.closed
        received = 0
        async for message in sluggard:  # what was already on its way, then the end
            received += message.type is aiohttp.WSMsgType.TEXT
        assert received < seq
        assert "too slow" in gateway.log()


async def test_bad_token_or_origin_is_refused_before_the_upgrade(
    tight_gateway: tuple[Service, Settings], people: People, http: aiohttp.ClientSession
) -> None:
    gateway, _ = tight_gateway
    model = await people.model()
    forged = Someone(model.person, model.token[:-2] + ("AA" if model.token[-2:] != "AA" else "BB"))
    for url in (ws_url(gateway.url, forged), f"{gateway.url}/ws", f"{gateway.url}/ws?token=x"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url)
        assert refused.value.status == 401
        answer = await http.get(url)
        assert answer.status == 401
        assert await answer.json() == {"success": "false", "message": "anauthorized"}

    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(ws_url(gateway.url, model), origin="https://evil.example")
    assert refused.value.status == 403
    ws = await http.ws_connect(ws_url(gateway.url, model), origin="https://ok.example")
    assert (await ws.receive_json())["type"] == "connected"
    await ws.close()

    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(ws_url(gateway.url, model) + "&since=-3")
    assert refused.value.status == 400


class Pinged:
    """A raw client that counts the gateway's pings and answers them or not; ends at the close."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, answers: bool) -> None:
        self.ws, self.answers, self.pings = ws, answers, 0
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while (message := await self.ws.receive()).type not in (
            aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR
        ):
            if message.type is aiohttp.WSMsgType.PING:
                self.pings += 1
                if self.answers:
                    await self.ws.pong(message.data)

    async def count(self) -> int:
        return self.pings


async def test_a_quiet_socket_is_pinged_and_one_that_never_answers_is_cut_off(
    people: People, http: aiohttp.ClientSession, migrated: Settings, db: Database
) -> None:
    model = await people.model()
    alive, mute = await people.client(model, "Alive"), await people.client(model, "Mute")
    env = {"CHATLEDGER_WS_HEARTBEAT_S": "1"}
    with start_service(migrated, roles="gateway", extra_env=env) as gateway:
        answering = Pinged(await http.ws_connect(ws_url(gateway.url, alive), autoping=False), True)
        silent = Pinged(await http.ws_connect(ws_url(gateway.url, mute), autoping=False), False)
        try:
            await asyncio.wait_for(silent.reader, 60)  # cut off: its read loop ended
            assert silent.pings == 1  # one ping, unanswered: cut off, not pinged again
            await eventually(answering.count, until=lambda n: n >= 3, what="three pings")
            assert not answering.reader.done() and not answering.ws.closed
            await eventually(
                lambda: db.fetch_val("SELECT COUNT(*) FROM connections WHERE entity_uuid = :e",
                                     {"e": mute.uuid}),
                until=lambda n: n == 0, what="the cut-off socket's row to be removed")
        finally:
            await answering.ws.close()
            await silent.ws.close()
