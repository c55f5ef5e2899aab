"""The clock's ticks for pins and the toy (DESIGN §11), beside `show_ticks.py`'s for shows.

`extra_due_ticks` says what of a chat's pins and toy falls due and when; the ledger's clock
(`ledger/clock.py`) sends it with the shows' items, as `Tick` commands whose id is derived from
(chat, what, due), so each is decided once. `extra_tick` decides one by its due time and the
state; one that no longer matches (the pin was removed, the turn finished already) is refused.

    pin:<pin>:start             no pin shows and <pin>, the oldest queued, was bought: the best
                                of the queue starts (not necessarily <pin>)
    pin:<pin>:expire            the showing pin's ends_at
    toy:<donation>:finish       the playing turn's ends_at
"""

from datetime import datetime

from chatledger.domain import events as ev
from chatledger.domain.commands import Actor, Tick
from chatledger.domain.extras import start_next_pin, start_next_turn
from chatledger.domain.facts import CommandRefused, Facts, require_account
from chatledger.domain.state import LedgerState

EXTRA_TICK_KINDS = frozenset({"pin", "toy"})


def extra_due_ticks(state: LedgerState, chat: str) -> list[tuple[str, datetime]]:
    due = []
    pin = state.extras.showing_pin(chat)
    if pin is not None and pin.ends_at is not None:
        due.append((f"pin:{pin.id}:expire", pin.ends_at))
    waiting = state.extras.oldest_queued_pin(chat)
    if pin is None and waiting is not None:
        due.append((f"pin:{waiting.id}:start", waiting.bought_at))
    turn = state.extras.playing_turn(chat)
    if turn is not None and turn.ends_at is not None:
        due.append((f"toy:{turn.donation}:finish", turn.ends_at))
    return due


def is_extra_tick(command: Tick) -> bool:
    return command.what.split(":", 1)[0] in EXTRA_TICK_KINDS


def extra_tick(command: Tick, state: LedgerState, facts: Facts) -> None:
    require_account(state, command.chat)
    kind, key, *rest = command.what.split(":")
    chat, book = command.chat, state.extras
    if kind == "pin" and rest == ["start"]:
        if book.showing_pin(chat) is not None or not book.pin_lineup.is_queued(chat, key):
            raise CommandRefused(f"tick: pin {key} is not waiting while none shows")
        start_next_pin(state, facts, chat)
    elif kind == "pin" and rest == ["expire"]:
        pin = book.showing_pin(chat)
        if pin is None or pin.id != key or pin.ends_at is None:
            raise CommandRefused(f"tick: pin {key} is not showing")
        if command.due < pin.ends_at:
            raise CommandRefused("tick: the pin has time left")
        facts.add(ev.PIN_EXPIRED, Actor(pin.client, pin.client_name, "client"), pin=pin.id)
        start_next_pin(state, facts, chat)
    elif kind == "toy" and rest == ["finish"]:
        turn = book.playing_turn(chat)
        if turn is None or turn.donation != key or turn.ends_at is None:
            raise CommandRefused(f"tick: toy turn {key} is not playing")
        if command.due < turn.ends_at:
            raise CommandRefused("tick: the turn has time left")
        facts.add(ev.TOY_FINISHED, Actor(chat, state.names.get(chat, ""), "model"),
                  donation=turn.donation)
        start_next_turn(state, facts, chat)
    else:
        raise CommandRefused(f"tick: nothing is {command.what}")
