"""The rules of paid pins and the toy queue (DESIGN §11).

Guarantees (the audit checks each: `readmodels/extras_audit.py`):
- a pin moves its sum from the client to the model once, under a tip's rules (not banned, not
  muted: a pin speaks; within the available balance), and shows for the seconds of the highest
  tier its sum reaches; a pin the ledger cannot take is `pin_rejected` (private to the buyer) and
  nothing moves;
- a chat shows at most one pin: the highest sum first, then the oldest. Every pin that shows has
  exactly one `pin_started` (which carries its `ends_at`), the first one too: a pin bought while
  none shows waits for the clock's next pass (`pin:<oldest queued>:start`, due when it was
  bought), so pins bought together (one batch, or within the clock's interval) show the highest
  sum first and a page shows what `pin_started` says and nothing else. When the showing pin ends
  (`pin_expired` at its `ends_at`, or `pin_removed`), the next one starts in the same decision;
- a ban of the buyer or a deletion of the pin (by the model or its buyer) removes it, showing or
  queued, without refund;
- a tip that reaches a toy level queues one turn (`toy_queued`, as private and as anonymous as
  the tip); turns play one at a time in the order queued, each `toy_started` once and
  `toy_finished` once at its `ends_at`; a turn whose tip is refunded before it began is
  `toy_removed`. `toy_started` and `toy_finished` are the model's and name no donor.
- starts are decided at the decision's time and ends by the tick's due time (`extra_ticks.py`).
"""

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from chatledger.domain import events as ev
from chatledger.domain.asks import affordable, speech_refusal
from chatledger.domain.commands import Actor, DeleteMessage, Donate, PinMessage
from chatledger.domain.extras_book import QUEUED, SHOWING, Pin, ToyTurn
from chatledger.domain.extras_settings import reached
from chatledger.domain.facts import Facts, Refusal, require_account
from chatledger.domain.state import Donation, LedgerState
from chatledger.domain.wire import iso, money

INSUFFICIENT_FUNDS = "insufficient funds"
NO_PINS = "pin: this chat takes no pins"


def pin_refusal(state: LedgerState, chat: str, amount: Any) -> str | None:
    """No tiers, or a sum below the lowest (the API answers 400; the ledger rejects a race)."""
    tiers = state.extras.pin_tiers.get(chat, ())
    if not tiers:
        return NO_PINS
    if reached(tiers, amount) is None:
        return f"sum: below the lowest pin tier {money(tiers[0].min)}"
    return None


def pin(command: PinMessage, state: LedgerState, facts: Facts) -> None:
    require_account(state, command.chat)
    require_account(state, command.actor.uuid)
    chat, client, amount = command.chat, command.actor, command.amount
    rejected = speech_refusal(state, chat, client.uuid, True, facts.now)
    rejected = rejected or pin_refusal(state, chat, amount)
    if rejected is None and not affordable(state.available(client.uuid), amount):
        rejected = INSUFFICIENT_FUNDS
    if rejected is not None:
        facts.add(ev.PIN_REJECTED, client, is_public=False, amount=amount, reason=rejected,
                  message=command.text)
        return
    tier = reached(state.extras.pin_tiers[chat], amount)
    assert tier is not None
    pin_id = facts.next_id()
    facts.add(ev.MESSAGE_PINNED, client, amount=amount, pin=pin_id, message=command.text,
              seconds=tier.seconds)
    # It starts by the clock's tick (`extra_ticks.py`) if none shows: see the module's docstring.


def start_next_pin(state: LedgerState, facts: Facts, chat: str, gone: Iterable[str] = ()) -> None:
    """Show the best of the queue (less `gone`: removed in this very decision)."""
    left = set(gone)
    candidates = [p for p in state.extras.queued_pins(chat) if p.id not in left]
    if not candidates:
        return
    best = min(candidates, key=lambda p: p.rank)
    facts.add(ev.PIN_STARTED, Actor(best.client, best.client_name, "client"), pin=best.id,
              message=best.message, sum=best.amount, seconds=best.seconds,
              ends_at=iso(facts.now + timedelta(seconds=best.seconds)))


