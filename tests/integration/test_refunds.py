"""`chatledger refund` (DESIGN §9), a money path: attempts to break it against the real service.

Every refund here is the real CLI process sending to the real ledger, which publishes to
`chat.events` (websockets and history see it). Each test ends with a clean `chatledger audit`.
"""

import asyncio
import signal
import uuid
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any

import aiohttp
from databases import Database

from chatledger.domain.commands import Donate, Refund
from chatledger.domain.events import event_id_for
from chatledger.platform.config import Settings
from tests.helpers.cli import Ran, audit_ok, cli
from tests.helpers.commands import produce
from tests.helpers.kafka import published_seqs
from tests.helpers.ledger import PrivateLedger, private_ledger
from tests.helpers.marker import before, only_the_marker_followed
from tests.helpers.people import People, Someone
from tests.helpers.service import Service
from tests.helpers.wait import eventually
from tests.helpers.ws import connected

ANONYMOUS = {"uuid": None, "name": "anonymous", "role": "client"}


async def applied_by(ledger: PrivateLedger, db: Database, *commands: Donate) -> list[str]:
    """Put donations on the private ledger's topic and wait until it applied them; their ids."""
    await produce(ledger.settings, commands)
    for command in commands:
        await applied(db, command.command_id)
    return [event_id_for(command.command_id, 0) for command in commands]


async def post(service: Service, who: Someone, path: str, body: dict[str, Any]) -> str:
    async with (
        aiohttp.ClientSession(service.url) as http,
        http.post(path, json=body, headers=who.headers) as response,
    ):
        assert response.status == 201, await response.text()
        return str((await response.json())["id"])


async def applied(db: Database, command_id: str) -> None:
    outcome = await eventually(
        lambda: db.fetch_val("SELECT outcome FROM applied_commands WHERE command_id = :c",
                             {"c": command_id}),
        what=f"command {command_id} decided",
    )
    assert outcome == "applied", outcome


async def tip(service: Service, db: Database, viewer: Someone, amount: str,
              **extra: Any) -> str:
    """A donation through the API, applied; returns its donate event's id."""
    command_id = await post(service, viewer, "/chat/donate/add", {"sum": amount, **extra})
    await applied(db, command_id)
    return event_id_for(command_id, 0)


def gift(viewer: Someone, model: Someone, amount: str) -> Donate:
    return Donate(str(uuid.uuid4()), model.uuid, viewer.person.as_actor(), Decimal(amount))


async def count(db: Database, sql: str, **params: object) -> int:
    return int(await db.fetch_val(sql, params) or 0)


async def refunds_of(db: Database, donation: str) -> int:
    return await count(db, "SELECT COUNT(*) FROM chat_events WHERE type = 'donate_refunded'"
                           " AND JSON_VALUE(payload, '$.donation_id') = :d", d=donation)


async def history(service: Service, who: Someone) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession(service.url) as http,
        http.get("/chat/event/history", headers=who.headers) as response,
    ):
        assert response.status == 200
        events: list[dict[str, Any]] = (await response.json())["events"]
        return events


def refused(ran: Ran, reason: str) -> None:
    assert ran.code == 1, ran
    assert reason in ran.err, ran
    assert ran.out == "", ran


async def refunds_queued_while_paused(
    ledger: PrivateLedger, *refunds: Coroutine[Any, Any, Ran],
    meanwhile: Coroutine[Any, Any, Ran] | None = None,
) -> list[Ran]:
    """Run `chatledger refund`s while the ledger is paused (SIGSTOP); once all of them are on its
    topic (each passed the pre-check), run `meanwhile` to its end, then let the ledger go: it
    alone decides between them, on what `meanwhile` left."""
    queued = await ledger.commands()
    ledger.send(signal.SIGSTOP)
    started = [asyncio.ensure_future(run) for run in refunds]
    try:
        await eventually(ledger.commands, until=lambda n: n == queued + len(refunds),
                         what="every refund on the topic", timeout=60)
        done = [] if meanwhile is None else [await meanwhile]
    finally:
        ledger.send(signal.SIGCONT)
    return [*await asyncio.gather(*started), *done]


