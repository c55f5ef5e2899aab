"""The state the rules need, and `evolve`: how one event changes it.

The same fold runs inline in the ledger (over the rows a batch touches), in `rebuild` and in
`audit` (over all of `chat_events`). It updates the state in place because a full replay folds
millions of events into one state; `decide` never mutates it.
"""

import sys
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from chatledger.domain import events as ev
from chatledger.domain.commands import Actor
from chatledger.domain.events import Event
from chatledger.domain.extras_book import ExtrasBook, fold_extra, fold_settings
from chatledger.domain.hold_book import HOLD_TYPES, HoldBook, fold_hold
from chatledger.domain.menu_items import Menu, menu_of
from chatledger.domain.show_book import ShowBook, fold_rates, fold_show

ZERO = Decimal("0.00")


@dataclass(slots=True)
class Goal:
    id: str
    model: str
    name: str
    require_sum: Decimal
    sum: Decimal = ZERO
    reached: bool = False
    queue_seq: int | None = None  # queued: the seq of its new_goal, its place in the queue


@dataclass(slots=True)
class Sponsor:
    uuid: str
    name: str


@dataclass(slots=True)
class Donation:
    """What a refund needs of a donation: whose money, how much, which day, which goals."""

    id: str
    model: str
    donor: Actor
    amount: Decimal
    day: date  # UTC: the leaderboard period a refund is subtracted from
    anonymous: bool
    goal_ids: tuple[str, ...]  # the goals that were active when it was made
    refund_id: str | None = None  # the donate_refunded event, once refunded
    private: bool = False  # seen by the donor and the model only, like all that follows from it

    @property
    def ranked(self) -> bool:
        """Counts for the sponsor and the leaderboards (DESIGN §6): neither an anonymous tip
        nor a private one does, so no public event ever names its donor."""
        return not (self.anonymous or self.private)


@dataclass(slots=True)
class Message:
    id: str
    model: str
    author: str
    deletion_id: str | None = None  # the message_deleted event, once deleted


Pair = tuple[str, str]  # (model, client)


@dataclass(slots=True)
class LedgerState:
    """Everything the rules read, folded from events (the ledger loads only what a batch needs).

    `kinds` is the one part no event folds: accounts are opened outside the event log, so the
    ledger loads them beside the balances (a fold over events alone leaves it empty).
    """

    versions: dict[str, int] = field(default_factory=dict)
    balances: dict[str, Decimal] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # owner -> "model" | "client"
    names: dict[str, str] = field(default_factory=dict)  # client -> name (to name a sponsor)
    goals: dict[str, list[Goal]] = field(default_factory=dict)  # model -> its active goals
    queued_goals: dict[str, list[Goal]] = field(default_factory=dict)  # -> waiting, in order
    donor_totals: dict[Pair, Decimal] = field(default_factory=dict)
    donor_days: dict[tuple[str, str, date], Decimal] = field(default_factory=dict)
    sponsors: dict[str, Sponsor] = field(default_factory=dict)
    closed_goals: list[Goal] = field(default_factory=list)
    min_donations: dict[str, Decimal] = field(default_factory=dict)  # model -> minimum tip
    mutes: dict[Pair, datetime] = field(default_factory=dict)  # -> muted until (may be past)
    bans: set[Pair] = field(default_factory=set)
    donations: dict[str, Donation] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    menus: dict[str, Menu] = field(default_factory=dict)  # model -> its tip menu
    holds: HoldBook = field(default_factory=HoldBook)
    shows: ShowBook = field(default_factory=ShowBook)
    extras: ExtrasBook = field(default_factory=ExtrasBook)  # paid pins, the toy queue

    def available(self, client: str) -> Decimal:
        """What a client may spend or put on hold now: the balance less its open holds."""
        return self.balances.get(client, ZERO) - self.holds.held_by(client)

    def donor_total(self, model: str, client: str) -> Decimal:
        return self.donor_totals.get((model, client), ZERO)

    def is_muted(self, model: str, client: str, now: datetime) -> bool:
        until = self.mutes.get((model, client))
        return until is not None and now < until


def evolve(state: LedgerState, event: Event) -> LedgerState:
    state.versions[event.stream] = event.seq
    handler = _EVOLVERS.get(event.type)
    if handler is not None:
        handler(state, event)
    return state


def _credit(state: LedgerState, owner: str, amount: Decimal) -> None:
    state.balances[owner] = state.balances.get(owner, ZERO) + amount


def _deposited(state: LedgerState, event: Event) -> None:
    assert event.amount is not None
    _credit(state, event.stream, event.amount)


def _paid_out(state: LedgerState, event: Event) -> None:
    assert event.amount is not None
    _credit(state, event.stream, -event.amount)


# A full replay keeps one Donation per donation and one Message per message (a refund or a
# deletion may name any of them). Each event read from MySQL brings its own copies of the chat's
# and the person's uuid and name; interned, every entry shares one copy (measured: a message
# costs 187 bytes instead of 357, a donation 473 instead of 694).
def _shared(actor: Actor) -> Actor:
    return Actor(sys.intern(actor.uuid), sys.intern(actor.name), actor.role)


def donation_of(event: Event, refund_id: str | None = None) -> Donation:
    """What a `donate` event leaves for a refund to read (the ledger builds it from the row too)."""
    assert event.amount is not None and event.actor is not None
    goal_ids = tuple(goal["id"] for goal in event.payload.get("goals") or ())
    return Donation(
        event.event_id, sys.intern(event.stream), _shared(event.actor), event.amount,
        event.created_at.date(), bool(event.payload.get(ev.ANONYMOUS)), goal_ids, refund_id,
        not event.is_public,
    )


