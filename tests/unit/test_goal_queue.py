"""DESIGN §11's goal queue on the pure decider, fold and audit: queued goals start one at a time in
the order queued once no goal is active, a donation fills only the goals active when it is
decided, and the audit names every way a history can break that."""

import contextlib
import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from chatledger.domain import events as ev
from chatledger.domain.commands import Actor, AddGoal, Command, Deposit, Donate, Refund
from chatledger.domain.decider import CommandRefused, apply, decide, refusal
from chatledger.domain.events import Event, event_id_for
from chatledger.domain.state import ZERO, LedgerState
from chatledger.domain.wire import event_to_wire
from chatledger.ledger.projection_rows import goal_rows
from tests.unit.test_audit import ANN, MODEL, PEOPLE, audit, live_of, without

NOW = datetime(2026, 12, 6, tzinfo=UTC)
OTHER = Actor("00000000-0000-4000-8000-000000000002", "Zoe", "model")


def cid() -> str:
    return str(uuid.uuid4())


def fresh() -> LedgerState:
    everyone = (*PEOPLE, OTHER)
    return LedgerState(
        balances={p.uuid: ZERO for p in everyone},
        kinds={p.uuid: p.role for p in everyone},
        names={p.uuid: p.name for p in everyone},
    )


def goal(name: str, need: str, queued: bool = False, model: Actor = MODEL) -> AddGoal:
    return AddGoal(f"goal-{name}", model.uuid, model, name, Decimal(need), queued)


def goal_id(name: str) -> str:
    return event_id_for(f"goal-{name}", 0)


def run(state: LedgerState, *commands: Command) -> list[Event]:
    return [e for command in commands for e in apply(command, state, NOW)]


def tip(amount: str, donor: Actor = ANN, **kwargs: object) -> Donate:
    return Donate(cid(), MODEL.uuid, donor, Decimal(amount), **kwargs)  # type: ignore[arg-type]


def types(events: list[Event]) -> list[str]:
    return [e.type for e in events]


def test_a_queued_goal_with_nothing_active_starts_at_once() -> None:
    state = fresh()
    events = run(state, goal("Dance", "10", queued=True))
    assert types(events) == [ev.NEW_GOAL, ev.GOAL_STARTED]
    assert events[0].payload["queued"] is True
    started = event_to_wire(events[1])
    assert started["is_public"] and started["from"] == {
        "uuid": MODEL.uuid, "name": MODEL.name, "role": "model"}
    assert started["goal"] == {"id": goal_id("Dance"), "name": "Dance", "sum": "0.00",
                               "require_sum": "10.00", "reached": False}
    assert [g.id for g in state.goals[MODEL.uuid]] == [goal_id("Dance")]
    assert state.queued_goals.get(MODEL.uuid, []) == []


def test_the_tip_that_ends_the_last_active_goal_starts_the_next_without_spilling() -> None:
    state = fresh()
    run(state, Deposit(cid(), ANN.uuid, Decimal("100")), goal("Dance", "10"),
        goal("Song", "5", queued=True), goal("Encore", "5", queued=True))
    assert event_to_wire(run(state, goal("Late", "1"))[0])["queued"] is False
    assert [g.id for g in state.queued_goals[MODEL.uuid]] == [goal_id("Song"), goal_id("Encore")]
    # Ends Late only: Dance is still active, so nothing starts.
    assert types(run(state, tip("1"))) == [ev.DONATE, ev.END_GOAL, ev.CHANGE_SPONSOR]
    events = run(state, tip("30"))  # 31 of 10: ends Dance, the last active
    assert types(events) == [ev.DONATE, ev.END_GOAL, ev.GOAL_STARTED]
    assert [g["id"] for g in events[0].payload["goals"]] == [goal_id("Dance")]
    assert events[2].payload["goal"]["id"] == goal_id("Song")
    assert events[2].payload["goal"]["sum"] == ZERO
    (song,) = state.goals[MODEL.uuid]
    assert (song.id, song.sum) == (goal_id("Song"), ZERO)  # the 30 did not spill into it
    assert [g.id for g in state.queued_goals[MODEL.uuid]] == [goal_id("Encore")]
    events = run(state, tip("5"))
    assert types(events) == [ev.DONATE, ev.END_GOAL, ev.GOAL_STARTED]
    assert events[2].payload["goal"]["id"] == goal_id("Encore")
    assert types(run(state, tip("5"))) == [ev.DONATE, ev.END_GOAL]  # the queue is empty
    assert state.goals[MODEL.uuid] == [] and state.queued_goals[MODEL.uuid] == []


