"""A refund (DESIGN §9): the whole sum back from the model to the donor, once; the goals it filled
lose it (a reached goal stays reached) and the sponsor rule of §6 is applied again.

The refund is as private as the tip it takes back, and names `anonymous` if the tip did.
"""

from typing import Any

from chatledger.domain import events as ev
from chatledger.domain.asks import affordable
from chatledger.domain.commands import Actor, Refund
from chatledger.domain.extras import unqueue_toy
from chatledger.domain.facts import CommandRefused, Facts, require_account
from chatledger.domain.goals import goal_fact
from chatledger.domain.state import Donation, LedgerState
from chatledger.domain.wire import money


def refund(command: Refund, state: LedgerState, facts: Facts) -> None:
    donation = state.donations.get(command.donation_id)
    if donation is None or donation.model != command.chat:
        raise CommandRefused(f"{command.donation_id} is not a donation")
    if donation.refund_id is not None:
        raise CommandRefused(f"{command.donation_id} was refunded already")
    model_balance = require_account(state, donation.model)
    if not affordable(model_balance, donation.amount):
        raise CommandRefused(
            f"the model's balance {money(model_balance)} is below the sum {money(donation.amount)}"
        )
    require_account(state, donation.donor.uuid)
    reduced = [
        goal_fact(goal, goal.sum - donation.amount)
        for goal in state.goals.get(donation.model, ())
        if goal.id in donation.goal_ids
    ]
    hidden: dict[str, Any] = {ev.ANONYMOUS: True} if donation.anonymous else {}
    facts.add(
        ev.DONATE_REFUNDED,
        donation.donor,  # whose tip it was: the money goes back to them
        is_public=not donation.private,  # as private as the tip: the donor and the model
        amount=donation.amount,
        donation_id=donation.id,
        reason=command.reason,
        goals=reduced,
        **hidden,
    )
    if donation.ranked:
        _maybe_dethrone(donation, state, facts)
    unqueue_toy(state, facts, donation)


def _maybe_dethrone(refunded: Donation, state: LedgerState, facts: Facts) -> None:
    """§6 again after a refund: the sponsor keeps the title unless someone is now strictly
    ahead (of several tied challengers, the lowest uuid, so a replay decides alike)."""
    model, donor = refunded.model, refunded.donor.uuid
    current = state.sponsors.get(model)
    if current is None or current.uuid != donor:
        return  # only the sponsor's own total fell; nobody else's rank changed
    remaining = state.donor_total(model, donor) - refunded.amount
    challengers = [
        (-total, client)
        for (chat, client), total in state.donor_totals.items()
        if chat == model and client != donor and total > remaining
    ]
    if not challengers:
        return
    negative_total, client = min(challengers)
    name = state.names.get(client, "")
    facts.add(
        ev.CHANGE_SPONSOR,
        Actor(client, name, "client"),
        sponsor={"uuid": client, "name": name},
        previous=donor,
        total=-negative_total,
    )
