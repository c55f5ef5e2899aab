"""Private and spy shows (DESIGN §10) through the real service, minutes shortened to 1 s: billed
by the minute, exactly the minutes begun, whatever ends the show or kills the ledger."""

import signal
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from databases import Database

from chatledger.domain.events import event_id_for
from chatledger.platform.config import Settings
from tests.helpers.cli import audit_ok, cli
from tests.helpers.people import People, Someone
from tests.helpers.service import stop
from tests.helpers.shows import (
    Stack,
    a_chat,
    answer,
    charged,
    me,
    show_on,
    show_row,
    started,
)
from tests.helpers.wait import eventually
from tests.helpers.ws import connected
from tests.integration.test_refunds import applied, post


@pytest.fixture(scope="module")
def stack(migrated: Settings) -> Iterator[Stack]:
    running = Stack(migrated)
    try:
        yield running
    finally:
        running.stop()


async def test_a_show_charges_exactly_the_minutes_begun(
    stack: Stack, people: People, db: Database
) -> None:
    model, client = await a_chat(stack, people, db, "20")
    async with show_on(stack, db, model, client) as show:
        assert (await me(stack, client))["held"] == "2.00"
        await show_row(db, show, lambda row: row[1] >= 3, "three minutes begun")
        await applied(db, await post(stack.api, client, "/chat/show/end", {"show": show}))
    bill = await charged(db, show)
    assert bill["reason"] == "client"
    assert bill["minutes"] >= 3 and bill["charged"] == bill["minutes"] * Decimal("2")
    assert bill["captured"] == bill["charged"]
    mine = await me(stack, client)
    assert (mine["balance"], mine["available"], mine["held"]) == (
        f"{Decimal('20') - bill['charged']:.2f}", f"{Decimal('20') - bill['charged']:.2f}",
        "0.00")
    await audit_ok()


async def test_a_declined_show_voids_its_hold_and_bad_asks_change_nothing(
    stack: Stack, people: People, db: Database
) -> None:
    model, client = await a_chat(stack, people, db, "3")
    poor = await people.client(model, "Poor", money="1")
    assert (await answer(stack, poor, "/chat/show/request", {}))[0] == 402
    assert (await answer(stack, model, "/chat/show/accept", {"show": model.uuid}))[0] == 400
    assert (await answer(stack, poor, "/chat/show/spy", {"show": model.uuid}))[0] == 400
    asked = await post(stack.api, client, "/chat/show/request", {})
    await applied(db, asked)
    show = event_id_for(asked, 0)
    status, body = await answer(stack, poor, "/chat/show/request", {})
    assert (status, body["errors"]) == (400, ["show: another show is on"])
    assert (await answer(stack, client, "/chat/show/accept", {"show": show}))[0] == 403
    await applied(db, await post(stack.api, model, "/chat/show/decline", {"show": show}))
    assert await db.fetch_val(
        "SELECT JSON_VALUE(payload, '$.reason') FROM chat_events WHERE type = 'show_ended'"
        " AND JSON_VALUE(payload, '$.show') = :s", {"s": show}) == "declined"
    assert await db.fetch_val("SELECT status FROM holds WHERE client_uuid = :c",
                              {"c": client.uuid}) == "voided"
    assert (await me(stack, client))["available"] == "3.00"
    await audit_ok()


async def test_a_boundary_the_client_cannot_cover_ends_the_show(
    stack: Stack, people: People, db: Database
) -> None:
    model, client = await a_chat(stack, people, db, "5")
    async with show_on(stack, db, model, client) as show:
        bill = await charged(db, show)
    assert (bill["reason"], bill["minutes"], bill["charged"]) == (
        "insufficient_funds", 2, Decimal("4"))
    assert await people.balance(client.uuid) == Decimal("1.00")
    await audit_ok()


async def test_tips_during_a_show_cannot_spend_the_held_minute(
    stack: Stack, people: People, db: Database
) -> None:
    model, client = await a_chat(stack, people, db, "10", rate="3")
    async with show_on(stack, db, model, client) as show:
        available = Decimal((await me(stack, client))["available"])
        if available > 0:
            await applied(db, await post(stack.api, client, "/chat/donate/add",
                                         {"sum": str(available)}))
        assert (await answer(stack, client, "/chat/donate/add", {"sum": "1"}))[0] == 402
        bill = await charged(db, show)
    assert bill["reason"] == "insufficient_funds"
    assert bill["charged"] == bill["minutes"] * Decimal("3")
    assert await people.balance(client.uuid) == Decimal("0.00")
    await audit_ok()


