"""A Jepsen-style nemesis: mixed load (money on hold too: private and spy shows, the tip menu;
the room's paid extras: pins, the toy queue, queued goals) and 200+ reconnecting viewers while a
seeded schedule SIGKILLs and restarts ledger, history, api and gateway processes (two of each),
SIGKILLs the broker and pauses MySQL and Redis (a private stack: never the shared servers).
Afterwards, with the load stopped and everything healed, it checks what `checks.py`,
`show_checks.py` and `extras_checks.py` promise, plus a clean `chatledger audit`, history equal
to MySQL's, and no process exiting unless the nemesis killed it.

CI runs one minute; `make nemesis MINUTES=10 SEED=…` runs longer (NEMESIS_MINUTES, NEMESIS_SEED).
The seed is printed first and in every failure: the same seed replays the same fault schedule.
"""

import asyncio
import os
import random
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from databases import Database

from chatledger.platform.db import database
from chatledger.web.auth import issue_token
from tests.helpers.cli import cli
from tests.helpers.private_stack import PrivateStack, private_stack
from tests.helpers.wait import eventually
from tests.nemesis.cast import Chat, cast
from tests.nemesis.checks import (
    Wire,
    all_events,
    by_chat,
    check_commands,
    check_hidden_donors,
    check_probes,
    check_viewers,
    decided,
    lost_with_broker,
    owed,
)
from tests.nemesis.extras_checks import check_goal_queue, check_pins, check_toys
from tests.nemesis.extras_load import ExtrasLoad
from tests.nemesis.fleet import Fleet
from tests.nemesis.history_check import check_history
from tests.nemesis.load import Load
from tests.nemesis.nemesis import Nemesis
from tests.nemesis.operator import Operator
from tests.nemesis.schedule import Fault, plan
from tests.nemesis.show_checks import check_holds, check_menu, check_shows
from tests.nemesis.show_load import ShowLoad
from tests.nemesis.viewers import Audience, Viewer

MINUTES = float(os.environ.get("NEMESIS_MINUTES", "1"))
SEED = int(os.environ.get("NEMESIS_SEED") or random.SystemRandom().randrange(1, 10**9))
CHATS, VIEWERS_PER_CHAT = 4, 52  # 208 sockets
QUIET_S = 30.0  # how long the healed system gets to deliver everything

SERVICE_ENV = {
    "CHATLEDGER_KAFKA_PARTITIONS": "4",  # two ledgers, two history projectors: two each
    "CHATLEDGER_COMMAND_TIMEOUT_S": "2",
    "CHATLEDGER_KAFKA_HEAL_INTERVAL_S": "1",
    "CHATLEDGER_RATE_LIMIT_PER_S": "0",
    "CHATLEDGER_SUBJECT_CACHE_TTL_S": "30",  # production's: people seen recently outlive MySQL
    "CHATLEDGER_SHOW_MINUTE_S": "2",  # a show bills a minute every 2 s
}


@pytest.mark.timeout(int(MINUTES * 60 + 200))
async def test_nemesis(tmp_path: Path) -> None:
    print(f"\nnemesis: seed {SEED}, {MINUTES} min (NEMESIS_SEED={SEED} replays the schedule)",
          flush=True)
    faults = plan(SEED, MINUTES * 60)
    with private_stack(tmp_path / "stack") as stack:
        env = {**stack.env, **SERVICE_ENV}
        settings = stack.settings()
        db = database(env["CHATLEDGER_MYSQL_DSN"], 4)
        await db.connect()
        fleet = Fleet(settings, env)
        try:
            # The processes need no accounts: they start while the people are created.
            starting = asyncio.create_task(asyncio.to_thread(fleet.start_all))
            chats = await cast(db, settings, CHATS, VIEWERS_PER_CHAT)
            say(f"{sum(len(c.viewers) for c in chats)} viewers created")
            await starting
            say("fleet ready")
            failures = await run(stack, fleet, db, chats, faults, env)
        finally:
            fleet.stop_all()
            await db.disconnect()
    assert not failures, f"nemesis seed {SEED} (NEMESIS_SEED={SEED} to replay):\n" + "\n".join(
        f"[seed {SEED}] {failure}" for failure in failures)


