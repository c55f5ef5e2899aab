"""Paid pins and the toy queue (DESIGN §11) on the pure decider: random pins, tips, settings,
bans, deletions, refunds and time passing, with the clock's ticks decided as the ledger would."""

import contextlib
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chatledger.domain import events as ev
from chatledger.domain.commands import (
    Actor,
    BanViewer,
    ChangeSettings,
    Command,
    DeleteMessage,
    Deposit,
    Donate,
    PinMessage,
    PinTier,
    Refund,
    Tick,
    ToyLevel,
    UnbanViewer,
)
from chatledger.domain.decider import CommandRefused, apply, refusal
from chatledger.domain.extra_ticks import extra_due_ticks
from chatledger.domain.extras_book import QUEUED, SHOWING
from chatledger.domain.state import ZERO, LedgerState, evolve
from chatledger.domain.visibility import visible_to
from chatledger.domain.wire import event_to_wire
from chatledger.readmodels.audit import Auditor
from chatledger.readmodels.extras_audit import replay_tables
from tests.unit.test_audit import live_of

START = datetime(2026, 12, 1, tzinfo=UTC)
MIA = Actor("00000000-0000-4000-8000-000000000001", "Mia", "model")
CLIENTS = [Actor(f"00000000-0000-4000-8000-0000000001{i:02}", f"c{i}", "client") for i in range(3)]
TIERS = (PinTier(Decimal("2"), 10), PinTier(Decimal("5"), 30), PinTier(Decimal("8"), 60))
LEVELS = (ToyLevel(Decimal("1"), 1, 5), ToyLevel(Decimal("4"), 10, 20))
money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("12"), places=2)
who = st.sampled_from(CLIENTS)

step = st.one_of(
    st.tuples(st.just("deposit"), who, money),
    st.tuples(st.just("pin"), who, money),
    st.tuples(st.just("pin"), who, money),
    st.tuples(st.just("pin"), who, st.sampled_from([Decimal("2"), Decimal("5")])),  # ties
    st.tuples(st.just("tip"), who, money, st.booleans(), st.booleans()),
    st.tuples(st.just("tip"), who, money, st.booleans(), st.booleans()),
    st.tuples(st.just("settings"), st.booleans(), st.booleans()),
    st.tuples(st.just("ban"), who),
    st.tuples(st.just("unban"), who),
    st.tuples(st.just("delete"), st.sampled_from([MIA, *CLIENTS]), st.integers(0, 5)),
    st.tuples(st.just("refund"), st.integers(0, 20)),
    st.tuples(st.just("wait"), st.integers(1, 120)),
    st.tuples(st.just("wait"), st.integers(1, 20)),
)
# Every history begins with money and the settings on (else nearly every pin is rejected).
OPENING: list[tuple[Any, ...]] = [*(("deposit", c, Decimal("40")) for c in CLIENTS),
                                  ("settings", True, True)]
history = st.lists(step, max_size=60).map(lambda steps: OPENING + steps)


def cid() -> str:
    return str(uuid.uuid4())


def command_of(item: tuple[Any, ...], state: LedgerState, log: list[ev.Event]) -> Command | None:
    kind, *args = item
    if kind == "deposit":
        return Deposit(cid(), args[0].uuid, args[1])
    if kind == "pin":
        return PinMessage(cid(), MIA.uuid, args[0], f"pinned by {args[0].name}", args[1])
    if kind == "tip":
        return Donate(cid(), MIA.uuid, args[0], args[1], None, args[2], args[3])
    if kind == "settings":
        return ChangeSettings(cid(), MIA.uuid, MIA, None, None, None,
                              TIERS if args[0] else (), LEVELS if args[1] else ())
    if kind == "ban":
        return BanViewer(cid(), MIA.uuid, MIA, args[0].uuid)
    if kind == "unban":
        return UnbanViewer(cid(), MIA.uuid, MIA, args[0].uuid)
    pins = [e.event_id for e in log if e.type == ev.MESSAGE_PINNED]
    if kind == "delete" and pins:
        return DeleteMessage(cid(), MIA.uuid, args[0], pins[args[1] % len(pins)])
    tips = [e.event_id for e in log if e.type == ev.DONATE]
    if kind == "refund" and tips:
        return Refund(cid(), MIA.uuid, tips[args[0] % len(tips)])
    return None


def fresh_state() -> LedgerState:
    people = [MIA, *CLIENTS]
    return LedgerState(balances={a.uuid: ZERO for a in people},
                       kinds={a.uuid: a.role for a in people},
                       names={a.uuid: a.name for a in people})


