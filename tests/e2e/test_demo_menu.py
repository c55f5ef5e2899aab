"""The tip menu on the demo page in a real headless Chromium (DESIGN §10): a fresh model edits
its menu, a fresh viewer sees it as buttons and buys an item with one click; both see the tip
name the item. A chat of its own (joined with tokens), so the shared demo chat's tests are not
affected. Waiting is Playwright's auto-retrying expect(), never a sleep.
"""


import pytest
from playwright.async_api import Page, expect

from chatledger.platform.config import Settings
from tests.e2e.test_demo_page import (  # noqa: F401  (fixtures)
    Chromium,
    browser,
    demo_people,
    dev_service,
    open_with_token,
    own_chat,
    rows,
)
from tests.helpers.people import People
from tests.helpers.service import Service

pytestmark = pytest.mark.e2e


async def edit_menu(page: Page, items: list[tuple[str, str]]) -> None:
    """Replace the editor's rows with `items` and save."""
    removes = page.locator("#menu-rows .menu-remove")
    for _ in range(await removes.count()):
        await removes.first.click()
    for label, price in items:
        await page.locator("#menu-add").click()
        row = page.locator("#menu-rows .menu-row").last
        await row.locator(".menu-label").fill(label)
        await row.locator(".menu-price").fill(price)
    await page.locator("#menu-form button[type=submit]").click()


async def test_the_model_sets_a_menu_and_a_viewer_buys_from_it(
    browser: Chromium, dev_service: Service, people: People, migrated: Settings,  # noqa: F811
) -> None:
    zoe_token, zoe, ian = await own_chat(browser, dev_service, people, migrated, "Zoe", "Ian")
    await expect(ian.locator("#menu-buttons")).to_be_hidden()  # no menu yet
    await expect(ian.locator("#menu-card")).to_be_hidden()  # the editor is the model's

    await edit_menu(zoe, [("Dance", "5"), ("Song", "12.50")])
    for page in (zoe, ian):
        await expect(rows(page, "Tip menu: Dance (5.00), Song (12.50)")).to_have_count(1)
    buttons = ian.locator("#menu-buttons button.menu-item")
    await expect(buttons).to_have_text(["Dance · 5.00", "Song · 12.50"])

    await buttons.filter(has_text="Dance").click()
    for page in (zoe, ian):
        bought = rows(page, "bought Dance")
        await expect(bought).to_have_count(1)
        await expect(bought).to_contain_text("tipped 5.00")

    # A page opened later starts its editor from the menu as it stands (GET /chat/menu).
    zoe = await open_with_token(browser, dev_service, zoe_token)
    await expect(zoe.locator("#menu-rows .menu-label")).to_have_count(2)
    await edit_menu(zoe, [("Song", "12.50")])
    await expect(buttons).to_have_text(["Song · 12.50"])

    # A bad price is refused with the reason, and the menu stays.
    await edit_menu(zoe, [("Song", "0")])
    await expect(zoe.locator("#notice")).to_contain_text("Menu not saved: 400")
    await expect(buttons).to_have_text(["Song · 12.50"])
