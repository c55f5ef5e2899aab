"""`chat_menus`: the tip menu projection (DESIGN §10), its rows, and its reads and writes.

One row per chat that ever had a menu: (version, items as the wire form's JSON). The row is
built from the folded state by `menu_rows`, the one builder the ledger writes with and `rebuild`
and `audit` use, so the JSON text of a replay and of the live row can only differ when the row
was damaged. Read with the chat's stream locked (the ledger's batch: only batches holding that
lock write the row) or in a consistent snapshot (the rules seed, the audit).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from chatledger.domain import events as ev
from chatledger.domain.commands import Donate, SetMenu
from chatledger.domain.events import Event, map_money
from chatledger.domain.menu_items import Menu, menu_of
from chatledger.domain.state import LedgerState
from chatledger.domain.wire import dumps, money
from chatledger.ledger.event_rows import placeholders


@dataclass(frozen=True, slots=True)
class MenuRow:
    version: int
    items: str  # JSON: [{"id", "label", "price": "5.00"}]


def menu_row(menu: Menu) -> MenuRow:
    items = [map_money(item.fact(), money) for item in menu.items]
    return MenuRow(menu.version, dumps(items).decode())


def menu_rows(state: LedgerState) -> dict[str, MenuRow]:
    """chat_menus: model_uuid -> its menu now."""
    return {model: menu_row(menu) for model, menu in state.menus.items()}


def menu_chats(commands: Iterable[Any]) -> list[str]:
    """The chats whose menu a batch's decisions read: a new menu's, a purchase's."""
    return sorted({
        c.chat for c in commands
        if isinstance(c, SetMenu) or (isinstance(c, Donate) and c.menu_item is not None)
    })


async def load_menus(cur: Any, state: LedgerState, models: Sequence[str] | None) -> None:
    """The menus of these chats (None: of every chat) into `state.menus`."""
    if models is not None and not models:
        return
    where = "TRUE" if models is None else f"model_uuid IN ({placeholders(len(models))})"
    await cur.execute(f"SELECT model_uuid, version, items FROM chat_menus WHERE {where}",
                      list(models or ()))
    for model, version, items in await cur.fetchall():
        state.menus[model] = menu_of({"version": version, "items": orjson.loads(items)})


async def write_menus(cur: Any, state: LedgerState, events: Iterable[Event]) -> None:
    """Upsert the rows of the chats whose menu these events changed."""
    changed = sorted({e.stream for e in events if e.type == ev.MENU_CHANGED})
    if not changed:
        return
    rows = menu_rows(state)
    await cur.execute(
        f"INSERT INTO chat_menus (model_uuid, version, items) VALUES"
        f" {placeholders(len(changed), 3)}"
        " ON DUPLICATE KEY UPDATE version = VALUES(version), items = VALUES(items)",
        [value for model in changed for value in (model, rows[model].version, rows[model].items)],
    )