async def test_racing_refunds_of_one_donation_move_the_money_once(
    migrated: Settings, people: People, db: Database
) -> None:
    model = await people.model()
    ann = await people.client(model, "Ann", money="50")
    with private_ledger(migrated, "race") as ledger:
        ledger.start()
        [donation] = await applied_by(ledger, db, gift(ann, model, "20"))
        runs = await refunds_queued_while_paused(
            ledger, *(cli("refund", donation, "--reason", "race", env=ledger.env)
                      for _ in range(3))
        )
    winners = [ran for ran in runs if ran.code == 0]
    assert len(winners) == 1, runs
    for ran in runs:
        if ran.code != 0:
            refused(ran, "by the ledger")
            refused(ran, "was refunded already")
    body = winners[0].json()
    assert body["outcome"] == "applied" and body["donor"] == ann.uuid
    [event] = body["events"]
    assert event["type"] == "donate_refunded" and event["donation_id"] == donation
    assert (event["sum"], event["reason"], event["from"]["uuid"]) == ("20.00", "race", ann.uuid)
    assert body["balances"] == {ann.uuid: "50.00", model.uuid: "0.00"}
    assert await refunds_of(db, donation) == 1
    assert await people.balance(ann.uuid) == Decimal("50.00")
    assert await people.balance(model.uuid) == Decimal("0.00")
    await audit_ok()


async def test_a_payout_between_a_refunds_check_and_its_decision_wins_and_the_refund_is_refused(
    migrated: Settings, people: People, db: Database
) -> None:
    model = await people.model()
    ann = await people.client(model, "Ann", money="50")
    with private_ledger(migrated, "gap") as ledger:
        ledger.start()
        [donation] = await applied_by(ledger, db, gift(ann, model, "20"))
        refund, payout = await refunds_queued_while_paused(
            ledger, cli("refund", donation, env=ledger.env),
            meanwhile=cli("payout", model.uuid, "20", env=ledger.env),
        )
    assert payout.code == 0, payout
    refused(refund, "by the ledger")
    refused(refund, "the model's balance 0.00 is below the sum 20.00")
    assert (await people.balance(model.uuid), await people.balance(ann.uuid)) == (
        Decimal("0.00"), Decimal("30.00")
    )
    assert await refunds_of(db, donation) == 0
    await audit_ok()


async def test_a_refund_racing_a_payout_of_the_whole_balance_lets_exactly_one_apply(
    service: Service, people: People, db: Database
) -> None:
    model = await people.model()
    ann = await people.client(model, "Ann", money="50")
    donation = await tip(service, db, ann, "20")
    refund, payout = await asyncio.gather(cli("refund", donation), cli("payout", model.uuid, "20"))
    assert sorted((refund.code, payout.code)) == [0, 1], (refund, payout)
    assert await people.balance(model.uuid) == Decimal("0.00")
    if refund.code == 0:  # the payout came second: refused by the store, nothing written
        assert payout.json()["outcome"].startswith("refused: insufficient funds")
        assert await people.balance(ann.uuid) == Decimal("50.00")
    else:  # the refund came second: refused before sending, or by the ledger
        refused(refund, "is below the sum 20.00")
        assert await people.balance(ann.uuid) == Decimal("30.00")
    paid = await count(db, "SELECT COUNT(*) FROM chat_events WHERE stream = :m"
                           " AND type = 'paid_out'", m=model.uuid)
    assert (paid, await refunds_of(db, donation)) in {(1, 0), (0, 1)}
    await audit_ok()


async def test_a_refund_lowers_an_active_goal_and_leaves_a_reached_one_reached(
    service: Service, people: People, db: Database
) -> None:
    model = await people.model()
    ann = await people.client(model, "Ann", money="50")
    for name, require in (("small", 10), ("big", 100)):
        await applied(db, await post(service, model, "/chat/goal/add",
                                     {"name": name, "require_sum": require}))
    donation = await tip(service, db, ann, "15")
    ran = await cli("refund", donation)
    assert ran.code == 0, ran
    [event] = ran.json()["events"]
    assert [(g["name"], g["sum"], g["reached"]) for g in event["goals"]] == [
        ("big", "0.00", False)
    ]
    goals = await db.fetch_all("SELECT name, sum, is_active FROM goals WHERE model_uuid = :m",
                               {"m": model.uuid})
    assert {row[0]: (row[1], bool(row[2])) for row in goals} == {
        "small": (Decimal("15.00"), False), "big": (Decimal("0.00"), True)
    }
    seen = await eventually(lambda: history(service, ann),
                            until=lambda got: "donate_refunded" in {e["type"] for e in got},
                            what="the refund in history")
    assert [e["type"] for e in seen] == ["new_goal", "new_goal", "donate", "end_goal",
                                         "change_sponsor", "donate_refunded"]
    await audit_ok()


