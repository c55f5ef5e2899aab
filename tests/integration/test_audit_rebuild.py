"""`chatledger audit`, `rebuild` and `payout` as an operator runs them: real CLI processes against
the session's database while the real service keeps working.

The database is shared by the whole session, so every `audit` here also checks what the other
tests left behind: it must pass on it.
"""

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from databases import Database

from chatledger.domain.commands import (
    AddGoal,
    BanViewer,
    ChangeSettings,
    DeleteMessage,
    Deposit,
    Donate,
    MuteViewer,
    PostMessage,
    Refund,
)
from chatledger.domain.events import event_id_for
from chatledger.ledger.store import LedgerStore
from chatledger.platform import redis_keys
from chatledger.platform.config import Settings
from chatledger.platform.db import database
from chatledger.platform.redis_client import redis_client
from chatledger.readmodels import rebuild as rebuild_module
from chatledger.readmodels.rebuild import rebuild
from chatledger.readmodels.snapshot import audit_database
from tests.helpers.cli import Ran, audit_ok, cli
from tests.helpers.people import People, Someone
from tests.helpers.service import Service
from tests.helpers.wait import eventually


def cid() -> str:
    return str(uuid.uuid4())


async def post_tip(http: aiohttp.ClientSession, viewer: Someone, amount: str) -> tuple[int, Any]:
    async with http.post(
        "/chat/donat/add",
        json={"sum": amount, "messgae": {"message": "tip", "is_public": "true"}},
        headers=viewer.headers,
    ) as response:
        return response.status, await response.json()


async def events_of(db: Database, command_ids: list[str]) -> int:
    if not command_ids:
        return 0
    marks = ", ".join(f":c{n}" for n in range(len(command_ids)))
    value = await db.fetch_val(
        f"SELECT COUNT(DISTINCT command_id) FROM chat_events WHERE command_id IN ({marks})",
        {f"c{n}": command_id for n, command_id in enumerate(command_ids)},
    )
    return int(value)


