"""The feed: every event of `<prefix>chat.events`, from the moment the process starts.

Every gateway process must see every event, so it joins no consumer group: it assigns itself all
partitions and starts at their end (no group join, so it is ready in well under a second; a
restarted gateway does not need old events: clients recover what they missed with `since`).

The same feed keeps the process's `ChatRules` (minimum tips, mutes, bans) current, in every
process that serves the API or `/ws`: an api-only process runs it without rooms. Each rule event
is folded BEFORE it is delivered, so a person who has seen a mute or ban frame from this process
is refused by this process's API at once; a `viewer_banned` then closes the banned person's
sockets in that chat here (close code 4003), as it does on every other gateway process.

Every record goes through the chat's `Sequencer` first: a chat whose seq jumps has its gap read
from MySQL before anything later of it is folded or delivered, so rooms hand their viewers
contiguous seqs and a ban the bus lost still closes sockets and refuses `/ws`.
"""

import asyncio
import logging
import time
from typing import Any, NamedTuple

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from chatledger.bus.healing import heal_positions
from chatledger.bus.kafka import started_client
from chatledger.domain import events as ev
from chatledger.gateway.frames import text_frame
from chatledger.gateway.rooms import BANNED_CLOSE, Rooms
from chatledger.gateway.sequencer import Sequencer
from chatledger.platform import stages
from chatledger.platform.config import Settings
from chatledger.platform.metrics import WS_DELIVERIES, WS_FEED_BATCH_DURATION
from chatledger.platform.replica import ReplicaReads
from chatledger.platform.retrying import until_available
from chatledger.readmodels.chat_rules import ChatRules, Seed, read_seed
from chatledger.readmodels.gap_fill import missed_events, seq_of

log = logging.getLogger(__name__)
TRACE = stages.ON  # one global bool per event when off (platform/stages.py)


def dispatch(rooms: Rooms, key: bytes | None, value: bytes) -> int:
    """Forward one record to its room; returns how many sockets it was offered to.

    The value is already the wire JSON: it is parsed once (for seq and visibility) and framed
    once; the same frame bytes go to every recipient, never re-encoded per socket.
    """
    if key is None:
        return 0
    room = rooms.get(key.decode())
    if room is None:
        return 0  # nobody watches this chat here: not even parsed
    try:
        event = orjson.loads(value)
        seq = int(event["seq"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        log.error("dropping an undecodable event of chat %s", room.chat)
        return 0
    if not room.accept(seq):
        return 0
    if TRACE:  # written at once, or (corked) at the end of the feed batch: see fan_out
        value = stages.splice(value, {"gateway_dispatched": stages.now()})
    frame = text_frame(value)
    recipients = room.recipients(event)
    for member in recipients:
        member.offer(seq, frame)
    WS_DELIVERIES.inc(len(recipients))
    return len(recipients)


async def start_feed(settings: Settings) -> AIOKafkaConsumer:
    """A group-less consumer positioned at the end of every partition of the events topic."""
    topic = settings.events_topic

    def factory() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            max_poll_records=1000,
        )

    consumer = await started_client(factory, 30.0)
    await consumer.topics()  # loads the metadata that partitions_for_topic reads
    numbers = consumer.partitions_for_topic(topic)
    if not numbers:
        await consumer.stop()
        raise RuntimeError(f"topic {topic} has no partitions (was ensure_topics run?)")
    partitions = [TopicPartition(topic, number) for number in sorted(numbers)]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for partition in partitions:
        # Resolve the end offsets now: an event published after this point is never missed.
        await consumer.position(partition)
    return consumer


def stamped(batch: dict[TopicPartition, list[Any]], stage: str) -> dict[Any, list[Any]]:
    """The batch's records as (key, value) stand-ins whose value carries `stage` (tracing only)."""
    at = stages.now()
    return {partition: [_Stamped(r.key, stages.splice(r.value, {stage: at})) for r in records]
            for partition, records in batch.items()}


class _Stamped(NamedTuple):
    key: bytes | None
    value: bytes


def banish(rooms: Rooms, event: ev.Event) -> None:
    """A ban closes the banned person's sockets in that chat (after they got the ban's frame)."""
    if event.type == ev.VIEWER_BANNED:
        rooms.shut(event.stream, event.payload["client"]["uuid"], *BANNED_CLOSE)


SEED_TIMEOUT_S = 10.0  # a big site's seed may take a while; a stopped replica still costs 1 s


async def _seed(reads: ReplicaReads) -> Seed:
    """Fresh: a replica's snapshot must hold all the primary had committed when the feed was
    positioned (chat_rules.py's argument), so the replica first catches up with it."""
    return await reads.read(read_seed, fresh=True, timeout_s=SEED_TIMEOUT_S)


def offer(sequencer: Sequencer, key: bytes | None, value: bytes) -> None:
    """Into the chat's order; a record without a chat or a seq goes nowhere (nobody could tell
    where it belongs)."""
    seq = seq_of(value)
    if key is None or seq is None:
        log.error("dropping an event without a chat or a seq")
        return
    sequencer.offer(key.decode(), seq, value)


def fan_out(batch: dict[Any, list[Any]], sequencer: Sequencer, rooms: Rooms | None) -> None:
    """Every record of one fetched batch into its chat's order; with rooms, each socket written
    once, at the batch's end (cork.py), and the whole stretch timed: it bounds how long any event
    of the batch waits between its dispatch and its sockets' write."""
    if rooms is None or not batch:
        _offer_all(batch, sequencer)
        return
    started = time.perf_counter()
    with rooms.cork.held():  # nothing in here awaits
        _offer_all(batch, sequencer)
    WS_FEED_BATCH_DURATION.observe(time.perf_counter() - started)


def _offer_all(batch: dict[Any, list[Any]], sequencer: Sequencer) -> None:
    for records in batch.values():
        for record in records:
            offer(sequencer, record.key, record.value)


async def follow(
    settings: Settings,
    rules: ChatRules,
    reads: ReplicaReads,
    ready: asyncio.Event,
    rooms: Rooms | None = None,
) -> None:
    """Follow the events topic: fold rule events into `rules` and, with `rooms`, deliver.

    `ready` is set once the feed is positioned AND the rules are seeded (see chat_rules.py for
    why in that order)."""
    def deliver(chat: str, raw: bytes) -> None:
        folded = rules.fold(raw)
        if rooms is not None:
            dispatch(rooms, chat.encode(), raw)
            if folded is not None:
                banish(rooms, folded)

    # The primary: a gap exists because the bus is behind MySQL, and a replica may be too.
    sequencer = Sequencer(
        lambda chat, after, before: missed_events(reads.primary, chat, after, before), deliver)
    consumer = await start_feed(settings)
    # A partition reborn empty (the broker restarted) is followed again from its beginning.
    healing = asyncio.create_task(heal_positions(consumer, "gateway"))
    try:
        seed = await until_available(lambda: _seed(reads), what="chat rules seed")
        rules.seed(seed)
        # A jump right after the seed is seen too (no socket is open before `ready`).
        sequencer.last.update(seed.versions)
        ready.set()
        log.info("following %s", settings.events_topic)
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            if TRACE and rooms is not None:  # the stamp is for viewers: the rules ignore it
                batch = stamped(batch, "gateway_fetched")
            fan_out(batch, sequencer, rooms)
    finally:
        healing.cancel()
        await sequencer.close()
        ready.clear()
        await consumer.stop()
