"""What the decider reads of holds and shows, from their projection rows (`state_loader.py`'s
rule: the chat's stream is locked first, then the accounts).

- A chat's rates, its show not ended (with its spies) and its open holds change only in batches
  holding that chat's stream lock, so once it is locked they are current; they are read before
  the accounts are locked, because the clients whose money a tick or a show action moves (the
  show's client, its spies) are known only from them (`owners`).
- A client's open holds in every chat change only in batches that lock the client's account, so
  they are read after the accounts are locked, for every client account locked: that is what
  its available balance lacks, for a tip as much as for a show.
"""

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from chatledger.domain import commands as cmd
from chatledger.domain.hold_book import Hold
from chatledger.domain.show_book import ENDED, Show, Spy
from chatledger.domain.state import LedgerState
from chatledger.ledger.event_rows import placeholders

# The commands whose decision reads a chat's show: a message (private during a show), settings
# (the rates), and the show's own commands.
SHOW_AWARE: Final = (cmd.PostMessage, cmd.ChangeSettings, cmd.RequestShow, cmd.ShowAction,
                     cmd.Tick)
_HOLD_COLUMNS = ("hold_id, model_uuid, client_uuid, client_name, amount, expires_at, purpose,"
                 " status, captured, resolved_by")


def show_chats(commands: Iterable[cmd.Command]) -> list[str]:
    return sorted({c.chat for c in commands if isinstance(c, SHOW_AWARE)})


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


async def open_holds_of(cur: Any, state: LedgerState, clients: Sequence[str]) -> None:
    """Every open hold of these clients (their accounts locked), in any chat."""
    await _holds(cur, state, "client_uuid", clients)


async def _holds(cur: Any, state: LedgerState, column: str, owners: Sequence[str]) -> None:
    if not owners:
        return
    await cur.execute(
        f"SELECT {_HOLD_COLUMNS} FROM holds WHERE {column} IN ({placeholders(len(owners))})"
        " AND status = 'open'",
        list(owners),
    )
    for hold_id, model, client, name, amount, expires, purpose, status, captured, by in \
            await cur.fetchall():
        if hold_id not in state.holds.holds:
            state.holds.add(Hold(hold_id, model, client, name, Decimal(amount),
                                 utc(expires) or expires, purpose, status, captured, by))


def owners(state: LedgerState, chats: Iterable[str]) -> set[str]:
    """The clients whose money the chats' show commands and ticks may move."""
    wanted = set(chats)
    return {hold.client for hold in state.holds.holds.values() if hold.model in wanted}