async def test_audit_names_each_corrupted_row_and_rebuild_repairs_them(
    service: Service, people: People, db: Database
) -> None:
    model = await people.model("Mia")
    ann = await people.client(model, "Ann", money="100.00")
    bob = await people.client(model, "Bob", money="100.00")
    async with aiohttp.ClientSession(service.url) as http:
        async with http.post(
            "/chat/goal/add", json={"name": "Car", "require_sum": 1000}, headers=model.headers
        ) as response:
            assert response.status == 201
        ids = []
        for viewer, amount in ((ann, "10.00"), (bob, "30.00"), (ann, "5.00")):
            status, body = await post_tip(http, viewer, amount)
            assert status == 201, body
            ids.append(body["id"])
    await eventually(lambda: events_of(db, ids), until=lambda n: n == 3, what="3 donations")
    goal = await db.fetch_val("SELECT uuid FROM goals WHERE model_uuid = :m", {"m": model.uuid})
    assert await people.balance(model.uuid) == Decimal("45.00")

    await audit_ok()  # and so is everything the session's other tests did

    await db.execute(
        "UPDATE accounts SET balance = balance + 7 WHERE owner_uuid = :m", {"m": model.uuid}
    )
    await db.execute("UPDATE goals SET sum = sum + 3 WHERE uuid = :g", {"g": goal})
    await db.execute(
        "UPDATE current_sponsors SET client_uuid = :a, client_name = 'Ann' WHERE model_uuid = :m",
        {"a": ann.uuid, "m": model.uuid},
    )
    change = await db.fetch_val(
        "SELECT event_id FROM sponsors WHERE model_uuid = :m ORDER BY id DESC LIMIT 1",
        {"m": model.uuid},
    )
    await db.execute(
        "UPDATE sponsors SET client_uuid = :a WHERE event_id = :e", {"a": ann.uuid, "e": change}
    )

    failed = await cli("audit")
    assert failed.code == 1, failed
    assert failed.out.startswith("audit FAILED"), failed
    assert (
        f"[balance] accounts.owner_uuid={model.uuid}: balance 52.00, replay says 45.00"
        in failed.out
    )
    assert f"[goal] goals.uuid={goal}: sum 48.00, replay 45.00" in failed.out
    assert f"[sponsor] current_sponsors.model_uuid={model.uuid}:" in failed.out
    assert "[conservation] accounts (all rows)" in failed.out
    assert f"[sponsor_row] sponsors.event_id={change}: client_uuid {ann.uuid}" in failed.out
    as_json = await cli("audit", "--json")
    assert as_json.code == 1, as_json
    rows = {(f["check"], f["row"]) for f in as_json.json()["findings"]}
    assert {
        ("balance", f"accounts.owner_uuid={model.uuid}"),
        ("goal", f"goals.uuid={goal}"),
        ("sponsor", f"current_sponsors.model_uuid={model.uuid}"),
        ("sponsor_row", f"sponsors.event_id={change}"),
    } <= rows

    rebuilt = await cli("rebuild")
    assert rebuilt.code == 0, rebuilt
    summary = rebuilt.json()
    assert summary["projections"] == [
        "balances", "goals", "sponsors", "donor_totals", "donor_days", "chat_settings",
        "chat_mutes", "chat_bans", "refunds", "deleted_messages", "chat_menus", "holds", "shows",
        "extras",
    ]
    assert summary["history_keys_dropped"] >= 0
    assert summary["rows_changed"] == {  # exactly the corrupted rows, nothing else
        "accounts": 1,
        "goals": 1,
        "donor_totals": 0,
        "current_sponsors": 1,
        "sponsors": 1,
        "donor_days": 0,
        "chat_settings": 0,
        "chat_mutes": 0,
        "chat_bans": 0,
        "refunds": 0,
        "deleted_messages": 0,
        "chat_menus": 0,
        "holds": 0,
        "show_rates": 0,
        "shows": 0,
        "show_spies": 0,
        "chat_extras": 0,
        "pins": 0,
        "toy_turns": 0,
    }
    assert "events/s" in rebuilt.err  # plain progress lines: stdout is not a terminal

    await audit_ok()
    assert await people.balance(model.uuid) == Decimal("45.00")
    sponsor = await db.fetch_val(
        "SELECT client_uuid FROM current_sponsors WHERE model_uuid = :m", {"m": model.uuid}
    )
    assert sponsor == bob.uuid
    assert 0 < summary["position"] <= await db.fetch_val("SELECT MAX(id) FROM chat_events")


