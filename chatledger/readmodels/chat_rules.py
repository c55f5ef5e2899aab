"""What the API and the gateway refuse at once: each chat's minimum tip, mutes, bans and menu.

An in-process copy of the ledger's own state for exactly five event types (settings_changed,
viewer_muted, viewer_banned, viewer_unbanned, menu_changed), folded by the ledger's `evolve`, so
that the decider's rules asked against it (`speech_refusal`, `below_minimum`, `moderation_refusal`,
`purchase_refusal`) answer a request with no MySQL or Redis round trip. The ledger applies the same
rules again to whatever reaches it, so a request that races a mute or a ban is refused there.

How it stays current: every process that serves the API or `/ws` follows `<prefix>chat.events`
with a group-less consumer (`gateway/feed.follow`; an api-only process runs it too, without
rooms), and seeds this state from MySQL AFTER that consumer is positioned at the end of every
partition (`read_seed`: chat_settings, chat_mutes, chat_bans, chat_menus and their chats' versions,
in one consistent snapshot):
- nothing is missed: an event not in the snapshot was committed after it was taken, so it was
  published after the consumer was positioned, and the consumer reads it;
- an event in the snapshot may be read too (committed before it, published after the
  positioning). For a chat with rows its seq is at most the seeded version and it is skipped.
  For a chat without rows (say a ban and an unban, both just before the snapshot) it is folded, and
  that converges: each fold sets one key to what its event says (the minimum, the end of a mute,
  banned or not, the whole menu), a chat's events arrive in seq order (the topic is keyed by chat),
  so the chat's later events in the snapshot arrive after it, in order, and set every key back to
  what the snapshot said. The same holds for Kafka's redeliveries.
- an event the bus skipped (a publish that failed, a broker that lost acknowledged records) is
  read from MySQL before anything later of its chat is folded: the feed's `Sequencer` fills the
  chat's seq gap (`readmodels/gap_fill.py`), so a lost ban still closes sockets and refuses `/ws`.
Bounded: a mute stays in the state after it ends (the ledger's `evolve` never forgets one), so
the questions that take a `now` drop the mutes over by then, at most once per PRUNE_EVERY: the
state holds the mutes still running plus at most PRUNE_EVERY's worth of ended ones. A mute that
is over refuses nothing, so dropping it changes no answer; an event re-folded later sets it again
to the same past end.
How fast: an event reaches this state when the process's consumer fetches it (the feed waits at
most 20 ms for a fetch) after the ledger published it.
"""

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import orjson
from databases import Database

from chatledger.domain import events as ev
from chatledger.domain.commands import ChatCommand, Donate, Moderation
from chatledger.domain.decider import (
    BANNED,
    Refusal,
    below_minimum,
    moderation_refusal,
    speaks,
    speech_refusal,
)
from chatledger.domain.events import Event, map_money
from chatledger.domain.menu import menu_of_chat, purchase_refusal
from chatledger.domain.menu_items import Menu
from chatledger.domain.state import ZERO, LedgerState, Pair, evolve
from chatledger.ledger.menu_rows import load_menus
from chatledger.ledger.state_loader import StateLoader
from chatledger.platform.db import snapshot

log = logging.getLogger(__name__)

RULE_TYPES: Final = frozenset(
    {ev.SETTINGS_CHANGED, ev.VIEWER_MUTED, ev.VIEWER_BANNED, ev.VIEWER_UNBANNED, ev.MENU_CHANGED}
)
# The wire JSON starts with its type (`wire.event_to_wire` puts it first; a unit test holds it),
# so the feed tells these events from the rest without parsing the rest.
_PREFIXES: Final = tuple(f'{{"type":"{name}"'.encode() for name in sorted(RULE_TYPES))
_ENVELOPE: Final = frozenset({"type", "id", "seq", "chat", "is_public", "from", "created_at"})
PRUNE_EVERY: Final = timedelta(seconds=60)


def is_rule_event(raw: bytes) -> bool:
    return raw.startswith(_PREFIXES)


