"""Attempts to break the money path: races, redelivery, and a ledger killed mid-batch."""

import asyncio
import os
import random
import signal
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
from databases import Database

from chatledger.domain import events as ev
from chatledger.domain.commands import Donate, PostMessage
from chatledger.domain.decider import apply
from chatledger.domain.state import ZERO, LedgerState
from chatledger.platform.config import Settings
from tests.helpers.commands import produce
from tests.helpers.kafka import published_seqs
from tests.helpers.people import People
from tests.helpers.service import ROOT, Service, spawn, stop
from tests.helpers.wait import eventually


async def count(db: Database, sql: str, **params: object) -> int:
    return int(await db.fetch_val(sql, params) or 0)


async def test_fifty_concurrent_donations_covering_ten_apply_exactly_ten(
    service: Service, people: People, db: Database
) -> None:
    model = await people.model()
    viewer = await people.client(model, money="10.00")
    async with aiohttp.ClientSession(service.url) as http:
        async def tip() -> int:
            async with http.post("/chat/donat/add", json={"sum": "1.00"},
                                 headers=viewer.headers) as response:
                return response.status
        statuses = await asyncio.gather(*(tip() for _ in range(50)))
    accepted = statuses.count(201)
    assert accepted >= 10 and set(statuses) <= {201, 402}
    await eventually(lambda: count(db, "SELECT COUNT(*) FROM chat_events WHERE stream = :m"
                                   " AND type IN ('donate', 'donate_rejected')", m=model.uuid),
                     until=lambda n: n == accepted, what="every accepted donation decided")
    donated = await count(db, "SELECT COUNT(*) FROM chat_events WHERE stream = :m"
                              " AND type = 'donate'", m=model.uuid)
    assert donated == 10
    assert await people.balance(viewer.uuid) == ZERO
    assert await people.balance(model.uuid) == Decimal("10.00")


async def test_a_command_delivered_twice_is_applied_once(
    service: Service, people: People, db: Database, settings: Settings
) -> None:
    model = await people.model()
    viewer = await people.client(model, money="10.00")
    tip = Donate(str(uuid.uuid4()), model.uuid, viewer.person.as_actor(), Decimal("4.00"))
    await produce(settings, [tip, tip])
    await produce(settings, [tip])
    marker = PostMessage(str(uuid.uuid4()), model.uuid, viewer.person.as_actor(), "after", True)
    await produce(settings, [marker])
    await eventually(lambda: count(db, "SELECT COUNT(*) FROM chat_events WHERE command_id = :c",
                                   c=marker.command_id), what="the marker after the duplicates")
    assert await count(db, "SELECT COUNT(*) FROM chat_events WHERE command_id = :c"
                           " AND type = 'donate'", c=tip.command_id) == 1
    assert await people.balance(viewer.uuid) == Decimal("6.00")
    assert await people.balance(model.uuid) == Decimal("4.00")


