"""The ledger's store on DESIGN §9's commands: it loads only what a batch needs, yet decides
exactly as the pure decider does on the whole state, and writes every projection the fold implies.

Each batch is applied through `LedgerStore` (the ledger's own transaction, no Kafka) and, beside
it, through `apply` on a state folded from all of `chat_events`; the events must be the same.
The audit (which replays everything and compares every table) must pass after each scenario.
"""

import random
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from databases import Database

from chatledger.domain import events as ev
from chatledger.domain.commands import (
    Actor,
    AddGoal,
    BanViewer,
    ChangeSettings,
    Command,
    DeleteMessage,
    Donate,
    MuteViewer,
    Payout,
    PostMessage,
    Refund,
    UnbanViewer,
)
from chatledger.domain.decider import CommandRefused, apply
from chatledger.domain.events import Event, event_id_for
from chatledger.domain.state import ZERO, LedgerState
from chatledger.ledger.store import LedgerStore
from chatledger.platform.db import snapshot
from chatledger.readmodels.replay import Replay
from chatledger.readmodels.snapshot import audit_database, event_chunks
from tests.helpers.people import People, Someone


def cid() -> str:
    return str(uuid.uuid4())


async def full_state(db: Database) -> LedgerState:
    """Everything the rules could read: every event folded, every account's kind and name."""
    replay = Replay()
    async with snapshot(db) as cur:
        async for chunk in event_chunks(cur):
            for position, event in chunk:
                replay.fold(event, position)
        await cur.execute("SELECT owner_uuid, kind FROM accounts")
        replay.state.kinds = dict(await cur.fetchall())
        for owner in replay.state.kinds:  # an account no event touched holds 0
            replay.state.balances.setdefault(owner, ZERO)
        await cur.execute("SELECT uuid, name FROM clients")
        replay.state.names.update(dict(await cur.fetchall()))
    return replay.state


def comparable(event: Event) -> tuple[Any, ...]:
    # A mute's `until` follows the deciding clock, which is not the same one here and there.
    payload = {key: value for key, value in event.payload.items() if key != "until"}
    return (event.event_id, event.stream, event.seq, event.type, event.actor, event.amount,
            event.is_public, payload)


class Twin:
    """The store, and beside it the pure decider over the whole state, fed the same batches."""

    def __init__(self, db: Database, state: LedgerState) -> None:
        self.store = LedgerStore(db)
        self.state = state

    async def batch(self, *commands: Command) -> dict[str, str]:
        result = await self.store.apply_batch(commands)
        # Decide at the store's own instant (its events carry it): with 1 s mutes, a clock read
        # after the batch may already be past an expiry the store was still before, and on a
        # loaded machine that gap is often longer than a second.
        now = result.events[0].created_at if result.events else datetime.now(UTC)
        expected: list[Event] = []
        outcomes = {}
        for command in commands:
            try:
                expected.extend(apply(command, self.state, now))
                outcomes[command.command_id] = "applied"
            except CommandRefused as refusal:
                outcomes[command.command_id] = f"refused: {refusal}"
        assert [comparable(e) for e in result.events] == [comparable(e) for e in expected]
        assert result.outcomes == outcomes
        return result.outcomes


async def audit_ok(db: Database) -> None:
    report = await audit_database(db)
    assert report.ok, report.findings


def tip(viewer: Someone, model: Someone, amount: str, **kw: Any) -> Donate:
    return Donate(cid(), model.uuid, viewer.person.as_actor(), Decimal(amount), **kw)


def refund(model: Someone, donation: Command) -> Refund:
    return Refund(cid(), model.uuid, event_id_for(donation.command_id, 0), "chargeback")


async def one(db: Database, sql: str, **params: object) -> tuple[Any, ...] | None:
    row = await db.fetch_one(sql, params)
    return None if row is None else tuple(row._mapping.values())


