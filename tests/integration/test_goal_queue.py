"""DESIGN §11's goal queue through the real service: the tip that ends the last active goal
starts the next queued goal (live on the websocket and in history) without filling it, the queue
keeps its order across a ledger restart, bad input is refused with nothing changed, and audit
and rebuild agree with the tables after.
"""

import signal
import uuid
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
from databases import Database

from chatledger.domain import events as ev
from chatledger.domain.commands import AddGoal, Donate
from chatledger.domain.events import event_id_for
from chatledger.platform.config import Settings
from chatledger.readmodels.rebuild import rebuild
from chatledger.readmodels.snapshot import audit_database
from tests.helpers.commands import produce
from tests.helpers.http import audit_clean
from tests.helpers.ledger import private_ledger
from tests.helpers.marker import before, only_the_marker_followed
from tests.helpers.moderation import accepted, applied, post
from tests.helpers.people import People
from tests.helpers.service import Service
from tests.helpers.ws import connected

GOAL = "/chat/goal/add"
DONATE = "/chat/donate/add"
SELECT_GOALS = (
    "SELECT uuid, sum, is_active, is_queued FROM goals WHERE model_uuid = :m"
    " ORDER BY is_queued, queue_seq, id"
)


async def goals_of(db: Database, model: str) -> list[tuple[str, Decimal, bool, bool]]:
    rows = await db.fetch_all(SELECT_GOALS, {"m": model})
    return [(r[0], Decimal(r[1]), bool(r[2]), bool(r[3])) for r in rows]


def of_type(events: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == type_]


async def test_the_tip_that_ends_the_last_active_goal_starts_the_next_queued_one(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession
) -> None:
    base, (model, viewer) = service.url, await people.chat(money="100")
    async with connected(http, base, viewer) as page:
        dance = await accepted(http, base, GOAL, model, {"name": "Dance", "require_sum": "10"})
        song = await accepted(http, base, GOAL, model,
                              {"name": "Song", "require_sum": 5, "queued": True})
        encore = await accepted(http, base, GOAL, model,
                                {"name": "Encore", "require_sum": "5", "queued": "true"})
        await applied(db, encore)
        ids = {name: event_id_for(c, 0) for name, c in
               (("Dance", dance), ("Song", song), ("Encore", encore))}
        assert await goals_of(db, model.uuid) == [
            (ids["Dance"], Decimal("0.00"), True, False),
            (ids["Song"], Decimal("0.00"), False, True),
            (ids["Encore"], Decimal("0.00"), False, True),
        ]
        tip = await accepted(http, base, DONATE, viewer, {"sum": "12"})
        assert [e["type"] for e in await applied(db, tip)] == [
            ev.DONATE, ev.END_GOAL, ev.GOAL_STARTED, ev.CHANGE_SPONSOR]
        live = await page.until(lambda es: bool(of_type(es, ev.GOAL_STARTED)), "goal_started")
    new_goals = of_type(live, ev.NEW_GOAL)
    assert [(g["goal"]["name"], g["queued"]) for g in new_goals] == [
        ("Dance", False), ("Song", True), ("Encore", True)]
    (donate,) = of_type(live, ev.DONATE)
    assert [g["id"] for g in donate["goals"]] == [ids["Dance"]]  # only what was active
    (started,) = of_type(live, ev.GOAL_STARTED)
    assert started["is_public"]
    assert started["from"] == {"uuid": model.uuid, "name": model.person.name, "role": "model"}
    assert started["goal"] == {"id": ids["Song"], "name": "Song", "sum": "0.00",
                               "require_sum": "5.00", "reached": False}
    assert sorted(await goals_of(db, model.uuid)) == sorted([
        (ids["Song"], Decimal("0.00"), True, False),  # the 12 did not spill into it
        (ids["Dance"], Decimal("12.00"), False, False),
        (ids["Encore"], Decimal("0.00"), False, True),
    ])
    async with http.get(base + "/chat/event/history", headers=viewer.headers) as response:
        history = (await response.json())["events"]
    assert [e["goal"]["id"] for e in of_type(history, ev.GOAL_STARTED)] == [ids["Song"]]
    # A goal set without the queue joins Song; a tip fills both (the ledger may list them in
    # another order than the audit's replay does: still the same goals).
    late = await accepted(http, base, GOAL, model, {"name": "Late", "require_sum": "50"})
    both = await accepted(http, base, DONATE, viewer, {"sum": "1"})
    await applied(db, both)
    payload = await db.fetch_val("SELECT payload FROM chat_events WHERE event_id = :e",
                                 {"e": event_id_for(both, 0)})
    assert {g["id"] for g in orjson.loads(payload)["goals"]} == {ids["Song"], event_id_for(late, 0)}
    await audit_clean(db)


