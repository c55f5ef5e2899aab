"""DESIGN §9's rules on the pure decider: refunds, minimum tips, mutes, bans, deletions."""

import contextlib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatledger.domain import events as ev
from chatledger.domain.commands import (
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
from chatledger.domain.decider import (
    BANNED,
    BELOW_MINIMUM,
    MUTED,
    CommandRefused,
    apply,
    decide,
    refusal,
)
from chatledger.domain.state import ZERO, LedgerState
from tests.unit.test_decider import CLIENTS, MODELS, NOW, cid, commands, fresh_state


def day_one_state() -> LedgerState:
    state = fresh_state()
    state.kinds = {**{m.uuid: "model" for m in MODELS}, **{c.uuid: "client" for c in CLIENTS}}
    state.names = {c.uuid: c.name for c in CLIENTS}
    return state


@dataclass(frozen=True)
class RefundNth:
    """A refund of the n-th donation made so far (resolved against the history as it runs)."""

    n: int


Step = Command | RefundNth

steps = st.one_of(commands, st.builds(RefundNth, st.integers(min_value=0, max_value=30)))


def run(history: list[Step]) -> tuple[LedgerState, list[ev.Event]]:
    state, log = day_one_state(), []
    for step in history:
        if isinstance(step, RefundNth):
            donations = [e for e in log if e.type == ev.DONATE]
            if not donations:
                continue
            donation = donations[step.n % len(donations)]
            step = Refund(cid(), donation.stream, donation.event_id, "disputed")
        with contextlib.suppress(CommandRefused):
            log.extend(apply(step, state, NOW))
        assert all(balance >= ZERO for balance in state.balances.values())
    return state, log


histories = st.lists(steps, max_size=60)


def refunded_ids(log: list[ev.Event]) -> set[str]:
    return {e.payload["donation_id"] for e in log if e.type == ev.DONATE_REFUNDED}


@settings(max_examples=300, deadline=None)
@given(histories)
def test_refunds_conserve_money_and_take_back_each_donation_once_and_whole(
    history: list[Step],
) -> None:
    state, log = run(history)
    deposits = sum((e.amount for e in log if e.type == ev.DEPOSITED), ZERO)
    payouts = sum((e.amount for e in log if e.type == ev.PAID_OUT), ZERO)
    assert sum(state.balances.values(), ZERO) == deposits - payouts
    donations = {e.event_id: e for e in log if e.type == ev.DONATE}
    refunds = [e for e in log if e.type == ev.DONATE_REFUNDED]
    refunded = [e.payload["donation_id"] for e in refunds]
    assert len(refunded) == len(set(refunded))
    for refund in refunds:
        assert refund.amount == donations[refund.payload["donation_id"]].amount


@settings(max_examples=300, deadline=None)
@given(histories)
def test_donor_totals_and_days_are_net_of_refunds_and_blind_to_anonymous_tips(
    history: list[Step],
) -> None:
    state, log = run(history)
    refunded = refunded_ids(log)
    expected: dict[tuple[str, str], Decimal] = {}
    for e in log:
        if e.type == ev.DONATE and e.actor and not e.payload.get(ev.ANONYMOUS):
            kept = ZERO if e.event_id in refunded else e.amount
            key = (e.stream, e.actor.uuid)
            expected[key] = expected.get(key, ZERO) + kept
    assert {k: v for k, v in state.donor_totals.items()} == expected
    by_pair: dict[tuple[str, str], Decimal] = {}
    for (model, client, _), total in state.donor_days.items():
        by_pair[(model, client)] = by_pair.get((model, client), ZERO) + total
    assert by_pair == expected


@settings(max_examples=300, deadline=None)
@given(histories)
def test_the_sponsor_is_always_a_top_donor_even_after_refunds(history: list[Step]) -> None:
    state, _ = run(history)
    for model in MODELS:
        sponsor = state.sponsors.get(model.uuid)
        totals = [state.donor_total(model.uuid, c.uuid) for c in CLIENTS]
        if sponsor is not None:
            assert state.donor_total(model.uuid, sponsor.uuid) == max(totals)


@settings(max_examples=300, deadline=None)
@given(histories)
def test_an_active_goal_holds_the_donations_it_saw_less_their_refunds(
    history: list[Step],
) -> None:
    state, log = run(history)
    refunded = refunded_ids(log)
    for model in MODELS:
        for goal in state.goals.get(model.uuid, []):
            saw = [
                e for e in log
                if e.type == ev.DONATE and goal.id in {g["id"] for g in e.payload["goals"]}
            ]
            assert goal.sum == sum((e.amount for e in saw if e.event_id not in refunded), ZERO)
            assert not goal.reached and goal.sum < goal.require_sum


def funded(state: LedgerState, amount: str = "100") -> LedgerState:
    for client in CLIENTS:
        apply(Deposit(cid(), client.uuid, Decimal(amount)), state, NOW)
    return state


def tip(state: LedgerState, client: int, amount: str, **kw: object) -> list[ev.Event]:
    command = Donate(cid(), MODELS[0].uuid, CLIENTS[client], Decimal(amount), **kw)  # type: ignore[arg-type]
    return apply(command, state, NOW)


def refund(state: LedgerState, donation: ev.Event) -> list[ev.Event]:
    return apply(Refund(cid(), donation.stream, donation.event_id, "chargeback"), state, NOW)


def test_a_refund_moves_the_sum_back_and_a_second_one_is_refused() -> None:
    state = funded(day_one_state())
    donation = tip(state, 0, "30")[0]
    [refunded] = refund(state, donation)
    assert refunded.type == ev.DONATE_REFUNDED and refunded.is_public
    assert refunded.payload["donation_id"] == donation.event_id
    assert refunded.payload["reason"] == "chargeback"
    assert state.balances[CLIENTS[0].uuid] == Decimal("100")
    assert state.balances[MODELS[0].uuid] == ZERO
    with pytest.raises(CommandRefused, match="refunded already"):
        refund(state, donation)


def test_a_refund_above_the_models_balance_is_refused() -> None:
    state = funded(day_one_state())
    donation = tip(state, 0, "30")[0]
    apply(Payout(cid(), MODELS[0].uuid, Decimal("0.01")), state, NOW)
    with pytest.raises(CommandRefused, match="below the sum"):
        refund(state, donation)


def test_only_a_donation_of_this_chat_is_refunded() -> None:
    state = funded(day_one_state())
    message = apply(PostMessage(cid(), MODELS[0].uuid, CLIENTS[0], "hi", True), state, NOW)[0]
    donation = tip(state, 0, "5")[0]
    for stream, target in ((MODELS[0].uuid, message.event_id), (MODELS[1].uuid, donation.event_id)):
        with pytest.raises(CommandRefused, match="not a donation"):
            apply(Refund(cid(), stream, target), state, NOW)


def test_a_refund_dethrones_the_sponsor_for_the_next_donor_and_lowers_open_goals_only() -> None:
    state = funded(day_one_state())
    apply(AddGoal(cid(), MODELS[0].uuid, MODELS[0], "small", Decimal("10")), state, NOW)
    apply(AddGoal(cid(), MODELS[0].uuid, MODELS[0], "big", Decimal("1000")), state, NOW)
    tip(state, 1, "20")
    tip(state, 2, "20")
    big = tip(state, 0, "50")[0]
    assert state.sponsors[MODELS[0].uuid].uuid == CLIENTS[0].uuid
    events = refund(state, big)
    assert [e.type for e in events] == [ev.DONATE_REFUNDED, ev.CHANGE_SPONSOR]
    [open_goal] = state.goals[MODELS[0].uuid]
    assert open_goal.sum == Decimal("40")  # the reached "small" goal stays reached
    assert [g["id"] for g in events[0].payload["goals"]] == [open_goal.id]
    change = events[1].payload
    tied = sorted(CLIENTS[1:3], key=lambda c: c.uuid)[0]  # two at 20: the lowest uuid
    assert change["sponsor"] == {"uuid": tied.uuid, "name": tied.name}
    assert change["previous"] == CLIENTS[0].uuid and change["total"] == Decimal("20")


def test_an_anonymous_refund_stays_anonymous_and_moves_no_rank() -> None:
    state = funded(day_one_state())
    donation = tip(state, 0, "30", anonymous=True)[0]
    [refunded] = refund(state, donation)
    assert refunded.payload[ev.ANONYMOUS] is True
    assert state.donor_totals == {} and state.balances[CLIENTS[0].uuid] == Decimal("100")


def test_the_minimum_tip_rejects_below_it_and_zero_lifts_it() -> None:
    state = funded(day_one_state())
    [changed] = apply(ChangeSettings(cid(), MODELS[0].uuid, MODELS[0], Decimal("5")), state, NOW)
    assert changed.type == ev.SETTINGS_CHANGED and changed.payload["min_donation"] == Decimal("5")
    [rejected] = tip(state, 0, "4.99")
    assert rejected.type == ev.DONATE_REJECTED and rejected.payload["reason"] == BELOW_MINIMUM
    assert tip(state, 0, "5")[0].type == ev.DONATE
    apply(ChangeSettings(cid(), MODELS[0].uuid, MODELS[0], ZERO), state, NOW)
    assert tip(state, 0, "0.01")[0].type == ev.DONATE


def test_a_mute_silences_messages_and_tip_texts_until_it_expires_but_plain_tips_pass() -> None:
    state = funded(day_one_state())
    apply(MuteViewer(cid(), MODELS[0].uuid, MODELS[0], CLIENTS[0].uuid, 60), state, NOW)
    with pytest.raises(CommandRefused, match=MUTED):
        apply(PostMessage(cid(), MODELS[0].uuid, CLIENTS[0], "hi", True), state, NOW)
    assert tip(state, 0, "1", text="hey")[0].payload["reason"] == MUTED
    assert tip(state, 0, "1")[0].type == ev.DONATE
    later = NOW + timedelta(seconds=60)
    assert apply(PostMessage(cid(), MODELS[0].uuid, CLIENTS[0], "hi", True), state, later)


def test_a_ban_refuses_everything_until_the_unban() -> None:
    state = funded(day_one_state())
    apply(BanViewer(cid(), MODELS[0].uuid, MODELS[0], CLIENTS[0].uuid), state, NOW)
    with pytest.raises(CommandRefused, match="banned already"):
        apply(BanViewer(cid(), MODELS[0].uuid, MODELS[0], CLIENTS[0].uuid), state, NOW)
    with pytest.raises(CommandRefused, match=BANNED):
        apply(PostMessage(cid(), MODELS[0].uuid, CLIENTS[0], "hi", True), state, NOW)
    assert tip(state, 0, "1")[0].payload["reason"] == BANNED
    assert apply(PostMessage(cid(), MODELS[1].uuid, CLIENTS[0], "hi", True), state, NOW)
    [unbanned] = apply(UnbanViewer(cid(), MODELS[0].uuid, MODELS[0], CLIENTS[0].uuid), state, NOW)
    assert unbanned.payload["client"] == {"uuid": CLIENTS[0].uuid, "name": CLIENTS[0].name}
    assert tip(state, 0, "1")[0].type == ev.DONATE


@pytest.mark.parametrize(("command", "forbidden"), [
    (ChangeSettings(cid(), MODELS[0].uuid, CLIENTS[0], Decimal("1")), True),
    (ChangeSettings(cid(), MODELS[0].uuid, MODELS[0], Decimal("-1")), False),
    (MuteViewer(cid(), MODELS[0].uuid, CLIENTS[1], CLIENTS[0].uuid, 60), True),
    (MuteViewer(cid(), MODELS[0].uuid, MODELS[0], CLIENTS[0].uuid, 0), False),
    (MuteViewer(cid(), MODELS[0].uuid, MODELS[0], CLIENTS[0].uuid, 86_401), False),
    (BanViewer(cid(), MODELS[0].uuid, MODELS[1], CLIENTS[0].uuid), True),
    (BanViewer(cid(), MODELS[0].uuid, MODELS[0], MODELS[0].uuid), False),
    (UnbanViewer(cid(), MODELS[0].uuid, CLIENTS[0], CLIENTS[0].uuid), True),
])
def test_moderation_is_the_models_and_within_bounds(command: Command, forbidden: bool) -> None:
    refused = refusal(command)
    assert refused is not None and refused.forbidden is forbidden
    with pytest.raises(CommandRefused, match=refused.reason):
        decide(command, funded(day_one_state()), NOW)


def test_a_model_cannot_moderate_a_model_or_a_stranger() -> None:
    state = day_one_state()
    for target in (MODELS[1].uuid, str(uuid.uuid4())):
        with pytest.raises(CommandRefused, match="not a client"):
            apply(BanViewer(cid(), MODELS[0].uuid, MODELS[0], target), state, NOW)


def test_a_message_is_deleted_once_by_the_model_or_its_author_and_never_a_tip() -> None:
    state = funded(day_one_state())
    chat = MODELS[0].uuid
    first = apply(PostMessage(cid(), chat, CLIENTS[0], "one", True), state, NOW)[0]
    second = apply(PostMessage(cid(), chat, CLIENTS[0], "two", True), state, NOW)[0]
    donation = tip(state, 0, "1", text="with text")[0]
    with pytest.raises(CommandRefused, match="only the model or the author"):
        apply(DeleteMessage(cid(), chat, CLIENTS[1], first.event_id), state, NOW)
    [deleted] = apply(DeleteMessage(cid(), chat, CLIENTS[0], first.event_id), state, NOW)
    assert deleted.type == ev.MESSAGE_DELETED and deleted.payload["message_id"] == first.event_id
    assert apply(DeleteMessage(cid(), chat, MODELS[0], second.event_id), state, NOW)
    for target in (first.event_id, donation.event_id, str(uuid.uuid4())):
        with pytest.raises(CommandRefused, match="id: "):
            apply(DeleteMessage(cid(), chat, MODELS[0], target), state, NOW)
    with pytest.raises(CommandRefused, match="no such message"):  # another chat's message
        other = apply(PostMessage(cid(), MODELS[1].uuid, CLIENTS[0], "x", True), state, NOW)[0]
        apply(DeleteMessage(cid(), chat, MODELS[0], other.event_id), state, NOW)