async def test_every_day_one_command_decides_as_on_the_whole_state_and_writes_its_rows(
    migrated: Any, people: People, db: Database
) -> None:
    mia = await people.model("Mia")
    m = mia.person.as_actor()
    ann, bob, cat, dan = [await people.client(mia, name, money="100") for name in
                          ("Ann", "Bob", "Cat", "Dan")]
    twin = Twin(db, await full_state(db))
    small = AddGoal(cid(), mia.uuid, m, "small", Decimal("10"))
    ann_tip, dan_tip = tip(ann, mia, "30"), tip(dan, mia, "5", anonymous=True)
    hello = PostMessage(cid(), mia.uuid, ann.person.as_actor(), "hello", True)
    await twin.batch(
        small, AddGoal(cid(), mia.uuid, m, "big", Decimal("1000")),
        ChangeSettings(cid(), mia.uuid, m, Decimal("1")),
        ann_tip, tip(bob, mia, "20"), tip(cat, mia, "20"), dan_tip, hello,
    )
    outcomes = await twin.batch(
        refund(mia, ann_tip),  # Ann was the sponsor: Bob and Cat tie at 20, the lower uuid wins
        DeleteMessage(cid(), mia.uuid, ann.person.as_actor(), event_id_for(hello.command_id, 0)),
        MuteViewer(cid(), mia.uuid, m, bob.uuid, 600),
        BanViewer(cid(), mia.uuid, m, dan.uuid),
        tip(cat, mia, "0.50"),  # below the minimum
    )
    assert set(outcomes.values()) == {"applied"}
    new_sponsor = min(bob.uuid, cat.uuid)
    assert await db.fetch_val("SELECT client_uuid FROM current_sponsors WHERE model_uuid = :m",
                              {"m": mia.uuid}) == new_sponsor
    stranger = str(uuid.uuid4())
    outcomes = await twin.batch(
        PostMessage(cid(), mia.uuid, bob.person.as_actor(), "muted", True),
        tip(bob, mia, "2", text="muted words"),
        tip(bob, mia, "2"),  # a plain tip passes a mute
        PostMessage(cid(), mia.uuid, dan.person.as_actor(), "banned", True),
        tip(dan, mia, "2"),
        DeleteMessage(cid(), mia.uuid, m, event_id_for(hello.command_id, 0)),
        refund(mia, ann_tip),
        refund(mia, dan_tip),
        MuteViewer(cid(), mia.uuid, m, mia.uuid, 60),
        BanViewer(cid(), mia.uuid, m, stranger),
    )
    assert list(outcomes.values()) == [  # the two rejected tips are applied as donate_rejected
        "refused: muted", "applied", "applied", "refused: banned", "applied",
        "refused: id: the message is deleted already",
        f"refused: {event_id_for(ann_tip.command_id, 0)} was refunded already", "applied",
        "refused: client: the model cannot moderate itself",
        f"refused: client: {stranger} is not a client",
    ]
    await twin.batch(UnbanViewer(cid(), mia.uuid, m, dan.uuid), tip(dan, mia, "3"))

    assert await one(db, "SELECT min_donation FROM chat_settings WHERE model_uuid = :m",
                     m=mia.uuid) == (Decimal("1.00"),)
    assert await one(db, "SELECT COUNT(*) FROM chat_mutes WHERE model_uuid = :m AND client_uuid"
                     " = :c AND muted_until > UTC_TIMESTAMP(6)", m=mia.uuid, c=bob.uuid) == (1,)
    assert await one(db, "SELECT COUNT(*) FROM chat_bans WHERE model_uuid = :m",
                     m=mia.uuid) == (0,)
    refunded = await db.fetch_all("SELECT donation_id FROM refunds WHERE model_uuid = :m",
                                  {"m": mia.uuid})
    assert {row[0] for row in refunded} == {event_id_for(c.command_id, 0)
                                            for c in (ann_tip, dan_tip)}
    assert await one(db, "SELECT message_id FROM deleted_messages WHERE model_uuid = :m",
                     m=mia.uuid) == (event_id_for(hello.command_id, 0),)
    days = await db.fetch_all("SELECT client_uuid, total FROM donor_days WHERE model_uuid = :m",
                              {"m": mia.uuid})
    assert dict((row[0], row[1]) for row in days) == {  # net of the refund, blind to Dan's secret
        ann.uuid: Decimal("0.00"), bob.uuid: Decimal("22.00"), cat.uuid: Decimal("20.00"),
        dan.uuid: Decimal("3.00"),
    }
    goals = await db.fetch_all("SELECT name, sum, is_active FROM goals WHERE model_uuid = :m",
                               {"m": mia.uuid})
    # "small" was reached by Ann's tip and stays reached; "big" lost Ann's 30 and Dan's 5
    # (75 + 2 + 3 given, 35 refunded).
    assert {row[0]: (row[1], bool(row[2])) for row in goals} == {
        "small": (Decimal("30.00"), False), "big": (Decimal("45.00"), True),
    }
    assert await people.balance(ann.uuid) == Decimal("100.00")
    assert await people.balance(dan.uuid) == Decimal("97.00")
    await audit_ok(db)


