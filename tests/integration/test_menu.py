"""DESIGN §10's tip menu through the real service: the model sets a menu, GET shows it, a viewer
buys an item (the donate event names it on the websocket and in history), a wrong sum or an
unknown item is refused at once, a menu changed before the ledger decides rejects the tip with
nothing moved, every bad menu is refused with nothing changed, and the audit is clean after.
"""

import uuid
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from databases import Database

from chatledger.domain import events as ev
from chatledger.domain.commands import Donate
from chatledger.platform.config import Settings
from chatledger.readmodels.rebuild import rebuild
from chatledger.readmodels.snapshot import audit_database
from tests.helpers.commands import produce
from tests.helpers.http import audit_clean
from tests.helpers.marker import before, only_the_marker_followed
from tests.helpers.moderation import accepted, applied, post
from tests.helpers.people import People, Someone
from tests.helpers.service import Service, start_service
from tests.helpers.ws import Client, connected

MENU = "/chat/menu"
DONATE = "/chat/donate/add"
SELECT_MENU = "SELECT version, items FROM chat_menus WHERE model_uuid = :m"


async def get_menu(http: aiohttp.ClientSession, base: str, who: Someone) -> dict[str, Any]:
    async with http.get(base + MENU, headers=who.headers) as response:
        body = await response.json()
        assert response.status == 200, body
        return dict(body)


async def menu_seen(page: Client, version: int) -> dict[str, Any]:
    """The menu_changed of this version, once the socket got it (the process folded it first)."""
    got = await page.until(
        lambda es: any(e["type"] == ev.MENU_CHANGED and e["version"] == version for e in es),
        f"menu version {version}",
    )
    return next(e for e in got if e["type"] == ev.MENU_CHANGED and e["version"] == version)


async def test_a_viewer_buys_a_menu_item_seen_live_and_in_history(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession
) -> None:
    model, viewer = await people.chat(money="50")
    base = service.url
    async with connected(http, base, viewer) as page:
        await accepted(http, base, MENU, model, {"items": [
            {"label": "Dance", "price": "5"}, {"label": "Song", "price": 12.5}]})
        changed = await menu_seen(page, 1)
        assert changed["is_public"] and changed["from"]["uuid"] == model.uuid
        shown = await get_menu(http, base, viewer)
        assert shown["version"] == 1 and shown["items"] == changed["items"]
        dance = next(i for i in shown["items"] if i["label"] == "Dance")
        assert dance["price"] == "5.00"

        tip = await accepted(http, base, DONATE, viewer, {"sum": "5.00", "menu_item": dance["id"]})
        assert [e["type"] for e in await applied(db, tip)][:1] == [ev.DONATE]
        live = await page.until(lambda es: any(e["type"] == ev.DONATE for e in es), "donate")
        assert next(e for e in live if e["type"] == ev.DONATE)["menu_item"] == dance
    assert await people.balance(viewer.uuid) == Decimal("45.00")
    assert await people.balance(model.uuid) == Decimal("5.00")
    async with http.get(base + "/chat/event/history", headers=viewer.headers) as response:
        events = (await response.json())["events"]
    assert [e["menu_item"] for e in events if e["type"] == ev.DONATE] == [dance]
    assert [e["version"] for e in events if e["type"] == ev.MENU_CHANGED] == [1]

    # Re-posted with a changed price: the unchanged item keeps its id, the changed one does not.
    async with connected(http, base, viewer) as page:
        await accepted(http, base, MENU, model, {"items": [
            {"label": "Song", "price": "12.50"}, {"label": "Dance", "price": "6"}]})
        again = await menu_seen(page, 2)
    ids = {i["label"]: i["id"] for i in changed["items"]}
    assert next(i for i in again["items"] if i["label"] == "Song")["id"] == ids["Song"]
    assert next(i for i in again["items"] if i["label"] == "Dance")["id"] != ids["Dance"]
    await audit_clean(db)


async def test_a_wrong_sum_or_an_unknown_item_is_refused_with_nothing_changed(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession
) -> None:
    model, viewer = await people.chat(money="50")
    base = service.url
    async with connected(http, base, viewer) as page:
        await accepted(http, base, MENU, model, {"items": [{"label": "Dance", "price": "5"}]})
        dance = (await menu_seen(page, 1))["items"][0]
    then = await before(db, people, model.uuid, viewer, model)
    for body, reason in [
        ({"sum": "4.99", "menu_item": dance["id"]}, "sum: must equal the item's price 5.00"),
        ({"sum": "5", "menu_item": "no-such-item"}, "menu_item: no such item on this chat's menu"),
    ]:
        status, answer = await post(http, base, DONATE, viewer, body)
        assert (status, answer.get("errors")) == (400, [reason]), answer
    await only_the_marker_followed(base, db, people, viewer, then)


