"""The demo page in a real headless Chromium: Mia (model), Alice and Bob (viewers) side by side.

Everything is checked on the pages themselves (text, classes, the progress bar), never through the
API (the leaderboard is compared with what the API answers for the same period); waiting is
Playwright's auto-retrying expect(), never a sleep. Absence ("Alice does not see Bob's private
message") is checked after a later public marker has arrived on that page: the gateway delivers a
chat's events in seq order, so anything visible would have come before it. A page that throws a
JavaScript error fails its test.

The tests share one chat and run in file order: the first expects no sponsor yet. Viewers the
day-one tests moderate or rank are fresh each run and join with a token (the page's other way in).
"""

import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Error, Page, async_playwright, expect

from chatledger.domain.commands import Actor, Donate
from chatledger.ledger.accounts import create_account
from chatledger.platform.config import Settings
from chatledger.web.auth import issue_token
from tests.helpers.cli import cli
from tests.helpers.commands import produce
from tests.helpers.demo import run_demo_accounts
from tests.helpers.people import People
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


@dataclass
class Chromium:
    """The browser, and every JavaScript error any of its pages threw (the test fails on one)."""

    browser: Browser
    errors: list[Error] = field(default_factory=list)

    async def page(self) -> Page:
        context = await self.browser.new_context(viewport={"width": 1200, "height": 760})
        page = await context.new_page()
        page.on("pageerror", lambda error: self.errors.append(error))
        return page


@pytest.fixture
async def browser() -> AsyncIterator[Chromium]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run tools/browser.sh (make test does)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        chromium = Chromium(launched)
        yield chromium
        await launched.close()
    assert not chromium.errors, f"the page threw: {chromium.errors}"


async def open_as(browser: Chromium, service: Service, name: str) -> Page:
    """A fresh browser context per person, joined through the page's own ?as= link."""
    page = await browser.page()
    await page.goto(f"{service.url}/?as={name.lower()}")
    await expect(page.locator("#me")).to_contain_text(name)
    await expect(page.locator("#status")).to_have_attribute("data-state", "live")
    return page


async def open_with_token(
    browser: Chromium, service: Service, token: str, state: str = "live"
) -> Page:
    """The other way in: paste a token from `chatledger token` into the join form."""
    page = await browser.page()
    await page.goto(service.url)
    # The roster's buttons land above the form when /dev/tokens answers and move the summary:
    # a click aimed before that can miss it and leave the form closed (seen once in CI).
    await expect(page.locator("#join-hint")).not_to_have_text("Looking for the demo people…")
    await page.locator("#token-join summary").click()
    await expect(page.locator("#token-join")).to_have_attribute("open", "")
    await page.locator("#token-input").fill(token)
    await page.locator("#token-form button").click()
    await expect(page.locator("#status")).to_have_attribute("data-state", state)
    return page


async def own_chat(
    browser: Chromium, service: Service, people: People, settings: Settings, model_name: str,
    viewer_name: str,
) -> tuple[str, Page, Page]:
    """A fresh model and a viewer with 50.00 in a chat of their own (the shared demo chat's
    tests are not affected), each on a page joined with a token: the model's token and pages."""
    run = uuid.uuid4().hex[:6]
    model = await create_account(people.db, "model", f"{model_name} {run}")
    viewer = await create_account(people.db, "client", f"{viewer_name} {run}")
    await people.deposit(viewer.uuid, "50")
    model_token = issue_token(settings, model.uuid, "model")
    model_page = await open_with_token(browser, service, model_token)
    viewer_page = await open_with_token(browser, service,
                                        issue_token(settings, viewer.uuid, "client", model.uuid))
    return model_token, model_page, viewer_page


@pytest.fixture
async def pages(browser: Chromium, dev_service: Service) -> dict[str, Page]:
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


# ---- day one: the leaderboard, refunds, the minimum tip, moderation ----------------------------

PERIODS = ("day", "week", "month", "all")


@dataclass
class Newcomers:
    """Fresh viewers of Mia's chat, joined with a token as `chatledger token` prints it."""

    browser: Chromium
    service: Service
    people: People
    settings: Settings
    chat: str

    async def token(self, name: str, money: str) -> str:
        person = await create_account(self.people.db, "client", name)
        await self.people.deposit(person.uuid, money)
        return issue_token(self.settings, person.uuid, "client", self.chat)

    async def join(self, name: str, money: str) -> tuple[Page, str]:
        token = await self.token(name, money)
        return await open_with_token(self.browser, self.service, token), token


