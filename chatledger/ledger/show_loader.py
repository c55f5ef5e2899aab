"""What the decider reads of holds and shows, from their projection rows (`state_loader.py`'s
rule: the chat's stream is locked first, then the accounts).

- A chat's rates, its show not ended (with its spies) and its open holds change only in batches
  holding that chat's stream lock, so once it is locked they are current; they are read before
  the accounts are locked, because the clients whose money a tick or a show action moves (the
  show's client, its spies) are known only from them (`owners`).
- A client's open holds in every chat change only in batches that lock the client's account, so
  they are read after the accounts are locked, for every client account locked: that is what
  its available balance lacks, for a tip as much as for a show. A batch whose commands never
  read an available balance (messages, settings, moderation) does not read them (`spends`).
- Most batches find a chat's show state as the previous batch left it: `QuietChats` remembers,
  per process, each chat's (its rates, and its show not ended, spies and open holds, if any) at
  which version of its stream, so a batch that finds the stream at that version once locked
  reads nothing of it, and decides on copies of what is remembered (a thousand shows' minute
  ticks read three tables a batch for nothing). Why that is never stale: every change to a
  chat's show, spies, holds or rates is made by a command of the chat's stream, whose events
  move the stream's version, whichever process applies it; a version equal to the one
  remembered means none happened since. What is remembered is learnt only from batches that
  committed (`learn`, after the commit), from the state their decisions left, and copied into
  each batch that recalls it, so a batch that rolls back changes nothing of it. `rebuild`, the
  one writer of these rows without events, writes what the events already say, so it changes
  them only where they were wrong: a chat is read again at least every `QUIET_MAX_AGE_S`, so
  such a repair is seen within that time.
"""

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from chatledger.domain import commands as cmd
from chatledger.domain.hold_book import Hold
from chatledger.domain.show_book import ENDED, Show, Spy
from chatledger.domain.state import LedgerState
from chatledger.ledger.event_rows import placeholders
from chatledger.ledger.read_trips import ReadTrip

# The commands whose decision reads a chat's show: a message (private during a show), settings
# (the rates), and the show's own commands.
SHOW_AWARE: Final = (cmd.PostMessage, cmd.ChangeSettings, cmd.RequestShow, cmd.ShowAction,
                     cmd.Tick)
_HOLD_COLUMNS = ("hold_id, model_uuid, client_uuid, client_name, amount, expires_at, purpose,"
                 " status, captured, resolved_by")


# The commands whose decision never reads an available balance (nor a hold).
SPENDS_NOTHING: Final = (cmd.PostMessage, cmd.ChangeSettings, cmd.MuteViewer, cmd.BanViewer,
                         cmd.UnbanViewer, cmd.DeleteMessage, cmd.AddGoal, cmd.SetMenu,
                         cmd.RegisterConnection)
QUIET_LIMIT = 100_000  # chats remembered; the oldest are forgotten first
QUIET_MAX_AGE_S = 60.0


def show_chats(commands: Iterable[cmd.Command]) -> list[str]:
    return sorted({c.chat for c in commands if isinstance(c, SHOW_AWARE)})


def spends(commands: Iterable[cmd.Command]) -> bool:
    """Whether any of these commands reads an available balance."""
    return not all(isinstance(c, SPENDS_NOTHING) for c in commands)


@dataclass(frozen=True, slots=True)
class Quiet:
    version: int
    private_rate: Decimal | None
    spy_rate: Decimal | None
    read_at: float  # monotonic: when its rows were last read
    # Its show not ended, with its spies, and its open holds: the committed batch's own objects
    # (nothing touches a batch's state after its commit), copied into each batch that recalls
    # them (`recall`), so no decision changes what is remembered.
    show: Show | None = None
    holds: tuple[Hold, ...] = ()


def _copy_show(show: Show) -> Show:
    copied = show.copied()
    copied.spies = {uuid: spy.copied() for uuid, spy in show.spies.items()}
    return copied


