"""The clock's ticks, decided (DESIGN §10): what falls due in a chat, and what it becomes.

`due_ticks` says what of a chat's state falls due and when: the ledger's clock
(`ledger/clock.py`) turns each into a `Tick` command whose id is derived from (chat, what, due).
`tick` decides one with the due time it carries and the state only. A tick that no longer
matches the state (minute n's boundary once the show is past it, anything of an ended show, an
expiry of a resolved hold) is refused, which the ledger records: whatever the clock sends twice
or late, each item changes the ledger once. What `what` names:

    hold:<hold>:expire          a hold's expires_at passed unresolved
    show:<show>:timeout         a request unanswered for 60 s
    show:<show>:minute:<n>      the end of the show's minute n (started_at + n minutes)
    spy:<spy>:minute:<n>        the end of a spy's minute n
    show:<show>:disconnect      the show's client had no socket for 10 s (the clock asks)
    spy:<spy>:disconnect        a spy had none
"""

from datetime import datetime, timedelta

from chatledger.domain.commands import Actor, Tick
from chatledger.domain.facts import CommandRefused, Facts, require_account
from chatledger.domain.holds import can_hold, capture_hold, expire_hold, expired, place_hold
from chatledger.domain.show_book import REQUESTED, RUNNING, Show, Spy
from chatledger.domain.shows import (
    HOLD_GRACE_S,
    REQUEST_TIMEOUT_S,
    decline,
    end_show,
    end_spy,
)
from chatledger.domain.state import LedgerState


def due_ticks(state: LedgerState, chat: str) -> list[tuple[str, datetime]]:
    """(what, due) of everything of `chat` that falls due next (disconnects aside)."""
    due: list[tuple[str, datetime]] = [
        (f"hold:{hold.id}:expire", hold.expires_at) for hold in state.holds.open_of_chat(chat)
    ]
    show = state.shows.current_show(chat)
    if show is not None and show.status == REQUESTED:
        due.append((f"show:{show.id}:timeout", request_deadline(state, show)))
    elif show is not None and show.started_at is not None:
        due.append((f"show:{show.id}:minute:{show.minutes}", minute_end(show, show.minutes)))
        for spy in show.spies.values():
            due.append((f"spy:{spy.id}:minute:{spy.minutes}", spy_minute_end(show, spy)))
    return due


def request_deadline(state: LedgerState, show: Show) -> datetime:
    """When an unanswered request is declined: its hold was placed to last the request's
    timeout (`RequestShow.timeout_s`, 60 s unless configured), then minute 1 and the grace."""
    hold = state.holds.holds.get(show.hold_id or "")
    if hold is None:
        return show.requested_at + timedelta(seconds=REQUEST_TIMEOUT_S)
    return hold.expires_at - timedelta(seconds=show.minute_s + HOLD_GRACE_S)


def minute_end(show: Show, n: int) -> datetime:
    assert show.started_at is not None
    return show.started_at + timedelta(seconds=show.minute_s * n)


def spy_minute_end(show: Show, spy: Spy) -> datetime:
    return spy.started_at + timedelta(seconds=show.minute_s * spy.minutes)


def tick(command: Tick, state: LedgerState, facts: Facts) -> None:
    require_account(state, command.chat)
    kind, key, *rest = command.what.split(":")
    if kind == "hold":
        _expire(state, facts, key, command.due)
    elif kind == "show":
        _show_tick(state, facts, _show(state, command.chat, key), rest, command.due)
    elif kind == "spy":
        _spy_tick(state, facts, _spy(state, command.chat, key), rest, command.due)
    else:
        raise CommandRefused(f"tick: nothing is {command.what}")


def _show(state: LedgerState, chat: str, show_id: str) -> Show:
    show = state.shows.current_show(chat)
    if show is None or show.id != show_id:
        raise CommandRefused(f"tick: show {show_id} is over")
    return show


