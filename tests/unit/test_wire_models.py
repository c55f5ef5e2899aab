"""The event models are the wire form the code builds: the decider's real events, through
`event_to_wire`, validate against them strictly (no key missing, none extra)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, get_args

import orjson
import pytest
from pydantic import ValidationError

from chatledger.api.wire_models import AccountEvents, BusEvent, ChatEvent, ChatEvents
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
    MenuEntry,
    MuteViewer,
    Payout,
    PinMessage,
    PinTier,
    PostMessage,
    Refund,
    RequestShow,
    SetMenu,
    ShowAction,
    Tick,
    ToyLevel,
    UnbanViewer,
)
from chatledger.domain.decider import apply
from chatledger.domain.events import Event, event_id_for
from chatledger.domain.menu_items import item_id
from chatledger.domain.state import ZERO, LedgerState
from chatledger.domain.wire import encode_event, event_to_wire

NOW = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)
MIA = Actor("00000000-0000-4000-8000-000000000001", "Mia", "model")
BOB = Actor("00000000-0000-4000-8000-000000000101", "Bob", "client")
ANN = Actor("00000000-0000-4000-8000-000000000102", "Ann", "client")


_DANCE_ID = item_id("Dance", Decimal("4"))


def every_kind_of_event() -> list[Event]:
    """A chat's life through the real decider: every event type, the nullable keys both ways."""
    state = LedgerState(
        balances={MIA.uuid: ZERO, BOB.uuid: Decimal("100"), ANN.uuid: ZERO},
        kinds={MIA.uuid: "model", BOB.uuid: "client", ANN.uuid: "client"},
        names={BOB.uuid: BOB.name, ANN.uuid: ANN.name},
    )
    commands: list[Command] = [
        AddGoal("goal", MIA.uuid, MIA, "Dance", Decimal("15")),
        AddGoal("queued", MIA.uuid, MIA, "Encore", Decimal("5"), queued=True),  # waits for Dance
        PostMessage("hi", MIA.uuid, BOB, "hello", True),
        PostMessage("reply", MIA.uuid, MIA, "just for you", False, BOB.uuid),
        Donate("tip", MIA.uuid, BOB, Decimal("15.5"), "for the dance"),  # end_goal, sponsor,
        # goal_started
        Deposit("in", ANN.uuid, Decimal("40")),
        Donate("top", MIA.uuid, ANN, Decimal("20"), None, True),  # sponsor with a previous one
        Donate("broke", MIA.uuid, BOB, Decimal("1000"), "too much"),  # donate_rejected
        Donate("shy", MIA.uuid, BOB, Decimal("3"), None, anonymous=True),
        Payout("out", MIA.uuid, Decimal("5")),
        Refund("back", MIA.uuid, event_id_for("top", 0), "disputed"),
        Refund("back-shy", MIA.uuid, event_id_for("shy", 0)),  # anonymous, no reason
        ChangeSettings("min", MIA.uuid, MIA, Decimal("2.5")),
        MuteViewer("mute", MIA.uuid, MIA, BOB.uuid, 60),
        BanViewer("ban", MIA.uuid, MIA, ANN.uuid),
        UnbanViewer("unban", MIA.uuid, MIA, ANN.uuid),
        DeleteMessage("delete", MIA.uuid, BOB, event_id_for("hi", 0)),
        SetMenu("menu", MIA.uuid, MIA, (MenuEntry("Dance", Decimal("4")),)),
        Donate("buy", MIA.uuid, BOB, Decimal("4"), menu_item=_DANCE_ID),  # with menu_item
        *a_show_with_a_spy(),
        *pins_and_the_toy(),
    ]
    return [event for command in commands for event in apply(command, state, NOW)]


def a_show_with_a_spy() -> list[Command]:
    """Rates set, a show accepted, spied on, billed a boundary and ended; one declined; one whose
    request's hold expired."""
    show, declined = event_id_for("ask", 0), event_id_for("ask2", 0)
    return [
        ChangeSettings("rates", MIA.uuid, MIA, None, Decimal("2"), Decimal("1")),
        RequestShow("ask", MIA.uuid, BOB, 60.0),
        ShowAction("accept", MIA.uuid, MIA, "accept", show),
        ShowAction("spy", MIA.uuid, ANN, "spy", show),
        Tick("m1", MIA.uuid, f"show:{show}:minute:1", NOW + timedelta(seconds=60)),
        ShowAction("unspy", MIA.uuid, ANN, "spy_end", show),
        ShowAction("end", MIA.uuid, BOB, "end", show),
        RequestShow("ask2", MIA.uuid, BOB, 60.0),
        ShowAction("no", MIA.uuid, MIA, "decline", declined),
        RequestShow("ask3", MIA.uuid, BOB, 60.0),
        Tick("lapse", MIA.uuid, f"hold:{event_id_for('ask3', 1)}:expire",
             NOW + timedelta(hours=1)),
    ]