async def test_audit_names_each_corrupted_day_one_row_and_rebuild_repairs_them(
    migrated: Settings, people: People, db: Database
) -> None:
    """DESIGN §9's tables, each damaged once: the audit names the exact row, rebuild rewrites
    exactly those rows."""
    model = await people.model("Day")
    ann = await people.client(model, "Ann", money="100.00")
    bob = await people.client(model, "Bob", money="100.00")
    m, a, b = (who.person.as_actor() for who in (model, ann, bob))
    ann_tip = Donate(cid(), model.uuid, a, Decimal("10"))
    hello = PostMessage(cid(), model.uuid, a, "hello", True)
    store = LedgerStore(db)
    await store.apply_batch([
        ChangeSettings(cid(), model.uuid, m, Decimal("2")), ann_tip,
        Donate(cid(), model.uuid, b, Decimal("5")), hello,
        MuteViewer(cid(), model.uuid, m, bob.uuid, 600), BanViewer(cid(), model.uuid, m, ann.uuid),
    ])
    tip_id, hello_id = event_id_for(ann_tip.command_id, 0), event_id_for(hello.command_id, 0)
    result = await store.apply_batch([
        Refund(cid(), model.uuid, tip_id, "chargeback"),
        DeleteMessage(cid(), model.uuid, m, hello_id),
    ])
    assert set(result.outcomes.values()) == {"applied"}
    await audit_ok()

    pair = {"m": model.uuid, "a": ann.uuid, "b": bob.uuid}
    for statement in (
        "UPDATE chat_settings SET min_donation = 0.5 WHERE model_uuid = :m",
        "UPDATE chat_mutes SET muted_until = muted_until + INTERVAL 1 HOUR"
        " WHERE model_uuid = :m AND client_uuid = :b",
        "DELETE FROM chat_bans WHERE model_uuid = :m AND client_uuid = :a",
        "INSERT INTO chat_bans (model_uuid, client_uuid) VALUES (:m, :b)",
        "UPDATE donor_days SET total = total + 1 WHERE model_uuid = :m AND client_uuid = :b",
    ):
        await db.execute(statement, {k: v for k, v in pair.items() if f":{k}" in statement})
    await db.execute("DELETE FROM refunds WHERE donation_id = :d", {"d": tip_id})
    await db.execute("UPDATE deleted_messages SET deletion_id = 'forged' WHERE message_id = :h",
                     {"h": hello_id})
    day = await db.fetch_val("SELECT day FROM donor_days WHERE model_uuid = :m AND client_uuid"
                             " = :b", {"m": model.uuid, "b": bob.uuid})

    failed = await cli("audit", "--json")
    assert failed.code == 1, failed
    found = {(f["check"], f["row"]): f["detail"] for f in failed.json()["findings"]}
    assert found == {
        ("setting", f"chat_settings.model_uuid={model.uuid}"): "live 0.50, replay 2.00",
        ("mute", f"chat_mutes.model_uuid,client_uuid={model.uuid},{bob.uuid}"):
            found.get(("mute", f"chat_mutes.model_uuid,client_uuid={model.uuid},{bob.uuid}")),
        ("ban", f"chat_bans.model_uuid,client_uuid={model.uuid},{ann.uuid}"):
            "missing, replay has banned",
        ("ban", f"chat_bans.model_uuid,client_uuid={model.uuid},{bob.uuid}"):
            "banned is not in the replay",
        ("donor_day", f"donor_days.model_uuid,day,client_uuid={model.uuid},{day},{bob.uuid}"):
            "live 6.00, replay 5.00",
        ("refund_row", f"refunds.donation_id={tip_id}"):
            found.get(("refund_row", f"refunds.donation_id={tip_id}")),
        ("deletion_row", f"deleted_messages.message_id={hello_id}"):
            found.get(("deletion_row", f"deleted_messages.message_id={hello_id}")),
    }
    assert found[("refund_row", f"refunds.donation_id={tip_id}")].startswith("missing, replay")
    assert found[("deletion_row", f"deleted_messages.message_id={hello_id}")].startswith(
        "deletion_id forged, replay ")

    rebuilt = await cli("rebuild")
    assert rebuilt.code == 0, rebuilt
    changed = rebuilt.json()["rows_changed"]
    assert {table: n for table, n in changed.items() if n} == {
        "chat_settings": 1, "chat_mutes": 1, "chat_bans": 2, "donor_days": 1, "refunds": 1,
        "deleted_messages": 1,
    }
    await audit_ok()
    assert await db.fetch_val("SELECT refund_id FROM refunds WHERE donation_id = :d",
                              {"d": tip_id}) == event_id_for(result.events[0].command_id, 0)


async def test_rebuild_while_donations_flow_loses_nothing(
    service: Service, people: People, db: Database
) -> None:
    model = await people.model("Stream")
    viewers = [await people.client(model, f"v{n}", money="1000.00") for n in range(6)]
    accepted: list[str] = []
    rebuilds: list[Ran] = []
    accepted_during: list[int] = []
    done = asyncio.Event()

    async def donate_in_a_loop(http: aiohttp.ClientSession, lane: int) -> None:
        for n in range(400):  # bounded; stops early once the rebuilds are over
            if done.is_set() and n > 20:
                return
            viewer = viewers[(lane + n) % len(viewers)]
            status, body = await post_tip(http, viewer, "1.00")
            if status == 201:
                accepted.append(body["id"])
            else:
                assert status == 429, body  # the rate limit; never an error
                await asyncio.sleep(0.05)

    async def rebuild_twice() -> None:
        await eventually(
            lambda: events_of(db, accepted),
            until=lambda n: n >= 20,
            what="donations flowing before the rebuild",
        )
        try:
            for _ in range(2):
                before = len(accepted)
                rebuilds.append(await cli("rebuild"))
                accepted_during.append(len(accepted) - before)
        finally:
            done.set()

    async with aiohttp.ClientSession(service.url) as http:
        await asyncio.gather(rebuild_twice(), *(donate_in_a_loop(http, lane) for lane in range(3)))

    assert all(ran.code == 0 for ran in rebuilds), rebuilds
    assert min(accepted_during) > 0, accepted_during  # donations really flowed meanwhile
    print("accepted during each rebuild:", accepted_during, "in all:", len(accepted))
    print("rebuilds:", [ran.json() for ran in rebuilds])
    await eventually(
        lambda: events_of(db, accepted),
        until=lambda n: n == len(accepted),
        timeout=60,
        what=f"an event for each of the {len(accepted)} accepted donations",
    )
    await eventually(
        lambda: people.balance(model.uuid),
        until=lambda balance: balance == Decimal(len(accepted)),
        what="the model credited with every accepted donation",
    )
    ran = await audit_ok()
    assert "donations:" in ran.out


