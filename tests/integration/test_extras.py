"""DESIGN §11's paid pins and toy queue through the real service (an API process with a gateway,
a ledger process it can kill, the clock ticking every 0.25 s): attempts to break them. Each
test ends with a clean `chatledger audit`."""

import asyncio
import signal
import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

import aiohttp
import orjson
import pytest
from databases import Database

from chatledger.api.extras import PinsResponse, ToyResponse
from chatledger.domain.commands import PinMessage, Refund
from chatledger.domain.events import event_id_for
from chatledger.platform.config import Settings
from tests.helpers.cli import audit_ok, cli
from tests.helpers.commands import produce
from tests.helpers.people import People, Someone
from tests.helpers.service import stop
from tests.helpers.shows import Stack, answer
from tests.helpers.wait import eventually
from tests.helpers.ws import connected
from tests.integration.test_refunds import applied, post

PIN_EVENTS = ("message_pinned", "pin_started", "pin_expired", "pin_removed")


@pytest.fixture(scope="module")
def stack(migrated: Settings) -> Iterator[Stack]:
    running = Stack(migrated)
    try:
        yield running
    finally:
        running.stop()


async def get(stack: Stack, who: Someone, path: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession(stack.api.url) as http,
        http.get(path, headers=who.headers) as response,
    ):
        body: dict[str, Any] = await response.json()
        assert response.status == 200, body
        return body


async def settings(stack: Stack, db: Database, model: Someone, **body: Any) -> None:
    await applied(db, await post(stack.api, model, "/chat/settings", body))


async def events_of(db: Database, chat: str, *types: str) -> list[dict[str, Any]]:
    named = ", ".join(f"'{t}'" for t in types)
    rows = await db.fetch_all(
        "SELECT type, event_id, seq, created_at, actor_uuid, payload FROM chat_events"
        f" WHERE stream = :c AND type IN ({named}) ORDER BY seq", {"c": chat})
    return [dict(row._mapping) for row in rows]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


async def settled(db: Database, chat: str) -> None:
    """Nothing of the chat's pins and toy is left to fall due: no later test sees its ticks."""
    await eventually(
        lambda: db.fetch_val(
            "SELECT (SELECT COUNT(*) FROM pins WHERE model_uuid = :c AND status IN"
            " ('queued', 'showing')) + (SELECT COUNT(*) FROM toy_turns WHERE model_uuid = :c"
            " AND status IN ('queued', 'playing'))", {"c": chat}),
        until=lambda left: left == 0, what=f"chat {chat} settled", timeout=30)


async def pin_status(db: Database, pin: str, wanted: str) -> None:
    await eventually(lambda: db.fetch_val("SELECT status FROM pins WHERE pin_id = :p", {"p": pin}),
                     until=lambda status: status == wanted, what=f"pin {pin} {wanted}", timeout=30)