async def test_a_spy_pays_its_own_minutes(stack: Stack, people: People, db: Database) -> None:
    model, client = await a_chat(stack, people, db, "50")
    spy = await people.client(model, "Eve", money="10")
    async with show_on(stack, db, model, client, spy) as show:
        assert (await answer(stack, client, "/chat/show/spy", {"show": show}))[0] == 403
        # Only the show's client or the model may end it: another client is refused by who it is.
        status, body = await answer(stack, spy, "/chat/show/end", {"show": show})
        assert (status, body["errors"]) == (403, ["only the show's client or the model ends it"])
        await applied(db, await post(stack.api, spy, "/chat/show/spy", {"show": show}))
        await eventually(
            lambda: db.fetch_val("SELECT minutes FROM show_spies WHERE spy_uuid = :s",
                                 {"s": spy.uuid}),
            until=lambda minutes: minutes is not None and minutes >= 2, what="two spy minutes")
        await applied(db, await post(stack.api, spy, "/chat/show/spy/end", {"show": show}))
        await applied(db, await post(stack.api, model, "/chat/show/end", {"show": show}))
    row = await db.fetch_one(
        "SELECT JSON_VALUE(payload, '$.minutes'), JSON_VALUE(payload, '$.charged') FROM"
        " chat_events WHERE type = 'spy_ended' AND JSON_VALUE(payload, '$.spy') = :s",
        {"s": spy.uuid})
    minutes, paid = int(row[0]), Decimal(row[1])
    assert minutes >= 2 and paid == minutes * Decimal("1")
    assert await people.balance(spy.uuid) == Decimal("10") - paid
    assert (await charged(db, show))["reason"] == "model"
    await audit_ok()


async def test_a_ledger_killed_mid_show_charges_every_minute_once(
    stack: Stack, people: People, db: Database
) -> None:
    model, client = await a_chat(stack, people, db, "40")
    async with show_on(stack, db, model, client) as show:
        await show_row(db, show, lambda row: row[1] >= 2, "two minutes begun")
        stop(stack.ledger.process, signal.SIGKILL)
        stack.ledger = stack.start_ledger()
        before = (await show_row(db, show, lambda row: True, "the show"))[1]
        row = await show_row(db, show, lambda row: row[1] >= before + 2 or row[0] == "ended",
                             "two more minutes")
        if row[0] != "ended":  # a slow restart may have let the money run out first
            await post(stack.api, client, "/chat/show/end", {"show": show})
        bill = await charged(db, show)
    assert bill["charged"] == bill["minutes"] * Decimal("2") == bill["captured"]
    assert await people.balance(client.uuid) == Decimal("40") - bill["charged"]
    await audit_ok()


async def test_audit_names_a_corrupted_hold_and_rebuild_repairs_it(
    stack: Stack, people: People, db: Database
) -> None:
    model, client = await a_chat(stack, people, db, "3")
    asked = await post(stack.api, client, "/chat/show/request", {})
    await applied(db, asked)
    await applied(db, await post(stack.api, model, "/chat/show/decline",
                                 {"show": event_id_for(asked, 0)}))
    await db.execute("UPDATE holds SET status = 'open' WHERE client_uuid = :c",
                     {"c": client.uuid})
    assert (await me(stack, client))["available"] == "1.00"  # what the corruption would cost
    ran = await cli("audit")
    assert ran.code != 0 and "[holds] holds.id=" in ran.out, ran
    assert (await cli("rebuild", "--projection", "holds")).code == 0
    assert (await me(stack, client))["available"] == "3.00"
    await audit_ok()


async def test_a_show_speaks_to_its_audience_only(
    stack: Stack, people: People, db: Database
) -> None:
    model, client = await a_chat(stack, people, db, "100")
    spy = await people.client(model, "Eve", money="50")
    watcher = await people.client(model, "Ann")
    async with aiohttp.ClientSession() as http, \
            connected(http, stack.api.url, client), \
            connected(http, stack.api.url, spy) as spying, \
            connected(http, stack.api.url, watcher) as watching:
        show = await started(stack, db, model, client)
        await applied(db, await post(stack.api, spy, "/chat/show/spy", {"show": show}))
        for who, text in ((model, "for you"), (client, "thanks"), (watcher, "hello?")):
            await applied(db, await post(stack.api, who, "/chat/message/add",
                                         {"message": text, "is_public": True}))
        heard = await spying.until(
            lambda got: {"for you", "thanks", "hello?"} <= {e.get("message") for e in got},
            "the spy hears the show")
        seen = await watching.until(lambda got: "hello?" in {e.get("message") for e in got},
                                    "the watcher's own message")
        await applied(db, await post(stack.api, model, "/chat/show/end", {"show": show}))
    assert [e["type"] for e in seen if e["type"] != "message"] == ["show_started"]
    assert [e["message"] for e in seen if e["type"] == "message"] == ["hello?"]
    assert client.uuid not in str(seen) and spy.uuid not in str(seen)
    started_event = next(e for e in heard if e["type"] == "show_started")
    assert started_event["from"]["uuid"] == model.uuid and started_event["is_public"]


