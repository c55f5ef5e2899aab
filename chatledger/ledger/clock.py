"""Time in an event-sourced ledger: the clock that turns what falls due into commands.

Minute boundaries, the 60 s request timeout, hold expiry and the 10 s disconnect rule (DESIGN
§10) must each be decided once, in each chat's order, whatever crashes. Why this works:

- Time enters the ledger only as commands. The clock never writes MySQL: it produces `Tick`
  commands on the commands topic, keyed by the chat, so the ledger decides them in the chat's
  order with everything else, in its own transactions.
- A tick is decided by the due time it carries and the state (`domain/show_ticks.py`), never by
  the wall clock, so deciding it later (a restart, a rebalance, a broker away) decides the same.
  The one exception is on purpose: a minute whose hold's `expires_at` passed before its
  boundary was decided is not charged (the batch's time says so, and is its events' time).
- Exactly once: a tick's command id is uuid5(chat, what, due), and `what` names the item
  (`hold:<id>:expire`, `show:<id>:minute:<n>`, ...). The ledger's `applied_commands` applies a
  command id once, and a tick that no longer matches the state is refused and recorded. So
  every clock may send every tick, as often as it likes.
- Nothing is remembered here: what is due is read from the projection rows each pass
  (`shows`, `show_spies`, `holds`; pins and toy turns: `pins`, `toy_turns`, DESIGN §11), so a
  restarted ledger, a new one after a rebalance, or one
  whose sends failed while the broker was away sends again what is still due. Every ledger
  process runs a clock over every chat with a show or an open hold (duplicates are harmless;
  the set is small: shows and their holds, not tips).
- Disconnects are the one thing not in MySQL: the clock asks the gateways' presence (Redis) for
  the show's client and spies, and sends `...:disconnect` once a person has been absent for
  `DISCONNECT_S` of its own passes. Two clocks may see the absence begin at different moments
  and send two different ids: the first ends the show or the spying, the second is refused.
"""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from databases import Database

from chatledger.bus.command_codec import encode_command
from chatledger.bus.kafka import BusUnavailable, send_bounded
from chatledger.domain.commands import Tick
from chatledger.domain.extra_ticks import extra_due_ticks
from chatledger.domain.show_book import RUNNING
from chatledger.domain.show_ticks import due_ticks
from chatledger.domain.shows import DISCONNECT_S
from chatledger.domain.state import LedgerState
from chatledger.ledger.extras_store import due_chats, load_chat
from chatledger.ledger.show_loader import chat_shows
from chatledger.platform.config import Settings

log = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("3d1f6c1e-6a0b-4c55-9a57-2b8f0f7e11c4")
Present = Callable[[str], Awaitable[set[str]]]  # chat -> the people with a socket in it


def tick_of(chat: str, what: str, due: datetime) -> Tick:
    """The one command for this item: its id is the same from any clock, at any time."""
    due = due.astimezone(UTC)
    return Tick(str(uuid.uuid5(_NAMESPACE, f"{chat}/{what}/{due.isoformat()}")), chat, what, due)


class Clock:
    def __init__(self, settings: Settings, database: Database, producer: Any,
                 present: Present | None) -> None:
        self.settings = settings
        self.database = database
        self.producer = producer
        self.present = present
        self.interval_s = min(1.0, settings.show_minute_s / 4)
        self.absent_since: dict[tuple[str, str], datetime] = {}  # (show or spy, person) -> since

    async def run(self) -> None:
        while True:
            try:
                await self.send(await self.due(datetime.now(UTC)))
            except (BusUnavailable, OSError, RuntimeError) as exc:
                log.warning("clock: will try again: %r", exc)  # nothing lost: read again next pass
            except Exception:
                log.exception("clock: pass failed")
            await asyncio.sleep(self.interval_s)

    async def due(self, now: datetime) -> list[Tick]:
        state, chats = await self.load()
        ticks = [
            tick_of(chat, what, at)
            for chat in chats
            for what, at in [*due_ticks(state, chat), *extra_due_ticks(state, chat)]
            if at <= now
        ]
        if self.present is not None:
            ticks += await self.disconnects(state, chats, now)
        return ticks

    async def load(self) -> tuple[LedgerState, list[str]]:
        state = LedgerState()
        async with self.database.connection() as connection, \
                connection.raw_connection.cursor() as cur:
            await cur.execute(
                "SELECT model_uuid FROM shows WHERE status <> 'ended'"
                " UNION SELECT model_uuid FROM holds WHERE status = 'open'"
            )
            chats = sorted({row[0] for row in await cur.fetchall()} | set(await due_chats(cur)))
            await chat_shows(cur, state, chats)
            await load_chat(cur, state, chats)  # pins and the toy (DESIGN §11)
        return state, chats

    async def disconnects(self, state: LedgerState, chats: list[str],
                          now: datetime) -> list[Tick]:
        assert self.present is not None
        ticks, watched = [], set()
        for chat in chats:
            show = state.shows.current_show(chat)
            if show is None or show.status != RUNNING:
                continue
            here = await self.present(chat)
            people = [(f"show:{show.id}", show.client)]
            people += [(f"spy:{spy.id}", spy.uuid) for spy in show.spies.values()]
            for item, person in people:
                watched.add((item, person))
                if person in here:
                    self.absent_since.pop((item, person), None)
                    continue
                since = self.absent_since.setdefault((item, person), now)
                if now - since >= timedelta(seconds=DISCONNECT_S):
                    ticks.append(tick_of(chat, f"{item}:disconnect",
                                         since + timedelta(seconds=DISCONNECT_S)))
        self.absent_since = {k: v for k, v in self.absent_since.items() if k in watched}
        return ticks

    async def send(self, ticks: list[Tick]) -> None:
        for tick in ticks:
            await send_bounded(self.producer, self.settings.commands_topic, tick.chat.encode(),
                               encode_command(tick), self.settings.command_timeout_s)
