"""Holds and shows on the pure decider: random sequences of show commands, tips and ticks."""

import contextlib
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from chatledger.domain import events as ev
from chatledger.domain.commands import (
    Actor,
    ChangeSettings,
    Command,
    Deposit,
    Donate,
    PostMessage,
    RequestShow,
    ShowAction,
    Tick,
)
from chatledger.domain.decider import CommandRefused, apply
from chatledger.domain.show_ticks import due_ticks
from chatledger.domain.shows import action_refusal, request_refusal
from chatledger.domain.state import ZERO, LedgerState
from chatledger.domain.visibility import visible_to
from chatledger.domain.wire import event_to_wire
from chatledger.readmodels.audit import Auditor
from chatledger.readmodels.replay import Replay
from tests.unit.test_audit import live_of

START = datetime(2026, 12, 1, tzinfo=UTC)
MIA = Actor("00000000-0000-4000-8000-000000000001", "Mia", "model")
CLIENTS = [Actor(f"00000000-0000-4000-8000-0000000001{i:02}", f"c{i}", "client") for i in range(3)]
money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9"), places=2)


def cid() -> str:
    return str(uuid.uuid4())


# A step: a command made from the state (show ids are only known then), or time passing.
step = st.one_of(
    st.tuples(st.just("deposit"), st.sampled_from(CLIENTS), money),
    st.tuples(st.just("tip"), st.sampled_from(CLIENTS), money),
    st.tuples(st.just("rates"), money, money),
    st.tuples(st.just("request"), st.sampled_from(CLIENTS), st.none()),
    st.tuples(st.just("act"), st.sampled_from([*CLIENTS, MIA]),
              st.sampled_from(["accept", "decline", "end", "spy", "spy_end"])),
    st.tuples(st.just("wait"), st.integers(1, 200), st.none()),
    st.tuples(st.just("disconnect"), st.none(), st.none()),
)


def command_of(kind: str, a: object, b: object, state: LedgerState) -> Command | None:
    show = state.shows.current_show(MIA.uuid)
    if kind == "deposit":
        return Deposit(cid(), a.uuid, b)  # type: ignore[attr-defined]
    if kind == "tip":
        return Donate(cid(), MIA.uuid, a, b)  # type: ignore[arg-type]
    if kind == "rates":
        return ChangeSettings(cid(), MIA.uuid, MIA, None, a, b)  # type: ignore[arg-type]
    if kind == "request":
        return RequestShow(cid(), MIA.uuid, a, 60.0)  # type: ignore[arg-type]
    if kind == "act" and show is not None:
        return ShowAction(cid(), MIA.uuid, a, b, show.id)  # type: ignore[arg-type]
    if kind == "disconnect" and show is not None:
        return Tick(cid(), MIA.uuid, f"show:{show.id}:disconnect", START)
    return None


def run(steps: list[tuple[str, object, object]]) -> tuple[LedgerState, list[ev.Event]]:
    state = LedgerState(balances={a.uuid: ZERO for a in [MIA, *CLIENTS]},
                        kinds={a.uuid: a.role for a in [MIA, *CLIENTS]})
    now, log = START, []
    for kind, a, b in steps:
        if kind == "wait":  # time passes: the clock ticks whatever fell due, in time order
            now += timedelta(seconds=a)  # type: ignore[operator]
            commands: list[Command] = []
            while due := [d for d in due_ticks(state, MIA.uuid) if d[1] <= now]:
                what, at = min(due, key=lambda d: d[1])
                commands = [Tick(f"{what}@{at}", MIA.uuid, what, at)]
                log.extend(_apply(commands[0], state, now))
        else:
            command = command_of(kind, a, b, state)
            if command is not None:
                log.extend(_apply(command, state, now))
        assert all(state.available(c.uuid) >= ZERO for c in CLIENTS)
        assert all(balance >= ZERO for balance in state.balances.values())
    return state, log