async def test_pins_bought_in_one_batch_show_the_higher_first_each_once_at_its_time(
    stack: Stack, people: People, db: Database
) -> None:
    model = await people.model()
    ann = await people.client(model, "Ann", money="10")
    bob = await people.client(model, "Bob", money="10")
    watcher = await people.client(model, "Eve")
    await settings(stack, db, model, pin_tiers=[{"min": "1", "seconds": 2},
                                                {"min": "5", "seconds": 4}])
    cheap = PinMessage(str(uuid.uuid4()), model.uuid, ann.person.as_actor(), "hi all", Decimal(2))
    dear = PinMessage(str(uuid.uuid4()), model.uuid, bob.person.as_actor(), "me first",
                      Decimal(5))
    async with aiohttp.ClientSession() as http, connected(http, stack.api.url, watcher) as page:
        await produce(stack.settings, [cheap, dear])  # the cheaper one first, in one send
        await applied(db, cheap.command_id)
        await applied(db, dear.command_id)
        first, second = event_id_for(cheap.command_id, 0), event_id_for(dear.command_id, 0)
        await pin_status(db, second, "showing")
        shown = await get(stack, watcher, "/chat/pins")
        PinsResponse.model_validate_json(orjson.dumps(shown), strict=True)  # as documented
        assert shown["current"]["pin"] == second and shown["current"]["sum"] == "5.00"
        assert [p["pin"] for p in shown["queue"]] == [first]
        seen = await page.until(
            lambda got: sum(e["type"] == "pin_expired" for e in got) == 2, "both pins expired")
    facts = await events_of(db, model.uuid, *PIN_EVENTS)
    assert facts[0]["created_at"] == facts[1]["created_at"]  # one batch bought both
    order = [(f["type"], f["event_id"] if f["type"] == "message_pinned" else
              orjson.loads(f["payload"])["pin"]) for f in facts]
    assert order == [("message_pinned", first), ("message_pinned", second),
                     ("pin_started", second), ("pin_expired", second),
                     ("pin_started", first), ("pin_expired", first)]
    live = [(e["type"], e["pin"]) for e in seen if e["type"] in PIN_EVENTS]
    assert live == order  # the room saw the same, in the same order
    started = {e["pin"]: e for e in seen if e["type"] == "pin_started"}
    for e in seen:
        if e["type"] == "pin_expired":  # once, at or after its time
            assert when(e["created_at"]) >= when(started[e["pin"]]["ends_at"])
    assert await people.balance(ann.uuid) == Decimal("8.00")
    assert await people.balance(bob.uuid) == Decimal("5.00")
    assert await people.balance(model.uuid) == Decimal("7.00")
    assert (await get(stack, watcher, "/chat/pins"))["current"] is None
    await audit_ok()


async def test_a_ledger_killed_while_a_pin_shows_expires_it_once_at_its_time(
    stack: Stack, people: People, db: Database
) -> None:
    model = await people.model()
    bob = await people.client(model, "Bob", money="10")
    await settings(stack, db, model, pin_tiers=[{"min": "1", "seconds": 3}])
    pin = event_id_for(await post(stack.api, bob, "/chat/pin", {"message": "x", "sum": 2}), 0)
    await pin_status(db, pin, "showing")
    after = event_id_for(await post(stack.api, bob, "/chat/pin", {"message": "y", "sum": 1}), 0)
    await pin_status(db, after, "queued")
    stop(stack.ledger.process, signal.SIGKILL)
    stack.ledger = stack.start_ledger()
    await pin_status(db, after, "expired")  # the first expired, the next showed and expired
    ends = dict((row[0], row[1]) for row in await db.fetch_all(
        "SELECT pin_id, ends_at FROM pins WHERE model_uuid = :m", {"m": model.uuid}))
    expired = await events_of(db, model.uuid, "pin_expired")
    assert [orjson.loads(e["payload"])["pin"] for e in expired] == [pin, after]  # once each
    assert all(e["created_at"] >= ends[orjson.loads(e["payload"])["pin"]] for e in expired)
    ticks = await db.fetch_val(
        "SELECT COUNT(*) FROM applied_commands a JOIN chat_events e ON e.command_id ="
        " a.command_id WHERE e.type = 'pin_expired' AND e.stream = :c", {"c": model.uuid})
    assert ticks == 2
    await audit_ok()