@pytest.fixture
def newcomers(
    browser: Chromium, dev_service: Service, people: People, migrated: Settings,
    demo_people: dict[str, dict[str, Any]],
) -> Newcomers:
    return Newcomers(browser, dev_service, people, migrated, demo_people["Mia"]["uuid"])


async def api_board(service: Service, token: str, period: str) -> list[tuple[str, str]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{service.url}/chat/leaderboard?period={period}",
                 headers={"Authorization": f"Bearer {token}"}) as answer,
    ):
        assert answer.status == 200, await answer.text()
        body = await answer.json()
    return [(entry["name"], entry["total"]) for entry in body["entries"]]


async def choose_period(page: Page, period: str) -> None:
    await page.locator(f'#periods button[data-period="{period}"]').click()
    await expect(page.locator(f'#periods button[data-period="{period}"]')).to_have_attribute(
        "aria-selected", "true"
    )


async def expect_board(page: Page, period: str, entries: list[tuple[str, str]]) -> None:
    board = page.locator("#leaderboard")
    await expect(board).to_have_attribute("data-period", period)
    await expect(board.locator("li.leader .leader-name")).to_have_text([n for n, _ in entries])
    await expect(board.locator("li.leader .leader-total")).to_have_text([t for _, t in entries])


async def from_the_menu(page: Page, text: str, button: str, seconds: str | None = None) -> None:
    """Open the menu of the message with `text`, press `button`; the menu closes on a 201."""
    row = rows(page, text)
    await row.locator("summary.menu-toggle").click()
    if seconds is not None:
        await row.locator("input.mute-seconds").fill(seconds)
    await row.locator(button).click()
    await expect(row.locator("details.menu[open]")).to_have_count(0)


async def test_the_leaderboard_switches_periods_and_a_refund_is_marked_everywhere(
    pages: dict[str, Page], newcomers: Newcomers, demo_people: dict[str, dict[str, Any]]
) -> None:
    mia = pages["Mia"]
    run = uuid.uuid4().hex[:6]
    name = f"Dora {run}"
    dora, _ = await newcomers.join(name, "500")
    service = newcomers.service
    everyone = [*pages.values(), dora]
    await expect(dora.locator("#me")).to_contain_text(name)  # GET /chat/me names the token

    note = f"a big one {run}"
    await tip(dora, "150", note)
    for page in everyone:
        await expect(rows(page, note)).to_contain_text("tipped 150.00")
        # Every board refreshes on the tip (all time, the default): Dora gave the most.
        await expect(page.locator("#leaderboard li.leader").first).to_contain_text(name)

    model_token = demo_people["Mia"]["token"]
    for period in PERIODS:
        await choose_period(mia, period)
        expected = await api_board(service, model_token, period)
        assert expected[0] == (name, "150.00"), (period, expected)
        await expect_board(mia, period, expected)
    await choose_period(mia, "day")

    # The refund comes from the command line; every page marks the tip and its board drops it.
    donation = await rows(mia, note).get_attribute("data-id")
    assert donation is not None
    ran = await cli("refund", donation, "--reason", "disputed")
    assert ran.code == 0, ran
    for page in everyone:
        row = rows(page, note)
        await expect(row).to_have_class(re.compile(r"\brefunded\b"))
        await expect(row.locator(".refunded-tag")).to_have_text("refunded")
        await expect(rows(page, f"{name}'s tip of 150.00 was refunded: disputed")).to_have_count(1)
        await expect(page.locator("#leaderboard")).not_to_contain_text(name)
    await expect(dora.locator("#balance")).to_have_text("balance 500.00")
    await expect_board(mia, "day", await api_board(service, model_token, "day"))

    # A reload rebuilds the mark from history.
    await mia.reload()
    await expect(mia.locator("#status")).to_have_attribute("data-state", "live")
    await expect(rows(mia, note).locator(".refunded-tag")).to_have_text("refunded")