def _apply(command: Command, state: LedgerState, now: datetime) -> list[ev.Event]:
    with contextlib.suppress(CommandRefused):
        return apply(command, state, now)
    return []


@settings(max_examples=300, deadline=None)
@given(st.lists(step, max_size=50))
def test_available_never_negative_and_each_hold_resolves_once(steps: list) -> None:
    state, log = run(steps)
    resolutions = Counter(
        e.payload["hold_id"] for e in log
        if e.type in (ev.HOLD_CAPTURED, ev.HOLD_VOIDED, ev.HOLD_EXPIRED)
    )
    assert all(count == 1 for count in resolutions.values())
    placed = {e.payload["hold_id"]: e.payload["amount"] for e in log if e.type == ev.HOLD_PLACED}
    assert set(resolutions) <= set(placed)
    for e in log:
        if e.type == ev.HOLD_CAPTURED:
            assert e.payload["amount"] <= placed[e.payload["hold_id"]]
    deposits = sum((e.amount for e in log if e.type == ev.DEPOSITED), ZERO)
    assert sum(state.balances.values(), ZERO) == deposits
    open_holds = sum((h.amount for h in state.holds.holds.values() if h.is_open), ZERO)
    assert sum(state.available(c.uuid) for c in CLIENTS) + state.balances[MIA.uuid] \
        + open_holds == deposits


@settings(max_examples=200, deadline=None)
@given(st.lists(step, max_size=50))
def test_a_show_charges_its_minutes_at_its_rate(steps: list) -> None:
    _, log = run(steps)
    captured: Counter[str] = Counter()
    for e in log:
        if e.type == ev.HOLD_CAPTURED and e.payload.get("spy") is None:
            captured[e.payload["show"]] += e.payload["amount"]
    rates = {e.payload["show"]: e.payload["rate"] for e in log if e.type == ev.SHOW_REQUESTED}
    for e in log:
        if e.type == ev.SHOW_CHARGED:
            show = e.payload["show"]
            assert e.payload["charged"] == captured[show]
            assert e.payload["charged"] == e.payload["minutes"] * rates[show]


def test_a_boundary_without_money_ends_the_show_having_charged_the_minute() -> None:
    bob = CLIENTS[0]
    steps = [("deposit", bob, Decimal("5")), ("rates", Decimal("3"), Decimal("1")),
             ("request", bob, None), ("act", MIA, "accept"), ("wait", 61, None)]
    state, log = run(steps)  # type: ignore[arg-type]
    ended = [e for e in log if e.type == ev.SHOW_ENDED]
    assert [e.payload["reason"] for e in ended] == ["insufficient_funds"]
    charged = next(e for e in log if e.type == ev.SHOW_CHARGED)
    assert (charged.payload["minutes"], charged.payload["charged"]) == (1, Decimal("3"))
    assert state.balances[bob.uuid] == Decimal("2") and state.holds.held_by(bob.uuid) == ZERO


def test_a_tip_cannot_spend_the_held_minute() -> None:
    bob = CLIENTS[0]
    steps = [("deposit", bob, Decimal("5")), ("rates", Decimal("3"), Decimal("1")),
             ("request", bob, None), ("tip", bob, Decimal("3"))]
    state, log = run(steps)  # type: ignore[arg-type]
    assert log[-1].type == ev.DONATE_REJECTED
    assert state.available(bob.uuid) == Decimal("2")


def _audit(log: list[ev.Event]) -> list[tuple[str, str]]:
    replay = Replay()
    for position, event in enumerate(log, 1):
        replay.fold(event, position)
    live = live_of(log)  # the tables a correct ledger leaves, with these people's accounts
    live.accounts = {p.uuid: (p.role, replay.state.balances.get(p.uuid, ZERO))
                     for p in [MIA, *CLIENTS]}
    auditor = Auditor(live.kinds)
    for position, event in enumerate(log, 1):
        auditor.fold(event, position)
    return [(f.check, f.detail) for f in auditor.finish(live).findings]


