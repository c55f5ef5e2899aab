"""The rules of private and spy shows (DESIGN §10): request, accept, decline, end, spy, and the
clock's ticks (minute boundaries, the request's timeout, a disconnect, a hold's expiry).

Guarantees (with `holds.py`'s):
- a chat has at most one show requested or running; a request needs `private_rate` > 0 and a
  minute of available money, which goes on hold at once;
- a started minute is charged in full, once: each minute has one hold, captured at the next
  boundary or when the show ends; at a boundary the next minute is placed on hold only if the
  client's available balance covers it, else the show ends `insufficient_funds` right there;
- a tick is decided by the due time it carries and the state; one that no longer matches the
  state (a boundary already passed, a show already ended) is refused, so a tick produced twice,
  late, or after the show ended changes nothing;
- a minute whose hold ran out before its boundary was decided (the service was down) expires
  instead of being captured, and the show ends there: time nobody could bill is never charged.
"""

from datetime import timedelta
from decimal import Decimal

from chatledger.domain import events as ev
from chatledger.domain.asks import message_is_public
from chatledger.domain.commands import Actor, PostMessage, RequestShow, ShowAction
from chatledger.domain.events import event_id_for
from chatledger.domain.facts import CommandRefused, Facts, Refusal, require_account
from chatledger.domain.holds import capture_hold, expired, place_hold, void_hold
from chatledger.domain.show_book import REQUESTED, RUNNING, Show, Spy
from chatledger.domain.state import ZERO, LedgerState

REQUEST_TIMEOUT_S = 60.0
HOLD_GRACE_S = 30.0  # how long past its minute a hold waits for its boundary to be decided
DISCONNECT_S = 10.0
SHOW_REFUSALS = {  # what the API answers before the ledger decides (api/shows.py)
    "no_rate": "show: the model takes no private shows",
    "no_spy_rate": "show: the model takes no spies",
    "busy": "show: another show is on",
    "unknown": "show: no such show",
}


def model_actor(state: LedgerState, chat: str) -> Actor:
    return Actor(chat, state.names.get(chat, ""), "model")


def show_audience(state: LedgerState, command: PostMessage) -> list[str] | None:
    """While a show runs, the model's and the show client's messages are the show's: they go
    to its client and spies (and the model); None: the message is as its author made it. A
    private message stays as narrow as it was made (the model's reply to another viewer, the
    client's note to the model): a show hides words from the room, it never shows them to more."""
    show = state.shows.running_show(command.chat)
    if show is None or command.actor.uuid not in (show.client, show.model):
        return None
    return show.audience() if message_is_public(command) else None


def _who(reason: str) -> Refusal:
    return Refusal(reason, forbidden=True)


def _what(reason: str) -> Refusal:
    return Refusal(reason)


def request_refusal(state: LedgerState, command: RequestShow) -> Refusal | None:
    if command.actor.role != "client":
        return _who("only clients ask for a show")
    if state.shows.private_rates.get(command.chat, ZERO) <= ZERO:
        return _what(SHOW_REFUSALS["no_rate"])
    if state.shows.current_show(command.chat) is not None:
        return _what(SHOW_REFUSALS["busy"])
    return None


def request_show(command: RequestShow, state: LedgerState, facts: Facts) -> None:
    require_account(state, command.chat)
    refused = request_refusal(state, command)
    if refused is not None:
        raise CommandRefused(refused.reason)
    rate = state.shows.private_rates[command.chat]
    show_id = event_id_for(facts.command_id, len(facts.events))
    facts.add(ev.SHOW_REQUESTED, command.actor, is_public=False, show=show_id, rate=rate,
              minute_s=command.minute_s)
    # It becomes minute 1's hold if accepted, which may be at the last moment of the 60 s; its
    # expiry is also where the request's own deadline is kept (`show_ticks.request_deadline`).
    expires = facts.now + timedelta(
        seconds=command.timeout_s + command.minute_s + HOLD_GRACE_S
    )
    place_hold(state, facts, command.actor, rate, expires, "show", show=show_id)


