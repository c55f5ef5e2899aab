"""Two ledger workers owning the same chats (a rebalance) serialise on the streams' rows: they
never deadlock, so no batch is rolled back and retried."""

import asyncio
import logging
import uuid
from typing import Any

import pytest

from chatledger.domain.commands import PostMessage
from chatledger.ledger.store import LedgerStore
from chatledger.platform.config import Settings
from chatledger.platform.db import database
from tests.helpers.people import People

ROUNDS = 60


async def test_two_stores_on_the_same_new_streams_never_deadlock(
    migrated: Settings, people: People, caplog: pytest.LogCaptureFixture
) -> None:
    models = [await people.model(f"M{index}") for index in range(3)]  # new streams: no row yet
    viewer = await people.client(models[0], "Ann")
    stores = [LedgerStore(database(migrated.mysql_dsn, 2)) for _ in range(2)]
    for store in stores:
        await store.database.connect()
    caplog.set_level(logging.WARNING, logger="chatledger.platform.retrying")

    async def worker(store: LedgerStore) -> list[Any]:
        outcomes = []
        for _ in range(ROUNDS):
            batch = [PostMessage(str(uuid.uuid4()), model.uuid, viewer.person.as_actor(),
                                 "hi", True) for model in models]
            outcomes.append((await store.apply_batch(batch)).outcomes)
        return outcomes

    try:
        results = await asyncio.gather(*(worker(store) for store in stores))
    finally:
        for store in stores:
            await store.database.disconnect()
    retries = [r.getMessage() for r in caplog.records if "ledger batch failed" in r.getMessage()]
    assert retries == []
    assert all(set(o.values()) == {"applied"} for outcomes in results for o in outcomes)
