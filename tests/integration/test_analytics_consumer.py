"""tools/analytics_consumer.py (librdkafka through the confluent-kafka wheel) reads chat.events."""

import asyncio
import json
import os
import subprocess
import sys

import aiohttp
from databases import Database

from chatledger.platform.config import Settings
from tests.helpers.people import People
from tests.helpers.service import ROOT, Service
from tests.helpers.wait import eventually


def analytics(prefix: str, chat: str) -> subprocess.CompletedProcess[str]:
    """The example as a user runs it: everything the topic holds, stop when it goes quiet."""
    return subprocess.run(
        [sys.executable, "tools/analytics_consumer.py", "--from-beginning", "--idle", "3",
         "--chat", chat],
        cwd=ROOT, env={**os.environ, "CHATLEDGER_PREFIX": prefix},
        capture_output=True, text=True, timeout=120)


async def test_a_librdkafka_consumer_totals_a_chat_like_mysql(
    service: Service, people: People, db: Database, migrated: Settings
) -> None:
    model = await people.model("Ana")
    rich, modest = (await people.client(model, "Rich", money="50"),
                    await people.client(model, "Modest", money="5"))
    posts = [(rich, "/chat/donat/add", {"sum": "5.00"}), (rich, "/chat/donat/add", {"sum": "2.50"}),
             (modest, "/chat/donat/add", {"sum": "1.25"}),
             (modest, "/chat/message/add", {"message": "hi", "is_public": True})]
    async with aiohttp.ClientSession(service.url) as http:
        for who, path, body in posts:
            async with http.post(path, json=body, headers=who.headers) as response:
                assert response.status == 201, await response.text()

    async def by_type() -> dict[str, int]:
        rows = await db.fetch_all("SELECT type, COUNT(*) FROM chat_events WHERE stream = :c"
                                  " GROUP BY type", {"c": model.uuid})
        return {row[0]: row[1] for row in rows}

    expected = await eventually(by_type, until=lambda t: t.get("donate") == 3
                                and t.get("message") == 1, what="the four commands applied")
    result = await asyncio.to_thread(analytics, migrated.prefix, model.uuid)
    assert result.returncode == 0, result.stderr
    [report] = [json.loads(line) for line in result.stdout.splitlines()]
    assert report["chat"] == model.uuid
    assert report["by_type"] == expected  # every event of the chat, once
    assert (report["donations"], report["donated"], report["donors"]) == (3, "8.75", 2)
    assert report["messages"] == 1
