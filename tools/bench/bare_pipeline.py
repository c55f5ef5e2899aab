"""The bare-pipeline peer of `make bench`: chatledger's hops with no logic between them.

`python -m tools.bench.bare_pipeline PORT TOKENS` (TOKENS: a JSON file {token: chat}; the broker,
MySQL DSN and topic prefix come from the same CHATLEDGER_* variables as the service) runs in ONE
process, like `serve --roles api,history,gateway,ledger`:

  POST /chat/message/add  Bearer token -> its chat (a dict lookup, no JWT check), the body's JSON
                          read, one command produced (acks=all) and awaited, then 201;
  consumer ("ledger")     each fetched batch is one MySQL transaction: one row per command in one
                          multi-row INSERT, committed; then one event per command produced (all
                          sends of the batch awaited together, overlapping the next batch's
                          transaction, as the ledger's pipeline does; the next batch's publish
                          waits for them) and the offsets committed beside the next publish;
  feed ("gateway")        a group-less consumer at the end of the events topic; per event one
                          websocket frame, built once, written to every socket of its chat;
  GET  /ws?token=         a viewer, greeted with {"type":"connected"} like the gateway.

Every broker setting is chatledger's own, read from the same Settings (fetch_max_wait_ms,
linger_ms, acks=all, max_batch_size, max_poll_records = ledger_batch_size and 1000 for the
feed, the same getmany timeout), so the difference between the two is chatledger's logic alone.
With CHATLEDGER_TRACE_STAGES=1 it stamps chatledger's stages (the bench's waterfall): the event
then carries `_stages`, the response the API's stamps."""

import asyncio
import contextlib
import datetime
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import aiomysql
import orjson
import uvloop
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from chatledger.bus.consume import FETCH_TIMEOUT_MS
from chatledger.platform import stages
from chatledger.platform.config import Settings
from chatledger.platform.db import _server_params
from tools.bench.fanout import text_frame

TABLE = "bare_events"
FEED_RECORDS = 1000  # the gateway feed's max_poll_records
CONNECTED = '{"type":"connected"}'
SETTINGS = web.AppKey("settings", Settings)
TOKENS = web.AppKey("tokens", dict[str, str])
ROOMS = web.AppKey("rooms", dict[str, set[asyncio.Transport]])
PRODUCER = web.AppKey("producer", AIOKafkaProducer)
TASKS = web.AppKey("tasks", list["asyncio.Task[None]"])


def topics(settings: Settings) -> tuple[str, str]:
    return f"{settings.prefix}bare.commands", f"{settings.prefix}bare.events"


def command_value(chat: str, body: bytes) -> bytes:
    """The command a POST becomes: its chat and the message as sent. Raises ValueError on a
    body that is not a JSON object with a string `message`."""
    message = orjson.loads(body).get("message")
    if not isinstance(message, str):
        raise ValueError("message must be a string")
    return orjson.dumps({"chat": chat, "message": message})


def event_value(command: bytes, seq: int, created_at: str) -> bytes:
    """The event a committed command becomes (the viewers read `created_at` and the text)."""
    fields = orjson.loads(command)
    return orjson.dumps({"type": "message", "seq": seq, "chat": fields["chat"],
                         "message": fields["message"], "created_at": created_at})


def utc_now_text() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds").replace(
        "+00:00", "Z")


def producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                            enable_idempotence=False, linger_ms=settings.kafka_linger_ms,
                            max_batch_size=1 << 20)


async def post_message(request: web.Request) -> web.Response:
    received = stages.now() if stages.ON else 0.0
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    chat = request.app[TOKENS].get(token)
    if chat is None:
        return web.json_response({"error": "unknown token"}, status=401)
    try:
        value = command_value(chat, await request.read())
    except (ValueError, AttributeError):
        return web.json_response({"error": "bad body"}, status=400)
    commands, _ = topics(request.app[SETTINGS])
    headers = stages.header({"api_received": received}) if stages.ON else None
    await request.app[PRODUCER].send_and_wait(commands, value, key=chat.encode(),
                                              headers=headers)
    answer = web.json_response({"ok": True}, status=201)
    if stages.ON:
        answer.headers[stages.RESPONSE_HEADER] = orjson.dumps(
            {"api_received": received, "api_acked": stages.now()}).decode()
    return answer


async def websocket(request: web.Request) -> web.StreamResponse:
    chat = request.app[TOKENS].get(request.query.get("token", ""))
    if chat is None:
        return web.json_response({"error": "unknown token"}, status=401)
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    await ws.send_str(CONNECTED)
    transport = request.transport
    room = request.app[ROOMS].setdefault(chat, set())
    if transport is not None:
        room.add(transport)
    try:
        async for _ in ws:
            pass
    finally:
        room.discard(transport)  # type: ignore[arg-type]
    return ws


