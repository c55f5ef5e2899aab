"""What the clock knows falls due, per chat, between its reads of the rows (`clock.py`).

The ledger's own batches tell the clock what they decided (`learn`, after each commit, from the
state the batch's decisions left): a boundary decided is replaced by the next one without a
read. Why the state a batch leaves is the whole of a chat's show items: a batch decides a
show-aware command of a chat (`show_loader.SHOW_AWARE`, every tick among them) only after
reading that chat's show, spies and open holds, or knowing it has none (`QuietChats`), and
nothing else changes them (`show_loader.py`'s rule, on which `QuietChats` rests too). Pins and
toy turns are not all read by every batch, so a chat whose pins or toy a batch may have changed
is only marked `dirty`: the clock reads its rows again at its next read. So is the chat of a
command the batch found applied already (its decision was not seen here: its commit's answer
was lost, or another ledger made it).

What is known is never trusted for more than deciding when to send: a tick sent from stale
knowledge is refused by the ledger (whose batch then teaches the clock the chat's state), and
every chat is read again in full at least every `full_read_s` (`clock.py`).
"""

import heapq
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from chatledger.domain import commands as cmd
from chatledger.domain.commands import Tick
from chatledger.domain.extra_ticks import extra_due_ticks, is_extra_tick
from chatledger.domain.show_book import RUNNING
from chatledger.domain.show_ticks import due_ticks
from chatledger.domain.state import LedgerState
from chatledger.ledger.extras_store import EXTRAS_AWARE
from chatledger.ledger.show_loader import SHOW_AWARE, show_chats

log = logging.getLogger(__name__)
# (due, what): what falls due, and when. Its `Tick` (an id hashed from the chat, what and due)
# is made only once it is due (`DueBook.due`): a batch teaches the clock a thousand chats' next
# boundaries, and most are replaced by the next batch's before they are sent.
Items = list[tuple[datetime, str]]
TickOf = Callable[[str, str, datetime], Tick]  # the clock's `tick_of`
# The commands whose chat is read again when the batch did not decide them (applied before).
_CHAT_AWARE: Final = SHOW_AWARE + EXTRAS_AWARE


@dataclass(frozen=True, slots=True)
class Running:
    """What the clock watches for disconnects: a running show's client and its spies."""

    chat: str
    show: str
    client: str
    spies: tuple[tuple[str, str], ...]  # (spy id, spy uuid)


@dataclass(slots=True)
class ChatDue:
    gen: int  # which of the queue's entries are this chat's current items
    shows: Items  # its show, spies and holds (`due_ticks`)
    extras: Items  # its pins and toy turn (`extra_due_ticks`)
    running: Running | None
    made: dict[tuple[datetime, str], Tick] | None = None  # its items' ticks made so far


def show_part(state: LedgerState, chat: str) -> tuple[Items, Running | None]:
    show = state.shows.current_show(chat)
    running = None
    if show is not None and show.status == RUNNING:
        running = Running(chat, show.id, show.client,
                          tuple((spy.id, spy.uuid) for spy in show.spies.values()))
    return [(at, what) for what, at in due_ticks(state, chat)], running


def extra_part(state: LedgerState, chat: str) -> Items:
    return [(at, what) for what, at in extra_due_ticks(state, chat)]


def _moves_extras(command: cmd.Command) -> bool:
    if not isinstance(command, EXTRAS_AWARE):
        return False
    return not isinstance(command, Tick) or is_extra_tick(command)


