"""Presence, the pure parts: who counts as a viewer, and which rooms get a frame."""

import orjson

from chatledger.gateway.presence_ticker import Announcements, announce, presence_frame
from chatledger.gateway.rooms import Rooms
from tests.unit.test_rooms import ALICE, BOB, MODEL, FakeSocket


def test_the_model_is_not_a_viewer_and_tabs_count_once() -> None:
    rooms = Rooms()
    for person in (MODEL, ALICE, ALICE, BOB):
        rooms.join(MODEL, FakeSocket(person))
    assert rooms.viewers() == {MODEL: {ALICE, BOB}}


def test_a_room_hears_only_of_changes() -> None:
    announcements = Announcements()
    assert announcements.due({"a": 2, "b": 0}) == {"a": 2, "b": 0}
    assert announcements.due({"a": 2, "b": 0}) == {}
    assert announcements.due({"a": 3, "b": 0}) == {"a": 3}
    assert announcements.due({"b": 0}) == {}  # room a closed here
    assert announcements.due({"a": 3}) == {"a": 3}  # a room opened again hears the count


def test_the_frame_is_the_contracts_shape() -> None:
    frame = presence_frame(MODEL, 3)
    assert frame[0] == 0x81 and orjson.loads(frame[2:]) == {
        "type": "presence", "chat": MODEL, "viewers": 3
    }


def test_a_changed_count_reaches_the_room_and_a_newcomer_hears_the_current_one() -> None:
    rooms = Rooms()
    model, alice = FakeSocket(MODEL), FakeSocket(ALICE)
    rooms.join(MODEL, model)
    rooms.join(MODEL, alice)
    announce(rooms, {MODEL: 1}, {MODEL: 1})
    assert model.got == alice.got == [(0, presence_frame(MODEL, 1))]
    second_tab = FakeSocket(ALICE)
    rooms.join(MODEL, second_tab)
    announce(rooms, {MODEL: 1}, {})  # same count: only the newcomer hears it
    assert second_tab.got == [(0, presence_frame(MODEL, 1))] and len(model.got) == 1
    announce(rooms, {MODEL: 1}, {})
    assert len(second_tab.got) == 1  # once