async def test_a_refund_that_dethrones_the_sponsor_crowns_the_next_donor_for_everyone(
    service: Service, people: People, db: Database
) -> None:
    model = await people.model()
    ann = await people.client(model, "Ann", money="50")
    bob = await people.client(model, "Bob", money="50")
    watcher = await people.client(model, "Watcher")
    donation = await tip(service, db, ann, "30")
    await tip(service, db, bob, "20")
    async with aiohttp.ClientSession() as http, connected(http, service.url, watcher) as ws:
        ran = await cli("refund", donation, "--reason", "chargeback")
        assert ran.code == 0, ran
        live = await ws.until(lambda got: len(got) >= 2, "the refund and the new sponsor")
    assert [e["type"] for e in ran.json()["events"]] == ["donate_refunded", "change_sponsor"]
    for source in (live, (await history(service, watcher))[-2:]):
        refund_event, change = source
        assert refund_event["type"] == "donate_refunded" and refund_event["is_public"]
        assert (refund_event["donation_id"], refund_event["reason"]) == (donation, "chargeback")
        assert change["type"] == "change_sponsor"
        assert change["sponsor"] == {"uuid": bob.uuid, "name": "Bob"}
        assert (change["previous"], change["total"]) == (ann.uuid, "20.00")
    assert await db.fetch_val("SELECT client_uuid FROM sponsors WHERE model_uuid = :m"
                              " ORDER BY id DESC LIMIT 1", {"m": model.uuid}) == bob.uuid
    assert await db.fetch_val("SELECT client_uuid FROM current_sponsors WHERE model_uuid = :m",
                              {"m": model.uuid}) == bob.uuid
    totals = await db.fetch_all("SELECT client_uuid, total FROM donor_totals"
                                " WHERE model_uuid = :m", {"m": model.uuid})
    assert {row[0]: row[1] for row in totals} == {ann.uuid: Decimal("0.00"),
                                                  bob.uuid: Decimal("20.00")}
    await audit_ok()


async def test_a_refund_of_an_anonymous_tip_pays_the_donor_back_and_names_nobody(
    service: Service, people: People, db: Database
) -> None:
    model = await people.model()
    donor = await people.client(model, "Secret", money="20")
    watcher = await people.client(model, "Watcher")
    donation = await tip(service, db, donor, "7", anonymous=True)
    async with aiohttp.ClientSession() as http, connected(http, service.url, watcher) as ws:
        ran = await cli("refund", donation)
        assert ran.code == 0, ran
        live = await ws.until(lambda got: bool(got), "the refund")
    seen = await history(service, model)
    for frames in (live, seen, ran.json()["events"]):
        refunds = [e for e in frames if e["type"] == "donate_refunded"]
        assert len(refunds) == 1 and refunds[0]["from"] == ANONYMOUS, frames
        assert "change_sponsor" not in {e["type"] for e in frames}
    assert donor.uuid not in str(live + seen) and "Secret" not in str(live + seen)
    assert await people.balance(donor.uuid) == Decimal("20.00")
    assert await people.balance(model.uuid) == Decimal("0.00")
    assert await count(db, "SELECT COUNT(*) FROM donor_days WHERE model_uuid = :m",
                       m=model.uuid) == 0
    await audit_ok()


