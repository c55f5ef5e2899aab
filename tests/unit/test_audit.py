"""The audit's checks on in-memory histories: a valid one passes, each kind of damage is named."""

import contextlib
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from chatledger.domain import events as ev
from chatledger.domain.commands import (
    Actor,
    AddGoal,
    BanViewer,
    ChangeSettings,
    Command,
    DeleteMessage,
    Deposit,
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
from chatledger.ledger.projection_rows import (
    DeletionRow,
    RefundRow,
    SponsorRow,
    balance_rows,
    ban_rows,
    current_sponsor_rows,
    deletion_rows,
    donor_day_rows,
    donor_total_rows,
    goal_rows,
    mute_rows,
    refund_rows,
    setting_rows,
)
from chatledger.readmodels.audit import Auditor, AuditReport, Live, render
from chatledger.readmodels.extras_audit import replay_tables as extras_tables
from chatledger.readmodels.replay import Replay, sponsor_rows
from chatledger.readmodels.show_audit import replay_tables

NOW = datetime(2026, 11, 24, tzinfo=UTC)
MODEL = Actor("00000000-0000-4000-8000-000000000001", "Mia", "model")
ANN = Actor("00000000-0000-4000-8000-000000000101", "Ann", "client")
BOB = Actor("00000000-0000-4000-8000-000000000102", "Bob", "client")
PEOPLE = (MODEL, ANN, BOB)


def cid() -> str:
    return str(uuid.uuid4())


def history(commands: list[Command]) -> list[Event]:
    """What the ledger would have appended for these commands (refusals append nothing)."""
    return resolved(list(commands))


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
        donor_days=donor_day_rows(replay.state),
        chat_settings=setting_rows(replay.state),
        chat_mutes=mute_rows(replay.state),
        chat_bans=ban_rows(replay.state),
        refunds=refund_rows(replay.state),
        deleted_messages=deletion_rows(replay.state),
        show_tables={**replay_tables(replay.state), **extras_tables(replay.state)},
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


def donation_id(donate: Donate) -> str:
    return event_id_for(donate.command_id, 0)


def day_one_story() -> tuple[list[Event], dict[str, str]]:
    """A history with every §9 fact: a minimum tip, a mute, a ban, a deleted message, a refund
    of a named and of an anonymous tip. Returns the events and the ids worth tampering with."""
    ann_tip = Donate(cid(), MODEL.uuid, ANN, Decimal("10"))
    secret = Donate(cid(), MODEL.uuid, BOB, Decimal("4"), anonymous=True)
    hello = PostMessage(cid(), MODEL.uuid, ANN, "hello", True)
    events = history(
        [
            Deposit(cid(), ANN.uuid, Decimal("100")),
            Deposit(cid(), BOB.uuid, Decimal("50")),
            AddGoal(cid(), MODEL.uuid, MODEL, "Dance", Decimal("300")),
            ann_tip,
            Donate(cid(), MODEL.uuid, BOB, Decimal("8")),
            secret,
            hello,
            ChangeSettings(cid(), MODEL.uuid, MODEL, Decimal("2")),
            MuteViewer(cid(), MODEL.uuid, MODEL, BOB.uuid, 60),
            BanViewer(cid(), MODEL.uuid, MODEL, ANN.uuid),
            BanViewer(cid(), MODEL.uuid, MODEL, BOB.uuid),
            UnbanViewer(cid(), MODEL.uuid, MODEL, BOB.uuid),
            DeleteMessage(cid(), MODEL.uuid, MODEL, event_id_for(hello.command_id, 0)),
            Refund(cid(), MODEL.uuid, donation_id(ann_tip), "chargeback"),
            Refund(cid(), MODEL.uuid, donation_id(secret)),
        ]
    )
    ids = {"ann_tip": donation_id(ann_tip), "secret": donation_id(secret),
           "hello": event_id_for(hello.command_id, 0)}
    return events, ids


def test_a_day_one_history_passes_and_counts_its_refunds() -> None:
    events, _ = day_one_story()
    assert [e.type for e in events].count(ev.CHANGE_SPONSOR) == 2  # Ann, then Bob after the refund
    report = audit(events, live_of(events))
    assert report.ok, report.findings
    assert (report.refunds, report.refunded) == (2, Decimal("14"))
    assert report.as_json()["money"]["refunded"] == "14.00"
    assert "refunds: 2 giving back 14.00" in render(report)


def test_each_corrupted_day_one_row_is_named() -> None:
    events, ids = day_one_story()
    live = live_of(events)
    [day_key] = [key for key in live.donor_days if key[2] == BOB.uuid]
    live.donor_days[day_key] += 1
    live.chat_settings[MODEL.uuid] = Decimal("0.50")
    live.chat_mutes[(MODEL.uuid, BOB.uuid)] += timedelta(seconds=5)
    del live.chat_bans[(MODEL.uuid, ANN.uuid)]
    live.chat_bans[(MODEL.uuid, BOB.uuid)] = "banned"
    del live.refunds[ids["secret"]]
    live.refunds[ids["ann_tip"]] = RefundRow(MODEL.uuid, "another")
    live.deleted_messages[ids["hello"]] = DeletionRow(BOB.uuid, live.deleted_messages[
        ids["hello"]].deletion_id)
    report = audit(events, live)
    pair = f"{MODEL.uuid},{BOB.uuid}"
    assert set(checks(report)) == {
        ("donor_day", f"donor_days.model_uuid,day,client_uuid={MODEL.uuid},2026-11-24,{BOB.uuid}"),
        ("setting", f"chat_settings.model_uuid={MODEL.uuid}"),
        ("mute", f"chat_mutes.model_uuid,client_uuid={pair}"),
        ("ban", f"chat_bans.model_uuid,client_uuid={MODEL.uuid},{ANN.uuid}"),
        ("ban", f"chat_bans.model_uuid,client_uuid={pair}"),
        ("refund_row", f"refunds.donation_id={ids['secret']}"),
        ("refund_row", f"refunds.donation_id={ids['ann_tip']}"),
        ("deletion_row", f"deleted_messages.message_id={ids['hello']}"),
    }
    details = {f.row: f.detail for f in report.findings}
    assert details[f"refunds.donation_id={ids['ann_tip']}"].startswith("refund_id another, replay")
    assert details[f"refunds.donation_id={ids['secret']}"].startswith("missing, replay has")
    assert details[f"deleted_messages.message_id={ids['hello']}"] == (
        f"model_uuid {BOB.uuid}, replay {MODEL.uuid}"
    )
    assert details[f"chat_settings.model_uuid={MODEL.uuid}"] == "live 0.50, replay 2.00"


def forged(events: list[Event], **changes: object) -> list[Event]:
    """The history with one more refund event, a copy of its last one with `changes`."""
    last = next(e for e in reversed(events) if e.type == ev.DONATE_REFUNDED)
    seq = max(e.seq for e in events if e.stream == last.stream) + 1
    return [*events, dataclasses.replace(last, **{"event_id": cid(), "seq": seq, **changes})]


def test_a_refund_breaking_its_invariants_is_named() -> None:
    events, ids = day_one_story()
    tip = next(e for e in events if e.event_id == ids["ann_tip"])
    hello = {"donation_id": ids["hello"], "reason": None, "goals": []}
    cases = {
        "twice": (forged(events), f"{ids['secret']} was refunded already by"),
        "a message": (forged(events, payload=hello), f"refunds {ids['hello']}, not a donation"),
        "another chat": (forged(events, stream=BOB.uuid, seq=3), "not a donation of this chat"),
        "more than its sum": (
            forged(events, payload={**hello, "donation_id": tip.event_id}, amount=Decimal(11),
                   actor=ANN),
            "refunds 11 of a donation of 10.00",
        ),
        "to someone else": (
            forged(events, payload={"donation_id": tip.event_id}, amount=tip.amount, actor=BOB),
            f"pays back {BOB.uuid}, the donation was {ANN.uuid}'s",
        ),
        "unveiled": (forged(events, payload={"donation_id": ids["secret"]}), "anonymous=False"),
    }
    for case, (bad, detail) in cases.items():
        report = audit(bad, live_of(bad))
        refunds = [f for f in report.findings if f.check == "refund"]
        assert refunds and all(f.row == f"chat_events.id={len(bad)}" for f in refunds), case
        assert any(detail in f.detail for f in refunds), (case, refunds)


def test_a_refund_the_models_balance_did_not_cover_is_caught() -> None:
    events, _ = day_one_story()  # the model holds 8.00 now
    drained = [*events, dataclasses.replace(
        history([Deposit(cid(), MODEL.uuid, Decimal("8")),
                 Payout(cid(), MODEL.uuid, Decimal("8"))])[1],
        seq=max(e.seq for e in events if e.stream == MODEL.uuid) + 1,
    )]
    tip = next(e for e in events if e.type == ev.DONATE and e.actor == BOB
               and not e.payload.get(ev.ANONYMOUS))
    bad = forged(drained, payload={"donation_id": tip.event_id, "goals": []}, amount=tip.amount,
                 actor=BOB)
    report = audit(bad, live_of(bad))
    assert [(f.check, f.row, f.detail) for f in report.findings] == [
        ("negative_balance", f"chat_events.id={len(bad)}",
         f"balance of {MODEL.uuid} fell to -8.00")
    ]


def test_a_deletion_of_no_message_or_of_a_deleted_one_is_named() -> None:
    events, ids = day_one_story()
    deletion = next(e for e in events if e.type == ev.MESSAGE_DELETED)
    seq = max(e.seq for e in events if e.stream == MODEL.uuid)
    bad = [
        *events,
        dataclasses.replace(deletion, event_id=cid(), seq=seq + 1),
        dataclasses.replace(deletion, event_id=cid(), seq=seq + 2,
                            payload={"message_id": ids["ann_tip"]}),
    ]
    report = audit(bad, live_of(bad))
    assert [(f.check, f.row, f.detail) for f in report.findings] == [
        ("deletion", f"chat_events.id={len(bad) - 1}", f"{ids['hello']} was deleted already"),
        ("deletion", f"chat_events.id={len(bad)}",
         f"deletes {ids['ann_tip']}, not a message of this chat"),
    ]


@dataclasses.dataclass(frozen=True)
class RefundNth:
    """A refund of the n-th donation made so far (resolved while the history is built)."""

    n: int


@dataclasses.dataclass(frozen=True)
class DeleteNth:
    n: int


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("80"), places=2)
clients = st.sampled_from((ANN, BOB))
commands = st.one_of(
    st.builds(lambda c, a: Deposit(cid(), c.uuid, a), clients, money),
    st.builds(lambda c, a, anonymous, text: Donate(cid(), MODEL.uuid, c, a, text,
                                                   anonymous=anonymous),
              clients, money, st.booleans(), st.sampled_from((None, "hi"))),
    st.builds(lambda a, q: AddGoal(cid(), MODEL.uuid, MODEL, "goal", a, q), money,
              st.booleans()),
    st.builds(lambda a: Payout(cid(), MODEL.uuid, a), money),
    st.builds(lambda c: PostMessage(cid(), MODEL.uuid, c, "hi", True), clients),
    st.builds(lambda a: ChangeSettings(cid(), MODEL.uuid, MODEL, a - Decimal("0.01")), money),
    st.builds(lambda c, s: MuteViewer(cid(), MODEL.uuid, MODEL, c.uuid, s), clients,
              st.integers(1, 86_400)),
    st.builds(lambda c: BanViewer(cid(), MODEL.uuid, MODEL, c.uuid), clients),
    st.builds(lambda c: UnbanViewer(cid(), MODEL.uuid, MODEL, c.uuid), clients),
    st.builds(RefundNth, st.integers(0, 30)),
    st.builds(DeleteNth, st.integers(0, 30)),
)