def live_pins(state: LedgerState, chat: str) -> list[Pin]:
    showing = state.extras.showing_pin(chat)
    return ([showing] if showing else []) + state.extras.queued_pins(chat)


def remove_pins(state: LedgerState, facts: Facts, chat: str, pins: list[Pin], by: Actor,
                reason: str) -> None:
    """Take pins down (no refund); when the showing one goes, the next starts."""
    if not pins:
        return
    for gone in pins:
        facts.add(ev.PIN_REMOVED, by, pin=gone.id, reason=reason)
    if any(p.status == SHOWING for p in pins):
        start_next_pin(state, facts, chat, gone=[p.id for p in pins])


def remove_pins_of(state: LedgerState, facts: Facts, chat: str, client: str, by: Actor) -> None:
    """A ban: every pin of the client in the chat, showing or queued."""
    remove_pins(state, facts, chat, [p for p in live_pins(state, chat) if p.client == client],
                by, "banned")


def pin_of(state: LedgerState, command: DeleteMessage) -> Pin | None:
    """The pin a deletion names in its chat (None: it names no pin: a message, maybe)."""
    found = state.extras.pins.get(command.message_id)
    return found if found is not None and found.model == command.chat else None


def pin_deletion_refusal(found: Pin, command: DeleteMessage) -> Refusal | None:
    if found.status not in (QUEUED, SHOWING):
        return Refusal("id: the pin is over already")
    if command.actor.role != "model" and command.actor.uuid != found.client:
        return Refusal("only the model or the author deletes a message", forbidden=True)
    return None


def delete_pin(state: LedgerState, facts: Facts, found: Pin, by: Actor) -> None:
    remove_pins(state, facts, found.model, [found], by, "deleted")


def queue_toy(state: LedgerState, facts: Facts, command: Donate, donation_id: str) -> None:
    """After a tip's `donate`: its toy turn, if it reaches a level, started if the toy is idle."""
    level = reached(state.extras.toy_levels.get(command.chat, ()), command.amount)
    if level is None:
        return
    hidden: dict[str, Any] = {ev.ANONYMOUS: True} if command.anonymous else {}
    facts.add(ev.TOY_QUEUED, command.actor, is_public=command.is_public, donation=donation_id,
              level=level.level, seconds=level.seconds, **hidden)
    if state.extras.playing_turn(command.chat) is None:
        new = ToyTurn(donation_id, command.chat, command.actor.uuid, command.actor.name,
                      command.is_public, command.anonymous, level.level, level.seconds,
                      facts.events[-1].seq)
        start_next_turn(state, facts, command.chat, new)


def start_next_turn(state: LedgerState, facts: Facts, chat: str,
                    new: ToyTurn | None = None) -> None:
    queue = state.extras.queued_turns(chat) + ([new] if new is not None else [])
    if not queue:
        return
    turn = queue[0]
    facts.add(ev.TOY_STARTED, Actor(chat, state.names.get(chat, ""), "model"),
              donation=turn.donation, level=turn.level, seconds=turn.seconds,
              ends_at=iso(facts.now + timedelta(seconds=turn.seconds)))


def unqueue_toy(state: LedgerState, facts: Facts, donation: Donation) -> None:
    """A refund of a tip whose turn has not begun takes the turn away (as private as the tip)."""
    turn = state.extras.toys.get(donation.id)
    if turn is None or turn.status != QUEUED:
        return
    hidden: dict[str, Any] = {ev.ANONYMOUS: True} if donation.anonymous else {}
    facts.add(ev.TOY_REMOVED, donation.donor, is_public=not donation.private,
              donation=donation.id, reason="refunded", **hidden)