async def test_bad_refunds_exit_1_with_the_reason_and_change_nothing(
    service: Service, people: People, db: Database
) -> None:
    model = await people.model()
    ann = await people.client(model, "Ann", money="50")
    message = await post(service, ann, "/chat/message/add", {"message": "hi", "is_public": True})
    await applied(db, message)
    gone, kept = await tip(service, db, ann, "5"), await tip(service, db, ann, "8")
    assert (await cli("refund", gone)).code == 0
    paid = await cli("payout", model.uuid, "1")  # the model now holds 7.00 < 8.00
    assert paid.code == 0, paid
    then = await before(db, people, model.uuid, model, ann)

    for target, reason in (
        (str(uuid.uuid4()), "is not a donation"),
        (event_id_for(message, 0), "is not a donation"),
        (gone, "was refunded already"),
        (kept, "the model's balance 7.00 is below the sum 8.00"),
    ):
        refused(await cli("refund", target), reason)
    malformed = await cli("refund", "not-a-uuid")
    assert malformed.code == 2 and "must be a uuid" in malformed.err, malformed
    await only_the_marker_followed(service.url, db, people, ann, then)
    await audit_ok()


async def test_the_ledger_killed_mid_refunds_refunds_each_donation_exactly_once(
    migrated: Settings, people: People, db: Database
) -> None:
    """Donations applied; then each refunded by two rival commands, each produced twice, while
    the ledger is SIGKILLed part-way through; after a restart each is refunded exactly once, all
    its events are on chat.events, and the money is back where it started."""
    model = await people.model()
    viewers = [await people.client(model, f"v{n}", money="100") for n in range(4)]
    donations = [gift(viewers[n % 4], model, str(n % 5 + 1)) for n in range(60)]  # <= 75 each

    async def decided(kind: str) -> int:
        return await count(db, "SELECT COUNT(*) FROM chat_events WHERE stream = :m AND type = :t",
                           m=model.uuid, t=kind)

    with private_ledger(migrated, "crash", batch_size=4) as ledger:
        ledger.start()
        ids = await applied_by(ledger, db, *donations)
        ledger.stop()
        assert await people.balance(model.uuid) == sum(d.amount for d in donations)
        rivals = [Refund(str(uuid.uuid4()), model.uuid, donation, "crash") for donation in ids
                  for _ in range(2)]
        await produce(ledger.settings, [r for pair in zip(rivals, rivals, strict=True)
                                        for r in pair])
        ledger.start()
        try:
            await eventually(lambda: decided("donate_refunded"), until=lambda n: n >= 5,
                             timeout=90, interval=0.005, what="some refunds applied")
        finally:
            ledger.stop(signal.SIGKILL)
        assert await decided("donate_refunded") < 60, "the kill landed after the last refund"
        rival = f"WHERE command_id IN ({', '.join(repr(r.command_id) for r in rivals)})"
        ledger.start()
        await eventually(lambda: count(db, f"SELECT COUNT(*) FROM applied_commands {rival}"),
                         until=lambda n: n == 120, timeout=90, what="every refund decided")

    outcomes = await db.fetch_all(f"SELECT outcome FROM applied_commands {rival}")
    assert sorted(row[0] == "applied" for row in outcomes) == [False] * 60 + [True] * 60
    for donation in ids:
        assert await refunds_of(db, donation) == 1
    assert await count(db, "SELECT COUNT(*) FROM refunds WHERE model_uuid = :m",
                       m=model.uuid) == 60
    for viewer in viewers:
        assert await people.balance(viewer.uuid) == Decimal("100.00")
    assert await people.balance(model.uuid) == Decimal("0.00")
    seqs = await db.fetch_all("SELECT seq FROM chat_events WHERE stream = :m", {"m": model.uuid})
    committed = {model.uuid: {int(row[0]) for row in seqs}}
    assert await published_seqs(ledger.settings, committed) == committed
    await audit_ok()


async def test_a_refund_sent_while_no_ledger_runs_exits_3_and_applies_once_one_starts(
    migrated: Settings, people: People, db: Database
) -> None:
    model = await people.model()
    ann = await people.client(model, "Ann", money="10")
    with private_ledger(migrated, "late") as ledger:
        ledger.start()
        [donation] = await applied_by(ledger, db, gift(ann, model, "4"))
        ledger.stop()
        waited = await cli("refund", donation, "--wait", "0.5", env=ledger.env)
        assert waited.code == 3 and "did not decide it within 0.5 s" in waited.err, waited
        assert await refunds_of(db, donation) == 0
        ledger.start()
        await eventually(lambda: refunds_of(db, donation), what="the queued refund applied")
    assert await people.balance(ann.uuid) == Decimal("10.00")
    await audit_ok()