async def test_a_menu_changed_before_the_ledger_decides_rejects_the_tip(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession,
    migrated: Settings,
) -> None:
    model, viewer = await people.chat(money="50")
    base = service.url
    async with connected(http, base, viewer) as page:
        await accepted(http, base, MENU, model, {"items": [{"label": "Dance", "price": "5"}]})
        dance = (await menu_seen(page, 1))["items"][0]
        await accepted(http, base, MENU, model, {"items": [{"label": "Dance", "price": "7"}]})
        await menu_seen(page, 2)
        # What the API let through while the old menu stood, reaching the ledger after the change.
        stale = Donate(str(uuid.uuid4()), model.uuid, viewer.person.as_actor(), Decimal("5.00"),
                       menu_item=dance["id"])
        await produce(migrated, [stale])
        rejected = await page.until(
            lambda es: any(e["type"] == ev.DONATE_REJECTED for e in es), "donate_rejected")
    assert next(e for e in rejected if e["type"] == ev.DONATE_REJECTED)["reason"] == "menu changed"
    assert [e["type"] for e in await applied(db, stale.command_id)] == [ev.DONATE_REJECTED]
    assert await people.balance(viewer.uuid) == Decimal("50.00")
    assert await people.balance(model.uuid) == Decimal("0.00")


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"items": [{"label": f"i{n}", "price": 1} for n in range(26)]}, 400, "items: "),
        ({"items": [{"label": "x" * 101, "price": 1}]}, 400, "items.0.label: "),
        ({"items": [{"label": "", "price": 1}]}, 400, "items.0.label: "),
        ({"items": [{"label": "ok", "price": 0}]}, 400, "items.0.price: must be greater than 0"),
        ({"items": [{"label": "ok", "price": -2}]}, 400, "items.0.price: must be greater than 0"),
        ({"items": [{"label": "ok", "price": "1.005"}]}, 400,
         "items.0.price: has more than 2 decimal places"),
        ({"items": [{"label": "ok", "price": 1}, {"label": "ok", "price": "1.00"}]}, 400,
         "items.1: the same label and price twice"),
        ({"items": "no"}, 400, "items: "),
    ],
)
async def test_a_bad_menu_is_refused_with_nothing_changed(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession,
    body: dict[str, Any], status: int, reason: str,
) -> None:
    model = await people.model()
    then = await before(db, people, model.uuid, model)
    got, answer = await post(http, service.url, MENU, model, body)
    assert got == status and answer["errors"][0].startswith(reason), answer
    await only_the_marker_followed(service.url, db, people, model, then)
    assert (await get_menu(http, service.url, model))["version"] == 0


async def test_a_viewer_may_not_set_the_menu(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession
) -> None:
    model, viewer = await people.chat()
    then = await before(db, people, model.uuid, viewer)
    got, answer = await post(http, service.url, MENU, viewer, {"items": []})
    assert got == 403 and answer["errors"] == ["only the model sets the tip menu"], answer
    await only_the_marker_followed(service.url, db, people, viewer, then)


async def test_audit_finds_a_damaged_menu_row_and_rebuild_restores_it(
    service: Service, people: People, db: Database, http: aiohttp.ClientSession
) -> None:
    model, viewer = await people.chat()
    async with connected(http, service.url, viewer) as page:
        await accepted(http, service.url, MENU, model, {"items": [{"label": "Hug", "price": 3}]})
        await menu_seen(page, 1)
    where = {"m": model.uuid}
    good = tuple(await db.fetch_one(SELECT_MENU, where))
    await db.execute("UPDATE chat_menus SET items = '[]' WHERE model_uuid = :m", where)
    report = await audit_database(db)
    assert [f.row for f in report.findings] == [f"chat_menus.model_uuid={model.uuid}"]
    await rebuild(db, ["chat_menus"])
    assert tuple(await db.fetch_one(SELECT_MENU, where)) == good
    await audit_clean(db)


async def test_a_process_started_later_knows_the_menu_from_mysql(
    service: Service, people: People, migrated: Settings, http: aiohttp.ClientSession
) -> None:
    """An api-only process seeds its rules from chat_menus: its GET and its purchase check
    know a menu set before it started (no event of it ever reaches its consumer)."""
    model, viewer = await people.chat(money="20")
    async with connected(http, service.url, viewer) as page:
        await accepted(http, service.url, MENU, model, {"items": [{"label": "Wave", "price": 2}]})
        wave = (await menu_seen(page, 1))["items"][0]
    with start_service(migrated, roles="api") as later:
        shown = await get_menu(http, later.url, viewer)
        assert (shown["version"], shown["items"]) == (1, [wave])
        status, answer = await post(http, later.url, DONATE, viewer,
                                    {"sum": "3", "menu_item": wave["id"]})
        assert (status, answer.get("errors")) == (400, ["sum: must equal the item's price 2.00"])