async def test_a_ban_or_a_deletion_takes_a_pin_down_without_refund(
    stack: Stack, people: People, db: Database
) -> None:
    model = await people.model()
    ann = await people.client(model, "Ann", money="20")
    bob = await people.client(model, "Bob", money="20")
    eve = await people.client(model, "Eve", money="20")
    await settings(stack, db, model, pin_tiers=[{"min": "1", "seconds": 60}])
    showing = event_id_for(await post(stack.api, ann, "/chat/pin", {"message": "a", "sum": 9}), 0)
    await pin_status(db, showing, "showing")
    queued = event_id_for(await post(stack.api, bob, "/chat/pin", {"message": "b", "sum": 3}), 0)
    await pin_status(db, queued, "queued")
    await applied(db, await post(stack.api, model, "/chat/moderation/ban", {"client": bob.uuid}))
    await pin_status(db, queued, "removed")
    assert await people.balance(bob.uuid) == Decimal("17.00")  # no refund
    assert (await answer(stack, bob, "/chat/pin", {"message": "c", "sum": 3}))[0] == 403
    shown = await get(stack, eve, "/chat/pins")
    assert shown["current"]["pin"] == showing and shown["queue"] == []
    status, _ = await answer(stack, eve, "/chat/message/delete", {"id": showing})
    assert status == 403  # not hers
    await applied(db, await post(stack.api, ann, "/chat/message/delete", {"id": showing}))
    await pin_status(db, showing, "removed")
    removed = await events_of(db, model.uuid, "pin_removed")
    assert [orjson.loads(r["payload"])["reason"] for r in removed] == [
        "banned", "deleted"]
    assert (await get(stack, eve, "/chat/pins"))["current"] is None
    assert await people.balance(model.uuid) == Decimal("12.00")
    await audit_ok()


async def test_racing_tips_queue_100_toy_turns_played_in_the_ledgers_order(
    stack: Stack, people: People, db: Database
) -> None:
    model = await people.model()
    fans = [await people.client(model, f"Fan{i}", money="100") for i in range(10)]
    await settings(stack, db, model, toy_levels=[{"min": "1", "level": 2, "seconds": 1},
                                                 {"min": "3", "level": 9, "seconds": 1}])

    async def tips(fan: Someone) -> list[str]:
        return [await post(stack.api, fan, "/chat/donate/add", {"sum": 1 + i % 3})
                for i in range(10)]

    sent = [c for batch in await asyncio.gather(*(tips(f) for f in fans)) for c in batch]
    for command in sent:
        await applied(db, command)
    queued = [orjson.loads(q["payload"]) for q in await events_of(db, model.uuid, "toy_queued")]
    donations = [q["donation"] for q in queued]
    assert sorted(donations) == sorted(event_id_for(c, 0) for c in sent)  # none lost, none twice
    assert {q["level"] for q in queued} == {2, 9}
    await eventually(
        lambda: db.fetch_val("SELECT COUNT(*) FROM toy_turns WHERE model_uuid = :m"
                             " AND status = 'finished'", {"m": model.uuid}),
        until=lambda n: n >= 5, what="five turns played", timeout=30)
    toy = await get(stack, fans[0], "/chat/toy")
    ahead = ([toy["playing"]["donation"]] if toy["playing"] else []) + [
        t["donation"] for t in toy["queue"]]
    assert ahead == donations[len(donations) - len(ahead):]  # what is left, in the ledger's order
    # Every tip refunded at once, racing the clock: a turn not begun goes, one begun plays out.
    await produce(stack.settings, [Refund(str(uuid.uuid4()), model.uuid, d) for d in donations])
    await settled(db, model.uuid)
    turns = {kind: [orjson.loads(e["payload"])["donation"]
                    for e in await events_of(db, model.uuid, kind)]
             for kind in ("toy_started", "toy_finished", "toy_removed")}
    played, removed = turns["toy_started"], set(turns["toy_removed"])
    assert len(played) >= 5 and removed.isdisjoint(played)
    assert played == [d for d in donations if d not in removed]  # in order, once each, none lost
    assert turns["toy_finished"] == played
    await audit_ok()