def run(steps: list[tuple[Any, ...]]) -> tuple[LedgerState, list[ev.Event]]:
    state, now, log = fresh_state(), START, []
    for item in steps:
        if item[0] == "wait":  # time passes: the clock ticks whatever fell due, in time order
            now += timedelta(seconds=item[1])
            while due := [d for d in extra_due_ticks(state, MIA.uuid) if d[1] <= now]:
                what, at = min(due, key=lambda d: d[1])
                log.extend(_apply(Tick(f"{what}@{at}", MIA.uuid, what, at), state, at))
                # Another clock's copy of it (a rebalance) no longer matches: it changes nothing.
                assert _apply(Tick(f"{what}@{at}#2", MIA.uuid, what, at), state, at) == []
            book = state.extras  # the clock has passed: nothing waits while nothing shows
            assert book.showing_pin(MIA.uuid) is not None or not book.queued_pins(MIA.uuid)
            continue
        command = command_of(item, state, log)
        if command is not None and refusal(command) is None:
            log.extend(_apply(command, state, now))
        assert all(state.available(c.uuid) >= ZERO for c in CLIENTS)
    return state, log


def _apply(command: Command, state: LedgerState, now: datetime) -> list[ev.Event]:
    with contextlib.suppress(CommandRefused):
        return apply(command, state, now)
    return []


def _audit(log: list[ev.Event]) -> list[tuple[str, str]]:
    live = live_of(log)
    state = LedgerState()
    for event in log:
        evolve(state, event)
    live.accounts = {p.uuid: (p.role, state.balances.get(p.uuid, ZERO)) for p in [MIA, *CLIENTS]}
    live.show_tables.update(replay_tables(state))
    auditor = Auditor(live.kinds)
    for position, event in enumerate(log, 1):
        auditor.fold(event, position)
    return [(f.check, f.detail) for f in auditor.finish(live).findings]


@settings(max_examples=300, deadline=None)
@given(history)
def test_one_pin_at_a_time_highest_sum_first_then_oldest(steps: list[tuple[Any, ...]]) -> None:
    _, log = run(steps)
    queued: dict[str, tuple[Decimal, int]] = {}
    showing: str | None = None
    started, ended = Counter[str](), Counter[str]()
    for e in log:
        pin = e.payload.get("pin")
        if e.type == ev.MESSAGE_PINNED:
            queued[pin] = (-e.amount, e.seq)  # type: ignore[operator]
        elif e.type == ev.PIN_STARTED:
            assert showing is None, "two pins showing at once"
            assert pin == min(queued, key=lambda p: queued[p]), "not the best of the queue"
            showing = pin
            del queued[pin]
            started[pin] += 1
        elif e.type in (ev.PIN_EXPIRED, ev.PIN_REMOVED):
            ended[pin] += 1
            if pin == showing:
                showing = None
            else:
                assert e.type == ev.PIN_REMOVED and queued.pop(pin, None) is not None
    assert all(n == 1 for n in started.values()) and all(n == 1 for n in ended.values())


@settings(max_examples=300, deadline=None)
@given(history)
def test_money_is_conserved_and_each_pin_pays_once(steps: list[tuple[Any, ...]]) -> None:
    state, log = run(steps)
    deposits = sum((e.amount for e in log if e.type == ev.DEPOSITED), ZERO)
    assert sum(state.balances.values(), ZERO) == deposits
    paid = sum((e.amount for e in log if e.type == ev.MESSAGE_PINNED), ZERO)
    tipped = sum((e.amount for e in log if e.type == ev.DONATE), ZERO)
    refunded = sum((e.amount for e in log if e.type == ev.DONATE_REFUNDED), ZERO)
    assert state.balances[MIA.uuid] == paid + tipped - refunded
    assert not [e for e in log if e.type == ev.PIN_STARTED and e.amount is not None]


@settings(max_examples=300, deadline=None)
@given(history)
def test_toy_turns_play_once_each_in_the_order_queued(steps: list[tuple[Any, ...]]) -> None:
    state, log = run([*steps, ("wait", 100_000)])
    queued = [e.payload["donation"] for e in log if e.type == ev.TOY_QUEUED]
    removed = {e.payload["donation"] for e in log if e.type == ev.TOY_REMOVED}
    played = [e.payload["donation"] for e in log if e.type == ev.TOY_STARTED]
    finished = [e.payload["donation"] for e in log if e.type == ev.TOY_FINISHED]
    assert played == [d for d in queued if d not in removed]  # none lost, none twice, in order
    assert finished == played
    for e in log:
        if e.type == ev.TOY_REMOVED:  # only a turn that had not begun
            assert e.payload["donation"] not in played
    assert not state.extras.toy_lineup.on and not any(state.extras.toy_lineup.queue.values())