def test_an_unqueued_goal_joins_the_active_ones_and_the_queue_waits_for_it_too() -> None:
    state = fresh()
    run(state, Deposit(cid(), ANN.uuid, Decimal("100")), goal("Dance", "10"),
        goal("Song", "5", queued=True), goal("Extra", "20"))
    assert types(run(state, tip("10"))) == [ev.DONATE, ev.END_GOAL, ev.CHANGE_SPONSOR]
    assert [g.id for g in state.queued_goals[MODEL.uuid]] == [goal_id("Song")]
    assert types(run(state, tip("10"))) == [ev.DONATE, ev.END_GOAL, ev.GOAL_STARTED]


def test_a_refund_lowers_only_what_the_tip_filled_and_a_reached_goal_stays_reached() -> None:
    state = fresh()
    run(state, Deposit(cid(), ANN.uuid, Decimal("100")), goal("Dance", "10"),
        goal("Song", "50", queued=True))
    ended_it = tip("12")
    run(state, ended_it, tip("3"))
    (song,) = state.goals[MODEL.uuid]
    assert song.sum == Decimal("3")
    refunded = run(state, Refund(cid(), MODEL.uuid, event_id_for(ended_it.command_id, 0)))
    assert types(refunded) == [ev.DONATE_REFUNDED]
    assert refunded[0].payload["goals"] == []  # Dance ended; Song never had the 12
    assert song.sum == Decimal("3")
    assert goal_rows(state)[goal_id("Dance")].is_active is False


def test_a_queued_goal_needs_a_positive_sum_like_any_goal() -> None:
    bad = AddGoal(cid(), MODEL.uuid, MODEL, "Dance", ZERO, queued=True)
    assert refusal(bad) is not None and "require_sum" in refusal(bad).reason  # type: ignore[union-attr]
    state = fresh()
    with contextlib.suppress(CommandRefused):
        decide(bad, state, NOW)
    assert state.goals == {} and state.queued_goals == {}


def test_the_rows_say_which_goals_wait_and_in_what_order() -> None:
    state = fresh()
    run(state, goal("Dance", "10"), goal("Song", "5", queued=True),
        goal("Encore", "5", queued=True))
    rows = goal_rows(state)
    assert (rows[goal_id("Dance")].is_active, rows[goal_id("Dance")].is_queued) == (True, False)
    song, encore = rows[goal_id("Song")], rows[goal_id("Encore")]
    assert (song.is_active, song.is_queued) == (False, True)
    assert song.queue_seq is not None and encore.queue_seq is not None
    assert song.queue_seq < encore.queue_seq


# ---- the audit names a broken queue ----------------------------------------------------------


def queue_story() -> list[Event]:
    state = fresh()
    return run(state, Deposit(cid(), ANN.uuid, Decimal("100")), goal("Dance", "10"),
               goal("Song", "5", queued=True), goal("Encore", "5", queued=True),
               tip("10"), tip("2"))


def findings(events: list[Event]) -> list[tuple[str, str]]:
    report = audit(events, live_of(events))
    return [(f.check, f.detail) for f in report.findings]


def test_a_valid_queue_passes_the_audit() -> None:
    assert findings(queue_story()) == []


