"""DESIGN §10's tip menu: `POST /chat/menu` (the model sets it) and `GET /chat/menu`.

POST is a command endpoint like the others (`command_endpoint`: 201 once on Kafka, the ledger
decides); the decider's `menu_refusal` is asked first (403 for a viewer, 400 for a bad menu).

GET answers from the process's `ChatRules`, not from MySQL: it is the very copy of the menu the
donation endpoint checks a purchase against (`donation_allowed`), so an item a client sees here
is one this process lets it buy, with no round trip; it trails the ledger by the time the events
topic takes to deliver `menu_changed` (milliseconds), and is seeded from `chat_menus` at start.
"""

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from chatledger.api.command_routes import Rejected, command_endpoint, principal_of, rules_of
from chatledger.api.openapi_types import Operation, Prose, Reply
from chatledger.api.response_models import Forbidden, Unauthorized, Unavailable
from chatledger.api.schemas import NO_CONTROLS, Money, _Body, check_money_limit, check_text
from chatledger.api.wire_models import MenuItem
from chatledger.domain.commands import ChatCommand, MenuEntry, SetMenu
from chatledger.domain.menu import MAX_ITEMS, MAX_LABEL
from chatledger.domain.wire import money
from chatledger.web import responses
from chatledger.web.auth import Principal


class MenuEntryBody(_Body):
    label: str = Field(min_length=1, max_length=MAX_LABEL,
                       json_schema_extra={"pattern": NO_CONTROLS})
    price: Money

    _text = field_validator("label")(check_text)
    _limit = field_validator("price")(check_money_limit)


class MenuBody(_Body):
    items: list[MenuEntryBody] = Field(max_length=MAX_ITEMS, description="[] clears the menu.")


class MenuResponse(BaseModel):
    """`GET /chat/menu`: the token's chat's tip menu (version 0 and no items: never set)."""

    model_config = ConfigDict(extra="forbid")

    success: Literal[True]
    version: int = Field(ge=0)
    items: list[MenuItem]


async def build_menu(
    request: web.Request, principal: Principal, command_id: str, body: MenuBody
) -> ChatCommand:
    entries = tuple(MenuEntry(item.label, item.price) for item in body.items)
    return SetMenu(command_id, principal.chat, principal.person.as_actor(), entries)


async def get_menu(request: web.Request) -> web.Response:
    try:
        principal = await principal_of(request)
        menu = (await rules_of(request)).menu(principal.chat)
    except Rejected as rejection:
        return rejection.response
    return responses.json_response({
        "success": True,
        "version": menu.version,
        "items": [{"id": i.id, "label": i.label, "price": money(i.price)} for i in menu.items],
    })


post_menu = command_endpoint(MenuBody, build_menu)

MENU_PROSE = Prose(
    "Set the chat's tip menu (models only)",
    "Only the model of the token's chat; a viewer's token gets 403 (forbidden). At most"
    f" {MAX_ITEMS} items, each a label of 1..{MAX_LABEL} characters and a price; `[]` clears"
    " it; an item twice is refused (400). Appends `menu_changed` (public) with the next version.",
    (Forbidden,),
)

MENU_READ = Operation(
    "getMenu",
    "The tip menu of the token's chat",
    (Reply(200, "The menu as the latest menu_changed left it.", MenuResponse), Unauthorized,
     Unavailable),
    "Each item's id stays the same while its label and price do; a donation naming it as"
    " `menu_item` must send exactly its price.",
)
