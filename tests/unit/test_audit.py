"""The audit's checks on in-memory histories: a valid one passes, each kind of damage is named."""

import contextlib
import dataclasses
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from chatledger.ledger import events as ev
from chatledger.ledger.commands import Actor, AddGoal, Command, Deposit, Donate, Payout
from chatledger.ledger.decider import CommandRefused, apply
from chatledger.ledger.events import Event
from chatledger.ledger.projection_rows import (
    SponsorRow,
    balance_rows,
    current_sponsor_rows,
    donor_total_rows,
    goal_rows,
)
from chatledger.ledger.state import ZERO, LedgerState
from chatledger.projections.audit import Auditor, AuditReport, Live, render
from chatledger.projections.replay import Replay, sponsor_rows

NOW = datetime(2026, 11, 24, tzinfo=UTC)
MODEL = Actor("00000000-0000-4000-8000-000000000001", "Mia", "model")
ANN = Actor("00000000-0000-4000-8000-000000000101", "Ann", "client")
BOB = Actor("00000000-0000-4000-8000-000000000102", "Bob", "client")
PEOPLE = (MODEL, ANN, BOB)


def cid() -> str:
    return str(uuid.uuid4())


def history(commands: list[Command]) -> list[Event]:
    """What the ledger would have appended for these commands (refusals append nothing)."""
    state = LedgerState(balances={p.uuid: ZERO for p in PEOPLE})
    log: list[Event] = []
    for command in commands:
        with contextlib.suppress(CommandRefused):
            log.extend(apply(command, state, NOW))
    return log


def story() -> list[Event]:
    return history(
        [
            Deposit(cid(), ANN.uuid, Decimal("100")),
            Deposit(cid(), BOB.uuid, Decimal("50")),
            AddGoal(cid(), MODEL.uuid, MODEL, "Dance", Decimal("30")),
            Donate(cid(), MODEL.uuid, ANN, Decimal("10")),
            Donate(cid(), MODEL.uuid, BOB, Decimal("25")),
            Donate(cid(), MODEL.uuid, ANN, Decimal("15")),  # ties Bob: Bob keeps the sponsorship
            Payout(cid(), MODEL.uuid, Decimal("5")),
        ]
    )


def live_of(events: list[Event]) -> Live:
    """The live tables exactly as a correct ledger leaves them after `events`."""
    replay = Replay()
    for position, event in enumerate(events, 1):
        replay.fold(event, position)
    balances = balance_rows(replay.state)
    return Live(
        accounts={p.uuid: (p.role, balances.get(p.uuid, ZERO)) for p in PEOPLE},
        goals=goal_rows(replay.state),
        donor_totals=donor_total_rows(replay.state),
        current_sponsors=current_sponsor_rows(replay.state),
        sponsors=sponsor_rows(replay),
        versions=dict(replay.state.versions),
    )


def audit(events: list[Event], live: Live) -> AuditReport:
    auditor = Auditor(live.kinds)
    for position, event in enumerate(events, 1):
        auditor.fold(event, position)
    return auditor.finish(live)


def checks(report: AuditReport) -> list[tuple[str, str]]:
    return [(f.check, f.row) for f in report.findings]


def test_a_valid_history_passes_with_a_readable_summary() -> None:
    events = story()
    report = audit(events, live_of(events))
    assert report.ok, report.findings
    assert report.deposits == Decimal("150") and report.payouts == Decimal("5")
    assert report.balances == Decimal("145") and report.donated == Decimal("50")
    assert report.events_by_type[ev.DONATE] == 3
    assert report.accounts_by_kind == {"client": 2, "model": 1}
    text = render(report)
    assert text.startswith("audit OK: 10 events")
    assert "money in (deposits): 150.00" in text and "money out (payouts): 5.00" in text
    assert report.as_json()["findings"] == []


def test_each_corrupted_projection_row_is_named() -> None:
    events = story()
    live = live_of(events)
    goal_id = next(iter(live.goals))
    live.accounts[MODEL.uuid] = ("model", live.accounts[MODEL.uuid][1] + 1)
    live.goals[goal_id] = dataclasses.replace(live.goals[goal_id], sum=Decimal("1.00"))
    live.current_sponsors[MODEL.uuid] = (ANN.uuid, "Ann")
    live.donor_totals[(MODEL.uuid, ANN.uuid)] = Decimal("99")
    change = next(iter(live.sponsors))
    live.sponsors[change] = SponsorRow(MODEL.uuid, "someone-else")
    report = audit(events, live)
    assert not report.ok
    assert set(checks(report)) == {
        ("balance", f"accounts.owner_uuid={MODEL.uuid}"),
        ("conservation", "accounts (all rows)"),
        ("goal", f"goals.uuid={goal_id}"),
        ("sponsor", f"current_sponsors.model_uuid={MODEL.uuid}"),
        ("donor_total", f"donor_totals.model_uuid,client_uuid={MODEL.uuid},{ANN.uuid}"),
        ("sponsor_row", f"sponsors.event_id={change}"),
    }
    goal = next(f for f in report.findings if f.check == "goal")
    assert goal.detail == "sum 1.00, replay 35.00"
    assert "FAILED" in render(report) and goal_id in render(report)


