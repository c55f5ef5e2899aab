"""The chats' rules (minimum tip, bans, live mutes) as the ledger last left them, so a steady
batch does not read them: a full batch's rules read names each of its ~400 (chat, author) pairs
twice (bans, mutes), the dearest of its reads to plan.

Why a remembered chat's rules are current when its stream is locked at the remembered version:
only batches holding a chat's stream lock write its rule rows (`state_loader.py`), and each that
appends an event moves the version. A chat is remembered at the version a batch of this process
committed, from that batch's state: the chat's rules read whole (`whole_query`) or recalled,
then changed only by the batch's own events (`evolve`). `rebuild`'s swap writes the rows again
from the same events; a remembered chat is still read whole again MAX_AGE_S after the read its
memory comes from, as `QuietChats` (show_loader.py) does. Expired mutes are left out, as the
API's seed does: a mute past its end refuses nothing.

`presume`d before the lock (the batch's first trip carries its reads), a chat's memory is
confirmed by `confirm` once the versions are back, or the batch runs again, reading.
"""

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from chatledger.domain.state import LedgerState
from chatledger.ledger.event_rows import placeholders

LIMIT = 100_000  # chats remembered; the oldest are forgotten first
MAX_AGE_S = 60.0


@dataclass(frozen=True, slots=True)
class Rules:
    version: int
    read_at: float  # monotonic: when the chat's rows were last read whole
    minimum: Decimal | None
    bans: frozenset[str]
    mutes: tuple[tuple[str, datetime], ...]


def whole_query(models: Sequence[str]) -> tuple[str, list[Any]]:
    """Every rule row of these chats, mutes not over: `StateLoader.fold_rules`' shape."""
    marks = placeholders(len(models))
    return (
        f"SELECT 'min', model_uuid, NULL, NULL, min_donation FROM chat_settings"
        f" WHERE model_uuid IN ({marks}) UNION ALL SELECT 'ban', model_uuid, client_uuid, NULL,"
        f" NULL FROM chat_bans WHERE model_uuid IN ({marks}) UNION ALL SELECT 'mute',"
        f" model_uuid, client_uuid, muted_until, NULL FROM chat_mutes WHERE model_uuid IN"
        f" ({marks}) AND muted_until > UTC_TIMESTAMP(6)",
        [*models, *models, *models],
    )


class RulesMemory:
    def __init__(self, limit: int = LIMIT, max_age_s: float = MAX_AGE_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.known: dict[str, Rules] = {}
        self.limit = limit
        self.max_age_s = max_age_s
        self.monotonic = monotonic

    def usable(self, chats: Iterable[str], versions: dict[str, int] | None) -> list[str]:
        """The chats whose memory is young enough and (given the locked versions) at them."""
        now = self.monotonic()
        return [chat for chat in chats if (rules := self.known.get(chat)) is not None
                and now - rules.read_at < self.max_age_s
                and (versions is None or rules.version == versions.get(chat))]

    def recall(self, state: LedgerState, chats: Iterable[str]) -> None:
        for chat in chats:
            rules = self.known[chat]
            if rules.minimum is not None:
                state.min_donations[chat] = rules.minimum
            state.bans.update((chat, client) for client in rules.bans)
            state.mutes.update(((chat, client), until) for client, until in rules.mutes)

    def confirm(self, state: LedgerState, chats: Iterable[str]) -> bool:
        """Once the streams are locked: whether the recalled chats are at their versions. A
        chat's that is not is forgotten: the batch runs again and reads it."""
        stale = [chat for chat in chats if (rules := self.known.get(chat)) is None
                 or rules.version != state.versions.get(chat)]
        for chat in stale:
            self.known.pop(chat, None)
        return not stale

    def learn(self, state: LedgerState, streams: Iterable[str], whole: dict[str, float]) -> None:
        """After a batch committed: `streams` those it locked, `whole` those of its chats whose
        rules were complete in `state` (recalled or read whole) and when they were read. The
        other streams are forgotten: their rows may have moved without this memory."""
        for stream in streams:
            self.known.pop(stream, None)
            read_at = whole.get(stream)
            if read_at is None:
                continue
            self.known[stream] = Rules(
                state.versions.get(stream, 0), read_at, state.min_donations.get(stream),
                frozenset(client for model, client in state.bans if model == stream),
                tuple((client, until) for (model, client), until in state.mutes.items()
                      if model == stream),
            )
            if len(self.known) > self.limit:
                del self.known[next(iter(self.known))]

    def read_at(self, chats: Iterable[str]) -> dict[str, float]:
        """When the remembered chats' rows were read whole (for `learn`)."""
        return {chat: self.known[chat].read_at for chat in chats}