async def run(stack: PrivateStack, fleet: Fleet, db: Database, chats: list[Chat],
              faults: list[Fault], env: dict[str, str]) -> list[str]:
    viewers = [Viewer(who, chat.uuid) for chat in chats for who in chat.viewers]
    audience = Audience(viewers, fleet.gateway_url, SEED + 2)
    await audience.start()
    try:
        await eventually(lambda: _now(audience.baselined()), until=lambda n: n == len(viewers),
                         timeout=90, interval=0.2, what="every viewer connected")
        say("every viewer connected; the storm begins")
        nemesis = Nemesis(fleet, stack, SEED)
        settings = stack.settings()
        load = Load(random.Random(SEED + 1), chats, fleet.api_url,
                    lambda who, chat: issue_token(settings, who, "client", chat))
        operator = Operator(random.Random(SEED + 3), chats, stack.settings(), db, env, load)
        shows = ShowLoad(random.Random(SEED + 4), chats, load, viewers)
        extras = ExtrasLoad(random.Random(SEED + 5), chats, load, operator)
        await storm(nemesis, load, operator, shows, extras, faults)
        dead = stack.dead()
        say(f"viewers: {sum(v.connects for v in viewers)} connections,"
            f" {sum(v.failed_connects for v in viewers)} refused or broken dials,"
            f" {sum(len(v.frames) for v in viewers)} event frames")
        await nemesis.heal()
        say("healed")
        unfinished = await shows.finish()
        say("every show over but the one left to time out")
        await extras.finish()
        say("pin queues trimmed")
        await quiesce(db, load, nemesis, viewers)
        failures = await verdict(db, load, nemesis, viewers, chats, fleet, dead, env)
        events = await all_events(db)
        return unfinished + failures + show_verdict(load, shows, events) + extras_verdict(
            extras, events)
    finally:
        await audience.close()


async def storm(nemesis: Nemesis, load: Load, operator: Operator, shows: ShowLoad,
                extras: ExtrasLoad, faults: list[Fault]) -> None:
    stop = asyncio.Event()
    start = time.monotonic()
    tasks = [asyncio.create_task(load.run(stop)), asyncio.create_task(operator.run(stop)),
             asyncio.create_task(shows.run(stop, MINUTES * 60)),
             asyncio.create_task(extras.run(stop)),
             asyncio.create_task(nemesis.watch(stop))]
    try:
        await asyncio.wait_for(nemesis.run(faults, stop), MINUTES * 60 + 30)
        await asyncio.sleep(max(0.0, start + MINUTES * 60 - time.monotonic()))
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    counts: dict[str, int] = {}
    for op in load.ops:
        for status in op.statuses:
            counts[f"{op.kind}:{status}"] = counts.get(f"{op.kind}:{status}", 0) + 1
    say(f"{len(load.ops)} commands, answers {sorted(counts.items())}")