def test_a_goal_started_out_of_order_is_named() -> None:
    events = queue_story()
    at = next(i for i, e in enumerate(events) if e.type == ev.GOAL_STARTED)
    started = events[at]
    payload = {"goal": {**started.payload["goal"], "id": goal_id("Encore")}}
    events[at] = dataclasses.replace(started, payload=payload)
    assert ("goal_queue", f"starts {goal_id('Encore')}, the first queued goal is"
            f" {goal_id('Song')}") in findings(events)


def test_a_goal_started_beside_an_active_one_is_named() -> None:
    state = fresh()
    events = run(state, goal("Dance", "10"), goal("Song", "5", queued=True))
    new = events[-1]
    forged = Event(cid(), cid(), MODEL.uuid, new.seq + 1, ev.GOAL_STARTED, MODEL, True, None,
                   NOW, {"goal": new.payload["goal"]})
    found = findings([*events, forged])
    assert ("goal_queue",
            f"starts {goal_id('Song')} while {[goal_id('Dance')]} are active") in found


def test_a_queue_left_waiting_with_no_active_goal_is_named() -> None:
    events = queue_story()
    started = next(e for e in events if e.type == ev.GOAL_STARTED)
    events = without(events, started)
    found = findings(events)
    assert any(check == "goal_queue" and "wait, but no goal is active" in detail
               for check, detail in found), found


def test_a_donation_that_fills_a_goal_not_active_is_named() -> None:
    events = queue_story()
    last = events[-1]
    assert last.type == ev.DONATE  # the 2 that went to Song
    forged_goals = [*last.payload["goals"], {"id": goal_id("Encore"), "name": "Encore",
                                             "sum": Decimal("2"), "require_sum": Decimal("5"),
                                             "reached": False}]
    events[-1] = dataclasses.replace(last, payload={**last.payload, "goals": forged_goals})
    assert [c for c, _ in findings(events)] == ["goal_fill"]


def test_a_queued_row_marked_active_is_named() -> None:
    events = queue_story()
    live = live_of(events)
    live.goals[goal_id("Encore")] = dataclasses.replace(live.goals[goal_id("Encore")],
                                                        is_active=True)
    report = audit(events, live)
    assert {f.check for f in report.findings} == {"goal"}  # the row differs from the replay


# ---- random histories: a reference model of the rules, and the audit ---------------------------


@dataclass
class Reference:
    """The queue's rules written the plain way, one chat: what the decider must agree with."""

    active: list[list] = field(default_factory=list)  # [id, sum, need]
    waiting: list[list] = field(default_factory=list)


@dataclass(frozen=True)
class RefundNth:
    n: int


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("60"), places=2)
steps = st.one_of(
    st.builds(lambda a: Deposit(cid(), ANN.uuid, a), money),
    st.builds(lambda a: Donate(cid(), MODEL.uuid, ANN, a), money),
    st.builds(lambda a, q: AddGoal(cid(), MODEL.uuid, MODEL, "g", a, q), money, st.booleans()),
    st.builds(lambda a, q: AddGoal(cid(), OTHER.uuid, OTHER, "o", a, q), money, st.booleans()),
    st.builds(RefundNth, st.integers(0, 20)),
)