async def test_events_appended_between_fold_and_swap_are_folded_in(
    migrated: Settings, people: People, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window the swap's stream locks close, made certain: the ledger appends after the fold
    (to an existing stream and to a brand-new one) and the rebuilt projections include it."""
    model = await people.model("Tail")
    ann = await people.client(model, "Ann", money="50.00")
    newcomer = await people.client(model, "New")  # no event yet: its stream does not exist
    store = LedgerStore(db)
    goal = AddGoal(cid(), model.uuid, model.person.as_actor(), "Bike", Decimal("100"))
    await store.apply_batch([goal])
    create_shadows = rebuild_module.create_shadows

    appended = [
        Donate(cid(), model.uuid, ann.person.as_actor(), Decimal("20.00")),
        Deposit(cid(), newcomer.uuid, Decimal("9.00")),
    ]

    async def append_then_create(*args: Any) -> None:
        result = await store.apply_batch(appended)
        assert set(result.outcomes.values()) == {"applied"}
        await create_shadows(*args)

    monkeypatch.setattr(rebuild_module, "create_shadows", append_then_create)
    result = await rebuild(db)
    # donate, change_sponsor, deposited; and whatever another writer of this database appended
    # meanwhile (the session's shared `service` runs on it: once 5 were folded here), folded too.
    ids = [command.command_id for command in appended]
    mine = await db.fetch_one(
        "SELECT COUNT(*) AS n, MAX(id) AS last FROM chat_events"
        " WHERE command_id IN (:a, :b)", {"a": ids[0], "b": ids[1]})
    assert mine is not None and mine["n"] == 3
    assert result.tail_events >= 3 and result.position >= mine["last"]
    assert await people.balance(model.uuid) == Decimal("20.00")
    assert await people.balance(newcomer.uuid) == Decimal("9.00")
    assert await db.fetch_val(
        "SELECT sum FROM goals WHERE model_uuid = :m", {"m": model.uuid}
    ) == Decimal("20.00")
    report = await audit_database(db)
    assert report.ok, report.findings


async def test_payout_above_the_balance_is_refused_and_writes_nothing(
    migrated: Settings, people: People, db: Database
) -> None:
    model = await people.model("Payee")
    await people.deposit(model.uuid, "30.00")
    version = await db.fetch_val("SELECT version FROM streams WHERE stream = :m", {"m": model.uuid})

    refused = await cli("payout", model.uuid, "30.01")
    assert refused.code != 0, refused
    body = refused.json()
    assert body["outcome"] == "refused: insufficient funds: available 30.00"
    assert body["balance"] == "30.00"
    assert await people.balance(model.uuid) == Decimal("30.00")
    assert (
        await db.fetch_val(
            "SELECT COUNT(*) FROM chat_events WHERE stream = :m AND type = 'paid_out'",
            {"m": model.uuid},
        )
        == 0
    )
    assert (
        await db.fetch_val("SELECT version FROM streams WHERE stream = :m", {"m": model.uuid})
        == version
    )

    bad = await cli("payout", model.uuid, "1.001")
    assert bad.code == 2 and "at most 2 decimal places" in bad.err, bad


async def test_payout_within_the_balance_is_applied_and_audited(
    migrated: Settings, people: People, db: Database
) -> None:
    model = await people.model("Earner")
    await people.deposit(model.uuid, "30.00")
    before = (await cli("audit", "--json")).json()["money"]

    paid = await cli("payout", model.uuid, "12.50")
    assert paid.code == 0, paid
    body = paid.json()
    assert body["outcome"] == "applied" and body["balance"] == "17.50"
    row = await db.fetch_one(
        "SELECT amount, command_id FROM chat_events WHERE stream = :m AND type = 'paid_out'",
        {"m": model.uuid},
    )
    assert row is not None and row[0] == Decimal("12.50") and row[1] == body["command_id"]

    audited = await cli("audit", "--json")
    assert audited.code == 0, audited
    after = audited.json()["money"]
    assert Decimal(after["payouts"]) - Decimal(before["payouts"]) >= Decimal("12.50")
    assert after["balances"] == f"{Decimal(after['deposits']) - Decimal(after['payouts']):.2f}"


async def test_rebuild_of_the_history_mirror_drops_it_and_reads_refill_it(
    service: Service, people: People, settings: Settings
) -> None:
    model = await people.model("Echo")
    viewer = await people.client(model, "Ann")
    key = redis_keys.history(settings, model.uuid)
    redis = redis_client(settings)

    async def history(http: aiohttp.ClientSession) -> tuple[str, list[str]]:
        async with http.get("/chat/event/history", headers=viewer.headers) as response:
            assert response.status == 200
            body = await response.json()
            return response.headers["X-History-Source"], [e["message"] for e in body["events"]]

    try:
        async with aiohttp.ClientSession(service.url) as http:
            async with http.post(
                "/chat/message/add",
                json={"message": "hello", "is_public": True},
                headers=viewer.headers,
            ) as response:
                assert response.status == 201
            await eventually(lambda: redis.exists(key), what="the mirror to hold the chat")

            ran = await cli("rebuild", "--projection", "history")
            assert ran.code == 0, ran
            assert ran.json()["history_keys_dropped"] >= 1
            assert not await redis.exists(key)

            assert await history(http) == ("mysql", ["hello"])
            await eventually(lambda: redis.exists(key), what="the read to refill the mirror")
            assert await history(http) == ("mirror", ["hello"])
    finally:
        await redis.aclose()


async def test_the_swap_holds_ledger_batches_until_it_commits(
    migrated: Settings, people: People, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch for a brand-new stream (the gap case) waits for the swap, then applies on top."""
    model = await people.model("Held")
    newcomer = await people.client(model, "Late")
    ledger_db = database(migrated.mysql_dsn, 1)  # the ledger's own connection
    await ledger_db.connect()
    fold_tail = rebuild_module._fold_tail
    held: list[bool] = []

    async def fold_tail_while_a_batch_arrives(cur: Any, *args: Any) -> None:
        batch = asyncio.ensure_future(
            LedgerStore(ledger_db).apply_batch([Deposit(cid(), newcomer.uuid, Decimal("9.00"))])
        )
        done, _ = await asyncio.wait([batch], timeout=0.5)
        held.append(not done)
        late.append(batch)
        await fold_tail(cur, *args)

    late: list[asyncio.Future[Any]] = []
    monkeypatch.setattr(rebuild_module, "_fold_tail", fold_tail_while_a_batch_arrives)
    try:
        result = await rebuild(db)
        outcome = await asyncio.wait_for(late[0], timeout=60)
    finally:
        await ledger_db.disconnect()
    assert held == [True], "a ledger batch got through while the swap held the streams"
    assert set(outcome.outcomes.values()) == {"applied"}
    position = await db.fetch_val(
        "SELECT id FROM chat_events WHERE stream = :s", {"s": newcomer.uuid}
    )
    assert position > result.position  # appended after the swap, on the rebuilt projections
    assert await people.balance(newcomer.uuid) == Decimal("9.00")
    report = await audit_database(db)
    assert report.ok, report.findings