def test_missing_and_extra_rows_are_named() -> None:
    events = story()
    live = live_of(events)
    del live.current_sponsors[MODEL.uuid]
    live.donor_totals[(MODEL.uuid, "stray")] = Decimal("1")
    report = audit(events, live)
    assert set(checks(report)) == {
        ("sponsor", f"current_sponsors.model_uuid={MODEL.uuid}"),
        ("donor_total", f"donor_totals.model_uuid,client_uuid={MODEL.uuid},stray"),
    }


def test_a_seq_gap_and_a_stale_stream_version_are_named() -> None:
    events = story()
    gap = events[:3] + [dataclasses.replace(e, seq=e.seq + 1) for e in events[3:]]
    live = live_of(gap)  # the model's streams.version matches its (gapped) max seq
    live.versions[ANN.uuid] += 1
    report = audit(gap, live)
    assert checks(report) == [
        ("seq", "chat_events.id=4"),
        ("stream_version", f"streams.stream={ANN.uuid}"),
    ]
    assert report.findings[0].detail == f"stream {MODEL.uuid} has seq 3, expected 2"
    assert report.findings[1].detail == "version 2, max seq 1"


def test_a_balance_that_went_negative_is_caught_during_the_fold() -> None:
    events = story()  # Ann ends with 75.00
    donation = next(e for e in events if e.type == ev.DONATE and e.actor == ANN)
    overdraft = dataclasses.replace(donation, event_id=cid(), amount=Decimal("500"), seq=9)
    top_up = dataclasses.replace(history([Deposit(cid(), ANN.uuid, Decimal("600"))])[0], seq=2)
    bad = [*events, overdraft, top_up]  # ends positive: only the fold can see the overdraft
    report = audit(bad, live_of(bad))
    negative = [(f.row, f.detail) for f in report.findings if f.check == "negative_balance"]
    assert negative == [("chat_events.id=11", f"balance of {ANN.uuid} fell to -425.00")]


def test_a_donation_must_move_money_from_a_client_to_a_model() -> None:
    events = story()
    at = [n for n, e in enumerate(events) if e.type == ev.DONATE]
    bad = list(events)
    bad[at[0]] = dataclasses.replace(events[at[0]], actor=MODEL)
    bad[at[1]] = dataclasses.replace(events[at[1]], amount=ZERO)
    bad.append(dataclasses.replace(events[at[2]], event_id=cid(), stream=BOB.uuid, seq=2))
    report = audit(bad, live_of(bad))
    found = {(f.row, f.detail) for f in report.findings if f.check == "donation"}
    assert found == {
        (f"chat_events.id={at[0] + 1}", f"donor {MODEL.uuid} is not a client's account"),
        (f"chat_events.id={at[1] + 1}", "amount 0.00 is not positive"),
        (f"chat_events.id={len(bad)}", f"stream {BOB.uuid} is not a model's account"),
    }


def without(events: list[Event], dropped: Event) -> list[Event]:
    """The history minus one model-stream event, later seqs closed up (no gap to report)."""
    kept = [e for e in events if e is not dropped]
    return [
        dataclasses.replace(e, seq=e.seq - 1)
        if e.stream == dropped.stream and e.seq > dropped.seq
        else e
        for e in kept
    ]


def test_a_sponsor_who_is_not_the_top_donor_is_named() -> None:
    events = history(
        [
            Deposit(cid(), ANN.uuid, Decimal("100")),
            Deposit(cid(), BOB.uuid, Decimal("50")),
            Donate(cid(), MODEL.uuid, ANN, Decimal("10")),
            Donate(cid(), MODEL.uuid, BOB, Decimal("25")),
        ]
    )
    assert events[-1].type == ev.CHANGE_SPONSOR
    events = without(events, events[-1])  # Bob gave more but was never crowned
    report = audit(events, live_of(events))
    assert [(f.check, f.row) for f in report.findings] == [
        ("sponsor_rule", f"current_sponsors.model_uuid={MODEL.uuid}")
    ]
    assert f"donor {BOB.uuid} gave 25.00, more than sponsor {ANN.uuid}" in str(report.findings[0])


def test_a_goal_whose_reached_flag_contradicts_its_sum_is_named() -> None:
    events = history(
        [
            Deposit(cid(), ANN.uuid, Decimal("100")),
            AddGoal(cid(), MODEL.uuid, MODEL, "Dance", Decimal("30")),
            Donate(cid(), MODEL.uuid, ANN, Decimal("40")),
        ]
    )
    end = next(e for e in events if e.type == ev.END_GOAL)
    events = without(events, end)
    report = audit(events, live_of(events))
    assert [f.check for f in report.findings] == ["goal_rule"]
    assert "sum 40.00 of 30.00 but active=True" in report.findings[0].detail


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("80"), places=2)
commands = st.one_of(
    st.builds(lambda c, a: Deposit(cid(), c.uuid, a), st.sampled_from((ANN, BOB)), money),
    st.builds(lambda c, a: Donate(cid(), MODEL.uuid, c, a), st.sampled_from((ANN, BOB)), money),
    st.builds(lambda a: AddGoal(cid(), MODEL.uuid, MODEL, "goal", a), money),
    st.builds(lambda a: Payout(cid(), MODEL.uuid, a), money),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(commands, max_size=50))
def test_any_history_the_decider_produces_passes_the_audit(commands: list[Command]) -> None:
    events = history(commands)
    report = audit(events, live_of(events))
    assert report.ok, report.findings