async def test_refunds_in_one_batch_find_the_next_sponsor_below_the_first_challenger(
    migrated: Any, people: People, db: Database
) -> None:
    """Pia is the sponsor (20 + 10); Quinn (25) is the first challenger, Ray (22) the second.
    One batch refunds Quinn's 25 and then Pia's 20: Ray, whom no "best of the others" read would
    have loaded, must take the title, exactly as on the whole state."""
    mia = await people.model("Mia")
    pia, quinn, ray, sam = [await people.client(mia, name, money="100") for name in
                            ("Pia", "Quinn", "Ray", "Sam")]
    twin = Twin(db, await full_state(db))
    pia_big, quinn_tip = tip(pia, mia, "20"), tip(quinn, mia, "25")
    await twin.batch(pia_big, tip(pia, mia, "10"))
    await twin.batch(quinn_tip, tip(ray, mia, "22"), tip(sam, mia, "1"))
    result = await twin.batch(refund(mia, quinn_tip), refund(mia, pia_big))
    assert set(result.values()) == {"applied"}
    assert await db.fetch_val("SELECT client_uuid FROM current_sponsors WHERE model_uuid = :m",
                              {"m": mia.uuid}) == ray.uuid
    rows = await db.fetch_all("SELECT client_uuid FROM sponsors WHERE model_uuid = :m ORDER BY id",
                              {"m": mia.uuid})
    assert [row[0] for row in rows] == [pia.uuid, ray.uuid]
    # A donation refunded in the batch that made it, and twice in one batch.
    late = tip(sam, mia, "40")
    result = await twin.batch(late, refund(mia, late), refund(mia, late))
    assert list(result.values())[:2] == ["applied", "applied"]
    assert list(result.values())[2].endswith("was refunded already")
    await audit_ok(db)


async def test_random_batches_decide_as_on_the_whole_state(
    migrated: Any, people: People, db: Database
) -> None:
    rng = random.Random(11)
    models = [await people.model(f"m{i}") for i in range(2)]
    viewers = [await people.client(models[0], f"v{j}", money="60") for j in range(5)]
    twin = Twin(db, await full_state(db))
    made: list[tuple[str, Command]] = []  # (kind, command) of donations and messages

    def pick(kind: str, model: Someone) -> str:
        mine = [c for k, c in made if k == kind and c.chat == model.uuid]  # type: ignore[union-attr]
        return event_id_for(rng.choice(mine).command_id, 0) if mine else str(uuid.uuid4())

    def command() -> Command:
        model = rng.choice(models)
        m: Actor = model.person.as_actor()
        viewer = rng.choice(viewers)
        v = viewer.person.as_actor()
        roll = rng.random()
        if roll < 0.35:
            return Donate(cid(), model.uuid, v, Decimal(rng.randint(1, 900)) / 100,
                          rng.choice((None, "hi")), anonymous=rng.random() < 0.2)
        if roll < 0.45:
            return PostMessage(cid(), model.uuid, v, "hi", True)
        if roll < 0.6:
            return Refund(cid(), model.uuid, pick("donate", model))
        if roll < 0.65:
            return DeleteMessage(cid(), model.uuid, rng.choice((m, v)), pick("message", model))
        if roll < 0.7:
            return AddGoal(cid(), model.uuid, m, "goal", Decimal(rng.randint(1, 3000)) / 100)
        if roll < 0.75:
            return ChangeSettings(cid(), model.uuid, m, Decimal(rng.randint(0, 300)) / 100)
        if roll < 0.8:
            return MuteViewer(cid(), model.uuid, m, viewer.uuid, rng.choice((1, 600)))
        if roll < 0.88:
            return BanViewer(cid(), model.uuid, m, viewer.uuid)
        if roll < 0.96:
            return UnbanViewer(cid(), model.uuid, m, viewer.uuid)
        return Payout(cid(), model.uuid, Decimal(rng.randint(1, 500)) / 100)

    for _ in range(25):
        batch = [command() for _ in range(rng.randint(1, 12))]
        for c in batch:
            if isinstance(c, Donate | PostMessage):
                made.append(("donate" if isinstance(c, Donate) else "message", c))
        await twin.batch(*batch)
    types = {row[0] for row in await db.fetch_all(
        "SELECT DISTINCT type FROM chat_events WHERE stream IN (:a, :b)",
        {"a": models[0].uuid, "b": models[1].uuid})}
    assert {ev.DONATE_REFUNDED, ev.MESSAGE_DELETED, ev.VIEWER_BANNED, ev.CHANGE_SPONSOR} <= types
    await audit_ok(db)