@settings(max_examples=300, deadline=None)
@given(history)
def test_every_pin_ends_once_and_nothing_is_left_once_time_passes(
    steps: list[tuple[Any, ...]]
) -> None:
    state, log = run([*steps, ("wait", 100_000)])
    bought = [e.event_id for e in log if e.type == ev.MESSAGE_PINNED]
    ends = Counter(e.payload["pin"] for e in log if e.type in (ev.PIN_EXPIRED, ev.PIN_REMOVED))
    assert sorted(ends) == sorted(bought) and set(ends.values()) <= {1}
    assert all(p.status not in (QUEUED, SHOWING) for p in state.extras.pins.values())


@settings(max_examples=100, deadline=None)
@given(history)
def test_any_history_of_pins_and_toys_passes_the_audit(steps: list[tuple[Any, ...]]) -> None:
    _, log = run(steps)
    assert _audit(log) == []


BOB, EVE, ANN = CLIENTS
SET_UP = [("deposit", BOB, Decimal("20")), ("deposit", EVE, Decimal("20")),
          ("settings", True, True)]


def test_pins_bought_together_show_the_highest_sum_first_then_the_oldest() -> None:
    _, log = run([*SET_UP, ("pin", BOB, Decimal("2")), ("pin", EVE, Decimal("5")),
                  ("pin", BOB, Decimal("5")), ("wait", 1), ("wait", 30), ("wait", 30)])
    kinds = [(e.type, e.actor.name if e.actor else None, e.payload.get("seconds"))
             for e in log if "pin" in e.type]
    assert kinds == [
        ("message_pinned", "c0", 10), ("message_pinned", "c1", 30), ("message_pinned", "c0", 30),
        ("pin_started", "c1", 30),  # the clock's first pass: the best of the three
        ("pin_expired", "c1", None), ("pin_started", "c0", 30),  # same sum, older
        ("pin_expired", "c0", None), ("pin_started", "c0", 10)]
    started = [e for e in log if e.type == ev.PIN_STARTED]
    assert started[0].payload["ends_at"] == "2026-12-01T00:00:30.000000Z"  # from its purchase


def test_a_ban_removes_the_buyers_pins_without_refund_and_the_next_shows() -> None:
    state, log = run([*SET_UP, ("pin", BOB, Decimal("8")), ("pin", EVE, Decimal("2")),
                      ("pin", BOB, Decimal("5")), ("wait", 1), ("ban", BOB)])
    removed = [e.payload["pin"] for e in log if e.type == ev.PIN_REMOVED]
    assert len(removed) == 2 and log[-1].type == ev.PIN_STARTED
    assert log[-1].actor == EVE
    assert state.balances[BOB.uuid] == Decimal("7")


def test_a_pin_below_the_lowest_tier_or_unaffordable_is_rejected_and_nothing_moves() -> None:
    state, log = run([*SET_UP, ("pin", BOB, Decimal("1.99")), ("pin", ANN, Decimal("3"))])
    rejected = [e for e in log if e.type == ev.PIN_REJECTED]
    assert [e.payload["reason"] for e in rejected] == [
        "sum: below the lowest pin tier 2.00", "insufficient funds"]
    assert state.balances[MIA.uuid] == ZERO
    wire = event_to_wire(rejected[0])
    assert visible_to(wire, BOB.uuid, MIA.uuid) and not visible_to(wire, EVE.uuid, MIA.uuid)


def test_only_the_model_or_the_buyer_deletes_a_pin() -> None:
    state, log = run([*SET_UP, ("pin", BOB, Decimal("2"))])
    pin = log[-1].event_id
    with contextlib.suppress(CommandRefused):
        apply(DeleteMessage(cid(), MIA.uuid, EVE, pin), state, START)
        raise AssertionError("another viewer deleted the pin")
    gone = apply(DeleteMessage(cid(), MIA.uuid, BOB, pin), state, START)
    assert [e.type for e in gone] == [ev.PIN_REMOVED]


