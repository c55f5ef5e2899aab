"""Private and spy shows on the demo page in a real headless Chromium (DESIGN §10), minutes
shortened to 2 s: a model sets its rates; a viewer asks, is declined (its money back), asks
again and is accepted; the minutes and the charge advance; a second viewer spies and stops; the
viewer ends the show; a third viewer sees only that a show is on. What each page shows at the end
is checked against the ledger: the show_charged / spy_ended events, MySQL and GET /chat/me.

Chats of their own (joined with tokens), so the shared demo chat's tests are not affected; one
service for the module. Waiting is Playwright's auto-retrying expect(), never a sleep.
"""

import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from databases import Database
from playwright.async_api import Page, expect

from chatledger.platform.config import Settings
from tests.e2e.test_demo_page import Chromium, browser, rows  # noqa: F401
from tests.helpers.people import People, Someone
from tests.helpers.service import Service, start_service
from tests.helpers.wait import eventually

pytestmark = pytest.mark.e2e

MINUTE_S = "2"
AT_LEAST_TWO = re.compile(r"^([2-9]|\d{2,})$")


@pytest.fixture(scope="module")
def show_service(migrated: Settings) -> Iterator[Service]:
    with start_service(migrated, extra_env={"CHATLEDGER_SHOW_MINUTE_S": MINUTE_S}) as running:
        yield running


async def open_page(browser: Chromium, service: Service, who: Someone) -> Page:  # noqa: F811
    """Join with a token (this service has no demo people: the page opens the token form)."""
    page = await browser.page()
    await page.goto(service.url)
    await expect(page.locator("#token-join")).to_have_attribute("open", "")
    await page.locator("#token-input").fill(who.token)
    await page.locator("#token-form button").click()
    await expect(page.locator("#status")).to_have_attribute("data-state", "live")
    return page


async def set_rates(page: Page, private: str, spy: str) -> None:
    await page.locator("#private-rate").fill(private)
    await page.locator("#spy-rate").fill(spy)
    await page.locator("#show-rates-form button[type=submit]").click()


async def funds(page: Page, available: str, held: str) -> None:
    await expect(page.locator("#held")).to_have_text(f"available {available} · held {held}")


async def figures(page: Page) -> tuple[int, Decimal]:
    """The minutes begun and the charge so far, read together (they change at each minute)."""
    shown = await page.locator("#show-figures").evaluate(
        "node => [node.dataset.minutes, node.dataset.charged]")
    return int(shown[0]), Decimal(shown[1])


async def chatter(service: Service, who: Someone, what: str, count: int) -> None:
    async with aiohttp.ClientSession(service.url) as http:
        for n in range(count):
            body = {"message": f"chatter {what} {n}", "is_public": True}
            async with http.post("/chat/message/add", headers=who.headers, json=body) as sent:
                assert sent.status == 201, await sent.text()


async def me(service: Service, who: Someone) -> dict[str, Any]:
    async with aiohttp.ClientSession(service.url) as http, \
            http.get("/chat/me", headers=who.headers) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def bill(db: Database, kind: str, show: str, spy: str | None = None) -> tuple[int, Decimal]:
    """(minutes, charged) of a show_charged or spy_ended event, once the ledger appended it."""
    row = await eventually(lambda: db.fetch_one(
        "SELECT JSON_VALUE(payload, '$.minutes'), JSON_VALUE(payload, '$.charged')"
        " FROM chat_events WHERE type = :kind AND JSON_VALUE(payload, '$.show') = :show"
        " AND (:spy IS NULL OR JSON_VALUE(payload, '$.spy') = :spy)",
        {"kind": kind, "show": show, "spy": spy}), what=f"{kind} of {show}")
    assert row is not None
    return int(row[0]), Decimal(row[1])


async def captured(db: Database, show: str, client: str) -> Decimal:
    """What the show's holds of `client` moved to the model, by the hold_captured events."""
    total = await db.fetch_val(
        "SELECT SUM(JSON_VALUE(payload, '$.amount')) FROM chat_events"
        " WHERE type = 'hold_captured' AND JSON_VALUE(payload, '$.show') = :show"
        " AND actor_uuid = :client", {"show": show, "client": client})
    return Decimal(total or 0)