@settings(max_examples=100, deadline=None)
@given(st.lists(step, max_size=40))
def test_any_show_history_the_decider_produces_passes_the_audit(steps: list) -> None:
    _, log = run(steps)
    assert _audit(log) == []


def test_the_audit_names_a_hold_resolved_twice() -> None:
    bob = CLIENTS[0]
    steps = [("deposit", bob, Decimal("5")), ("rates", Decimal("3"), Decimal("1")),
             ("request", bob, None), ("act", MIA, "decline")]
    _, log = run(steps)  # type: ignore[arg-type]
    voided = next(e for e in log if e.type == ev.HOLD_VOIDED)
    again = replace(voided, event_id=str(uuid.uuid4()), seq=log[-1].seq + 1)
    assert any(check == "hold" and "resolved again" in detail
               for check, detail in _audit([*log, again]))


def _billed_show() -> list:
    """A show with a spy, both billed two minutes."""
    bob, eve = CLIENTS[0], CLIENTS[1]
    steps = [("deposit", bob, Decimal("9")), ("deposit", eve, Decimal("9")),
             ("rates", Decimal("3"), Decimal("1")), ("request", bob, None),
             ("act", MIA, "accept"), ("act", eve, "spy"), ("wait", 70, None),
             ("act", MIA, "end")]
    _, log = run(steps)  # type: ignore[arg-type]
    assert _audit(log) == []
    return log


def _overbilled(log: list, kind: str) -> list:
    """The log with the bill of `kind` claiming one minute more than its captures paid."""
    bill = next(e for e in log if e.type == kind)
    rate = Decimal(bill.payload["charged"]) / bill.payload["minutes"]
    payload = {**bill.payload, "minutes": bill.payload["minutes"] + 1,
               "charged": str(Decimal(bill.payload["charged"]) + rate)}
    return [replace(e, payload=payload) if e is bill else e for e in log]


def test_the_audit_names_a_show_billed_more_than_its_captures() -> None:
    problems = _audit(_overbilled(_billed_show(), ev.SHOW_CHARGED))
    assert any(check == "show_bill" and "captured" in detail for check, detail in problems)


def test_the_audit_names_a_spying_billed_more_than_its_captures() -> None:
    problems = _audit(_overbilled(_billed_show(), ev.SPY_ENDED))
    assert any(check == "show_bill" and "captured" in detail for check, detail in problems)


def test_the_audit_names_a_bill_that_is_not_minutes_times_rate() -> None:
    log = _billed_show()
    bill = next(e for e in log if e.type == ev.SHOW_CHARGED)
    wrong = {**bill.payload, "minutes": bill.payload["minutes"] + 1}
    problems = _audit([replace(e, payload=wrong) if e is bill else e for e in log])
    assert any(check == "show_bill" and "rate" in detail for check, detail in problems)


def test_during_a_show_the_model_and_its_client_speak_to_the_show_only() -> None:
    bob, eve, ann = CLIENTS
    steps = [("deposit", bob, Decimal("9")), ("deposit", eve, Decimal("9")),
             ("rates", Decimal("3"), Decimal("1")), ("request", bob, None),
             ("act", MIA, "accept"), ("act", eve, "spy")]
    state, _ = run(steps)  # type: ignore[arg-type]
    said = {who.name: apply(PostMessage(cid(), MIA.uuid, who, "hi", True), state, START)[0]
            for who in (MIA, bob, ann)}
    assert not said["Mia"].is_public and not said["c0"].is_public and said["c2"].is_public
    for name in ("Mia", "c0"):
        wire = event_to_wire(said[name])
        assert wire["audience"] == [bob.uuid, eve.uuid]
        seen = {p.name for p in (MIA, *CLIENTS) if visible_to(wire, p.uuid, MIA.uuid)}
        assert seen == {"Mia", "c0", "c1"}  # the model, the client, the spy: not Ann