def test_a_private_or_anonymous_tips_turn_names_nobody_to_the_room() -> None:
    _, log = run([*SET_UP, ("tip", BOB, Decimal("4"), False, False),
                  ("tip", EVE, Decimal("1"), True, True)])
    for e in log:
        if e.type.startswith("toy_"):
            wire = event_to_wire(e)
            if visible_to(wire, ANN.uuid, MIA.uuid):
                assert BOB.uuid not in str(wire) and EVE.uuid not in str(wire), wire


def test_a_refund_of_a_tip_not_yet_played_removes_its_turn() -> None:
    _, log = run([*SET_UP, ("tip", BOB, Decimal("1"), True, False),
                  ("tip", EVE, Decimal("4"), True, False), ("refund", 1)])
    assert [e.type for e in log if e.type.startswith("toy_")] == [
        "toy_queued", "toy_started", "toy_queued", "toy_removed"]
    _, log = run([*SET_UP, ("tip", BOB, Decimal("1"), True, False), ("refund", 0)])
    assert ev.TOY_REMOVED not in [e.type for e in log]  # it had begun: it plays out


def test_tiers_must_increase_and_stay_in_range() -> None:
    def asked(**changes: Any) -> str | None:
        found = refusal(ChangeSettings(cid(), MIA.uuid, MIA, None, **changes))
        return found.reason if found else None

    assert asked(pin_tiers=TIERS) is None and asked(toy_levels=LEVELS) is None
    flat = (PinTier(Decimal("2"), 30), PinTier(Decimal("2"), 60))
    assert "must strictly increase in min" in str(asked(pin_tiers=flat))
    many = tuple(PinTier(Decimal(i + 1), 10) for i in range(11))
    assert asked(pin_tiers=many) == "pin_tiers: at most 10 entries"
    assert asked(toy_levels=(ToyLevel(Decimal("1"), 21, 5),)) == "toy_levels.0.level: from 1 to 20"
    assert asked(pin_tiers=(PinTier(Decimal("1"), 18_001),)) == (
        "pin_tiers.0.seconds: from 1 to 18000")


def test_the_audit_names_a_pin_started_out_of_order() -> None:
    _, log = run([*SET_UP, ("pin", BOB, Decimal("2")), ("pin", EVE, Decimal("2")),
                  ("pin", BOB, Decimal("5")), ("wait", 1)])
    last = log[-1]
    assert last.type == ev.PIN_STARTED and last.payload["pin"] == log[-2].event_id
    wrong = replace(last, payload={**last.payload, "pin": log[-3].event_id})
    assert any(check == "pin" and "before" in detail for check, detail in _audit([*log[:-1],
                                                                                    wrong]))


def test_a_tick_before_its_time_or_for_a_pin_no_longer_showing_changes_nothing() -> None:
    state, log = run([*SET_UP, ("pin", BOB, Decimal("2")), ("wait", 1)])
    pin = log[-1].payload["pin"]
    ends_at = state.extras.pins[pin].ends_at
    assert ends_at is not None
    early = Tick(cid(), MIA.uuid, f"pin:{pin}:expire", ends_at - timedelta(microseconds=1))
    assert _apply(early, state, ends_at) == []
    assert state.extras.showing_pin(MIA.uuid) is not None
    apply(DeleteMessage(cid(), MIA.uuid, MIA, pin), state, START)
    late = Tick(cid(), MIA.uuid, f"pin:{pin}:expire", ends_at)
    assert _apply(late, state, ends_at) == []


def test_the_audit_names_toy_turns_started_ended_or_removed_out_of_turn() -> None:
    _, log = run([*SET_UP, ("tip", BOB, Decimal("1"), True, False),
                  ("tip", EVE, Decimal("4"), True, False)])
    assert [e.type for e in log if e.type.startswith("toy_")] == [
        "toy_queued", "toy_started", "toy_queued"]
    assert _audit(log) == []
    playing, waiting = (e for e in log if e.type == ev.TOY_QUEUED)
    started = next(e for e in log if e.type == ev.TOY_STARTED)
    second = replace(started, event_id=cid(), seq=log[-1].seq + 1,
                     payload={**started.payload, "donation": waiting.payload["donation"]})
    early = replace(second, type=ev.TOY_FINISHED, payload={"donation": playing.payload["donation"]})
    taken = replace(early, type=ev.TOY_REMOVED, payload={**early.payload, "reason": "refunded"})
    for wrong, said in ((second, "is playing"), (early, "before its time"),
                        (taken, "not an item of this chat in ('queued',)")):
        assert any(check == "toy" and said in detail for check, detail in _audit([*log, wrong])), (
            wrong.type, _audit([*log, wrong]))
