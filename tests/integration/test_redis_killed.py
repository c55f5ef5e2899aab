"""A private Redis SIGKILLed and restarted under load, seen only through HTTP.

While Redis is gone POSTs still answer 201 (the rate limiter fails open) and history is read
from MySQL; once it is back the projector and the readers fill the mirror again. Every 201 is
applied, and history always equals MySQL's last 20 events of the chat.
"""

import uuid
from pathlib import Path

import aiohttp
from databases import Database
from redis.asyncio import Redis

from chatledger.platform import redis_keys
from chatledger.platform.config import Settings
from tests.helpers.daemons import redis_server, running
from tests.helpers.people import People, Someone
from tests.helpers.service import Service, free_port, start_service
from tests.helpers.wait import eventually
from tests.integration.test_faults import Load, missing_from_ledger


async def history_seqs(service: Service, viewer: Someone) -> list[int]:
    async with (
        aiohttp.ClientSession(service.url) as http,
        http.get("/chat/event/history", headers=viewer.headers) as response,
    ):
        assert response.status == 200, await response.text()
        return [event["seq"] for event in (await response.json())["events"]]


async def last_twenty(db: Database, chat: str) -> list[int]:
    rows = await db.fetch_all(
        "SELECT seq FROM chat_events WHERE stream = :c ORDER BY seq DESC LIMIT 20", {"c": chat}
    )
    return sorted(row[0] for row in rows)


async def test_redis_killed_mid_run_loses_nothing_and_history_stays_mysqls(
    migrated: Settings, people: People, db: Database, tmp_path: Path
) -> None:
    redis = redis_server(free_port(), tmp_path)
    own = migrated.model_copy(
        update={
            "prefix": f"{migrated.prefix}rk{uuid.uuid4().hex[:6]}.",
            "redis_url": f"redis://127.0.0.1:{redis.port}/0",
        }
    )
    env = {"CHATLEDGER_PREFIX": own.prefix, "CHATLEDGER_REDIS_URL": own.redis_url}
    model = await people.model()
    viewer = await people.client(model, money="100")
    with (
        running(redis),
        start_service(migrated, roles="api,ledger,history", extra_env=env) as service,
    ):
        load = Load(service, [viewer, model])

        async def settled() -> list[int]:
            """Every 201 applied, then history compared with MySQL's last 20."""
            await eventually(
                lambda: missing_from_ledger(db, load.accepted),
                until=lambda missing: missing == [],
                what="every 201 applied",
            )
            want = await last_twenty(db, model.uuid)
            assert len(want) == 20
            got = await eventually(
                lambda: history_seqs(service, viewer), until=lambda got: got == want,
                what="history equal to MySQL's last 20",
            )
            return got

        async with load.running():
            await load.grows(10)
            redis.stop()
            await load.grows(20)  # Redis is gone: the API goes on
        await settled()  # from MySQL alone
        redis.start()
        async with load.running():
            await load.grows(20)
        await settled()
        # 403: the load also has the model donate, which it may not; nothing failed.
        assert set(load.answers) == {201, 403}, load.answers

        client = Redis.from_url(own.redis_url)
        try:
            mirror = redis_keys.history(own, model.uuid)

            async def mirrored() -> int:
                return int(await client.exists(mirror))

            # A read after the restart fills the mirror again (a cold key is refilled).
            await eventually(mirrored, what=f"the mirror key {mirror} refilled")
        finally:
            await client.aclose()
