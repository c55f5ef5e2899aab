"""Commands as bytes on `chat.commands` (events go out in their wire form: `wire.py`)."""

import dataclasses
from decimal import Decimal
from typing import Any

import orjson

from chatledger.ledger.commands import (
    Actor,
    AddGoal,
    Command,
    Deposit,
    Donate,
    Payout,
    PostMessage,
    RegisterConnection,
)
from chatledger.ledger.wire import dumps

_KINDS: dict[str, type[Any]] = {
    "message": PostMessage,
    "donate": Donate,
    "goal": AddGoal,
    "connection": RegisterConnection,
    "deposit": Deposit,
    "payout": Payout,
}
_KIND_OF = {cls: kind for kind, cls in _KINDS.items()}
_DECIMAL_FIELDS = frozenset({"amount", "require_sum"})


class UndecodableCommand(ValueError):
    """A record on the commands topic that no version of this program wrote."""


def encode_command(command: Command) -> bytes:
    body = {field.name: getattr(command, field.name) for field in dataclasses.fields(command)}
    if "actor" in body:
        body["actor"] = dataclasses.asdict(body["actor"])
    return dumps({"kind": _KIND_OF[type(command)], **body})


def decode_command(data: bytes) -> Command:
    try:
        body = orjson.loads(data)
        cls = _KINDS[body.pop("kind")]
        if "actor" in body:
            body["actor"] = Actor(**body["actor"])
        for name in _DECIMAL_FIELDS & body.keys():
            body[name] = Decimal(body[name])
        command: Command = cls(**body)
    except (orjson.JSONDecodeError, KeyError, TypeError, ArithmeticError, AttributeError) as exc:
        raise UndecodableCommand(str(exc)) from exc
    return command
