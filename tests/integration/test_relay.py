"""Events the broker acknowledged and then lost are published again from `chat_events`.

The broker is a private Tansu (never the shared one) restarted empty: every record it held is
gone. The events it loses and no consumer had read yet are staged honestly as rows appended to
`chat_events` just before the restart, as the ledger would, and not published (a consumer that
had not fetched them yet sees nothing else of them). Nothing else happens in the chat afterwards,
so no later event reveals a gap: only the relay can bring them to the viewer and the history.
"""

import uuid
from pathlib import Path

import aiohttp
from databases import Database
from redis.asyncio import Redis

from chatledger.domain.commands import Actor
from chatledger.ledger.relay import partition_of
from chatledger.platform import redis_keys
from chatledger.platform.config import Settings
from tests.helpers import chat_events
from tests.helpers.broker import private_broker, start_tansu
from tests.helpers.cluster import start_cluster
from tests.helpers.moderation import accepted, applied
from tests.helpers.people import People
from tests.helpers.wait import eventually
from tests.helpers.ws import connected


async def recorded_end(db: Database, topic: str, part: int) -> int:
    value = await db.fetch_val(
        "SELECT end_offset FROM bus_partition_ends WHERE topic = :t AND part = :p",
        {"t": topic, "p": part},
    )
    return int(value or 0)


async def test_events_the_broker_lost_reach_the_viewer_and_the_history(
    migrated: Settings, people: People, db: Database, tmp_path: Path
) -> None:
    model = await people.model()
    viewer = await people.client(model, "Vic")
    actor = Actor(model.uuid, "Mia", "model")
    with private_broker(tmp_path) as (port, broker):
        prefix = f"{migrated.prefix}relay{uuid.uuid4().hex[:6]}."
        env = {"CHATLEDGER_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
               "CHATLEDGER_KAFKA_PARTITIONS": "3",
               "CHATLEDGER_KAFKA_HEAL_INTERVAL_S": "0.3",
               "CHATLEDGER_PREFIX": prefix}
        settings = Settings(prefix=prefix)
        with start_cluster(migrated, ["api,gateway", "ledger", "history"], env) as (front, *_):
            async with (aiohttp.ClientSession(front.url) as http,
                        connected(http, front.url, viewer) as watching):
                body = {"message": "before", "is_public": True}
                ids = [await accepted(http, "", "/chat/message/add", model, body)
                       for _ in range(3)]
                last = max([(await applied(db, command))[0]["seq"] for command in ids])
                await watching.until_seq(last)
                # Tansu's ListOffsets answers the last batch's start + 1 (the ledger published
                # the three in one batch): any end above 0 is what a rebirth goes back from.
                part = partition_of(model.uuid, 3)
                await eventually(lambda: recorded_end(db, settings.events_topic, part),
                                 until=lambda end: end >= 1,
                                 what="the relay recording the chat's partition's end")

                lost = [chat_events.message(model.uuid, last + n, actor, f"lost {n}")
                        for n in (1, 2)]
                await chat_events.insert(db, lost)
                broker.kill()
                broker.wait()
                revived = start_tansu(port, tmp_path / "tansu-revived.log")
                try:
                    await watching.until_seq(last + 2)
                    seqs = watching.seqs()
                    assert seqs == sorted(set(seqs)) and seqs[-2:] == [last + 1, last + 2]

                    redis = Redis.from_url(settings.redis_url)
                    key = redis_keys.history(settings, model.uuid)
                    try:
                        mirrored = await eventually(
                            lambda: redis.zrangebyscore(key, last + 1, last + 2),
                            until=lambda members: len(members) == 2,
                            what="the history mirror holding the lost events")
                    finally:
                        await redis.aclose()
                    assert len(mirrored) == 2
                finally:
                    revived.kill()
                    revived.wait()