async def test_the_queue_keeps_its_order_across_a_ledger_restart(
    migrated: Settings, people: People, db: Database
) -> None:
    model, viewer = await people.chat(money="100")
    m, v = model.person.as_actor(), viewer.person.as_actor()

    def goal(name: str, queued: bool) -> AddGoal:
        return AddGoal(str(uuid.uuid4()), model.uuid, m, name, Decimal("5"), queued)

    def tip(amount: str) -> Donate:
        return Donate(str(uuid.uuid4()), model.uuid, v, Decimal(amount))

    first, a, b, c = goal("First", False), goal("A", True), goal("B", True), goal("C", True)
    with private_ledger(migrated, "goalq") as ledger:
        ledger.start()
        await produce(ledger.settings, [first, a, b, c])
        await applied(db, c.command_id)
        ledger.stop(signal.SIGKILL)
        ledger.start()  # a new process: the queue comes back from the goals table
        started = []
        for round_ in range(3):
            ends = tip("5")
            await produce(ledger.settings, [ends])
            events = await applied(db, ends.command_id)
            started += [e["event_id"] for e in events if e["type"] == ev.GOAL_STARTED]
            if round_ == 0:
                ledger.stop(signal.SIGKILL)
                ledger.start()
    payloads = [await db.fetch_val("SELECT payload FROM chat_events WHERE event_id = :e",
                                   {"e": event_id}) for event_id in started]
    assert [event_id_for(g.command_id, 0) for g in (a, b, c)] == [
        orjson.loads(p)["goal"]["id"] for p in payloads]
    await audit_clean(db)


async def test_bad_goal_bodies_are_refused_with_nothing_changed(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession
) -> None:
    model = await people.model()
    then = await before(db, people, model.uuid, model)
    for body, field in [
        ({"name": "Dance", "require_sum": "0", "queued": True}, "require_sum"),
        ({"name": "Dance", "require_sum": "-5", "queued": True}, "require_sum"),
        ({"name": "Dance", "require_sum": "5", "queued": "maybe"}, "queued"),
        ({"name": "Dance", "require_sum": "5", "queued": 1}, "queued"),
    ]:
        status, answer = await post(http, service.url, GOAL, model, body)
        assert status == 400, answer
        assert any(error.startswith(field) for error in answer["errors"]), answer
    await only_the_marker_followed(service.url, db, people, model, then)
    assert await goals_of(db, model.uuid) == []


async def test_rebuild_restores_a_damaged_queue(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession
) -> None:
    model = await people.model()
    await accepted(http, service.url, GOAL, model, {"name": "Dance", "require_sum": "10"})
    last = await accepted(http, service.url, GOAL, model,
                          {"name": "Song", "require_sum": "5", "queued": True})
    await applied(db, last)
    song = event_id_for(last, 0)
    await db.execute("UPDATE goals SET is_active = TRUE, is_queued = FALSE, queue_seq = NULL"
                     " WHERE uuid = :g", {"g": song})
    report = await audit_database(db)
    assert [f.row for f in report.findings] == [f"goals.uuid={song}"]
    await rebuild(db, ["goals"])
    assert (await audit_database(db)).ok
    assert [row[3] for row in await goals_of(db, model.uuid)] == [False, True]
