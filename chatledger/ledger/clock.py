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
- Nothing is remembered that matters: what is due is read from the projection rows (`shows`,
  `show_spies`, `holds`; pins and toy turns: `pins`, `toy_turns`, DESIGN §11), so a restarted
  ledger, a new one after a rebalance, or one whose sends failed while the broker was away
  sends again what is still due. Every `reload_s` the clock reads which chats have something
  due; it reads the rows of a chat only when it does not know it yet (or a batch marked it,
  `clock_book.py`), and of every chat each `full_read_s`: the ledger's committed batches tell
  it the rest (`listen`: a boundary decided is followed by the next without a read; a thousand
  shows' rows were read twice a second, half of the ledger's CPU). Between two reads the clock
  wakes at the due times it knows, so a boundary is sent on time without a read per boundary;
  `reload_s` is at most half a minute because nothing new falls due sooner than a minute after
  it appears (a show's first boundary; a hold's expiry is further off; a request's timeout too,
  unless configured shorter than `reload_s`: then it is up to `reload_s` late, and decided the
  same). A tick sent is not sent again for `RESEND_S` (the ledger is deciding it); still due
  after that, it is.
- Each ledger's clock ticks only the chats of the commands-topic partitions its consumer owns
  now (`Owned`: the consumer's assignment, read with the rows, a chat's partition computed as
  the producer's partitioner does). The ticks of a chat can only be decided by the owner of its
  partition anyway, so nothing is lost by not sending them elsewhere, and the reads and sends
  of a pass are the process's share, not the whole set. Why nothing due is left out:
  * a rebalance or a crash gives the partition to another ledger, whose next read of the
    rows (within `reload_s` of its assignment) sends what is due, late ticks included (a tick
    is decided by the due time it carries, so late is the same decision); the ledger that
    lost it may send what it read until its own next read: duplicates;
  * while a partition moves, neither or both may own it: with neither, nothing is sent, which
    costs only lateness (the ticks would wait for the new owner anyway); both send the same
    ids, which the ledger applies once;
  * a process owning nothing (more ledgers than partitions, or mid-rejoin) ticks nothing.
- Disconnects are the one thing not in MySQL: the clock asks the gateways' presence (Redis) for
  the show's client and spies (every running show's chat in one round trip, once a second),
  and sends `...:disconnect` once a person has been absent for `DISCONNECT_S` of its own
  looks. Two clocks may see the absence begin at different moments and send two different ids:
  the first ends the show or the spying, the second is refused. A clock that takes a partition
  over starts watching then: a disconnect is decided at most `DISCONNECT_S` later than its
  first owner would have.