def check_against_reference(ref: Reference, command: Command, made: list[Event]) -> None:
    if isinstance(command, AddGoal) and command.chat == MODEL.uuid:
        new = [event_id_for(command.command_id, 0), ZERO, command.require_sum]
        starts_now = command.queued and not ref.active
        (ref.waiting if command.queued and not starts_now else ref.active).append(new)
        assert types(made) == [ev.NEW_GOAL] + ([ev.GOAL_STARTED] if starts_now else [])
    elif made and made[0].type == ev.DONATE:
        amount = made[0].amount
        assert amount is not None
        assert [(g["id"], g["sum"]) for g in made[0].payload["goals"]] == [
            (g[0], g[1] + amount) for g in ref.active]
        for g in ref.active:
            g[1] += amount
        ended = [g[0] for g in ref.active if g[1] >= g[2]]
        assert [e.payload["goal"]["id"] for e in made if e.type == ev.END_GOAL] == ended
        had_active = bool(ref.active)
        ref.active = [g for g in ref.active if g[1] < g[2]]
        started = [e.payload["goal"]["id"] for e in made if e.type == ev.GOAL_STARTED]
        if had_active and not ref.active and ref.waiting:
            ref.active.append(ref.waiting.pop(0))
            assert started == [ref.active[0][0]]
        else:
            assert started == []
    elif made and made[0].type == ev.DONATE_REFUNDED:
        lowered = {g["id"] for g in made[0].payload["goals"]}
        for g in ref.active:
            if g[0] in lowered:
                g[1] -= made[0].amount
        assert not lowered - {g[0] for g in ref.active}  # only active goals lose it


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=50))
def test_random_histories_follow_the_queue_rules(history: list[Command | RefundNth]) -> None:
    state, ref, log = fresh(), Reference(), []
    for step in history:
        if isinstance(step, RefundNth):
            tips = [e.event_id for e in log if e.type == ev.DONATE]
            if not tips:
                continue
            step = Refund(cid(), MODEL.uuid, tips[step.n % len(tips)])
        made: list[Event] = []
        with contextlib.suppress(CommandRefused):
            made = apply(step, state, NOW)
        check_against_reference(ref, step, made)
        log.extend(made)
        for chat in (MODEL.uuid, OTHER.uuid):  # a queue never waits behind nothing
            assert not state.queued_goals.get(chat) or state.goals.get(chat)
        assert [(g.id, g.sum) for g in state.goals.get(MODEL.uuid, [])] == [
            (g[0], g[1]) for g in ref.active]
        assert [g.id for g in state.queued_goals.get(MODEL.uuid, [])] == [
            g[0] for g in ref.waiting]
    queued = [e.payload["goal"]["id"] for e in log
              if e.type == ev.NEW_GOAL and e.payload["queued"] and e.stream == MODEL.uuid]
    started = [e.payload["goal"]["id"] for e in log
               if e.type == ev.GOAL_STARTED and e.stream == MODEL.uuid]
    assert started == queued[: len(started)]  # in the order queued, each once
    # Conserved: every goal holds exactly the tips that named it, less their refunds.
    filled: dict[str, Decimal] = {}
    for e in log:
        if e.type in (ev.DONATE, ev.DONATE_REFUNDED):
            sign = 1 if e.type == ev.DONATE else -1
            for g in e.payload["goals"]:
                filled[g["id"]] = filled.get(g["id"], ZERO) + sign * e.amount
    for goal_id_, row in goal_rows(state).items():
        assert row.sum == filled.get(goal_id_, ZERO)
    assert findings(log) == []


def test_the_order_a_donation_lists_its_goals_in_is_not_a_finding() -> None:
    """The ledger lists the active goals as it loads them (a started queued goal after goals set
    without the queue), the replay as they became active: the same goals either way."""
    state = fresh()
    events = run(state, Deposit(cid(), ANN.uuid, Decimal("100")), goal("Dance", "10"),
                 goal("Song", "50", queued=True), tip("10"), goal("Late", "50"), tip("1"))
    last = events[-1]
    assert last.type == ev.DONATE and len(last.payload["goals"]) == 2
    events[-1] = dataclasses.replace(
        last, payload={**last.payload, "goals": last.payload["goals"][::-1]})
    assert findings(events) == []


def test_a_donation_with_a_garbled_goal_sum_is_named_not_a_crash() -> None:
    events = queue_story()
    last = events[-1]
    garbled = [{**g, "sum": "lots"} for g in last.payload["goals"]]
    events[-1] = dataclasses.replace(last, payload={**last.payload, "goals": garbled})
    assert [c for c, _ in findings(events)] == ["goal_fill"]
