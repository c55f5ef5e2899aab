from decimal import Decimal

import orjson
import pytest

from chatledger.bus.command_codec import UndecodableCommand, decode_command, encode_command
from chatledger.domain.commands import (
    Actor,
    AddGoal,
    BanViewer,
    ChangeSettings,
    DeleteMessage,
    Deposit,
    Donate,
    MuteViewer,
    PinMessage,
    PinTier,
    PostMessage,
    Refund,
    ToyLevel,
    UnbanViewer,
)

ACTOR = Actor("00000000-0000-4000-8000-000000000001", "Bob", "client")


@pytest.mark.parametrize("command", [
    Donate("c1", "m", ACTOR, Decimal("15.50"), "hi", False),
    PostMessage("c2", "m", ACTOR, "hello", True, None),
    AddGoal("c3", "m", ACTOR, "Dance", Decimal("20.00")),
    AddGoal("c3q", "m", ACTOR, "Encore", Decimal("5.00"), queued=True),  # DESIGN §11
    Deposit("c4", "a", Decimal("0.01")),
])
def test_commands_round_trip_exactly(command: object) -> None:
    assert decode_command(encode_command(command)) == command  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", [b"", b"{}", b'{"kind": "nope"}', b'{"kind": "deposit"}', b"[1]"])
def test_garbage_is_undecodable(raw: bytes) -> None:
    with pytest.raises(UndecodableCommand):
        decode_command(raw)


@pytest.mark.parametrize("command", [
    ChangeSettings("c5", "m", ACTOR, Decimal("2.50")),
    MuteViewer("c6", "m", ACTOR, "x", 60),
    BanViewer("c7", "m", ACTOR, "x"),
    UnbanViewer("c8", "m", ACTOR, "x"),
    DeleteMessage("c9", "m", ACTOR, "e"),
    Refund("c10", "m", "e", "disputed"),
    Refund("c11", "m", "e"),
])
def test_day_one_commands_round_trip_exactly(command: object) -> None:
    assert decode_command(encode_command(command)) == command  # type: ignore[arg-type]


def test_a_goal_command_written_before_the_queue_existed_is_not_queued() -> None:
    """A record on the topic from before DESIGN §11 has no `queued`: it decodes as a plain goal."""
    raw = b'{"kind":"goal","command_id":"c","chat":"m","actor":{"uuid":"u","name":"Mia",' \
          b'"role":"model"},"name":"Dance","require_sum":"20.00"}'
    decoded = decode_command(raw)
    assert isinstance(decoded, AddGoal) and decoded.queued is False


@pytest.mark.parametrize("command_id", ["goal-" + "0" * 36, "", "é" * 10, 42])
def test_a_command_id_no_row_can_hold_is_undecodable(command_id: object) -> None:
    """The ledger records every command id in a CHAR(36) ASCII column: one that does not fit
    must be dropped as undecodable, not crash the ledger when it writes the row."""
    raw = encode_command(AddGoal("c", "m", ACTOR, "Dance", Decimal("1")))
    raw = raw.replace(b'"command_id":"c"', b'"command_id":' + orjson.dumps(command_id))
    with pytest.raises(UndecodableCommand):
        decode_command(raw)


@pytest.mark.parametrize("command", [
    PinMessage("c12", "m", ACTOR, "look here", Decimal("5.00")),
    ChangeSettings("c13", "m", ACTOR, None, None, None,
                   (PinTier(Decimal("5.00"), 60), PinTier(Decimal("20.00"), 600)),
                   (ToyLevel(Decimal("1.00"), 3, 5),)),
    ChangeSettings("c14", "m", ACTOR, None, None, None, (), ()),  # both turned off
    ChangeSettings("c15", "m", ACTOR, Decimal("1.00")),  # both left as they are
])
def test_paid_extras_commands_round_trip_exactly(command: object) -> None:
    assert decode_command(encode_command(command)) == command  # type: ignore[arg-type]
