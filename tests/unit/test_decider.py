"""The rules of the ledger, on the pure decider and fold (no I/O)."""

import contextlib
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatledger.domain import events as ev
from chatledger.domain.commands import Actor, AddGoal, Command, Deposit, Donate, Payout, PostMessage
from chatledger.domain.decider import (
    CommandRefused,
    affordable,
    apply,
    decide,
    recipient_refusal,
    refusal,
)
from chatledger.domain.state import ZERO, LedgerState

NOW = datetime(2026, 11, 24, tzinfo=UTC)
MODELS = [Actor(f"00000000-0000-4000-8000-00000000000{i}", f"model{i}", "model") for i in (1, 2)]
CLIENTS = [Actor(f"00000000-0000-4000-8000-0000000001{i:02}", f"c{i}", "client") for i in range(4)]


def fresh_state() -> LedgerState:
    return LedgerState(balances={a.uuid: ZERO for a in MODELS + CLIENTS})


def cid() -> str:
    return str(uuid.uuid4())


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2)
commands = st.one_of(
    st.builds(lambda c, a: Deposit(cid(), c.uuid, a), st.sampled_from(CLIENTS), money),
    st.builds(lambda c, m, a, anonymous: Donate(cid(), m.uuid, c, a, anonymous=anonymous),
              st.sampled_from(CLIENTS), st.sampled_from(MODELS), money, st.booleans()),
    st.builds(lambda m, a: AddGoal(cid(), m.uuid, m, "goal", a), st.sampled_from(MODELS), money),
    st.builds(lambda m, a: Payout(cid(), m.uuid, a), st.sampled_from(MODELS), money),
)


def run(history: list[Command]) -> tuple[LedgerState, list[ev.Event]]:
    state, log = fresh_state(), []
    for command in history:
        with contextlib.suppress(CommandRefused):
            log.extend(apply(command, state, NOW))
        assert all(balance >= ZERO for balance in state.balances.values())
    return state, log


@settings(max_examples=300, deadline=None)
@given(st.lists(commands, max_size=60))
def test_money_is_conserved_and_never_negative(history: list[Command]) -> None:
    state, log = run(history)
    deposits = sum((e.amount for e in log if e.type == ev.DEPOSITED), ZERO)
    payouts = sum((e.amount for e in log if e.type == ev.PAID_OUT), ZERO)
    assert sum(state.balances.values(), ZERO) == deposits - payouts


@settings(max_examples=300, deadline=None)
@given(st.lists(commands, max_size=60))
def test_a_goal_ends_exactly_once_when_its_sum_is_reached(history: list[Command]) -> None:
    _, log = run(history)
    created = {e.payload["goal"]["id"]: (e.stream, Decimal(e.payload["goal"]["require_sum"]), i)
               for i, e in enumerate(log) if e.type == ev.NEW_GOAL}
    ended = [e.payload["goal"]["id"] for e in log if e.type == ev.END_GOAL]
    assert len(ended) == len(set(ended))
    for goal_id, (model, required, position) in created.items():
        donated = sum((e.amount for e in log[position:] if e.type == ev.DONATE
                       and e.stream == model), ZERO)
        assert (goal_id in ended) == (donated >= required)


@settings(max_examples=300, deadline=None)
@given(st.lists(commands, max_size=60))
def test_sponsor_is_the_top_donor_and_a_tie_keeps_the_incumbent(history: list[Command]) -> None:
    state, log = run(history)
    for model in MODELS:
        totals = {c.uuid: state.donor_total(model.uuid, c.uuid) for c in CLIENTS}
        sponsor = state.sponsors.get(model.uuid)
        if not any(totals.values()):
            assert sponsor is None
            continue
        assert sponsor is not None
        assert totals[sponsor.uuid] == max(totals.values())
        # the incumbent is whoever reached the top first: a later equal total never took over
        running: dict[str, Decimal] = {}
        best, holder = ZERO, None
        for e in log:
            anonymous = e.payload.get(ev.ANONYMOUS)  # never makes a sponsor (DESIGN §9)
            if e.type == ev.DONATE and e.stream == model.uuid and e.actor and not anonymous:
                running[e.actor.uuid] = running.get(e.actor.uuid, ZERO) + e.amount
                if running[e.actor.uuid] > best or holder is None:
                    holder = e.actor.uuid
                best = max(best, running[e.actor.uuid])
        assert sponsor.uuid == holder


def test_donation_above_balance_is_a_private_rejection_and_moves_nothing() -> None:
    state = fresh_state()
    apply(Deposit(cid(), CLIENTS[0].uuid, Decimal("10.00")), state, NOW)
    events = apply(Donate(cid(), MODELS[0].uuid, CLIENTS[0], Decimal("10.01")), state, NOW)
    assert [e.type for e in events] == [ev.DONATE_REJECTED]
    assert events[0].is_public is False
    assert state.balances[CLIENTS[0].uuid] == Decimal("10.00")
    assert state.balances[MODELS[0].uuid] == ZERO