async def test_the_minimum_tip_is_set_shown_and_enforced(
    pages: dict[str, Page], newcomers: Newcomers, demo_people: dict[str, dict[str, Any]]
) -> None:
    mia, alice, bob = pages["Mia"], pages["Alice"], pages["Bob"]
    run = uuid.uuid4().hex[:6]
    try:
        await mia.locator("#min-donation").fill("5")
        await mia.locator("#settings-form button").click()
        await expect(mia.locator("#min-tip-now")).to_have_text("Now 5.00.")
        for page in (alice, bob):
            await expect(page.locator("#min-tip")).to_have_text("Minimum tip 5.00")
            await expect(rows(page, "The minimum tip is now 5.00")).not_to_have_count(0)

        await tip(alice, "2", f"too little {run}")
        await expect(alice.locator("#notice")).to_contain_text("Tip refused: 400 bad params")
        await expect(alice.locator("#notice")).to_contain_text("minimum")

        # Known on page load too: from the demo roster, and from history after a token join.
        await alice.reload()
        await expect(alice.locator("#status")).to_have_attribute("data-state", "live")
        await expect(alice.locator("#min-tip")).to_have_text("Minimum tip 5.00")
        eve, _ = await newcomers.join(f"Eve {run}", "20")
        await expect(eve.locator("#min-tip")).to_have_text("Minimum tip 5.00")

        enough = f"just enough {run}"
        await tip(alice, "5", enough)
        await expect(rows(bob, enough)).to_contain_text("tipped 5.00")

        await mia.locator("#min-donation").fill("0")
        await mia.locator("#settings-form button").click()
        for page in (alice, bob, eve):
            await expect(page.locator("#min-tip")).to_be_hidden()
        await expect(mia.locator("#min-tip-now")).to_have_text("No minimum.")
    finally:  # the next tests of this chat tip freely whatever happened here
        async with aiohttp.ClientSession() as http:
            await http.post(f"{newcomers.service.url}/chat/settings", json={"min_donation": 0},
                            headers={"Authorization": f"Bearer {demo_people['Mia']['token']}"})


async def test_the_model_deletes_mutes_and_bans_from_the_message_menu(
    pages: dict[str, Page], newcomers: Newcomers
) -> None:
    mia, alice, bob = pages["Mia"], pages["Alice"], pages["Bob"]
    run = uuid.uuid4().hex[:6]
    cleo_name = f"Cleo {run}"
    cleo, token = await newcomers.join(cleo_name, "20")
    everyone = {**pages, "Cleo": cleo}

    # The model deletes a viewer's message: it leaves every page. A viewer has no menu on
    # someone else's message; the author has one (and so has the model, on every message).
    async def deleted_everywhere(author: Page, deleter: Page, text: str) -> None:
        await say(author, text)
        await seen_by_all(everyone, text)
        await expect(rows(author, text).locator("details.menu")).to_have_count(1)
        for page in (alice, bob, cleo):
            if page is not author:
                await expect(rows(page, text).locator("details.menu")).to_have_count(0)
        await from_the_menu(deleter, text, "button.delete")
        for page in everyone.values():
            await expect(rows(page, text)).to_have_count(0)

    await deleted_everywhere(alice, mia, f"delete me {run}")
    # The author deletes its own.
    await deleted_everywhere(bob, bob, f"I take it back {run}")

    # Muted: the viewer is told, and a message they send is refused with the 403's reason.
    troll = f"troll {run}"
    await say(cleo, troll)
    await seen_by_all(everyone, troll)
    await from_the_menu(mia, troll, "button.mute", seconds="120")
    await expect(rows(alice, f"{cleo_name} was muted for 120s")).to_have_count(1)
    await expect(cleo.locator("#notice")).to_contain_text("You are muted for 120s")
    await cleo.locator("#message-text").fill(f"let me speak {run}")
    await cleo.locator("#message-form button").click()
    await expect(cleo.locator("#notice")).to_have_text("Message not sent: 403 muted")

    # Banned: the gateway closes the viewer's socket and the page says so; a new visit is refused.
    await from_the_menu(mia, troll, "button.ban")
    await expect(cleo.locator("#status")).to_have_text("banned")
    await expect(cleo.locator("#status")).to_have_attribute("data-state", "banned")
    await expect(cleo.locator("#notice")).to_have_text("You are banned from this chat.")
    await cleo.locator("#message-text").fill(f"still here {run}")
    await cleo.locator("#message-form button").click()
    await expect(cleo.locator("#notice")).to_have_text("Message not sent: 403 banned")
    again = await open_with_token(newcomers.browser, newcomers.service, token, "banned")
    await expect(again.locator("#notice")).to_have_text("You are banned from this chat.")

    # The same menu lifts the ban.
    await expect(rows(mia, troll).locator("button.unban")).to_be_attached()
    await from_the_menu(mia, troll, "button.unban")
    await expect(rows(alice, f"{cleo_name} was unbanned")).to_have_count(1)
    await rows(mia, troll).locator("summary.menu-toggle").click()
    await mia.screenshot(path=str(SCREENSHOT.with_name("chatledger-demo-moderation.png")))
    await again.screenshot(path=str(SCREENSHOT.with_name("chatledger-demo-banned.png")))
