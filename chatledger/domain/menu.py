"""The tip menu's rules (DESIGN §10): the model prices actions, a viewer buys one with one tip.

- `menu_refusal`: what a menu may hold (the model only, at most MAX_ITEMS, labels of 1 to
  MAX_LABEL characters, prices above zero with at most two decimals, no item twice). The API
  asks it before the ledger does (through `asks.refusal`).
- `set_menu`: a menu replaces the chat's whole menu under the next version; ids follow from the
  label and price (`menu_items.item_id`), so an unchanged item keeps its id.
- `purchase_refusal`: what the API answers at once (400) from its copy of the menu.
- `menu_changed`: the ledger's own check when it decides a purchase. The id names the price, so
  the only way a purchase the API let through fails here is that the menu changed in between:
  the tip becomes `donate_rejected` with reason MENU_CHANGED and nothing moves.
"""

from decimal import Decimal
from typing import Any

from chatledger.domain import events as ev
from chatledger.domain.commands import Donate, SetMenu
from chatledger.domain.events import Event
from chatledger.domain.facts import Facts, Refusal, require_account
from chatledger.domain.menu_items import NO_MENU, Menu, MenuItem, item_id
from chatledger.domain.state import ZERO, LedgerState
from chatledger.domain.wire import money

MAX_ITEMS = 25
MAX_LABEL = 100
MENU_CHANGED = "menu changed"
CENT = Decimal("0.01")


def menu_refusal(command: SetMenu) -> Refusal | None:
    if command.actor.role != "model":
        return Refusal("only the model sets the tip menu", forbidden=True)
    if len(command.items) > MAX_ITEMS:
        return Refusal(f"items: at most {MAX_ITEMS} items")
    seen = set()
    for index, entry in enumerate(command.items):
        if not 1 <= len(entry.label) <= MAX_LABEL or not entry.label.strip():
            return Refusal(f"items.{index}.label: from 1 to {MAX_LABEL} characters")
        if entry.price <= ZERO or entry.price != entry.price.quantize(CENT):
            return Refusal(f"items.{index}.price: above 0, at most 2 decimal places")
        key = (entry.label, entry.price)
        if key in seen:
            return Refusal(f"items.{index}: the same label and price twice")
        seen.add(key)
    return None


def menu_items(command: SetMenu) -> tuple[MenuItem, ...]:
    return tuple(
        MenuItem(item_id(entry.label, entry.price), entry.label, entry.price.quantize(CENT))
        for entry in command.items
    )


def set_menu(command: SetMenu, state: LedgerState, facts: Facts) -> None:
    require_account(state, command.chat)
    version = menu_of_chat(state, command.chat).version + 1
    facts.add(ev.MENU_CHANGED, command.actor, version=version,
              items=[item.fact() for item in menu_items(command)])


def menu_of_chat(state: LedgerState, chat: str) -> Menu:
    return state.menus.get(chat, NO_MENU)


def purchase_refusal(state: LedgerState, command: Donate) -> Refusal | None:
    """A purchase of an item on the chat's menu, at exactly its price (None: not a purchase)."""
    if command.menu_item is None:
        return None
    item = menu_of_chat(state, command.chat).item(command.menu_item)
    if item is None:
        return Refusal("menu_item: no such item on this chat's menu")
    if command.amount != item.price:
        return Refusal(f"sum: must equal the item's price {money(item.price)}")
    return None


def menu_changed(state: LedgerState, command: Donate) -> bool:
    """The ledger's check: the item named is no longer on the menu at this price."""
    return purchase_refusal(state, command) is not None


def purchase_fact(state: LedgerState, command: Donate) -> dict[str, Any]:
    """`{"menu_item": {id, label, price}}` for a `donate` event of a purchase, else nothing."""
    if command.menu_item is None:
        return {}
    item = menu_of_chat(state, command.chat).item(command.menu_item)
    return {} if item is None else {"menu_item": item.fact()}


def purchase_problem(state: LedgerState, donation: Event) -> str | None:
    """For the audit: a `donate` event's `menu_item` was on the chat's menu at that moment, as
    it says, and the sum is its price (None: fine)."""
    bought = donation.payload["menu_item"]
    item = menu_of_chat(state, donation.stream).item(bought["id"])
    if item is None or item.fact() != bought:
        return f"menu_item {bought['id']} was not on the chat's menu as the event says"
    if donation.amount != item.price:
        return f"sum {donation.amount} of an item priced {money(item.price)}"
    return None