async def quiesce(db: Database, load: Load, nemesis: Nemesis, viewers: list[Viewer]) -> None:
    """Bounded: until every 201 not excused by a broker kill is applied and every viewer has
    what it may see, every hold and show is over and every pin and toy turn has ended, or QUIET_S
    passed (then the checks say what is missing)."""
    deadline = time.monotonic() + QUIET_S
    while time.monotonic() < deadline:
        events = await all_events(db)
        applied = await decided(db)
        unapplied = [op for op in load.ops if op.command_id and op.command_id not in applied
                     and not lost_with_broker(op, nemesis.broker_kills)]
        chats = by_chat(events)
        behind = [v for v in viewers
                  if {e["seq"] for e in owed(v, chats.get(v.chat, []))} - set(v.seqs())]
        on = await db.fetch_val(
            "SELECT (SELECT COUNT(*) FROM holds WHERE status = 'open')"
            " + (SELECT COUNT(*) FROM shows WHERE status <> 'ended')"
            " + (SELECT COUNT(*) FROM pins WHERE status IN ('queued', 'showing'))"
            " + (SELECT COUNT(*) FROM toy_turns WHERE status IN ('queued', 'playing'))")
        if not unapplied and not behind and not on:
            say("quiet")
            return
        await asyncio.sleep(1.0)
    say(f"not quiet after {QUIET_S}s: {len(unapplied)} unapplied 201s,"
          f" {len(behind)} viewers behind, {on} open holds, shows, pins and toy turns not over")


async def verdict(db: Database, load: Load, nemesis: Nemesis, viewers: list[Viewer],
                  chats: list[Chat], fleet: Fleet, dead: list[str],
                  env: dict[str, str]) -> list[str]:
    events = await all_events(db)
    grouped = by_chat(events)
    outcomes = await decided(db)
    failures = check_commands(load.ops, events, outcomes, nemesis.broker_kills)
    refused = Counter(outcomes[op.command_id].split(":")[0] for op in load.ops
                      if op.command_id in outcomes and op.kind not in ("deposit", "refund"))
    say(f"outcomes of the acknowledged commands {dict(refused)}")
    failures += [f"operator: {op.kind} {op.mark}" for op in load.ops
                 if op.kind in ("deposit", "refund") and op.mark]
    failures += check_probes(load.ops, events) + check_hidden_donors(load.ops, events)
    failures += check_viewers(viewers, grouped)
    failures += await check_history(fleet.api_url, chats, grouped)
    audit = await cli("audit", env=env)
    if audit.code != 0:
        failures.append(f"chatledger audit: {audit!r}"[:3000])
    fleet.sweep()
    failures += [f"process exited without the nemesis: {line}" for line in fleet.unexpected]
    failures += [f"private {name} died during the run" for name in dead]
    say("faults applied:\n  " + "\n  ".join(nemesis.applied))
    say("process logs:\n  " + "\n  ".join(f"{name}: {' '.join(member.logs)}"
                                          for name, member in fleet.members.items()))
    return failures


def show_verdict(load: Load, shows_load: ShowLoad, events: list[Wire]) -> list[str]:
    holds, hold_counts = check_holds(events, datetime.now(UTC))
    shows, endings = check_shows(events, frozenset(op.command_id for op in load.ops
                                                   if op.command_id))
    menu, purchases = check_menu(load.ops, events)
    ended = {e["show"]: e["reason"] for e in events if e["type"] == "show_ended"}
    left = Counter(ended.get(show, "never") for show in shows_load.left)
    stayed = sum(1 for show, reason in ended.items()
                 if reason == "disconnected" and show not in shows_load.left)
    say(f"holds {dict(hold_counts)}; shows {dict(endings)}; the client left {dict(left)},"
        f" stayed yet disconnected {stayed}; menu purchases {dict(purchases)}")
    return holds + shows + menu


def extras_verdict(extras: ExtrasLoad, events: list[Wire]) -> list[str]:
    pins, pin_counts = check_pins(events)
    toys, toy_counts = check_toys(events)
    goals, goal_counts = check_goal_queue(events)
    removed = {e["donation"] for e in events if e["type"] == "toy_removed"}
    say(f"pins {dict(pin_counts)}; toys {dict(toy_counts)}, {len(extras.asked_refunds)} waiting"
        f" turns refunded ({len(extras.asked_refunds & removed)} removed); goals"
        f" {dict(goal_counts)}")
    return pins + toys + goals


T0 = time.monotonic()


def say(text: str) -> None:
    print(f"nemesis [{time.monotonic() - T0:5.1f}s]: {text}", flush=True)


async def _now(value: int) -> int:
    return value
