"""The wire form (DESIGN §5) from events that hold facts, and the row codec that stores them."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import orjson
from hypothesis import given
from hypothesis import strategies as st

from chatledger.domain import events as ev
from chatledger.domain.commands import Actor, AddGoal, Donate
from chatledger.domain.decider import apply
from chatledger.domain.events import Event, event_id_for
from chatledger.domain.state import ZERO, LedgerState
from chatledger.domain.wire import event_to_wire, iso, money
from chatledger.ledger.event_rows import event_to_row, row_to_event

NOW = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)
MODEL = Actor("00000000-0000-4000-8000-000000000001", "Mia", "model")
BOB = Actor("00000000-0000-4000-8000-000000000101", "Bob", "client")


def a_goal_then_a_tip() -> list[Event]:
    state = LedgerState(balances={MODEL.uuid: ZERO, BOB.uuid: Decimal("100")})
    log = apply(AddGoal("g", MODEL.uuid, MODEL, "Dance", Decimal("15")), state, NOW)
    log += apply(Donate("d", MODEL.uuid, BOB, Decimal("15.5"), "for the dance"), state, NOW)
    return log


def stored(event: Event) -> Event:
    return row_to_event((1, *event_to_row(event)))


def test_money_has_two_decimals() -> None:
    assert money(Decimal("15.5")) == "15.50"
    assert money(Decimal("0")) == "0.00"
    assert money("7") == "7.00"


def test_events_hold_decimals_and_the_wire_renders_them() -> None:
    new_goal, tip, reached, sponsor = a_goal_then_a_tip()
    assert [e.type for e in (new_goal, tip, reached, sponsor)] == [
        ev.NEW_GOAL, ev.DONATE, ev.END_GOAL, ev.CHANGE_SPONSOR
    ]
    assert tip.payload["goals"][0]["sum"] == Decimal("15.5")
    assert sponsor.payload["total"] == Decimal("15.5")
    goal = {"id": new_goal.payload["goal"]["id"], "name": "Dance", "require_sum": "15.00"}
    assert event_to_wire(new_goal)["goal"] == {**goal, "sum": "0.00", "reached": False}
    wire = event_to_wire(tip)
    assert wire["sum"] == "15.50" and wire["message"] == "for the dance"
    assert wire["goals"] == [{**goal, "sum": "15.50", "reached": False}]
    assert event_to_wire(reached)["goal"] == {**goal, "sum": "15.50", "reached": True}
    assert event_to_wire(sponsor)["total"] == "15.50"
    assert event_to_wire(sponsor)["sponsor"] == {"uuid": BOB.uuid, "name": "Bob"}


def test_a_stored_event_reads_back_as_the_same_facts() -> None:
    for event in a_goal_then_a_tip():
        assert stored(event) == event
        assert event_to_wire(stored(event)) == event_to_wire(event)


def test_rows_written_when_events_held_strings_render_the_same() -> None:
    _, tip, *_ = a_goal_then_a_tip()
    goal = {**tip.payload["goals"][0], "sum": "15.50", "require_sum": "15.00"}
    legacy = orjson.dumps({"sum": "15.50", "message": "for the dance", "goals": [goal]})
    row = list(event_to_row(tip))
    row[10] = legacy.decode()
    assert event_to_wire(row_to_event((1, *row))) == event_to_wire(tip)


def test_an_anonymous_tip_hides_its_donor_on_the_wire_but_not_in_the_facts() -> None:
    state = LedgerState(balances={MODEL.uuid: ZERO, BOB.uuid: Decimal("100")})
    apply(AddGoal("g", MODEL.uuid, MODEL, "Dance", Decimal("5")), state, NOW)
    log = apply(Donate("d", MODEL.uuid, BOB, Decimal("5"), "shh", True, anonymous=True),
                state, NOW)
    assert [e.type for e in log] == [ev.DONATE, ev.END_GOAL]  # no change_sponsor
    assert all(e.actor == BOB for e in log)  # the ledger knows (refunds, audit)
    for event in log:
        wire = event_to_wire(event)
        assert wire["from"] == {"uuid": None, "name": "anonymous", "role": "client"}
        assert BOB.uuid not in orjson.dumps(wire).decode() and "anonymous" not in wire
        assert event_to_wire(stored(event)) == wire
    assert state.balances[BOB.uuid] == Decimal("95") and state.sponsors == {}
    assert state.donor_totals == {}  # ranks nobody


@given(st.text(), st.integers(min_value=0, max_value=10_000))
def test_event_ids_are_exactly_the_rfc_4122_uuid5(command_id: str, index: int) -> None:
    namespace = uuid.UUID("6f1c2d4e-9a57-4b8e-8f0a-2c3e5d7b9a11")  # as first shipped
    expected = uuid.uuid5(namespace, f"{command_id}/{index}")
    assert event_id_for(command_id, index) == str(expected)


def test_equal_moments_in_other_zones_are_spelt_as_their_own() -> None:
    """The wire remembers the last `created_at` it spelt: by identity, never by equality."""
    event = a_goal_then_a_tip()[0]
    there = NOW.astimezone(timezone(timedelta(hours=2)))
    assert there == NOW
    spelt = [event_to_wire(replace(event, created_at=moment))["created_at"]
             for moment in (NOW, there, NOW)]
    assert spelt == [iso(NOW), iso(there), iso(NOW)]
    assert spelt[0] != spelt[1]


@given(st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
              st.decimals(allow_nan=False, allow_infinity=False, places=2)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["sum", "amount", "name", "goals", "x"]), inner,
                        max_size=4)),
    max_leaves=12))
def test_map_money_converts_every_money_field_at_any_depth(payload: object) -> None:
    def naive(value: object) -> object:  # the rule, spelt as plainly as it reads
        if isinstance(value, dict):
            return {key: f"<{item}>" if key in ev.MONEY_FIELDS and item is not None
                    else naive(item) for key, item in value.items()}
        if isinstance(value, list):
            return [naive(item) for item in value]
        return value

    assert ev.map_money(payload, lambda item: f"<{item}>") == naive(payload)


def test_a_rows_created_at_is_its_own_moment_made_naive() -> None:
    """The row codec remembers the last moment it made naive: by identity, never by equality."""
    event = a_goal_then_a_tip()[0]
    there = NOW.astimezone(timezone(timedelta(hours=2)))
    naive = [event_to_row(replace(event, created_at=moment))[-1] for moment in (NOW, there, NOW)]
    assert naive == [NOW.replace(tzinfo=None), there.replace(tzinfo=None), NOW.replace(tzinfo=None)]
