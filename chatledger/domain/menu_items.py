"""A chat's tip menu as the state keeps it (DESIGN §10), and how its items are named.

An item's id is a digest of its label and price, so the same label at the same price keeps its
id across every re-post of the menu, and a changed price or label is a new id: a purchase that
names an id is, by its id alone, a purchase at that exact price. Two items with the same label
and price would share an id, so a menu may not hold both (`menu.py` refuses it).
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

ID_LENGTH = 16  # hex digits: 64 bits, within a chat's 25 items a collision is out of reach


@dataclass(frozen=True, slots=True)
class MenuItem:
    id: str
    label: str
    price: Decimal

    def fact(self) -> dict[str, Any]:
        """The item as events carry it (`menu_changed` items, a purchase's `menu_item`)."""
        return {"id": self.id, "label": self.label, "price": self.price}


@dataclass(frozen=True, slots=True)
class Menu:
    version: int = 0  # 0: the chat never had a menu
    items: tuple[MenuItem, ...] = ()

    def item(self, item_id: str) -> MenuItem | None:
        return next((item for item in self.items if item.id == item_id), None)


NO_MENU = Menu()


def item_id(label: str, price: Decimal) -> str:
    text = f"{label}\x00{price:.2f}".encode()
    return hashlib.sha256(text).hexdigest()[:ID_LENGTH]


def menu_of(payload: Mapping[str, Any]) -> Menu:
    """A `menu_changed` payload back as the menu (money fields already Decimals)."""
    return Menu(
        int(payload["version"]),
        tuple(MenuItem(i["id"], i["label"], Decimal(i["price"])) for i in payload["items"]),
    )
