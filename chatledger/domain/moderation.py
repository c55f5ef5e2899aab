"""The model's tools (DESIGN §9): the minimum tip, mute, ban, unban, and deleting a message.

`moderation_refusal` and `deletion_refusal` are asked by the API too, over its own copy of the
state; the ledger asks them again over the rows it locked.
"""

from datetime import timedelta
from typing import Any

from chatledger.domain import events as ev
from chatledger.domain.asks import SETTINGS_FIELDS
from chatledger.domain.commands import (
    BanViewer,
    ChangeSettings,
    DeleteMessage,
    Moderation,
    MuteViewer,
    UnbanViewer,
)
from chatledger.domain.extras import delete_pin, pin_deletion_refusal, pin_of, remove_pins_of
from chatledger.domain.extras_settings import entries_fact
from chatledger.domain.facts import Facts, Refusal, refuse_if, require_account
from chatledger.domain.state import ZERO, LedgerState
from chatledger.domain.wire import iso


def change_settings(command: ChangeSettings, state: LedgerState, facts: Facts) -> None:
    """`settings_changed` carries the chat's settings after the change: a field the command
    leaves out (None) keeps its value."""
    require_account(state, command.chat)
    chat, shows, extras = command.chat, state.shows, state.extras
    now: dict[str, Any] = {
        "min_donation": state.min_donations.get(chat, ZERO),
        "private_rate": shows.private_rates.get(chat, ZERO),
        "spy_rate": shows.spy_rates.get(chat, ZERO),
        "pin_tiers": extras.pin_tiers.get(chat, ()),
        "toy_levels": extras.toy_levels.get(chat, ()),
    }
    changed = {name: getattr(command, name) for name in SETTINGS_FIELDS}
    now.update({name: value for name, value in changed.items() if value is not None})
    now["pin_tiers"], now["toy_levels"] = (entries_fact(now["pin_tiers"]),
                                          entries_fact(now["toy_levels"]))
    facts.record(ev.SETTINGS_CHANGED, command.actor, dict(now))


def moderation_refusal(state: LedgerState, command: Moderation,
                       target_kind: str | None) -> Refusal | None:
    """Only a client is moderated (`target_kind`: what the account is, None if there is none);
    a ban of a banned client or an unban of one not banned changes nothing, so it is refused.
    The API asks its copy of the bans with the kind it looked up."""
    if target_kind != "client":
        return Refusal(f"client: {command.client} is not a client")
    banned = (command.chat, command.client) in state.bans
    if isinstance(command, BanViewer) and banned:
        return Refusal("client: banned already")
    if isinstance(command, UnbanViewer) and not banned:
        return Refusal("client: not banned")
    return None


def _target_client(command: Moderation, state: LedgerState) -> dict[str, str]:
    require_account(state, command.chat)
    refuse_if(moderation_refusal(state, command, state.kinds.get(command.client)))
    return {"uuid": command.client, "name": state.names.get(command.client, "")}


def mute(command: MuteViewer, state: LedgerState, facts: Facts) -> None:
    client = _target_client(command, state)
    until = facts.now + timedelta(seconds=command.seconds)
    facts.add(ev.VIEWER_MUTED, command.actor, client=client, seconds=command.seconds,
              until=iso(until))


def ban(command: BanViewer, state: LedgerState, facts: Facts) -> None:
    facts.add(ev.VIEWER_BANNED, command.actor, client=_target_client(command, state))
    remove_pins_of(state, facts, command.chat, command.client, command.actor)


def unban(command: UnbanViewer, state: LedgerState, facts: Facts) -> None:
    facts.add(ev.VIEWER_UNBANNED, command.actor, client=_target_client(command, state))


def deletion_refusal(state: LedgerState, command: DeleteMessage) -> Refusal | None:
    """Only a live message (or pin: DESIGN §11) of this chat, and only by the model or its
    author."""
    found = pin_of(state, command)
    if found is not None:
        return pin_deletion_refusal(found, command)
    message = state.messages.get(command.message_id)
    if message is None or message.model != command.chat:
        return Refusal("id: no such message in this chat")
    if message.deletion_id is not None:
        return Refusal("id: the message is deleted already")
    if command.actor.role != "model" and command.actor.uuid != message.author:
        return Refusal("only the model or the author deletes a message", forbidden=True)
    return None


def delete_message(command: DeleteMessage, state: LedgerState, facts: Facts) -> None:
    refuse_if(deletion_refusal(state, command))
    found = pin_of(state, command)
    if found is not None:
        delete_pin(state, facts, found, command.actor)
        return
    facts.add(ev.MESSAGE_DELETED, command.actor, message_id=command.message_id)