def message_of(event: Event, deletion_id: str | None = None) -> Message:
    assert event.actor is not None
    return Message(
        event.event_id, sys.intern(event.stream), sys.intern(event.actor.uuid), deletion_id
    )


def _donated(state: LedgerState, event: Event) -> None:
    donation = donation_of(event)
    model, donor, amount = donation.model, donation.donor, donation.amount
    _credit(state, donor.uuid, -amount)
    _credit(state, model, amount)
    if donation.ranked:
        state.names[donor.uuid] = donor.name
        _rank(state, model, donor.uuid, donation.day, amount)
    for goal in state.goals.get(model, ()):
        goal.sum += amount
    state.donations[donation.id] = donation


def _rank(state: LedgerState, model: str, client: str, day: date, amount: Decimal) -> None:
    """Move a donor's all-time and per-day totals (a refund moves them back)."""
    state.donor_totals[(model, client)] = state.donor_total(model, client) + amount
    key = (model, client, day)
    state.donor_days[key] = state.donor_days.get(key, ZERO) + amount


def _refunded(state: LedgerState, event: Event) -> None:
    donation = state.donations.get(event.payload["donation_id"])
    if donation is None:  # never decided so; a damaged log is the audit's to report, not a crash
        return
    model, donor, amount = donation.model, donation.donor.uuid, donation.amount
    _credit(state, model, -amount)
    _credit(state, donor, amount)
    if donation.ranked:
        _rank(state, model, donor, donation.day, -amount)
    reduced = {goal["id"] for goal in event.payload.get("goals") or ()}
    for goal in state.goals.get(model, ()):
        if goal.id in reduced:
            goal.sum -= amount
    donation.refund_id = event.event_id


def _goal_added(state: LedgerState, event: Event) -> None:
    raw = event.payload["goal"]
    goal = Goal(raw["id"], event.stream, raw["name"], Decimal(raw["require_sum"]))
    if event.payload.get("queued"):
        goal.queue_seq = event.seq
        state.queued_goals.setdefault(event.stream, []).append(goal)
    else:
        state.goals.setdefault(event.stream, []).append(goal)


def _goal_started(state: LedgerState, event: Event) -> None:
    goal_id = event.payload["goal"]["id"]
    waiting = state.queued_goals.get(event.stream, [])
    started = [goal for goal in waiting if goal.id == goal_id]
    state.queued_goals[event.stream] = [goal for goal in waiting if goal.id != goal_id]
    state.goals.setdefault(event.stream, []).extend(started)


def _goal_ended(state: LedgerState, event: Event) -> None:
    goal_id = event.payload["goal"]["id"]
    active = state.goals.get(event.stream, [])
    for goal in active:
        if goal.id == goal_id:
            goal.reached = True
            state.closed_goals.append(goal)
    state.goals[event.stream] = [goal for goal in active if goal.id != goal_id]


def _sponsor_changed(state: LedgerState, event: Event) -> None:
    sponsor = event.payload["sponsor"]
    state.sponsors[event.stream] = Sponsor(sponsor["uuid"], sponsor["name"])


def _settings_changed(state: LedgerState, event: Event) -> None:
    if event.payload.get("min_donation") is not None:
        state.min_donations[event.stream] = Decimal(event.payload["min_donation"])
    fold_rates(state.shows, event)
    fold_settings(state.extras, event)


def _show_event(state: LedgerState, event: Event) -> None:
    if event.type in HOLD_TYPES:
        fold_hold(state.holds, state.balances, event)
    fold_show(state.shows, event)


def _target(event: Event) -> Pair:
    return (event.stream, event.payload["client"]["uuid"])


def _muted(state: LedgerState, event: Event) -> None:
    state.mutes[_target(event)] = event.created_at + timedelta(seconds=event.payload["seconds"])


def _banned(state: LedgerState, event: Event) -> None:
    state.bans.add(_target(event))


def _unbanned(state: LedgerState, event: Event) -> None:
    state.bans.discard(_target(event))


def _message_posted(state: LedgerState, event: Event) -> None:
    state.messages[event.event_id] = message_of(event)


def _message_deleted(state: LedgerState, event: Event) -> None:
    message = state.messages.get(event.payload["message_id"])
    if message is not None:  # the ledger loads only the messages its batch names
        message.deletion_id = event.event_id


def _menu_changed(state: LedgerState, event: Event) -> None:
    state.menus[event.stream] = menu_of(event.payload)


def _extra_event(state: LedgerState, event: Event) -> None:
    fold_extra(state.extras, state.balances, event)


_EVOLVERS = {
    ev.MENU_CHANGED: _menu_changed,
    ev.MESSAGE: _message_posted,
    ev.MESSAGE_DELETED: _message_deleted,
    ev.DONATE_REFUNDED: _refunded,
    ev.SETTINGS_CHANGED: _settings_changed,
    ev.VIEWER_MUTED: _muted,
    ev.VIEWER_BANNED: _banned,
    ev.VIEWER_UNBANNED: _unbanned,
    ev.DEPOSITED: _deposited,
    ev.PAID_OUT: _paid_out,
    ev.DONATE: _donated,
    ev.NEW_GOAL: _goal_added,
    ev.END_GOAL: _goal_ended,
    ev.GOAL_STARTED: _goal_started,
    ev.CHANGE_SPONSOR: _sponsor_changed,
    **dict.fromkeys(ev.SHOW_TYPES, _show_event),
    **dict.fromkeys(ev.EXTRAS_TYPES, _extra_event),
}