async def test_ledger_killed_mid_batch_ends_identical_to_an_uninterrupted_run(
    migrated: Settings, people: People, db: Database
) -> None:
    """SIGKILL the ledger process repeatedly while it works through a storm, then compare the
    final state with the pure decider run over the same commands without interruption, and
    check that every committed event reached `chat.events` (the pipelined ledger publishes
    batch N while batch N+1 commits: a kill between the two must not lose N's events)."""
    prefix = f"{migrated.prefix}crash{uuid.uuid4().hex[:6]}."
    settings = migrated.model_copy(update={"prefix": prefix})
    rng = random.Random(7)
    models = [await people.model(f"m{i}") for i in range(3)]
    viewers = {m.uuid: [await people.client(m, f"v{j}", money="40.00") for j in range(4)]
               for m in models}
    expected = LedgerState()
    for viewer in (v for vs in viewers.values() for v in vs):
        expected.balances[viewer.uuid] = Decimal("40.00")
    for model in models:
        expected.balances[model.uuid] = ZERO
        expected.versions[model.uuid] = 0
    commands: list[Donate | PostMessage] = []
    for _ in range(1000):
        model = rng.choice(models)
        viewer = rng.choice(viewers[model.uuid])
        if rng.random() < 0.7:
            amount = Decimal(rng.randint(1, 500)) / 100
            commands.append(Donate(str(uuid.uuid4()), model.uuid, viewer.person.as_actor(), amount))
        else:
            commands.append(PostMessage(str(uuid.uuid4()), model.uuid, viewer.person.as_actor(),
                                        "hi", True))
    decided: dict[str, list[tuple[str, str]]] = {m.uuid: [] for m in models}
    for command in commands:
        for event in apply(command, expected, datetime.now(UTC)):
            decided[event.stream].append((event.command_id, event.type))

    env = {**os.environ, "CHATLEDGER_PREFIX": prefix, "CHATLEDGER_LEDGER_BATCH_SIZE": "5",
           "CHATLEDGER_HTTP_PORT": "0"}
    log = ROOT / ".stack" / f"crash-{prefix}log"
    log.parent.mkdir(exist_ok=True)
    marks = ", ".join(f"'{m.uuid}'" for m in models)

    async def applied() -> int:
        # each command of the storm appends exactly one of these to its chat's stream
        return await count(db, f"SELECT COUNT(*) FROM chat_events WHERE stream IN ({marks})"
                               " AND type IN ('donate', 'donate_rejected', 'message')")

    # Each wave is put on Kafka, then the ledger is killed as soon as it is part-way through.
    waves = [commands[i:i + 250] for i in range(0, len(commands), 250)]
    interrupted = []
    produced = 0
    for wave in waves[:-1]:
        await produce(settings, wave)
        target = produced + 10
        produced += len(wave)
        process = spawn("ledger", env, log)
        try:
            await eventually(applied, until=lambda n, t=target: n >= t, timeout=90,
                             interval=0.005, what=f"{target} commands applied")
        finally:
            stop(process, signal.SIGKILL)
        interrupted.append(await applied() < produced)
    assert any(interrupted), "no kill landed while the ledger still had work"
    await produce(settings, waves[-1])
    process = spawn("ledger", env, log)
    try:
        await eventually(applied, until=lambda n: n == len(commands), timeout=120,
                         what="every command applied after the restarts")
    finally:
        stop(process)

    committed: dict[str, set[int]] = {}
    for model in models:
        rows = await db.fetch_all("SELECT command_id, type, seq FROM chat_events WHERE stream = :s"
                                  " ORDER BY seq", {"s": model.uuid})
        assert [(r[0], r[1]) for r in rows] == decided[model.uuid]
        assert [r[2] for r in rows] == list(range(1, len(rows) + 1))
        committed[model.uuid] = {int(r[2]) for r in rows}
    assert await published_seqs(settings, committed) == committed
    for owner, balance in expected.balances.items():
        assert await people.balance(owner) == balance, owner
    for model in models:
        sponsor = await db.fetch_val("SELECT client_uuid FROM current_sponsors WHERE model_uuid"
                                     " = :m", {"m": model.uuid})
        want = expected.sponsors.get(model.uuid)
        assert sponsor == (want.uuid if want else None)
    assert ev.DONATE in {t for pairs in decided.values() for _, t in pairs}


async def test_a_tie_keeps_the_sponsor_and_one_cent_more_takes_it_end_to_end(
    service: Service, people: People, db: Database
) -> None:
    model = await people.model()
    ann = await people.client(model, "Ann", money="10.00")
    bob = await people.client(model, "Bob", money="10.00")

    async def tip(who: Any, amount: str) -> None:
        async with (
            aiohttp.ClientSession(service.url) as http,
            http.post("/chat/donate/add", json={"sum": amount}, headers=who.headers) as response,
        ):
            assert response.status == 201, await response.text()

    async def donations() -> int:
        return await count(db, "SELECT COUNT(*) FROM chat_events WHERE stream = :m"
                               " AND type = 'donate'", m=model.uuid)

    async def sponsor() -> Any:
        return await db.fetch_val("SELECT client_uuid FROM current_sponsors WHERE model_uuid = :m",
                                  {"m": model.uuid})

    # One after another: each waits for the previous one to be applied, so the order is known.
    for who, amount, done in ((ann, "5.00", 1), (bob, "5.00", 2)):
        await tip(who, amount)
        await eventually(donations, until=lambda n, d=done: n == d, what=f"{done} donations")
    assert await sponsor() == ann.uuid  # 5.00 each: the tie keeps Ann
    await tip(bob, "0.01")
    await eventually(donations, until=lambda n: n == 3, what="the third donation")
    assert await sponsor() == bob.uuid
    changes = await db.fetch_all(
        "SELECT JSON_VALUE(payload, '$.sponsor.uuid'), JSON_VALUE(payload, '$.total')"
        " FROM chat_events WHERE stream = :m AND type = 'change_sponsor' ORDER BY seq",
        {"m": model.uuid},
    )
    assert [(row[0], Decimal(row[1])) for row in changes] == [
        (ann.uuid, Decimal("5.00")), (bob.uuid, Decimal("5.01"))
    ]
    async with (
        aiohttp.ClientSession(service.url) as http,
        http.get("/chat/event/history", headers=ann.headers) as response,
    ):
        wire = [e for e in (await response.json())["events"] if e["type"] == "change_sponsor"]
    assert [(e["sponsor"]["uuid"], e["total"]) for e in wire] == [
        (ann.uuid, "5.00"), (bob.uuid, "5.01")
    ]
