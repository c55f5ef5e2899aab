"""Who may see an event (DESIGN §6): one rule for history and the websocket alike."""

from collections.abc import Mapping
from typing import Any

from chatledger.domain import events as ev


def visible_to(event: Mapping[str, Any], viewer: str, chat: str) -> bool:
    """`event` is in wire form; `viewer` is a person's uuid, `chat` the chat they look at.

    Public events go to everyone in the chat; a private one to its sender and the model (and to
    the `to` client of a model's private reply, and to the `audience` of a message during a
    private show); a refused donation or pin only to its donor.
    """
    if event.get("chat") != chat or event.get("type") not in ev.CHAT_TYPES:
        return False
    sender = (event.get("from") or {}).get("uuid")
    if event["type"] in (ev.DONATE_REJECTED, ev.PIN_REJECTED):
        return bool(sender == viewer)
    return bool(event.get("is_public") or viewer in (sender, chat) or event.get("to") == viewer
                or viewer in (event.get("audience") or ()))  # a show's (DESIGN §10)


def privy(event: Mapping[str, Any], chat: str) -> set[object]:
    """Everyone `visible_to` might let see `event` when a stranger may not: its sender, the model,
    the `to` client, a show's audience. A superset (visible_to decides), never missing anyone."""
    return {chat, (event.get("from") or {}).get("uuid"), event.get("to"),
            *(event.get("audience") or ())}
