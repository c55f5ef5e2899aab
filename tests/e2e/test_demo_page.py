"""The demo page in a real headless Chromium: Mia (model), Alice and Bob (viewers) side by side.

Everything is checked on the pages themselves (text, classes, the progress bar), never through the
API; waiting is Playwright's auto-retrying expect(), never a sleep. Absence ("Alice does not see
Bob's private message") is checked after a later public marker has arrived on that page: the
gateway delivers a chat's events in seq order, so anything visible would have come before it.
"""

import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from chatledger.config import Settings
from chatledger.ledger.commands import Actor, Donate
from tests.helpers.commands import produce
from tests.helpers.demo import run_demo_accounts
from tests.helpers.service import Service, start_service

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (tools/browser.sh); never a download
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path("/tmp/chatledger-demo-page.png")

expect.set_options(timeout=30_000)


@pytest.fixture(scope="module")
def demo_people(migrated: Settings) -> dict[str, dict[str, Any]]:
    return {person["name"]: person for person in run_demo_accounts(migrated)}


@pytest.fixture(scope="module")
def dev_service(migrated: Settings, demo_people: dict[str, Any]) -> Iterator[Service]:
    with start_service(migrated, extra_env={"CHATLEDGER_DEV": "1"}) as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run tools/browser.sh (make test does)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


async def open_as(browser: Browser, service: Service, name: str) -> Page:
    """A fresh browser context per person, joined through the page's own ?as= link."""
    context = await browser.new_context(viewport={"width": 1200, "height": 760})
    page = await context.new_page()
    await page.goto(f"{service.url}/?as={name.lower()}")
    await expect(page.locator("#me")).to_contain_text(name)
    await expect(page.locator("#status")).to_have_attribute("data-state", "live")
    return page


@pytest.fixture
async def pages(browser: Browser, dev_service: Service) -> dict[str, Page]:
    return {name: await open_as(browser, dev_service, name) for name in ("Mia", "Alice", "Bob")}


def rows(page: Page, text: str) -> Any:
    return page.locator("#events li.event").filter(has_text=text)


async def say(page: Page, text: str, audience: str = "Everyone") -> None:
    await page.locator("#message-to").select_option(label=audience)
    await page.locator("#message-text").fill(text)
    await page.locator("#message-form button").click()
    await expect(page.locator("#message-text")).to_have_value("")  # cleared on 201
    await expect(page.locator("#notice")).to_be_hidden()


async def tip(page: Page, amount: str, note: str = "") -> None:
    await page.locator("#donate-sum").fill(amount)
    await page.locator("#donate-text").fill(note)
    await page.locator("#donate-form button").click()


async def seen_by_all(pages: dict[str, Page], text: str) -> None:
    for page in pages.values():
        await expect(rows(page, text)).to_have_count(1)


async def expect_goal(page: Page, name: str, done: str, percent: int) -> None:
    goal = page.locator("#goals li.goal").filter(has_text=name)
    bar = goal.locator("[role=progressbar]")
    await expect(bar).to_have_attribute("aria-valuenow", done)
    await expect(goal.locator(".fill")).to_have_attribute(
        "style", re.compile(rf"width: {percent}(\.0+)?%")
    )


async def test_messages_reach_who_may_see_them_as_plain_text(
    pages: dict[str, Page], dev_service: Service
) -> None:
    mia, alice, bob = pages["Mia"], pages["Alice"], pages["Bob"]
    run = uuid.uuid4().hex[:6]
    for page in pages.values():  # Alice and Bob watch; the model is not counted
        await expect(page.locator("#viewers")).to_have_text("2 watching")

    hello = f"hello from Alice {run}"
    await say(alice, hello)
    await seen_by_all(pages, hello)

    secret = f"psst Mia, Bob here {run}"
    await say(bob, secret, "Only Mia")
    for page in (bob, mia):
        row = rows(page, secret)
        await expect(row).to_have_count(1)
        await expect(row).to_have_class(re.compile(r"\bprivate\b"))
        await expect(row.locator(".private-tag")).to_have_text("private")
    marker = f"public after the secret {run}"
    await say(bob, marker)
    await seen_by_all(pages, marker)
    await expect(rows(alice, secret)).to_have_count(0)

    reply = f"thanks Bob {run}"
    await say(mia, reply, "Only Bob")
    await expect(rows(bob, reply)).to_have_count(1)
    await expect(rows(mia, reply).locator(".private-tag")).to_have_text("private to Bob")
    marker = f"public after the reply {run}"
    await say(mia, marker)
    await seen_by_all(pages, marker)
    await expect(rows(alice, reply)).to_have_count(0)

    # Chat text is text: markup shows literally and creates no element, runs no script.
    payloads = [
        f'<img src=x onerror="window.__xss=1"> {run}',
        f"<script>window.__xss=2</script> {run}",
    ]
    for payload in payloads:
        await say(alice, payload)
    for page in pages.values():
        for payload in payloads:
            await expect(page.locator("#events .text").filter(has_text=payload)).to_have_text(
                payload
            )
        await expect(page.locator("#events img")).to_have_count(0)
        await expect(page.locator("#events script")).to_have_count(0)
        assert await page.evaluate("window.__xss") is None

    # A reload backfills from history, then the websocket resumes after the last seq: every
    # message shows exactly once.
    await alice.reload()
    await expect(alice.locator("#status")).to_have_attribute("data-state", "live")
    after_reload = f"after the reload {run}"
    await say(bob, after_reload)
    await expect(rows(alice, after_reload)).to_have_count(1)
    for text in (hello, marker, *payloads):
        await expect(rows(alice, text)).to_have_count(1)
    await expect(rows(alice, secret)).to_have_count(0)