def pins_and_the_toy() -> list[Command]:
    """Tiers and levels set; pins bought (one shows, one waits, one refused), expired and
    removed (while showing); tips queue toy turns, one refunded before its turn, one finished
    (DESIGN §11)."""
    pin, waiting = event_id_for("pin", 0), event_id_for("pin2", 0)
    tiers = (PinTier(Decimal("2"), 30), PinTier(Decimal("5"), 60))
    levels = (ToyLevel(Decimal("1"), 3, 5),)
    return [
        Deposit("more", ANN.uuid, Decimal("100")),  # Bob is muted: a pin speaks
        ChangeSettings("extras", MIA.uuid, MIA, None, None, None, tiers, levels),
        PinMessage("pin", MIA.uuid, ANN, "look here", Decimal("5")),
        PinMessage("pin2", MIA.uuid, ANN, "and here", Decimal("2")),
        PinMessage("pin3", MIA.uuid, ANN, "too cheap", Decimal("1")),  # pin_rejected
        Tick("start", MIA.uuid, f"pin:{pin}:start", NOW),
        Tick("expire", MIA.uuid, f"pin:{pin}:expire", NOW + timedelta(seconds=60)),
        DeleteMessage("unpin", MIA.uuid, MIA, waiting),
        Donate("toy1", MIA.uuid, ANN, Decimal("3")),  # the chat's minimum is 2.50
        Donate("toy2", MIA.uuid, ANN, Decimal("3"), None, True, True),
        Donate("toy3", MIA.uuid, ANN, Decimal("3")),
        Refund("unqueue", MIA.uuid, event_id_for("toy3", 0)),
        Tick("played", MIA.uuid, f"toy:{event_id_for('toy1', 0)}:finish",
             NOW + timedelta(seconds=5)),
    ]


def test_the_models_cover_exactly_the_ledgers_event_types() -> None:
    def names(union: Any) -> set[str]:
        return {get_args(model.model_fields["type"].annotation)[0] for model in get_args(union)}

    assert names(ChatEvents) == ev.CHAT_TYPES
    assert names(AccountEvents) == ev.ACCOUNT_TYPES
    assert {event.type for event in every_kind_of_event()} == ev.CHAT_TYPES | ev.ACCOUNT_TYPES


def test_every_real_event_is_its_model() -> None:
    for event in every_kind_of_event():
        published = BusEvent.model_validate_json(encode_event(event), strict=True)
        assert published.root.type == event.type
        if event.type in ev.CHAT_TYPES:
            ChatEvent.model_validate_json(encode_event(event), strict=True)
        else:
            with pytest.raises(ValidationError):
                ChatEvent.model_validate_json(encode_event(event), strict=True)


def test_the_nullable_keys_are_met_both_ways() -> None:
    wire = [event_to_wire(event) for event in every_kind_of_event()]
    messages = [w for w in wire if w["type"] == ev.MESSAGE]
    donations = [w for w in wire if w["type"] == ev.DONATE]
    sponsors = [w for w in wire if w["type"] == ev.CHANGE_SPONSOR]
    refunds = [w for w in wire if w["type"] == ev.DONATE_REFUNDED]
    assert {m["to"] is None for m in messages} == {True, False}
    assert {r["reason"] is None for r in refunds} == {True, False}
    assert {r["from"]["uuid"] is None for r in refunds} == {True, False}
    assert {d["message"] is None for d in donations} == {True, False}
    assert {s["previous"] is None for s in sponsors} == {True, False}
    assert {w["from"] is None for w in wire} == {True, False}


def drifted(change: str) -> bytes:
    wire = next(event_to_wire(e) for e in every_kind_of_event() if e.type == ev.DONATE)
    if change == "extra key":
        wire["anonymous"] = False
    elif change == "missing key":
        del wire["goals"]
    elif change == "float money":
        wire["sum"] = 15.5
    elif change == "money without two decimals":
        wire["sum"] = "15.5"
    elif change == "unknown type":
        wire["type"] = "donation"
    return orjson.dumps(wire)


@pytest.mark.parametrize(
    "change",
    ["extra key", "missing key", "float money", "money without two decimals", "unknown type"],
)
def test_a_wire_form_that_drifts_from_the_models_is_refused(change: str) -> None:
    with pytest.raises(ValidationError):
        BusEvent.model_validate_json(drifted(change), strict=True)