def test_during_a_show_a_private_message_keeps_its_own_audience() -> None:
    """The show makes the public words of its people private to it; it never widens a private
    one: the model's reply to another viewer, or the client's note to the model, reaches no spy
    (the client does not even know there is one) and no one else."""
    bob, eve, ann = CLIENTS
    steps = [("deposit", bob, Decimal("9")), ("deposit", eve, Decimal("9")),
             ("rates", Decimal("3"), Decimal("1")), ("request", bob, None),
             ("act", MIA, "accept"), ("act", eve, "spy")]
    state, _ = run(steps)  # type: ignore[arg-type]
    reply = PostMessage(cid(), MIA.uuid, MIA, "for Ann", False, ann.uuid)
    note = PostMessage(cid(), MIA.uuid, bob, "for Mia", False)
    for command, meant in ((reply, {"Mia", "c2"}), (note, {"Mia", "c0"})):
        wire = event_to_wire(apply(command, state, START)[0])
        assert not wire["is_public"] and "audience" not in wire
        assert {p.name for p in (MIA, *CLIENTS) if visible_to(wire, p.uuid, MIA.uuid)} == meant


def test_a_show_accepted_late_still_charges_its_first_minute() -> None:
    """The request's hold must outlive a minute begun at the last moment of the 60 s answer."""
    bob = CLIENTS[0]
    steps = [("deposit", bob, Decimal("30")), ("rates", Decimal("3"), Decimal("1")),
             ("request", bob, None), ("wait", 55, None), ("act", MIA, "accept"),
             ("wait", 61, None), ("act", bob, "end")]
    _, log = run(steps)  # type: ignore[arg-type]
    bill = next(e for e in log if e.type == ev.SHOW_CHARGED)
    assert (bill.payload["minutes"], bill.payload["charged"]) == (2, Decimal("6"))
    assert not [e for e in log if e.type == ev.HOLD_EXPIRED]


def test_an_unanswered_request_times_out_after_60_s_and_frees_its_hold() -> None:
    bob = CLIENTS[0]
    steps = [("deposit", bob, Decimal("30")), ("rates", Decimal("3"), Decimal("1")),
             ("request", bob, None), ("wait", 59, None)]
    state, log = run(steps)  # type: ignore[arg-type]
    assert state.holds.held_by(bob.uuid) == Decimal("3")
    state, log = run([*steps, ("wait", 1, None)])  # type: ignore[list-item]
    ended = next(e for e in log if e.type == ev.SHOW_ENDED)
    assert ended.payload["reason"] == "declined" and log[-1].type == ev.HOLD_VOIDED
    assert state.available(bob.uuid) == Decimal("30")


def test_show_refusals_say_whether_the_asker_may_not_or_the_show_cannot() -> None:
    """The API answers 403 for `forbidden`, 400 otherwise: a refusal names which it is."""
    state, _ = run([("deposit", CLIENTS[0], Decimal("10")), ("rates", Decimal("2"), Decimal("1")),
                    ("request", CLIENTS[0], None)])
    show = state.shows.current_show(MIA.uuid)
    assert show is not None
    by_model = request_refusal(state, RequestShow(cid(), MIA.uuid, MIA, 60.0))
    busy = request_refusal(state, RequestShow(cid(), MIA.uuid, CLIENTS[1], 60.0))
    assert by_model is not None and by_model.forbidden
    assert busy is not None and not busy.forbidden
    for who, verb, forbidden in ((CLIENTS[1], "accept", True), (CLIENTS[1], "end", True),
                                 (CLIENTS[0], "spy", True), (CLIENTS[1], "spy", False),
                                 (MIA, "accept", None)):
        refused = action_refusal(state, ShowAction(cid(), MIA.uuid, who, verb, show.id), show)
        assert (refused.forbidden if refused else None) is forbidden, (who.name, verb, refused)