def resolved(steps: list[Command | RefundNth | DeleteNth]) -> list[Event]:
    """Like `history`, with RefundNth/DeleteNth aimed at the n-th donation/message so far."""
    made: list[Event] = []
    state = LedgerState(
        balances={p.uuid: ZERO for p in PEOPLE},
        kinds={p.uuid: p.role for p in PEOPLE},
        names={p.uuid: p.name for p in PEOPLE if p.role == "client"},
    )
    for step in steps:
        if isinstance(step, RefundNth | DeleteNth):
            kind = ev.DONATE if isinstance(step, RefundNth) else ev.MESSAGE
            targets = [e.event_id for e in made if e.type == kind]
            if not targets:
                continue
            target = targets[step.n % len(targets)]
            step = (Refund(cid(), MODEL.uuid, target) if kind == ev.DONATE
                    else DeleteMessage(cid(), MODEL.uuid, MODEL, target))
        with contextlib.suppress(CommandRefused):
            made.extend(apply(step, state, NOW))
    return made


@settings(max_examples=200, deadline=None)
@given(st.lists(commands, max_size=50))
def test_any_history_the_decider_produces_passes_the_audit(
    steps: list[Command | RefundNth | DeleteNth],
) -> None:
    events = resolved(steps)
    report = audit(events, live_of(events))
    assert report.ok, report.findings