def test_tie_keeps_the_current_sponsor() -> None:
    state = fresh_state()
    for client in CLIENTS[:2]:
        apply(Deposit(cid(), client.uuid, Decimal("50")), state, NOW)
    first = apply(Donate(cid(), MODELS[0].uuid, CLIENTS[0], Decimal("20")), state, NOW)
    tie = apply(Donate(cid(), MODELS[0].uuid, CLIENTS[1], Decimal("20")), state, NOW)
    over = apply(Donate(cid(), MODELS[0].uuid, CLIENTS[1], Decimal("0.01")), state, NOW)
    assert ev.CHANGE_SPONSOR in [e.type for e in first]
    assert ev.CHANGE_SPONSOR not in [e.type for e in tie]
    change = [e for e in over if e.type == ev.CHANGE_SPONSOR]
    assert change and change[0].payload["previous"] == CLIENTS[0].uuid
    assert state.sponsors[MODELS[0].uuid].uuid == CLIENTS[1].uuid


def test_seq_continues_the_stream_and_event_ids_are_deterministic() -> None:
    state = fresh_state()
    command = PostMessage(cid(), MODELS[0].uuid, CLIENTS[0], "hi", True)
    first = decide(command, state, NOW)
    again = decide(command, state, NOW)
    assert [e.event_id for e in first] == [e.event_id for e in again]
    apply(command, state, NOW)
    second = apply(PostMessage(cid(), MODELS[0].uuid, CLIENTS[1], "yo", True), state, NOW)
    assert (first[0].seq, second[0].seq) == (1, 2)


@pytest.mark.parametrize("command", [
    Donate(cid(), MODELS[0].uuid, MODELS[1], Decimal("1")),          # a model donating
    AddGoal(cid(), MODELS[0].uuid, CLIENTS[0], "g", Decimal("1")),    # a client setting a goal
    PostMessage(cid(), MODELS[0].uuid, MODELS[1], "x", True),         # a model in another's chat
    PostMessage(cid(), MODELS[0].uuid, CLIENTS[0], "x", False, CLIENTS[1].uuid),  # client `to`
    Donate(cid(), "00000000-0000-4000-8000-999999999999", CLIENTS[0], Decimal("1")),
    Payout(cid(), MODELS[0].uuid, Decimal("0.01")),                   # more than the balance
])
def test_impossible_commands_are_refused_without_events(command: Command) -> None:
    state = fresh_state()
    with pytest.raises(CommandRefused):
        decide(command, state, NOW)


def test_private_reply_is_private_and_addressed() -> None:
    state = fresh_state()
    reply = PostMessage(cid(), MODELS[0].uuid, MODELS[0], "psst", True, CLIENTS[0].uuid)
    [event] = apply(reply, state, NOW)
    assert event.is_public is False and event.payload["to"] == CLIENTS[0].uuid


@pytest.mark.parametrize(("command", "forbidden"), [
    (Donate(cid(), MODELS[0].uuid, MODELS[0], Decimal("1")), True),
    (AddGoal(cid(), MODELS[0].uuid, CLIENTS[0], "g", Decimal("1")), True),
    (PostMessage(cid(), MODELS[0].uuid, MODELS[1], "x", True), True),
    (PostMessage(cid(), MODELS[0].uuid, CLIENTS[0], "x", False, CLIENTS[1].uuid), False),
    (Donate(cid(), MODELS[0].uuid, CLIENTS[0], Decimal("0")), False),
    (AddGoal(cid(), MODELS[0].uuid, MODELS[0], "g", Decimal("-1")), False),
    (Deposit(cid(), CLIENTS[0].uuid, Decimal("0")), False),
])
def test_the_stateless_rules_the_api_asks_are_the_ones_the_decider_applies(
    command: Command, forbidden: bool
) -> None:
    refused = refusal(command)
    assert refused is not None and refused.forbidden is forbidden
    state = fresh_state()
    state.balances[CLIENTS[0].uuid] = Decimal("100")
    with pytest.raises(CommandRefused, match=refused.reason):
        decide(command, state, NOW)


@pytest.mark.parametrize("command", [
    Donate(cid(), MODELS[0].uuid, CLIENTS[0], Decimal("1")),
    AddGoal(cid(), MODELS[0].uuid, MODELS[0], "g", Decimal("1")),
    PostMessage(cid(), MODELS[0].uuid, MODELS[0], "x", True, CLIENTS[1].uuid),
    PostMessage(cid(), MODELS[0].uuid, CLIENTS[0], "x", True),
    Payout(cid(), MODELS[0].uuid, Decimal("0.01")),
])
def test_commands_within_the_rules_pass_them(command: Command) -> None:
    assert refusal(command) is None


def test_affordable_is_the_balance_check_of_donations_and_payouts() -> None:
    assert affordable(Decimal("5.00"), Decimal("5.00"))
    assert not affordable(Decimal("4.99"), Decimal("5.00"))
    assert not affordable(None, Decimal("0.01"))


@pytest.mark.parametrize(("kind", "refused"), [
    ("client", False), ("model", True), (None, True),
])
def test_a_private_reply_goes_only_to_a_client(kind: str | None, refused: bool) -> None:
    reply = PostMessage(cid(), MODELS[0].uuid, MODELS[0], "psst", False, CLIENTS[0].uuid)
    answer = recipient_refusal(reply, kind)
    assert (answer is not None) is refused
    if answer is not None:
        assert answer.reason == "to: no such client" and not answer.forbidden
    public = PostMessage(cid(), MODELS[0].uuid, MODELS[0], "hi", True)
    assert recipient_refusal(public, None) is None