async def test_donations_move_the_goal_and_crown_the_top_donor(
    pages: dict[str, Page], demo_people: dict[str, dict[str, Any]], migrated: Settings
) -> None:
    mia, alice, bob = pages["Mia"], pages["Alice"], pages["Bob"]
    goal = f"Dance {uuid.uuid4().hex[:4]}"

    await mia.locator("#goal-name").fill(goal)
    await mia.locator("#goal-sum").fill("100")
    await mia.locator("#goal-form button").click()
    for page in pages.values():
        await expect_goal(page, goal, "0.00", 0)
        await expect(page.locator("#sponsor")).to_have_text("No sponsor yet")

    balances = {}
    for name in ("Alice", "Mia"):  # as the ledger has them (GET /chat/me), before the tip
        await expect(pages[name].locator("#balance")).to_have_text(re.compile(r"^balance \d"))
        shown = await pages[name].locator("#balance").text_content() or ""
        balances[name] = Decimal(shown.split()[-1])
    await tip(alice, "30", "for the dance")
    for page in pages.values():
        await expect_goal(page, goal, "30.00", 30)
        await expect(page.locator("#sponsor .sponsor-name")).to_have_text("Alice")
        await expect(rows(page, "for the dance")).to_contain_text("tipped 30.00")
    # Both balances follow the tip live, without a reload.
    await expect(alice.locator("#balance")).to_have_text(f"balance {balances['Alice'] - 30:.2f}")
    await expect(mia.locator("#balance")).to_have_text(f"balance {balances['Mia'] + 30:.2f}")

    await tip(bob, "40")
    for page in pages.values():
        await expect_goal(page, goal, "70.00", 70)
        await expect(page.locator("#sponsor .sponsor-name")).to_have_text("Bob")
        await expect(page.locator("#sponsor")).to_contain_text("40.00")

    # Refused at once: more than Bob has (the POST's 402 body, shown on his page).
    await tip(bob, "99999")
    await expect(bob.locator("#notice")).to_have_text("Tip refused: 402 insufficient funds")

    # Refused by the ledger (a race the API's pre-check cannot see): a donate_rejected event,
    # shown to Bob only.
    person = demo_people["Bob"]
    await produce(
        migrated,
        [
            Donate(
                str(uuid.uuid4()),
                demo_people["Mia"]["uuid"],
                Actor(person["uuid"], "Bob", "client"),
                Decimal("1000.00"),
                "all in",
            )
        ],
    )
    refused = bob.locator("#events li.donate_rejected")
    await expect(refused).to_contain_text("Your tip of 1000.00 was refused: insufficient funds")
    marker = f"after the refusal {uuid.uuid4().hex[:6]}"
    await say(bob, marker)
    await seen_by_all(pages, marker)
    for page in (mia, alice):
        await expect(page.locator("#events li.donate_rejected")).to_have_count(0)
    await expect_goal(bob, goal, "70.00", 70)

    # Anonymous: everyone sees the tip and the goal move, nobody sees who; no crown for it.
    quietly = f"quietly {uuid.uuid4().hex[:6]}"
    await alice.locator("#donate-anonymous").check()
    await tip(alice, "25", quietly)
    for page in pages.values():
        await expect(rows(page, quietly)).to_contain_text("anonymous")
        await expect(rows(page, quietly)).not_to_contain_text("Alice")
        await expect_goal(page, goal, "95.00", 95)
        await expect(page.locator("#sponsor .sponsor-name")).to_have_text("Bob")

    await bob.screenshot(path=str(SCREENSHOT))