def event_of(wire: Mapping[str, Any]) -> Event:
    """A rule event's wire form back as the Event `evolve` folds (their folds read the stream,
    seq, type, created_at and payload; `from` is not needed)."""
    payload = {key: value for key, value in wire.items() if key not in _ENVELOPE}
    return Event(
        event_id=wire["id"],
        command_id="",
        stream=wire["chat"],
        seq=int(wire["seq"]),
        type=wire["type"],
        actor=None,
        is_public=bool(wire["is_public"]),
        amount=None,
        created_at=datetime.fromisoformat(wire["created_at"]),
        payload=map_money(payload, Decimal),
    )


@dataclass(frozen=True, slots=True)
class Seed:
    """The projection tables as one snapshot saw them, with the versions of their chats."""

    versions: dict[str, int] = field(default_factory=dict)
    min_donations: dict[str, Decimal] = field(default_factory=dict)
    mutes: dict[Pair, datetime] = field(default_factory=dict)
    bans: set[Pair] = field(default_factory=set)
    menus: dict[str, Menu] = field(default_factory=dict)


class ChatRules:
    """The state, and the decider's questions asked of it. Ask only once `seeded` is set (well
    under a second after start: the feed sets it)."""

    def __init__(self) -> None:
        self.state = LedgerState()
        self.seeded = asyncio.Event()
        self._next_prune = datetime.min.replace(tzinfo=UTC)

    def seed(self, seed: Seed) -> None:
        self.state.versions.update(seed.versions)
        self.state.min_donations.update(seed.min_donations)
        self.state.mutes.update(seed.mutes)
        self.state.bans.update(seed.bans)
        self.state.menus.update(seed.menus)
        self.seeded.set()

    def fold(self, raw: bytes) -> Event | None:
        """Fold one published event if it is a rule event newer than what the state holds;
        returns it when folded."""
        if not is_rule_event(raw):
            return None
        try:
            event = event_of(orjson.loads(raw))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.error("rules: dropping an undecodable event: %r", exc)
            return None
        if event.seq <= self.state.versions.get(event.stream, 0):
            return None  # in the seed already, or a redelivery
        evolve(self.state, event)
        return event

    def prune(self, now: datetime) -> None:
        """Forget the mutes over by `now` (a full pass, at most once per PRUNE_EVERY)."""
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_EVERY
        mutes = self.state.mutes
        for pair in [pair for pair, until in mutes.items() if until <= now]:
            del mutes[pair]

    def speech(self, command: ChatCommand, now: datetime) -> str | None:
        """"banned" for every command of a banned person, "muted" for what a mute silences."""
        self.prune(now)
        return speech_refusal(self.state, command.chat, command.actor.uuid, speaks(command), now)

    def below_minimum(self, chat: str, amount: Decimal) -> Decimal | None:
        """The chat's minimum when `amount` is below it."""
        if not below_minimum(self.state, chat, amount):
            return None
        return self.state.min_donations.get(chat, ZERO)

    def moderation(self, command: Moderation, target_kind: str | None) -> Refusal | None:
        return moderation_refusal(self.state, command, target_kind)

    def menu(self, chat: str) -> Menu:
        """The chat's tip menu as the events folded so far say (GET /chat/menu)."""
        return menu_of_chat(self.state, chat)

    def purchase(self, command: Donate) -> Refusal | None:
        """A tip menu purchase of no such item, or not at its price (None: fine, or no purchase)."""
        return purchase_refusal(self.state, command)

    def banned(self, chat: str, client: str) -> bool:
        """For `/ws` and its sockets: a ban refuses everything, saying something or not."""
        return speech_refusal(self.state, chat, client, False, datetime.now(UTC)) == BANNED


async def read_seed(db: Database) -> Seed:
    """The four tables and their chats' versions in ONE consistent snapshot, so each version
    says exactly which events the rows already hold. Expired mutes are left out."""
    async with snapshot(db) as cur:
        loader = StateLoader(cur)
        await loader.chat_rules(None, None)
        await loader.versions_of_rule_chats()
        await load_menus(cur, loader.state, None)
    state = loader.state
    return Seed(state.versions, state.min_donations, state.mutes, state.bans, state.menus)