async def test_a_client_gone_for_ten_seconds_ends_the_show_and_pays_the_minute(
    stack: Stack, people: People, db: Database
) -> None:
    model, client = await a_chat(stack, people, db, "100")
    async with show_on(stack, db, model, client) as show:
        pass  # the client's socket closes once the show has started
    bill = await charged(db, show)  # within the 30 s wait: 10 s gone, and a presence tick
    assert bill["reason"] == "disconnected"
    assert bill["minutes"] >= 10 and bill["charged"] == bill["minutes"] * Decimal("2")
    assert await people.balance(client.uuid) == Decimal("100") - bill["charged"]
    await audit_ok()


async def test_two_ledgers_ticking_through_a_rebalance_charge_each_minute_once(
    stack: Stack, people: People, db: Database
) -> None:
    """Both clocks send every tick; a second ledger joins mid-show (a rebalance), then the
    first is killed (another): each minute is still captured once."""
    model, client = await a_chat(stack, people, db, "60")
    async with show_on(stack, db, model, client) as show:
        second = stack.start_ledger()
        try:
            await show_row(db, show, lambda row: row[1] >= 3, "three minutes begun")
            stop(stack.ledger.process, signal.SIGKILL)
            stack.ledger = second
            second = None  # type: ignore[assignment]
            before = (await show_row(db, show, lambda row: True, "the show"))[1]
            await show_row(db, show, lambda row: row[1] >= before + 2, "two more minutes")
            await post(stack.api, client, "/chat/show/end", {"show": show})
            bill = await charged(db, show)
        finally:
            if second is not None:
                stop(second.process)
    assert bill["reason"] == "client"
    assert bill["charged"] == bill["minutes"] * Decimal("2") == bill["captured"]
    assert await people.balance(client.uuid) == Decimal("60") - bill["charged"]
    ticks = await db.fetch_val(
        "SELECT COUNT(*) FROM applied_commands a JOIN chat_events e ON e.command_id ="
        " a.command_id WHERE e.type = 'hold_captured' AND JSON_VALUE(e.payload, '$.show') = :s",
        {"s": show})
    assert ticks == bill["minutes"]  # one capture per minute, each from one command
    await audit_ok()


async def _show_of(stack: Stack, who: Someone) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession(stack.api.url) as http,
        http.get("/chat/show", headers=who.headers) as response,
    ):
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body


async def _billed_by(db: Database, chat: str, show: str, seq: int) -> tuple[int, Decimal]:
    """(minutes begun, captured) of the show's own holds in its events up to `seq`."""
    row = await db.fetch_one(
        "SELECT SUM(type = 'hold_placed'), COALESCE(SUM(CASE WHEN type = 'hold_captured' THEN"
        " JSON_VALUE(payload, '$.amount') END), 0) FROM chat_events WHERE stream = :chat"
        " AND seq <= :seq"
        " AND JSON_VALUE(payload, '$.show') = :s AND JSON_VALUE(payload, '$.spy') IS NULL"
        " AND type IN ('hold_placed', 'hold_captured')", {"chat": chat, "s": show, "seq": seq})
    assert row is not None
    return int(row[0]), Decimal(row[1])


async def test_get_show_tells_each_person_what_they_may_see_as_of_its_seq(
    stack: Stack, people: People, db: Database
) -> None:
    model, client = await a_chat(stack, people, db, "50")
    spy = await people.client(model, "Eve", money="10")
    watcher = await people.client(model, "Ann")
    assert (await _show_of(stack, watcher))["running"] is None
    async with aiohttp.ClientSession() as http, \
            connected(http, stack.api.url, client), connected(http, stack.api.url, spy):
        show = await started(stack, db, model, client)
        await applied(db, await post(stack.api, spy, "/chat/show/spy", {"show": show}))
        await show_row(db, show, lambda row: row[1] >= 2, "two minutes begun")
        seen = {name: await _show_of(stack, who) for name, who in
                (("model", model), ("client", client), ("spy", spy), ("watcher", watcher))}
        await applied(db, await post(stack.api, model, "/chat/show/end", {"show": show}))
    for body in seen.values():
        assert (body["private_rate"], body["spy_rate"], body["running"]) == ("2.00", "1.00", show)
    for name in ("model", "client"):  # exactly as of its seq: every minute, none twice
        body = seen[name]
        assert body["show"]["client"]["uuid"] == client.uuid
        minutes, captured = await _billed_by(db, model.uuid, show, body["seq"])
        assert (body["show"]["minutes"], Decimal(body["show"]["charged"])) == (minutes, captured)
    assert [s["spy"]["uuid"] for s in seen["model"]["spies"]] == [spy.uuid]
    assert seen["client"]["spies"] == [] and seen["client"]["spying"] is None
    assert seen["spy"]["show"] is None and seen["spy"]["spying"]["spy"]["uuid"] == spy.uuid
    watched = seen["watcher"]
    assert (watched["show"], watched["spying"], watched["spies"]) == (None, None, [])
    assert client.uuid not in str(watched) and spy.uuid not in str(watched)
    assert (await _show_of(stack, watcher))["running"] is None