To tick something new (another kind of item that falls due), add its chats to what `load` reads
and its items to what `due` sorts (pins and the toy: `extras_store.due_chats`,
`domain/extra_ticks.py`): ownership, ids and resends come with it. A pin or a toy turn may fall
due sooner than `reload_s` after it appears: it is then sent up to `reload_s` (at most 1 s) late,
and decided the same.
"""

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka.errors import KafkaError
from databases import Database

from chatledger.bus.command_codec import encode_command
from chatledger.bus.kafka import BusUnavailable
from chatledger.domain.commands import Tick
from chatledger.domain.events import uuid5_text
from chatledger.domain.shows import DISCONNECT_S
from chatledger.domain.state import LedgerState
from chatledger.ledger.clock_book import DueBook, extra_part, show_part
from chatledger.ledger.extras_store import due_chats, load_chat
from chatledger.ledger.show_loader import chat_shows
from chatledger.ledger.store import LedgerStore
from chatledger.platform.config import Settings
from chatledger.platform.redis_client import REDIS_ERRORS

log = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("3d1f6c1e-6a0b-4c55-9a57-2b8f0f7e11c4")
_NAMESPACED = hashlib.sha1(_NAMESPACE.bytes)  # `uuid5_text`'s: copied, then fed the name
# chats -> the people with a socket in each (one round trip for them all)
Present = Callable[[list[str]], Awaitable[dict[str, set[str]]]]
# The chats this process's consumer owns now: a test of a chat, or None while it owns nothing.
Owned = Callable[[], Callable[[str], bool] | None]
# Every chat with something that may fall due (a show not ended, an open hold).
_DUE_CHATS = ("SELECT model_uuid FROM shows WHERE status <> 'ended'"
              " UNION SELECT model_uuid FROM holds WHERE status = 'open'")
RESEND_S = 5.0  # a tick still due this long after it was sent is sent again (a lagging
# ledger is not sent its backlog twice; a tick the broker lost waits this long, well inside the
# 30 s a minute's hold waits for its boundary)
PRESENCE_EVERY_S = 1.0  # how often absences are looked for (DISCONNECT_S is 10 s)
MIN_PAUSE_S = 0.05  # boundaries a few ms apart are sent together
FAILED_PAUSE_MAX_S = 2.0
FULL_READ_S = 10.0  # a clock the batches teach reads every chat again this often (the bound
# on what it may not have been taught: a decision of another ledger, `rebuild`'s repairs; well
# inside the 30 s a minute's hold waits for its boundary)


def failed_pause(failures: int) -> float:
    """After `failures` failed passes in a row (MySQL or the broker away): doubling from
    MIN_PAUSE_S up to FAILED_PAUSE_MAX_S, not a pass (and a logged traceback) every 50 ms."""
    return min(FAILED_PAUSE_MAX_S, MIN_PAUSE_S * (1 << min(failures, 16)))


def tick_of(chat: str, what: str, due: datetime) -> Tick:
    """The one command for this item: its id is the same from any clock, at any time
    (`uuid.uuid5(_NAMESPACE, ...)`, spelt by `uuid5_text` at a sixth of its cost: one per
    boundary)."""
    due = due.astimezone(UTC)
    return Tick(uuid5_text(_NAMESPACED, f"{chat}/{what}/{due.isoformat()}"), chat, what, due)


def every_chat() -> Callable[[str], bool]:
    """`Owned` of a clock alone with the whole topic (tests, tools)."""
    return lambda chat: True


class Clock:
    def __init__(self, settings: Settings, database: Database, producer: Any,
                 present: Present | None, owned: Owned = every_chat) -> None:
        self.settings = settings
        self.database = database
        self.producer = producer
        self.present = present
        self.owned = owned
        # Read the rows at least twice a minute: a new item (a show's first boundary, a new
        # hold's expiry) falls due no sooner than a minute after it appears.
        self.reload_s = min(1.0, settings.show_minute_s / 2)
        # Every read is in full unless the ledger's batches teach the clock (`listen`).
        self.full_read_s = self.reload_s
        self.book = DueBook(tick_of)  # what is known to fall due, per chat
        self.loaded_at = self.full_at = self.looked_at = float("-inf")  # monotonic
        self.next_due: datetime | None = None  # the first item known still ahead
        self.absent_since: dict[tuple[str, str], datetime] = {}  # (show or spy, person) -> since
        self.sent: dict[str, float] = {}  # tick id -> monotonic time it was last sent
        self.monotonic = time.monotonic

    def listen(self, store: LedgerStore) -> None:
        """Learn from `store`'s committed batches (clock_book.py): a read reads then only the
        chats not known or marked, and all of them every FULL_READ_S."""
        store.committed.append(self.book.learn)
        self.full_read_s = max(self.reload_s, FULL_READ_S)

    async def run(self) -> None:
        failures = 0
        while True:
            failures = 0 if await self.one_pass() else failures + 1
            await asyncio.sleep(
                self.pause(datetime.now(UTC)) if failures == 0 else failed_pause(failures))

    async def one_pass(self) -> bool:
        """Send what is due; False when the pass failed (nothing lost: read again next pass)."""
        try:
            await self.send(await self.due(datetime.now(UTC)))
        except (BusUnavailable, OSError, RuntimeError) as exc:
            log.warning("clock: will try again: %r", exc)
            return False
        except Exception:
            log.exception("clock: pass failed")
            return False
        return True

    async def due(self, now: datetime) -> list[Tick]:
        """The ticks due by `now` of the chats owned, from what is known: rows read at most
        `reload_s` ago, and the batches committed since."""
        mine = self.owned()
        if mine is None:
            self.absent_since.clear()
            self.book.clear()
            self.full_at, self.next_due = float("-inf"), None
            return []
        started = self.monotonic()
        if started - self.full_at >= self.full_read_s:
            await self.refresh(mine, full=True)
            self.full_at = self.loaded_at = started
        elif started - self.loaded_at >= self.reload_s:
            await self.refresh(mine, full=False)
            self.loaded_at = started
        ticks = [tick for tick in self.book.due(now, started, RESEND_S) if mine(tick.chat)]
        self.next_due = self.book.next_due()
        if self.present is not None and self.monotonic() - self.looked_at >= PRESENCE_EVERY_S:
            self.looked_at = self.monotonic()
            try:
                ticks += await self.disconnects(mine, now)
            except (RuntimeError, *REDIS_ERRORS) as exc:
                # Presence is Redis's: its absence must not hold back the minutes and expiries.
                log.warning("clock: presence unknown this pass: %r", exc)
        return ticks

    async def refresh(self, mine: Callable[[str], bool], full: bool) -> None:
        """Read the rows of every chat owned with something due (`full`), or of those not
        known or marked dirty; forget the chats with nothing due any more. A chat the ledger
        taught the clock while the read was under way keeps what it was taught (the read may
        predate that batch's commit)."""
        book = self.book
        dirty, book.dirty = book.dirty, set()
        learnt: set[str] = set()
        book.learning = learnt
        try:
            skip = set() if full else book.chats.keys() - dirty
            state, chats, owned_due = await self.load(mine, skip)
        except BaseException:
            book.dirty |= dirty
            raise
        finally:
            book.learning = None
        keep = owned_due | learnt
        for chat in [chat for chat in book.chats if chat not in keep]:
            book.drop(chat)
        for chat in chats:
            extras = extra_part(state, chat)
            if chat in learnt:
                book.know_extras(chat, extras)
            else:
                book.know(chat, *show_part(state, chat), extras)

    def pause(self, now: datetime) -> float:
        """Until the next due time known, or the next read of the rows, whichever is first."""
        left = self.reload_s - (self.monotonic() - self.loaded_at)
        if self.next_due is not None:
            left = min(left, (self.next_due - now).total_seconds())
        return max(MIN_PAUSE_S, left)

    async def load(self, mine: Callable[[str], bool], skip: Collection[str] = ()
                   ) -> tuple[LedgerState, list[str], set[str]]:
        """The rows of the chats owned with something due, but those in `skip`: their state,
        the chats read, and every chat owned with something due."""
        state = LedgerState()
        async with self.database.connection() as connection, \
                connection.raw_connection.cursor() as cur:
            await cur.execute(_DUE_CHATS)
            due = {row[0] for row in await cur.fetchall()} | set(await due_chats(cur))
            owned_due = {chat for chat in due if mine(chat)}
            chats = sorted(owned_due.difference(skip))
            await chat_shows(cur, state, chats)
            await load_chat(cur, state, chats)  # pins and the toy (DESIGN §11)
        return state, chats, owned_due

    async def disconnects(self, mine: Callable[[str], bool], now: datetime) -> list[Tick]:
        assert self.present is not None
        shows = [show for show in self.book.running() if mine(show.chat)]
        heres = await self.present([show.chat for show in shows]) if shows else {}
        ticks, watched = [], set()
        for show in shows:
            here = heres.get(show.chat, set())
            people = [(f"show:{show.show}", show.client)]
            people += [(f"spy:{spy}", person) for spy, person in show.spies]
            for item, person in people:
                watched.add((item, person))
                if person in here:
                    self.absent_since.pop((item, person), None)
                    continue
                since = self.absent_since.setdefault((item, person), now)
                if now - since >= timedelta(seconds=DISCONNECT_S):
                    ticks.append(tick_of(show.chat, f"{item}:disconnect",
                                         since + timedelta(seconds=DISCONNECT_S)))
        self.absent_since = {k: v for k, v in self.absent_since.items() if k in watched}
        return ticks

    async def send(self, ticks: Iterable[Tick]) -> None:
        """Every tick not sent in the last RESEND_S, all at once (one wait for the acks, not
        one per tick: a thousand shows' boundaries fall in the same second)."""
        now = self.monotonic()
        self.sent = {key: at for key, at in self.sent.items() if now - at < RESEND_S}
        ticks = list(ticks)
        fresh = [tick for tick in ticks if tick.command_id not in self.sent]
        if not fresh:
            self._tell_book(ticks)
            return
        topic = self.settings.commands_topic
        try:
            async with asyncio.timeout(self.settings.command_timeout_s):
                acks = [await self.producer.send(topic, key=tick.chat.encode(),
                                                 value=encode_command(tick)) for tick in fresh]
                await asyncio.gather(*acks)
        except (KafkaError, TimeoutError) as exc:
            raise BusUnavailable(repr(exc)) from exc
        self.sent.update((tick.command_id, now) for tick in fresh)
        self._tell_book(ticks)

    def _tell_book(self, ticks: list[Tick]) -> None:
        """When each tick's chat was last sent: the book lists it again only RESEND_S later."""
        sent = self.sent
        self.book.sent((tick.chat, sent[tick.command_id]) for tick in ticks)