def act(command: ShowAction, state: LedgerState, facts: Facts) -> None:
    require_account(state, command.chat)
    show = state.shows.shows.get(command.show)
    if show is None or show.model != command.chat:
        raise CommandRefused(SHOW_REFUSALS["unknown"])
    refused = action_refusal(state, command, show)
    if refused is not None:
        raise CommandRefused(refused.reason)
    model = model_actor(state, command.chat)
    if command.verb == "accept":
        facts.add(ev.SHOW_STARTED, model, show=show.id)
    elif command.verb == "decline":
        decline(state, facts, show)
    elif command.verb == "end":
        reason = "model" if command.actor.role == "model" else "client"
        end_show(state, facts, show, reason, "capture" if show.status == RUNNING else "void")
    elif command.verb == "spy":
        rate = state.shows.spy_rates[command.chat]
        facts.add(ev.SPY_STARTED, command.actor, is_public=False, show=show.id,
                  spy=command.actor.uuid, rate=rate)
        expires = facts.now + timedelta(seconds=show.minute_s + HOLD_GRACE_S)
        place_hold(state, facts, command.actor, rate, expires, "spy", show=show.id,
                   spy=command.actor.uuid)
    else:
        end_spy(state, facts, show.spies[command.actor.uuid], "client")


def action_refusal(state: LedgerState, command: ShowAction, show: Show) -> Refusal | None:
    """Who may do what to which show (`forbidden`), in which state (the API asks it too)."""
    actor, verb = command.actor, command.verb
    if verb in ("accept", "decline"):
        if actor.role != "model":
            return _who("only the model accepts or declines a show")
        return None if show.status == REQUESTED else _what("show: not waiting for an answer")
    if verb == "end":
        if actor.uuid not in (show.client, show.model):
            return _who("only the show's client or the model ends it")
        return None if show.status in (REQUESTED, RUNNING) else _what("show: over already")
    if actor.role != "client" or actor.uuid == show.client:
        return _who("only another client spies on a show")
    if show.status != RUNNING:
        return _what("show: not running")
    if verb == "spy":
        if state.shows.spy_rates.get(command.chat, ZERO) <= ZERO:
            return _what(SHOW_REFUSALS["no_spy_rate"])
        return _what("show: spying already") if actor.uuid in show.spies else None
    return None if actor.uuid in show.spies else _what("show: not spying")


def decline(state: LedgerState, facts: Facts, show: Show) -> None:
    facts.add(ev.SHOW_ENDED, model_actor(state, show.model), show=show.id, reason="declined")
    void_hold(state, facts, show.hold_id)


def end_show(state: LedgerState, facts: Facts, show: Show, reason: str, hold: str,
             charged_now: Decimal = ZERO) -> None:
    """End the show and every spying. The show's open hold is captured (`hold="capture"`: the
    running minute is charged), voided (a request withdrawn) or left (`"none"`: resolved by the
    caller, whose captures `charged_now` adds, or by its expiry tick); spies' running minutes
    are charged."""
    for spy in list(show.spies.values()):
        end_spy(state, facts, spy, "show_ended")
    charged = show.charged + charged_now
    current = state.holds.holds.get(show.hold_id or "")
    if current is not None and current.is_open and hold != "none":
        if hold == "void":
            void_hold(state, facts, current.id)
        elif not expired(current, facts.now):
            charged += capture_hold(state, facts, current.id, show.rate, show=show.id)
    facts.add(ev.SHOW_ENDED, model_actor(state, show.model), show=show.id, reason=reason)
    facts.add(ev.SHOW_CHARGED, Actor(show.client, show.client_name, "client"), is_public=False,
              show=show.id, client=show.client, minutes=minutes_of(charged, show.rate),
              charged=charged)


def end_spy(state: LedgerState, facts: Facts, spy: Spy, reason: str,
            charged_now: Decimal = ZERO, *, capture: bool = True) -> None:
    charged = spy.charged + charged_now
    hold = state.holds.holds.get(spy.hold_id or "")
    if capture and hold is not None and hold.is_open and not expired(hold, facts.now):
        charged += capture_hold(state, facts, hold.id, spy.rate, show=spy.show, spy=spy.uuid)
    facts.add(ev.SPY_ENDED, Actor(spy.uuid, spy.name, "client"), is_public=False, show=spy.show,
              spy=spy.uuid, reason=reason, minutes=minutes_of(charged, spy.rate), charged=charged)


def minutes_of(charged: Decimal, rate: Decimal) -> int:
    return int(charged / rate) if rate > ZERO else 0
