"""DESIGN §6: what follows from a private donation stays as private as it (pure decider)."""

import contextlib
import uuid
from decimal import Decimal

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from chatledger.domain import events as ev
from chatledger.domain.commands import AddGoal, Command, Deposit, Donate, Refund
from chatledger.domain.decider import CommandRefused, apply
from chatledger.domain.events import Event, event_id_for
from chatledger.domain.state import ZERO, LedgerState
from chatledger.domain.wire import ANONYMOUS_ACTOR, event_to_wire
from tests.unit.test_decider import CLIENTS, MODELS, NOW, fresh_state

MIA, BOB, ANN = MODELS[0], CLIENTS[0], CLIENTS[1]


def cid() -> str:
    return str(uuid.uuid4())


def funded() -> LedgerState:
    state = fresh_state()
    for client in CLIENTS:
        apply(Deposit(cid(), client.uuid, Decimal("100")), state, NOW)
    return state


def secret_tip(state: LedgerState, amount: str = "10") -> tuple[Donate, list[Event]]:
    tip = Donate(cid(), MIA.uuid, BOB, Decimal(amount), "psst", False)
    return tip, apply(tip, state, NOW)


def test_the_refund_of_a_private_tip_is_private() -> None:
    state = funded()
    tip, _ = secret_tip(state)
    [refunded] = apply(Refund(cid(), MIA.uuid, event_id_for(tip.command_id, 0)), state, NOW)
    assert refunded.type == ev.DONATE_REFUNDED and refunded.is_public is False
    assert refunded.actor == BOB  # its donor and the model see it, like the tip


def test_an_end_goal_of_a_private_tip_is_from_anonymous() -> None:
    state = funded()
    apply(AddGoal(cid(), MIA.uuid, MIA, "dance", Decimal("5")), state, NOW)
    _, events = secret_tip(state)
    [ended] = [event_to_wire(e) for e in events if e.type == ev.END_GOAL]
    assert ended["is_public"] and ended["from"] == ANONYMOUS_ACTOR
    assert BOB.uuid not in orjson.dumps(ended).decode()


def test_a_private_tip_never_makes_a_sponsor_nor_counts_for_the_leaderboards() -> None:
    state = funded()
    _, events = secret_tip(state, "50")
    assert [e.type for e in events] == [ev.DONATE]
    assert state.sponsors == {} and state.donor_totals == {} and state.donor_days == {}
    apply(Donate(cid(), MIA.uuid, ANN, Decimal("1"), None, True), state, NOW)
    assert state.sponsors[MIA.uuid].uuid == ANN.uuid  # Bob's 50 in private does not outrank


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("60"), places=2)
steps = st.one_of(
    st.builds(lambda c, m, a, public, anonymous: ("tip", c, m, a, public, anonymous),
              st.sampled_from(CLIENTS), st.sampled_from(MODELS), money, st.booleans(),
              st.booleans()),
    st.builds(lambda m, a: ("goal", m, a), st.sampled_from(MODELS), money),
    st.builds(lambda k: ("refund", k), st.integers(min_value=0, max_value=50)),
)


def command_of(step: tuple, tips: list[Donate]) -> Command | None:  # type: ignore[type-arg]
    if step[0] == "tip":
        _, client, model, amount, public, anonymous = step
        return Donate(cid(), model.uuid, client, amount, None, public, anonymous=anonymous)
    if step[0] == "goal":
        return AddGoal(cid(), step[1].uuid, step[1], "goal", step[2])
    if not tips:
        return None
    tip = tips[step[1] % len(tips)]
    return Refund(cid(), tip.chat, event_id_for(tip.command_id, 0))


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=60))
def test_no_public_event_names_a_private_or_anonymous_donor(
    history: list[tuple],  # type: ignore[type-arg]
) -> None:
    state, tips = funded(), []
    ranked: dict[tuple[str, str], Decimal] = {}
    for step in history:
        command = command_of(step, tips)
        if command is None:
            continue
        with contextlib.suppress(CommandRefused):
            events = apply(command, state, NOW)
            if isinstance(command, Donate):
                tips.append(command)
            hidden = _hidden_donation(command, tips)
            if hidden is not None:
                for event in events:
                    wire = orjson.dumps(event_to_wire(event)).decode()
                    if event.is_public:
                        assert hidden.actor.uuid not in wire
                        assert f'"name":"{hidden.actor.name}"' not in wire
            elif isinstance(command, Donate) and events[0].type == ev.DONATE:
                key = (command.chat, command.actor.uuid)
                ranked[key] = ranked.get(key, ZERO) + command.amount
            elif isinstance(command, Refund):
                tip = next(t for t in tips if event_id_for(t.command_id, 0) == command.donation_id)
                key = (tip.chat, tip.actor.uuid)
                ranked[key] -= tip.amount
    assert state.donor_totals == ranked
    for model, sponsor in state.sponsors.items():  # only ever made by a ranked donation
        assert (model, sponsor.uuid) in ranked


def _hidden_donation(command: Command, tips: list[Donate]) -> Donate | None:
    """The private or anonymous donation this command is, or refunds."""
    if isinstance(command, Refund):
        found = [t for t in tips if event_id_for(t.command_id, 0) == command.donation_id]
        command = found[0]
    if isinstance(command, Donate) and (command.anonymous or not command.is_public):
        return command
    return None
