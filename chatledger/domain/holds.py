"""The rules of money on hold (DESIGN §10), after TigerBeetle's two-phase transfers.

Guarantees, for whoever builds a decision with these functions:
- a hold is placed only within the client's available balance (`balance - open holds`), so no
  available balance ever falls below 0 — and hence no balance either;
- a hold resolves exactly once: capture (≤ its amount moves client → model, the rest is
  released), void, or expiry (nothing moves). Resolving a hold that is not open is refused
  (`CommandRefused`), so a duplicate resolution can never be appended;
- a hold expires only at or after its `expires_at`, judged by the time the caller passes (a
  tick's due time), never by the wall clock.
Capturing a hold in full leaves the client's available balance unchanged (balance and open
holds both fall by the amount), which is what lets one decision capture a minute and place the
next against the same `available`.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from chatledger.domain import events as ev
from chatledger.domain.commands import Actor
from chatledger.domain.events import event_id_for
from chatledger.domain.facts import CommandRefused, Facts
from chatledger.domain.hold_book import Hold
from chatledger.domain.state import ZERO, LedgerState
from chatledger.domain.wire import iso

INSUFFICIENT_FUNDS = "insufficient funds"


def can_hold(state: LedgerState, client: str, amount: Decimal) -> bool:
    return ZERO < amount <= state.available(client)


def place_hold(state: LedgerState, facts: Facts, client: Actor, amount: Decimal,
               expires_at: datetime, purpose: str, **about: Any) -> str:
    """Put `amount` of `client`'s available money on hold (private to the client and the
    model); returns the hold's id. `about` names what it is for (its show, its spy)."""
    if not can_hold(state, client.uuid, amount):
        raise CommandRefused(f"{INSUFFICIENT_FUNDS}: available {state.available(client.uuid)}")
    hold_id = event_id_for(facts.command_id, len(facts.events))
    facts.record(ev.HOLD_PLACED, client, {
        "hold_id": hold_id, "client": client.uuid, "amount": amount,
        "expires_at": iso(expires_at), "purpose": purpose, **about,
    }, is_public=False)
    return hold_id


def open_hold(state: LedgerState, hold_id: str | None) -> Hold:
    hold = state.holds.holds.get(hold_id or "")
    if hold is None or not hold.is_open:
        raise CommandRefused(f"hold {hold_id}: not an open hold")
    return hold


def _client_of(hold: Hold) -> Actor:
    return Actor(hold.client, hold.client_name, "client")


def capture_hold(state: LedgerState, facts: Facts, hold_id: str | None, amount: Decimal,
                 **about: Any) -> Decimal:
    hold = open_hold(state, hold_id)
    if not ZERO <= amount <= hold.amount:
        raise CommandRefused(f"hold {hold.id}: cannot capture {amount} of {hold.amount}")
    facts.record(ev.HOLD_CAPTURED, _client_of(hold),
                 {"hold_id": hold.id, "amount": amount, **about}, is_public=False)
    return amount


def void_hold(state: LedgerState, facts: Facts, hold_id: str | None) -> None:
    hold = open_hold(state, hold_id)
    facts.add(ev.HOLD_VOIDED, _client_of(hold), is_public=False, hold_id=hold.id)


def expire_hold(state: LedgerState, facts: Facts, hold_id: str | None, due: datetime) -> None:
    hold = open_hold(state, hold_id)
    if due < hold.expires_at:
        raise CommandRefused(f"hold {hold.id}: not due until {iso(hold.expires_at)}")
    facts.add(ev.HOLD_EXPIRED, _client_of(hold), is_public=False, hold_id=hold.id)


def expired(hold: Hold, now: datetime) -> bool:
    """A hold whose time ran out (a service that was down past it) is never captured."""
    return now >= hold.expires_at