async def ledger(settings: Settings, out: AIOKafkaProducer) -> None:
    """Batch -> one MySQL transaction -> events produced -> offsets committed."""
    commands, events = topics(settings)
    consumer = AIOKafkaConsumer(
        commands, bootstrap_servers=settings.kafka_bootstrap, group_id=f"{commands}.ledger",
        enable_auto_commit=False, auto_offset_reset="earliest",
        max_poll_records=settings.ledger_batch_size,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms)
    params, name = _server_params(settings.mysql_dsn)
    conn = await aiomysql.connect(**{**params, "autocommit": False}, db=name)
    await consumer.start()
    publishing: asyncio.Task[None] | None = None
    committing: asyncio.Task[None] | None = None
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS)
            if not batch:
                continue
            fetched = stages.now() if stages.ON else 0.0
            records = [record for part in batch.values() for record in part]
            async with conn.cursor() as cursor:
                decided = stages.now() if stages.ON else 0.0
                await cursor.executemany(f"INSERT INTO {TABLE} (body) VALUES (%s)",
                                         [(record.value.decode(),) for record in records])
                first = cursor.lastrowid  # of the first row of a multi-row INSERT
            await conn.commit()
            committed = stages.now() if stages.ON else 0.0
            created_at = utc_now_text()
            if publishing is not None:
                await publishing  # events leave in the order their batches committed
            values = []
            for number, record in enumerate(records):
                value = event_value(record.value, first + number, created_at)
                if stages.ON:
                    value = stages.splice(value, {
                        **stages.from_headers(record.headers), "ledger_fetched": fetched,
                        "ledger_decided": decided, "ledger_committed": committed,
                        "ledger_published": stages.now()})
                values.append((record.key, value))
            offsets = {tp: part[-1].offset + 1 for tp, part in batch.items()}
            publishing = asyncio.create_task(_publish(out, events, values))
            # As chatledger's loop: the next publish waits for this one, not for its offsets.
            committing = asyncio.create_task(
                _commit(consumer, offsets, publishing, committing))
            committing.add_done_callback(_fatal)
    finally:
        for task in (publishing, committing):
            if task is not None:
                task.cancel()
        await consumer.stop()
        conn.close()


async def _publish(out: AIOKafkaProducer, topic: str,
                   values: list[tuple[bytes | None, bytes]]) -> None:
    sends = [await out.send(topic, value, key=key) for key, value in values]
    await asyncio.gather(*sends)


async def _commit(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int],
                  published: "asyncio.Task[None]",
                  before: "asyncio.Task[None] | None") -> None:
    """After this batch's publish and the commit before it (offsets in batch order)."""
    await published
    if before is not None:
        await before
    await consumer.commit(offsets)


async def feed(settings: Settings, rooms: dict[str, set[asyncio.Transport]],
               ready: asyncio.Future[None]) -> None:
    _, events = topics(settings)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="latest",
                                fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
                                max_poll_records=FEED_RECORDS)
    await consumer.start()
    try:
        partitions = [TopicPartition(events, n) for n in range(settings.kafka_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for partition in partitions:
            await consumer.position(partition)
        ready.set_result(None)
        while True:
            batch = await consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS)
            fetched = stages.now() if stages.ON else 0.0
            for records in batch.values():
                for record in records:
                    room = rooms.get(record.key.decode()) if record.key else None
                    if not room:
                        continue
                    value = record.value
                    if stages.ON:
                        value = stages.splice(value, {"gateway_fetched": fetched,
                                                      "gateway_dispatched": stages.now()})
                    frame = text_frame(value)
                    for transport in room:
                        if not transport.is_closing():
                            transport.write(frame)
    finally:
        await consumer.stop()


async def prepare(settings: Settings) -> None:
    """The two topics (chatledger's partition count) and the table, made if missing."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        for topic in topics(settings):
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(topic, settings.kafka_partitions,
                                                    settings.kafka_replication_factor)])
    finally:
        await admin.close()
    params, name = _server_params(settings.mysql_dsn)
    conn = await aiomysql.connect(**{**params, "autocommit": True}, db=name)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGINT AUTO_INCREMENT"
                                 " PRIMARY KEY, body TEXT NOT NULL)")
    finally:
        conn.close()


async def _start(app: web.Application) -> None:
    settings = app[SETTINGS]
    await prepare(settings)
    out = producer(settings)
    await out.start()
    app[PRODUCER] = out
    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    app[TASKS] = [asyncio.create_task(ledger(settings, out)),
                  asyncio.create_task(feed(settings, app[ROOMS], ready))]
    for task in app[TASKS]:
        task.add_done_callback(_fatal)
    await ready


def _fatal(task: "asyncio.Task[None]") -> None:
    """A loop that died would leave a peer that accepts POSTs and delivers nothing: exit, so
    the bench records why (its log) instead of timing a stall."""
    if not task.cancelled() and task.exception() is not None:
        traceback.print_exception(task.exception())
        sys.stderr.flush()
        os._exit(1)


async def _stop(app: web.Application) -> None:
    for task in app[TASKS]:
        task.cancel()
    await asyncio.gather(*app[TASKS], return_exceptions=True)
    await app[PRODUCER].stop()


def make_app(settings: Settings, tokens: dict[str, str]) -> web.Application:
    app = web.Application()
    app[SETTINGS], app[TOKENS], app[ROOMS] = settings, tokens, {}
    app.router.add_post("/chat/message/add", post_message)
    app.router.add_get("/ws", websocket)
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
    return app


def main(argv: list[str]) -> None:
    tokens: dict[str, Any] = orjson.loads(Path(argv[2]).read_bytes())
    web.run_app(make_app(Settings(), tokens), host="127.0.0.1", port=int(argv[1]), print=None,
                loop=uvloop.new_event_loop(), access_log=None)


if __name__ == "__main__":
    main(sys.argv)