async def test_a_refund_takes_back_a_turn_not_begun_and_private_tips_name_nobody(
    stack: Stack, people: People, db: Database
) -> None:
    model = await people.model()
    bob = await people.client(model, "Bob", money="50")
    eve = await people.client(model, "Eve")
    await settings(stack, db, model, toy_levels=[{"min": "2", "level": 5, "seconds": 25}])
    async with aiohttp.ClientSession() as http, connected(http, stack.api.url, eve) as page:
        playing = await post(stack.api, bob, "/chat/donate/add", {"sum": 2})
        waiting = await post(stack.api, bob, "/chat/donate/add", {"sum": 3})
        hidden = await post(stack.api, bob, "/chat/donate/add", {
            "sum": 4, "message": {"message": "just us", "is_public": False}})
        for command in (playing, waiting, hidden):
            await applied(db, command)
        ran = await cli("refund", event_id_for(waiting, 0))  # as an operator does
        assert ran.code == 0, ran
        begun = Refund(str(uuid.uuid4()), model.uuid, event_id_for(playing, 0))
        await produce(stack.settings, [begun])
        await applied(db, begun.command_id)
        toy = await get(stack, eve, "/chat/toy")
        ToyResponse.model_validate_json(orjson.dumps(toy), strict=True)
        assert toy["playing"]["donation"] == event_id_for(playing, 0)  # begun: it plays out
        assert [t["donation"] for t in toy["queue"]] == [event_id_for(hidden, 0)]
        assert toy["queue"][0]["from"]["name"] == "anonymous"
        assert toy["levels"] == [{"min": "2.00", "level": 5, "seconds": 25}]
        seen = await page.until(lambda got: any(e["type"] == "toy_removed" for e in got),
                                "the turn taken back")
        last = Refund(str(uuid.uuid4()), model.uuid, event_id_for(hidden, 0))
        await produce(stack.settings, [last])  # its turn goes too: nothing is left to play
        await settled(db, model.uuid)
        finished = await page.until(lambda got: any(e["type"] == "toy_finished" for e in got),
                                    "the turn begun played out")
        seen = [*seen, *finished[len(seen):]]
    assert [e["donation"] for e in seen if e["type"] == "toy_removed"] == [
        event_id_for(waiting, 0)]
    assert event_id_for(hidden, 0) not in str(seen)  # its toy_queued is private
    assert all(e["from"]["uuid"] == model.uuid for e in seen if e["type"] == "toy_started")
    await audit_ok()


