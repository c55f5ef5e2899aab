"""What the decider reads of pins and the toy, and what the ledger writes of them (DESIGN §11).

Reads (`state_loader.py`'s rule): a chat's tiers and levels, its pins not over and its toy turns
not over change only in batches holding that chat's stream lock, so once the batch has locked
it they are current. Pins and turns move no money when they start, end or go, so no account
beyond the command's own is locked for them. A batch of tips alone reads one primary-key row per
chat, and the chat's toy queue only when the chat has toy levels: tips stay cheap.

Writes run inside the batch's transaction, after its events: the rows of the chats, pins and
turns its events touched, built by `extras_rows.py` from the state after the batch.
"""

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import astuple, fields
from typing import Any, Final

from chatledger.domain import commands as cmd
from chatledger.domain import events as ev
from chatledger.domain.events import Event
from chatledger.domain.extra_ticks import is_extra_tick
from chatledger.domain.extras_book import PLAYING, QUEUED, SHOWING, Item, Lineup
from chatledger.domain.state import LedgerState
from chatledger.ledger.event_rows import placeholders
from chatledger.ledger.extras_rows import (
    ExtrasRow,
    PinRow,
    ToyRow,
    extras_rows,
    fold_extras_row,
    pin_of_row,
    pin_rows,
    toy_rows,
    turn_of_row,
    typed,
)
from chatledger.ledger.read_trips import Fold, ReadTrip

# The commands whose decision reads a chat's pins or toy: a pin, a tip (its toy turn), the
# settings (tiers, levels), a ban (the buyer's pins), a deletion (of a pin), a refund (a turn
# not begun), a tick (a pin's or a turn's end).
EXTRAS_AWARE: Final = (cmd.PinMessage, cmd.Donate, cmd.ChangeSettings, cmd.BanViewer,
                       cmd.DeleteMessage, cmd.Refund, cmd.Tick)
PIN_COLUMNS: Final = ", ".join(f.name for f in fields(PinRow))
TOY_COLUMNS: Final = ", ".join(f.name for f in fields(ToyRow))
Upsert = Callable[[str, list[tuple[Any, ...]], str], Awaitable[None]]


def plan_for_batch(trip: ReadTrip, state: LedgerState, commands: Iterable[cmd.Command]) -> None:
    """The reads that depend on the commands alone: the chats' tiers and levels, and the pins of
    the chats whose pins a command other than a tip reads. The toy turns: `load_turns_for_batch`,
    once the levels are known."""
    chats, busy = _aware_chats(commands)
    if chats:
        trip.add(*_settings_read(state, chats))
    if busy:
        trip.add(*_pins_read(state, busy))


async def load_turns_for_batch(cur: Any, state: LedgerState,
                               commands: Iterable[cmd.Command]) -> None:
    """The toy turns of the chats a command other than a tip reads, and of those with toy
    levels (read by `plan_for_batch`'s trip)."""
    chats, busy = _aware_chats(commands)
    await load_turns(cur, state, sorted(set(busy) | {
        chat for chat in chats if state.extras.toy_levels.get(chat)}))


def _aware_chats(commands: Iterable[cmd.Command]) -> tuple[list[str], list[str]]:
    # A show's tick is no pin's or toy's: a thousand shows' boundaries read no extras.
    aware = [c for c in commands if isinstance(c, EXTRAS_AWARE)
             and (not isinstance(c, cmd.Tick) or is_extra_tick(c))]
    return (sorted({c.chat for c in aware}),
            sorted({c.chat for c in aware if not isinstance(c, cmd.Donate)}))


async def load_chat(cur: Any, state: LedgerState, chats: Sequence[str]) -> None:
    """Everything of these chats (the API's reads, the clock)."""
    await load_settings(cur, state, chats)
    await load_pins(cur, state, chats)
    await load_turns(cur, state, chats)


Read = tuple[str, list[Any], Fold]


