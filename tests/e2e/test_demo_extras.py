"""Paid pins and the toy queue on the demo page in a real headless Chromium (DESIGN §11): a fresh
model sets tiers and levels in its card, a viewer pins a message (every page shows it on top with
its countdown), another's cheaper pin waits in the queue and takes over when the first expires,
a tip plays the toy, and bad settings are refused with the reason. A chat of its own (joined with
tokens). Waiting is Playwright's auto-retrying expect(), never a sleep.
"""

import re
import uuid

import pytest
from playwright.async_api import Page, expect

from chatledger.ledger.accounts import create_account
from chatledger.platform.config import Settings
from chatledger.web.auth import issue_token
from tests.e2e.test_demo_page import (  # noqa: F401  (fixtures)
    Chromium,
    browser,
    demo_people,
    dev_service,
    open_with_token,
    rows,
)
from tests.helpers.people import People
from tests.helpers.service import Service

pytestmark = pytest.mark.e2e
LONG = 20_000  # ms: a pin's seconds and the clock's pass, on a loaded machine


async def save_extras(page: Page, tiers: str, levels: str) -> None:
    await page.locator("#pin-tiers").fill(tiers)
    await page.locator("#toy-levels").fill(levels)
    await page.locator("#extras-form button[type=submit]").click()


async def pin(page: Page, text: str, amount: str) -> None:
    await page.locator("#pin-message").fill(text)
    await page.locator("#pin-sum-input").fill(amount)
    await page.locator("#pin-form button").click()
    await expect(page.locator("#pin-message")).to_have_value("")  # cleared on 201


async def test_a_pin_shows_on_top_then_the_next_and_a_tip_plays_the_toy(
    browser: Chromium, dev_service: Service, people: People, migrated: Settings,  # noqa: F811
) -> None:
    run = uuid.uuid4().hex[:6]
    model = await create_account(people.db, "model", f"Zoe {run}")
    ian_account = await create_account(people.db, "client", f"Ian {run}")
    ann_account = await create_account(people.db, "client", f"Ann {run}")
    for viewer in (ian_account, ann_account):
        await people.deposit(viewer.uuid, "50")
    zoe = await open_with_token(browser, dev_service, issue_token(migrated, model.uuid, "model"))
    ian = await open_with_token(browser, dev_service,
                                issue_token(migrated, ian_account.uuid, "client", model.uuid))
    ann = await open_with_token(browser, dev_service,
                                issue_token(migrated, ann_account.uuid, "client", model.uuid))
    await expect(ian.locator("#extras-card")).to_be_hidden()  # the settings are the model's
    await expect(zoe.locator("#pin-card")).to_be_hidden()  # pins are the viewers'

    await save_extras(zoe, "1:3, 5:4", "1:7:6")
    await expect(rows(zoe, "There is no minimum tip")).to_have_count(1)  # settings_changed
    await save_extras(zoe, "5:4, 1:3", "")  # not increasing: refused, nothing changes
    await expect(zoe.locator("#notice")).to_contain_text("Settings not saved: 400")
    await expect(zoe.locator("#notice")).to_contain_text("strictly increase")
    await expect(rows(zoe, "There is no minimum tip")).to_have_count(1)

    await pin(ann, "me next", "1")
    await pin(ian, "hello on top", "5")
    for page in (zoe, ian, ann):  # Ann's pin showed first (bought first), or Ian's: one of them
        await expect(page.locator("#pinned")).to_be_visible(timeout=LONG)
        await expect(page.locator("#pin-countdown")).to_have_text(re.compile(r"^\d+s$"))
    # Both pins show, one after the other, each once, on every page.
    for page in (zoe, ian, ann):
        await expect(rows(page, "message is pinned for")).to_have_count(2, timeout=LONG)
        await expect(rows(page, "pin expired")).to_have_count(2, timeout=LONG)
        await expect(page.locator("#pinned")).to_be_hidden(timeout=LONG)
    await expect(rows(zoe, "pinned a message for 5.00")).to_have_count(1)

    await ann.locator("#donate-sum").fill("2")
    await ann.locator("#donate-form button[type=submit]").click()
    for page in (zoe, ian):
        await expect(page.locator("#toy-now")).to_have_text(f"Level 7 for Ann {run}",
                                                            timeout=LONG)
        await expect(rows(page, "The toy plays at level 7 for 6s")).to_have_count(1)
    await expect(ian.locator("#toy-countdown")).to_have_text(re.compile(r"^\d+s left$"))
    for page in (zoe, ian):  # and it ends: nothing of this chat is left for the clock
        await expect(page.locator("#toy-now")).to_have_text("The toy is resting.", timeout=LONG)
        await expect(rows(page, "The toy's turn is over")).to_have_count(1)