class DueBook:
    def __init__(self, tick_of: TickOf) -> None:
        self.tick_of = tick_of
        self.chats: dict[str, ChatDue] = {}
        self.queue: list[tuple[datetime, int, str]] = []  # (due, gen, chat): a heap
        # Chats with an item due (not yet decided): when their items were last handed out
        # (`due`'s monotonic `at_s`; -inf: not yet).
        self.waiting: dict[str, float] = {}
        self.gen = 0
        self.dirty: set[str] = set()  # chats whose rows must be read again
        self.learning: set[str] | None = None  # chats learnt while a read is under way

    def clear(self) -> None:
        self.chats, self.queue, self.waiting = {}, [], {}
        self.dirty = set()

    def know(self, chat: str, shows: Items, running: Running | None,
             extras: Items | None = None) -> None:
        """The chat's items now (`extras` None: its pins and toy as known before)."""
        if extras is None:
            before = self.chats.get(chat)
            extras = before.extras if before is not None else []
        if not shows and not extras and running is None:
            self.drop(chat)
            return
        self.gen += 1
        self.chats[chat] = ChatDue(self.gen, shows, extras, running)
        # Decided (or read) anew: waiting again only once an item of these falls due.
        self.waiting.pop(chat, None)
        for at, _ in (*shows, *extras):
            heapq.heappush(self.queue, (at, self.gen, chat))
        if len(self.queue) > 8 * len(self.chats) + 1024:  # mostly entries replaced since
            self._compact()

    def know_extras(self, chat: str, extras: Items) -> None:
        before = self.chats.get(chat)
        if before is None:
            self.know(chat, [], None, extras)
        else:
            self.know(chat, before.shows, before.running, extras)

    def drop(self, chat: str) -> None:
        self.chats.pop(chat, None)
        self.waiting.pop(chat, None)

    def due(self, now: datetime, at_s: float = 0.0, again_s: float = 0.0) -> list[Tick]:
        """Every item due by `now` of the chats known, but those of chats `sent` less than
        `again_s` before `at_s` (monotonic): while a ledger is behind on its ticks (a backlog, a
        loaded machine), the clock does not go through its thousand waiting chats on every
        pass, only once they may need sending again (`Clock.send`'s RESEND_S rule, which this
        only spares the work of)."""
        queue, chats, waiting = self.queue, self.chats, self.waiting
        while queue and queue[0][0] <= now:
            _, gen, chat = heapq.heappop(queue)
            known = chats.get(chat)
            if known is not None and known.gen == gen:
                waiting.setdefault(chat, float("-inf"))
        ticks = []
        for chat in sorted(chat for chat, handed in waiting.items() if at_s - handed >= again_s):
            known = chats.get(chat)
            mine = [] if known is None else \
                [self._tick(known, chat, at, what)
                 for at, what in (*known.shows, *known.extras) if at <= now]
            if not mine:
                del waiting[chat]  # decided since (replaced by what follows)
            ticks += mine
        return ticks

    def sent(self, sends: Iterable[tuple[str, float]]) -> None:
        """(chat, at_s): a due item of the chat was sent (acknowledged by the broker) at `at_s`
        (monotonic); a chat counts from the earliest of its items' sends."""
        waiting, seen = self.waiting, set()
        for chat, at_s in sends:
            if chat in waiting and (chat not in seen or at_s < waiting[chat]):
                waiting[chat] = at_s
                seen.add(chat)

    def _tick(self, known: ChatDue, chat: str, at: datetime, what: str) -> Tick:
        """The item's tick, made once (it is sent again, unchanged, while it waits)."""
        made = known.made
        if made is None:
            made = known.made = {}
        tick = made.get((at, what))
        if tick is None:
            tick = made[at, what] = self.tick_of(chat, what, at)
        return tick

    def next_due(self) -> datetime | None:
        queue, chats = self.queue, self.chats
        while queue:
            at, gen, chat = queue[0]
            known = chats.get(chat)
            if known is not None and known.gen == gen:
                return at
            heapq.heappop(queue)
        return None

    def running(self) -> list[Running]:
        return [known.running for _, known in sorted(self.chats.items())
                if known.running is not None]

    def learn(self, state: LedgerState, fresh: Sequence[cmd.Command],
              commands: Sequence[cmd.Command]) -> None:
        """After a batch committed: `fresh` the commands it decided, `state` as its decisions
        left it; `commands` the whole batch (the others were applied before)."""
        try:
            for chat in show_chats(fresh):
                if chat not in self.chats:
                    self.dirty.add(chat)  # its pins and toy are not known yet
                self.know(chat, *show_part(state, chat))
                if self.learning is not None:
                    self.learning.add(chat)
            decided = {command.command_id for command in fresh}
            self.dirty.update(command.chat for command in commands  # type: ignore[union-attr]
                              if isinstance(command, _CHAT_AWARE)
                              and (command.command_id not in decided or _moves_extras(command)))
        except Exception:  # the batch is committed: the clock's next full read repairs this
            log.exception("clock: could not learn a batch")

    def _compact(self) -> None:
        self.queue = [(at, known.gen, chat) for chat, known in self.chats.items()
                      for at, _ in (*known.shows, *known.extras)]
        heapq.heapify(self.queue)