async def test_a_refused_request_shows_why(
    browser: Chromium, show_service: Service, people: People,  # noqa: F811
) -> None:
    run = uuid.uuid4().hex[:6]
    model = await people.model(f"Zoe {run}")
    poor = await people.client(model, f"Pat {run}", money="1")
    zoe = await open_page(browser, show_service, model)
    pat = await open_page(browser, show_service, poor)

    # No rate yet (GET /chat/show says so): nothing to ask for.
    await expect(pat.locator("#show-rates-now")).to_have_text("Private off · spy off")
    await expect(pat.locator("#show-request")).to_be_hidden()

    await set_rates(zoe, "2", "0")
    await expect(pat.locator("#show-rates-now")).to_have_text("Private 2.00/min · spy off")
    request = pat.locator("#show-request")
    await expect(request).to_have_text("Request private show · 2.00/min")
    await request.click()  # one minute costs 2.00; Pat has 1.00
    await expect(pat.locator("#notice")).to_have_text("Show not requested: 402 insufficient funds")
    await funds(pat, "1.00", "0.00")
    await expect(zoe.locator("#show-accept")).to_be_hidden()
    await expect(zoe.locator("#show-status")).to_have_text("No private show now.")


async def test_a_private_show_from_request_to_bill_with_a_spy(
    browser: Chromium, show_service: Service, people: People, db: Database,  # noqa: F811
) -> None:
    run = uuid.uuid4().hex[:6]
    model = await people.model(f"Zoe {run}")
    viewer = await people.client(model, f"Ian {run}", money="200")
    spy = await people.client(model, f"Eve {run}", money="20")
    watcher = await people.client(model, f"Ann {run}", money="5")
    zoe, ian, eve, ann = [await open_page(browser, show_service, who)
                          for who in (model, viewer, spy, watcher)]

    await set_rates(zoe, "2", "1")
    for page in (zoe, ian, eve, ann):
        await expect(page.locator("#show-rates-now")).to_have_text(
            "Private 2.00/min · spy 1.00/min")
    await expect(zoe.locator("#show-request")).to_be_hidden()  # the model asks no one
    # The rates' line says what changed (no word of the minimum tip, which did not).
    await expect(rows(ann, "costs")).to_have_text(
        re.compile(r"^[\d:]+\s*A private show costs 2\.00/min; spying costs 1\.00/min$"))

    # A request holds one minute; a decline gives it back.
    await ian.locator("#show-request").click()
    await expect(ian.locator("#show-status")).to_contain_text("You asked")
    await funds(ian, "198.00", "2.00")
    await expect(zoe.locator("#show-status")).to_have_text(
        f"Ian {run} asks for a private show (2.00/min).")
    await expect(ann.locator("#show-status")).to_have_text("No private show now.")
    await expect(zoe.locator("#show-end")).to_be_hidden()  # the model accepts or declines
    await expect(ian.locator("#show-end")).to_have_text("Withdraw request")
    await zoe.locator("#show-decline").click()
    await expect(ian.locator("#show-bill")).to_contain_text("Your request was declined")
    await expect(zoe.locator("#show-bill")).to_have_text(
        f"Ian {run}'s request was declined; nothing was charged.")
    await funds(ian, "200.00", "0.00")
    await expect(ian.locator("#show-request")).to_be_visible()
    await expect(rows(ann, "A request for a private show was declined")).to_have_count(1)

    # Asked again and accepted: the show runs, and the minutes and the charge advance.
    await ian.locator("#show-request").click()
    await expect(zoe.locator("#show-accept")).to_be_visible()
    await zoe.locator("#show-accept").click()
    await expect(ian.locator("#show-status")).to_have_text(
        f"Private show with Zoe {run} (2.00/min).")
    for page in (eve, ann):
        await expect(page.locator("#show-status")).to_have_text("A private show is on.")
    await expect(ian.locator("#show-figures")).to_have_attribute("data-minutes", AT_LEAST_TWO)
    minutes, so_far = await figures(ian)
    assert so_far == minutes * Decimal("2")
    # A page opened mid-show starts from GET /chat/show as of a seq, then adds only later
    # events: the same show, its minutes neither lost nor counted twice (they meet the
    # ledger's own count, which a double count never would). The model's chatter pushes the
    # show's start out of the 20 events history returns, with a minute boundary among them.
    await chatter(show_service, model, f"a {run}", 12)
    await expect(ian.locator("#show-figures")).to_have_attribute(
        "data-minutes", str((await figures(ian))[0] + 1))
    await chatter(show_service, model, f"b {run}", 12)
    await expect(rows(ian, f"chatter b {run} 11")).to_have_count(1)
    first_page, ian = ian, await open_page(browser, show_service, viewer)
    await expect(rows(ian, "A private show started")).to_have_count(0)  # not in its history
    await first_page.context.close()
    await expect(ian.locator("#show-status")).to_have_text(
        f"Private show with Zoe {run} (2.00/min).")

    async def both_counts() -> tuple[int, int]:
        shown = await db.fetch_val("SELECT minutes FROM shows WHERE model_uuid = :m"
                                   " AND status = 'running'", {"m": model.uuid})
        return (await figures(ian))[0], int(shown)

    await eventually(both_counts, until=lambda counts: counts[0] == counts[1] >= minutes,
                     what="the page's minutes meet the ledger's", timeout=20)
    await expect(ian.locator("#show-clock")).to_contain_text("by this page's clock")
    await expect(ian.locator("#show-spy")).to_be_hidden()  # not on one's own show
    show = await db.fetch_val("SELECT show_id FROM shows WHERE model_uuid = :m"
                              " AND status = 'running'", {"m": model.person.uuid})

    # A second viewer spies, hears the show, and stops.
    await expect(eve.locator("#show-spy")).to_have_text("Spy · 1.00/min")
    await eve.locator("#show-spy").click()
    await expect(eve.locator("#show-status")).to_have_text(
        "You are spying on the private show (1.00/min).")
    await expect(zoe.locator("#show-spies")).to_contain_text(f"Eve {run} spying")
    whisper = f"only for the show {run}"
    await zoe.locator("#message-text").fill(whisper)
    await zoe.locator("#message-form button").click()
    for page in (ian, eve, zoe):
        await expect(rows(page, whisper).locator(".private-tag")).to_have_text("private show")
    marker = f"Ann is still here {run}"
    await ann.locator("#message-text").fill(marker)
    await ann.locator("#message-form button").click()
    await expect(rows(ann, marker)).to_have_count(1)
    await expect(rows(ann, whisper)).to_have_count(0)  # it came before Ann's own marker
    await expect(eve.locator("#show-figures")).to_have_attribute("data-minutes", AT_LEAST_TWO)
    await eve.locator("#show-spy-end").click()
    await expect(eve.locator("#show-bill")).to_contain_text("Spying over (the viewer ended it)")
    spy_minutes, spy_paid = await bill(db, "spy_ended", show, spy.person.uuid)
    await expect(eve.locator("#show-bill")).to_have_text(
        f"Spying over (the viewer ended it): {spy_minutes} minutes, {spy_paid:.2f} charged.")
    assert spy_minutes >= 2 and spy_paid == spy_minutes * Decimal("1")
    await funds(eve, f"{20 - spy_paid:.2f}", "0.00")
    await expect(zoe.locator("#show-spies")).to_be_hidden()

    # The viewer ends it: every page's bill is the ledger's, and so is the money that moved.
    await ian.locator("#show-end").click()
    minutes, charged = await bill(db, "show_charged", show)
    text = f"Show over (the viewer ended it): {minutes} minutes, {charged:.2f} charged."
    for page in (ian, zoe):
        await expect(page.locator("#show-bill")).to_have_text(text)
    assert minutes >= 2 and charged == minutes * Decimal("2")
    assert await captured(db, show, viewer.person.uuid) == charged
    assert await people.balance(viewer.person.uuid) == Decimal("200") - charged
    mine = await me(show_service, viewer)
    left = f"{Decimal('200') - charged:.2f}"
    assert (mine["balance"], mine["available"], mine["held"]) == (left, left, "0.00")
    await expect(ian.locator("#balance")).to_have_text(f"balance {left}")
    await funds(ian, left, "0.00")
    await expect(zoe.locator("#balance")).to_have_text(f"balance {charged + spy_paid:.2f}")
    for page in (ian, eve, ann, zoe):
        await expect(page.locator("#show-status")).to_have_text("No private show now.")
    # The watcher never learned who was in the show, nor what it cost.
    shown = (await ann.locator("#room").text_content()) or ""
    assert f"Ian {run}" not in shown and f"Eve {run}" not in shown
    await expect(rows(ann, "The private show ended: the viewer ended it")).to_have_count(1)