class QuietChats:
    """Chats whose show state is known at a version of their stream (above)."""

    def __init__(self, limit: int = QUIET_LIMIT, max_age_s: float = QUIET_MAX_AGE_S) -> None:
        self.limit, self.max_age_s = limit, max_age_s
        self.known: dict[str, Quiet] = {}
        self.monotonic = time.monotonic

    def unknown(self, state: LedgerState, chats: Sequence[str]) -> list[str]:
        """The chats whose show state must be read; the others' is put in `state` (its
        versions: the streams as locked)."""
        now = self.monotonic()
        left = [chat for chat in chats if not self._usable(chat, now, state.versions)]
        for chat in left:
            self.known.pop(chat, None)  # read now: `learn` dates it from this read
        self.recall(state, [chat for chat in chats if chat in self.known])
        return left

    def remembers(self, chats: Sequence[str]) -> bool:
        """Whether the show state of every one of the chats is remembered and recent enough to
        use, at some version of its stream (`confirm` says whether it is the locked one)."""
        now = self.monotonic()
        return all(self._usable(chat, now) for chat in chats)

    def confirm(self, state: LedgerState, chats: Sequence[str]) -> bool:
        """Once the streams are locked: whether what is remembered of these chats is at their
        versions as locked. A chat's that is not is forgotten: the next batch reads it."""
        stale = [chat for chat in chats if (quiet := self.known.get(chat)) is None
                 or quiet.version != state.versions.get(chat)]
        for chat in stale:
            self.known.pop(chat, None)
        return not stale

    def recall(self, state: LedgerState, chats: Sequence[str]) -> None:
        """Put what is remembered of these chats' shows in `state`."""
        for chat in chats:
            quiet = self.known[chat]
            if quiet.private_rate is not None and quiet.spy_rate is not None:
                state.shows.private_rates[chat] = quiet.private_rate
                state.shows.spy_rates[chat] = quiet.spy_rate
            if quiet.show is not None:
                state.shows.add(_copy_show(quiet.show))
            for hold in quiet.holds:
                if hold.id not in state.holds.holds:
                    state.holds.add(hold.copied())

    def _usable(self, chat: str, now: float, versions: dict[str, int] | None = None) -> bool:
        """Remembered, young enough, and (given the streams' versions) at its stream's."""
        quiet = self.known.get(chat)
        return quiet is not None and now - quiet.read_at < self.max_age_s \
            and (versions is None or quiet.version == versions.get(chat))

    def learn(self, state: LedgerState, locked: dict[str, int],
              commands: Sequence[cmd.Command]) -> None:
        """After a batch committed: `locked` its streams' versions when locked, `state` as its
        decisions left it."""
        loaded, now = set(show_chats(commands)), self.monotonic()
        for stream in {cmd.stream_of(c) for c in commands}:
            before = self.known.pop(stream, None)
            if stream in loaded:
                show = state.shows.current_show(stream)
                read = now if before is None else before.read_at  # read, or remembered
                self._keep(stream, Quiet(
                    state.versions.get(stream, 0), state.shows.private_rates.get(stream),
                    state.shows.spy_rates.get(stream), read,
                    show, tuple(state.holds.open_of_chat(stream))))
            elif before is not None and before.version == locked.get(stream):
                # Nothing of this stream's batch touches shows (not SHOW_AWARE): as it was.
                self._keep(stream, Quiet(state.versions.get(stream, 0), before.private_rate,
                                         before.spy_rate, before.read_at, before.show,
                                         before.holds))

    def _keep(self, chat: str, quiet: Quiet) -> None:
        self.known[chat] = quiet
        if len(self.known) > self.limit:
            del self.known[next(iter(self.known))]


def utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


async def chat_shows(cur: Any, state: LedgerState, chats: Sequence[str]) -> None:
    """The chats' rates, shows not ended, their spies and the chats' open holds."""
    if not chats:
        return
    marks = placeholders(len(chats))
    await cur.execute(
        f"SELECT model_uuid, private_rate, spy_rate FROM show_rates WHERE model_uuid IN ({marks})",
        list(chats),
    )
    for model, private_rate, spy_rate in await cur.fetchall():
        state.shows.private_rates[model] = Decimal(private_rate)
        state.shows.spy_rates[model] = Decimal(spy_rate)
    await cur.execute(
        "SELECT show_id, model_uuid, client_uuid, client_name, rate, minute_s, requested_at,"
        " status, started_at, minutes, charged, hold_id FROM shows"
        f" WHERE model_uuid IN ({marks}) AND status <> %s",
        [*chats, ENDED],
    )
    shows = [
        Show(sid, model, client, name, Decimal(rate), float(minute_s), utc(asked) or asked,
             status, utc(started), int(minutes), Decimal(charged), hold)
        for sid, model, client, name, rate, minute_s, asked, status, started, minutes, charged,
        hold in await cur.fetchall()
    ]
    await _spies(cur, shows)
    for show in shows:
        state.shows.add(show)
    await _holds(cur, state, "model_uuid", chats)


async def _spies(cur: Any, shows: list[Show]) -> None:
    if not shows:
        return
    by_id = {show.id: show for show in shows}
    await cur.execute(
        "SELECT spy_id, show_id, spy_uuid, spy_name, rate, started_at, minutes, charged, hold_id"
        f" FROM show_spies WHERE show_id IN ({placeholders(len(by_id))})",
        list(by_id),
    )
    for spy_id, show_id, uuid, name, rate, started, minutes, charged, hold in \
            await cur.fetchall():
        by_id[show_id].spies[uuid] = Spy(spy_id, show_id, uuid, name, Decimal(rate),
                                         utc(started) or started, int(minutes), Decimal(charged),
                                         hold)


def plan_open_holds(trip: ReadTrip, state: LedgerState, owners: Sequence[str]) -> None:
    """Every open hold, in any chat, of those of these owners whose account is a client's: read
    in the trip that locks their accounts, after them (`batch_reads.py`)."""
    if not owners:
        return
    trip.add(
        f"SELECT {_HOLD_COLUMNS} FROM holds WHERE client_uuid IN (SELECT owner_uuid FROM"
        f" accounts WHERE kind = 'client' AND owner_uuid IN ({placeholders(len(owners))}))"
        " AND status = 'open'",
        list(owners), lambda rows: _fold_holds(state, rows),
    )


async def _holds(cur: Any, state: LedgerState, column: str, owners: Sequence[str]) -> None:
    if not owners:
        return
    await cur.execute(
        f"SELECT {_HOLD_COLUMNS} FROM holds WHERE {column} IN ({placeholders(len(owners))})"
        " AND status = 'open'",
        list(owners),
    )
    _fold_holds(state, await cur.fetchall())


def _fold_holds(state: LedgerState, rows: Iterable[Sequence[Any]]) -> None:
    for hold_id, model, client, name, amount, expires, purpose, status, captured, by in rows:
        if hold_id not in state.holds.holds:
            state.holds.add(Hold(hold_id, model, client, name, Decimal(amount),
                                 utc(expires) or expires, purpose, status, captured, by))


def owners(state: LedgerState, chats: Iterable[str]) -> set[str]:
    """The clients whose money the chats' show commands and ticks may move."""
    wanted = set(chats)
    return {hold.client for hold in state.holds.holds.values() if hold.model in wanted}
