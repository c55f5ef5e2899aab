"""Gateway routing and dedup, without sockets or brokers (the outbox: test_outbox.py)."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from chatledger.domain.events import Event
from chatledger.gateway.feed import banish, dispatch
from chatledger.gateway.frames import text_frame
from chatledger.gateway.rooms import Rooms
from chatledger.gateway.socket import origin_allowed, parse_since

MODEL = str(uuid.uuid4())
ALICE = str(uuid.uuid4())
BOB = str(uuid.uuid4())
CAROL = str(uuid.uuid4())


@dataclass(eq=False)
class FakeSocket:
    person: str
    got: list[tuple[int, bytes]] = field(default_factory=list)
    accepting: bool = True

    def offer(self, seq: int, frame: bytes) -> bool:
        if self.accepting:
            self.got.append((seq, frame))
        return self.accepting

    def send(self, frame: bytes) -> None:
        self.got.append((0, frame))

    def shut(self, code: int, reason: str) -> None:
        self.closed.append((code, reason))

    closed: list[tuple[int, str]] = field(default_factory=list)


def event(seq: int, *, sender: str = ALICE, public: bool = True, **extra: Any) -> dict[str, Any]:
    role = "model" if sender == MODEL else "client"
    return {
        "type": extra.pop("type", "message"),
        "id": str(uuid.uuid4()),
        "seq": seq,
        "chat": MODEL,
        "is_public": public,
        "from": {"uuid": sender, "name": "x", "role": role},
        "created_at": "2024-01-01T00:00:00.000000Z",
        "message": "hi",
        "to": None,
        **extra,
    }


def room_of(*people: str) -> tuple[Rooms, dict[str, FakeSocket]]:
    rooms = Rooms()
    sockets = {person: FakeSocket(person) for person in people}
    for socket in sockets.values():
        rooms.join(MODEL, socket)
    return rooms, sockets


def send(rooms: Rooms, wire: dict[str, Any]) -> int:
    return dispatch(rooms, MODEL.encode(), orjson.dumps(wire))


def seqs(socket: FakeSocket) -> list[int]:
    return [seq for seq, _ in socket.got]


def test_public_event_reaches_the_whole_room_as_one_prepared_frame() -> None:
    rooms, sockets = room_of(MODEL, ALICE, BOB)
    raw = orjson.dumps(event(1))
    assert dispatch(rooms, MODEL.encode(), raw) == 3
    assert all(s.got == [(1, text_frame(raw))] for s in sockets.values())
    frames = [s.got[0][1] for s in sockets.values()]
    assert all(frame is frames[0] for frame in frames)  # built once, not per socket


def test_private_message_reaches_only_sender_and_model() -> None:
    rooms, sockets = room_of(MODEL, ALICE, BOB)
    send(rooms, event(1, sender=ALICE, public=False))
    assert seqs(sockets[MODEL]) == [1] and seqs(sockets[ALICE]) == [1]
    assert seqs(sockets[BOB]) == []


def test_private_reply_of_the_model_reaches_its_recipient_only() -> None:
    rooms, sockets = room_of(MODEL, ALICE, BOB)
    send(rooms, event(1, sender=MODEL, public=False, to=BOB))
    assert seqs(sockets[MODEL]) == [1] and seqs(sockets[BOB]) == [1]
    assert seqs(sockets[ALICE]) == []


def test_refused_donation_reaches_only_its_donor() -> None:
    rooms, sockets = room_of(MODEL, ALICE, BOB)
    send(rooms, event(1, sender=ALICE, public=True, type="donate_rejected"))
    assert seqs(sockets[ALICE]) == [1]
    assert seqs(sockets[MODEL]) == [] and seqs(sockets[BOB]) == []


def test_every_socket_of_one_person_gets_their_private_events() -> None:
    rooms, _ = room_of(MODEL, BOB)
    second_tab = FakeSocket(ALICE)
    first_tab = FakeSocket(ALICE)
    rooms.join(MODEL, first_tab)
    rooms.join(MODEL, second_tab)
    send(rooms, event(1, sender=ALICE, public=False))
    assert seqs(first_tab) == seqs(second_tab) == [1]


def test_duplicates_and_older_seqs_from_the_bus_are_dropped() -> None:
    rooms, sockets = room_of(ALICE)
    for seq in (1, 2, 2, 1, 3, 3):
        send(rooms, event(seq))
    assert seqs(sockets[ALICE]) == [1, 2, 3]


def test_events_of_chats_nobody_watches_here_are_ignored() -> None:
    rooms, sockets = room_of(ALICE)
    assert dispatch(rooms, str(uuid.uuid4()).encode(), b"not even json") == 0
    assert dispatch(rooms, None, b"{}") == 0
    assert dispatch(rooms, MODEL.encode(), b"not json") == 0
    assert sockets[ALICE].got == []


def test_an_event_of_another_chat_under_this_key_is_not_delivered() -> None:
    rooms, sockets = room_of(ALICE)
    send(rooms, {**event(1), "chat": str(uuid.uuid4())})
    assert sockets[ALICE].got == []


def test_the_last_to_leave_closes_the_room() -> None:
    rooms, sockets = room_of(ALICE, BOB)
    rooms.leave(MODEL, sockets[ALICE])
    assert rooms.get(MODEL) is not None and len(rooms.get(MODEL) or ()) == 1
    rooms.leave(MODEL, sockets[BOB])
    rooms.leave(MODEL, sockets[BOB])  # twice is harmless
    assert rooms.get(MODEL) is None and len(rooms) == 0


def test_a_socket_that_cannot_keep_up_does_not_stop_the_others() -> None:
    rooms, sockets = room_of(ALICE, BOB, CAROL)
    sockets[BOB].accepting = False
    send(rooms, event(1))
    send(rooms, event(2))
    assert seqs(sockets[ALICE]) == seqs(sockets[CAROL]) == [1, 2]


def test_origin_check() -> None:
    assert origin_allowed("https://evil.example", ())
    assert origin_allowed(None, ("https://app.example",))
    assert origin_allowed("https://app.example", ("https://app.example",))
    assert not origin_allowed("https://evil.example", ("https://app.example",))


@pytest.mark.parametrize("raw", ["-1", "x", "1.5", "", " 3", "٣", "9" * 19])
def test_since_must_be_a_seq(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_since(raw)


def test_since_is_optional_and_numeric() -> None:
    assert parse_since(None) is None
    assert parse_since("0") == 0
    assert parse_since("42") == 42


def test_shut_closes_every_socket_of_one_person_in_one_chat() -> None:
    rooms, sockets = room_of(ALICE, BOB)
    second_tab = FakeSocket(ALICE)
    rooms.join(MODEL, second_tab)
    elsewhere = FakeSocket(ALICE)
    rooms.join(CAROL, elsewhere)  # Alice in another chat
    assert rooms.shut(MODEL, ALICE, 4003, "banned") == 2
    assert sockets[ALICE].closed == second_tab.closed == [(4003, "banned")]
    assert sockets[BOB].closed == elsewhere.closed == []
    assert rooms.shut(str(uuid.uuid4()), ALICE, 4003, "banned") == 0  # no room: nothing


def test_a_ban_event_shuts_the_banned_persons_sockets_with_4003() -> None:
    def folded(type_: str) -> Event:
        return Event("e", "c", MODEL, 1, type_, None, True, None, datetime.now(UTC),
                     {"client": {"uuid": ALICE, "name": "Alice"}})

    rooms, sockets = room_of(ALICE, BOB)
    banish(rooms, folded("viewer_muted"))
    assert sockets[ALICE].closed == []
    banish(rooms, folded("viewer_banned"))
    assert sockets[ALICE].closed == [(4003, "banned")] and sockets[BOB].closed == []