async def test_bad_extras_are_refused_with_nothing_changed(
    stack: Stack, people: People, db: Database
) -> None:
    model = await people.model()
    bob = await people.client(model, "Bob", money="5")
    assert (await answer(stack, bob, "/chat/pin", {"message": "x", "sum": 1}))[1]["errors"] == [
        "pin: this chat takes no pins"]
    await settings(stack, db, model, pin_tiers=[{"min": "2", "seconds": 10}],
                   toy_levels=[{"min": "1", "level": 1, "seconds": 1}])
    version = await db.fetch_val("SELECT version FROM streams WHERE stream = :m",
                                 {"m": model.uuid})
    extras = tuple((await db.fetch_one("SELECT pin_tiers, toy_levels FROM chat_extras"
                                       " WHERE model_uuid = :m", {"m": model.uuid})).values())
    assert extras == ('[{"min":"2.00","seconds":10}]', '[{"min":"1.00","level":1,"seconds":1}]')
    tier = {"min": "1", "seconds": 10}
    refused = [
        (bob, "/chat/pin", {"message": "x", "sum": "1.99"}, 400, "below the lowest pin tier"),
        (bob, "/chat/pin", {"message": "x", "sum": 6}, 402, "insufficient funds"),
        (bob, "/chat/pin", {"message": "x" * 201, "sum": 2}, 400, "at most 200"),
        (bob, "/chat/pin", {"message": "  ", "sum": 2}, 400, "whitespace"),
        (bob, "/chat/pin", {"message": "x", "sum": 2, "is_public": False}, 400,
         "a pin is always public"),
        (model, "/chat/pin", {"message": "x", "sum": 2}, 403, "only clients"),
        (model, "/chat/settings", {"pin_tiers": [tier, tier]}, 400, "strictly increase in min"),
        (model, "/chat/settings", {"pin_tiers": [{"min": "5", "seconds": 9}, tier]}, 400,
         "strictly increase in min"),
        (model, "/chat/settings", {"pin_tiers": [{"min": i + 1, "seconds": 9}
                                                 for i in range(11)]}, 400, "at most 10"),
        (model, "/chat/settings", {"pin_tiers": [{"min": 1, "seconds": 18001}]}, 400, "18000"),
        (model, "/chat/settings", {"toy_levels": [{"min": 1, "level": 21, "seconds": 1}]}, 400,
         "20"),
        (model, "/chat/settings", {"toy_levels": [{"min": 1, "level": 0, "seconds": 1}]}, 400,
         "1"),
        (model, "/chat/settings", {"toy_levels": [{"min": 1, "level": 3, "seconds": 601}]}, 400,
         "600"),
        (model, "/chat/settings", {"toy_levels": [{"min": 0, "level": 3, "seconds": 1}]}, 400,
         "greater than 0"),
        (bob, "/chat/settings", {"pin_tiers": []}, 403, "only the model"),
    ]
    for who, path, body, status, says in refused:
        got, reply = await answer(stack, who, path, body)
        assert got == status and says in str(reply), (path, body, got, reply)
    assert await db.fetch_val("SELECT version FROM streams WHERE stream = :m",
                              {"m": model.uuid}) == version
    assert tuple((await db.fetch_one("SELECT pin_tiers, toy_levels FROM chat_extras"
                                     " WHERE model_uuid = :m", {"m": model.uuid})).values()) \
        == extras
    assert await people.balance(bob.uuid) == Decimal("5.00")
    mute = await post(stack.api, model, "/chat/moderation/mute",
                      {"client": bob.uuid, "seconds": 60})
    await applied(db, mute)
    assert await outcome_of(db, mute) == "applied"
    accepted: list[str] = []

    async def pin() -> tuple[int, Any]:
        got = await answer(stack, bob, "/chat/pin", {"message": "x", "sum": 2})
        if got[0] == 201:
            accepted.append(got[1]["id"])
        return got

    # The API learns of the mute from the events topic, a moment after the ledger applied it
    # (seen under load); a pin it accepts meanwhile is the ledger's to refuse: a refusal the
    # client must hear of, so a fact (`pin_rejected`, reason "muted"), nothing charged.
    assert await eventually(pin, until=lambda got: got[0] != 201, what="the api refusing") == (
        403, {"success": "false", "message": "muted"})  # a pin speaks
    for command_id in accepted:
        outcome = await eventually(partial(outcome_of, db, command_id),
                                   what="the early pin decided")
        decided = [(row[0], row[1]) for row in await db.fetch_all(
            "SELECT type, JSON_VALUE(payload, '$.reason') FROM chat_events"
            " WHERE command_id = :c ORDER BY seq", {"c": command_id})]
        assert (outcome, decided) == ("applied", [("pin_rejected", "muted")]), (outcome, decided)
    assert await people.balance(bob.uuid) == Decimal("5.00")


async def outcome_of(db: Database, command_id: str) -> str | None:
    outcome: str | None = await db.fetch_val(
        "SELECT outcome FROM applied_commands WHERE command_id = :c", {"c": command_id})
    return outcome


async def test_audit_names_a_corrupted_pin_and_rebuild_repairs_it(
    stack: Stack, people: People, db: Database
) -> None:
    model = await people.model()
    bob = await people.client(model, "Bob", money="5")
    await settings(stack, db, model, pin_tiers=[{"min": "1", "seconds": 1}])
    pin = event_id_for(await post(stack.api, bob, "/chat/pin", {"message": "x", "sum": 1}), 0)
    await pin_status(db, pin, "expired")
    await db.execute("UPDATE pins SET status = 'showing' WHERE pin_id = :p", {"p": pin})
    ran = await cli("audit")
    assert ran.code != 0 and f"[pins] pins.id={pin}" in ran.out, ran
    assert (await cli("rebuild", "--projection", "extras")).code == 0
    assert await db.fetch_val("SELECT status FROM pins WHERE pin_id = :p", {"p": pin}) == "expired"
    await audit_ok()