def _spy(state: LedgerState, chat: str, spy_id: str) -> Spy:
    spy = state.shows.spies.get(spy_id)
    show = state.shows.running_show(chat)
    if spy is None or show is None or show.id != spy.show:
        raise CommandRefused(f"tick: spy {spy_id} is over")
    return spy


def _show_tick(state: LedgerState, facts: Facts, show: Show, rest: list[str],
               due: datetime) -> None:
    if rest == ["timeout"] and show.status == REQUESTED:
        if due < request_deadline(state, show):
            raise CommandRefused("tick: the request has time left")
        decline(state, facts, show)
    elif rest == ["disconnect"] and show.status == RUNNING:
        end_show(state, facts, show, "disconnected", "capture")
    elif rest[:1] == ["minute"] and show.status == RUNNING and rest[1:] == [str(show.minutes)]:
        _show_boundary(state, facts, show, due)
    else:
        raise CommandRefused(f"tick: show {show.id} is not at {':'.join(rest)}")


def _show_boundary(state: LedgerState, facts: Facts, show: Show, due: datetime) -> None:
    """Charge the minute that ends at `due`, and hold the next or end the show there."""
    if due < minute_end(show, show.minutes):
        raise CommandRefused("tick: the minute is not over")
    hold = state.holds.holds.get(show.hold_id or "")
    if hold is None or not hold.is_open or expired(hold, facts.now):
        if hold is not None and hold.is_open:
            expire_hold(state, facts, hold.id, facts.now)
        end_show(state, facts, show, "disconnected", "none")
        return
    charged = capture_hold(state, facts, hold.id, show.rate, show=show.id)
    if not can_hold(state, show.client, show.rate):
        end_show(state, facts, show, "insufficient_funds", "none", charged)
        return
    place_hold(state, facts, _client(show.client, show.client_name), show.rate,
               _next_expiry(show.minute_s, due), "show", show=show.id)


def _spy_tick(state: LedgerState, facts: Facts, spy: Spy, rest: list[str],
              due: datetime) -> None:
    show = state.shows.shows[spy.show]
    if rest == ["disconnect"]:
        end_spy(state, facts, spy, "disconnected")
        return
    if rest != ["minute", str(spy.minutes)] or due < spy_minute_end(show, spy):
        raise CommandRefused(f"tick: spy {spy.id} is not at {':'.join(rest)}")
    hold = state.holds.holds.get(spy.hold_id or "")
    if hold is None or not hold.is_open or expired(hold, facts.now):
        if hold is not None and hold.is_open:
            expire_hold(state, facts, hold.id, facts.now)
        end_spy(state, facts, spy, "disconnected", capture=False)
        return
    charged = capture_hold(state, facts, hold.id, spy.rate, show=show.id, spy=spy.uuid)
    if not can_hold(state, spy.uuid, spy.rate):
        end_spy(state, facts, spy, "insufficient_funds", charged, capture=False)
        return
    place_hold(state, facts, _client(spy.uuid, spy.name), spy.rate,
               _next_expiry(show.minute_s, due), "spy", show=show.id, spy=spy.uuid)


def _expire(state: LedgerState, facts: Facts, hold_id: str, due: datetime) -> None:
    """A hold left unresolved past its time: released, and a show it was billing ends there."""
    expire_hold(state, facts, hold_id, due)
    hold = state.holds.holds[hold_id]
    show = state.shows.current_show(hold.model)
    if show is None:
        return
    if show.hold_id == hold_id:
        end_show(state, facts, show, "declined" if show.status == REQUESTED else "disconnected",
                 "none")
    for spy in show.spies.values():
        if spy.hold_id == hold_id:
            end_spy(state, facts, spy, "disconnected", capture=False)


def _next_expiry(minute_s: float, boundary: datetime) -> datetime:
    return boundary + timedelta(seconds=minute_s + HOLD_GRACE_S)


def _client(uuid: str, name: str) -> Actor:
    return Actor(uuid, name, "client")