async def load_settings(cur: Any, state: LedgerState, chats: Sequence[str]) -> None:
    await _load(cur, _settings_read(state, chats) if chats else None)


async def load_pins(cur: Any, state: LedgerState, chats: Sequence[str]) -> None:
    await _load(cur, _pins_read(state, chats) if chats else None)


async def load_turns(cur: Any, state: LedgerState, chats: Sequence[str]) -> None:
    await _load(cur, _lineup_read(chats, "toy_turns", "donation_id", TOY_COLUMNS,
                                  state.extras.toy_lineup,
                                  lambda key, rest: turn_of_row(key, typed(ToyRow, rest)))
                if chats else None)


async def _load(cur: Any, read: Read | None) -> None:
    if read is not None:
        trip = ReadTrip()
        trip.add(*read)
        await trip.send(cur)


def _settings_read(state: LedgerState, chats: Sequence[str]) -> Read:
    def fold(rows: Iterable[Sequence[Any]]) -> None:
        for model, tiers, levels in rows:
            fold_extras_row(state, model, ExtrasRow(tiers, levels))

    return ("SELECT model_uuid, pin_tiers, toy_levels FROM chat_extras"
            f" WHERE model_uuid IN ({placeholders(len(chats))})", list(chats), fold)


def _pins_read(state: LedgerState, chats: Sequence[str]) -> Read:
    return _lineup_read(chats, "pins", "pin_id", PIN_COLUMNS, state.extras.pin_lineup,
                        lambda key, rest: pin_of_row(key, typed(PinRow, rest)))


def _lineup_read(
    chats: Sequence[str], table: str, key: str, columns: str, lineup: Lineup[Item],
    of_row: Callable[[str, list[Any]], Item],
) -> Read:
    """The chats' items queued or on, in their chat's order; one already in the state stays."""
    def fold(rows: Iterable[Sequence[Any]]) -> None:
        for found, *rest in rows:
            if found not in lineup.all:
                lineup.add(of_row(found, rest))

    return (f"SELECT {key}, {columns} FROM {table} WHERE model_uuid IN"
            f" ({placeholders(len(chats))}) AND status IN (%s, %s) ORDER BY seq",
            [*chats, QUEUED, lineup.on_status], fold)


async def due_chats(cur: Any) -> list[str]:
    """The chats with a pin waiting or showing, or a turn playing: what the clock watches."""
    await cur.execute(
        "SELECT model_uuid FROM pins WHERE status IN (%s, %s)"
        " UNION SELECT model_uuid FROM toy_turns WHERE status = %s", [QUEUED, SHOWING, PLAYING])
    return [row[0] for row in await cur.fetchall()]


def _updates(columns: str) -> str:
    return ", ".join(f"{c} = VALUES({c})" for c in columns.split(", "))


async def write_extras(upsert: Upsert, state: LedgerState, events: list[Event]) -> None:
    mine = [e for e in events if e.type in ev.EXTRAS_TYPES or e.type == ev.SETTINGS_CHANGED]
    if not mine:
        return
    settings = extras_rows(state)
    changed = sorted({e.stream for e in mine if e.type == ev.SETTINGS_CHANGED} & settings.keys())
    await upsert("chat_extras (model_uuid, pin_tiers, toy_levels)",
                 [(m, *astuple(settings[m])) for m in changed],
                 "pin_tiers = VALUES(pin_tiers), toy_levels = VALUES(toy_levels)")
    pins = pin_rows(state, {e.payload["pin"] for e in mine if "pin" in e.payload})
    await upsert(f"pins (pin_id, {PIN_COLUMNS})",
                 [(key, *astuple(row)) for key, row in pins.items()], _updates(PIN_COLUMNS))
    toys = toy_rows(state, {e.payload["donation"] for e in mine
                            if e.type in ev.EXTRAS_TYPES and "donation" in e.payload})
    await upsert(f"toy_turns (donation_id, {TOY_COLUMNS})",
                 [(key, *astuple(row)) for key, row in toys.items()], _updates(TOY_COLUMNS))
