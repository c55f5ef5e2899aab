"""The goal queue on the demo page in a real headless Chromium (DESIGN §11): the model queues
goals with the goal form's "queue it" box, both the model and a viewer see them listed under the
active goal in order, and the viewer's tip that ends the active goal moves the next queued goal
up at 0 (the tip does not spill into it). A chat of its own (joined with tokens), so the shared
demo chat's tests are not affected. Waiting is Playwright's auto-retrying expect(), never a sleep.
"""


import pytest
from playwright.async_api import Page, expect

from chatledger.platform.config import Settings
from tests.e2e.test_demo_page import (  # noqa: F401  (fixtures)
    Chromium,
    browser,
    demo_people,
    dev_service,
    expect_goal,
    open_with_token,
    own_chat,
    rows,
    tip,
)
from tests.helpers.people import People
from tests.helpers.service import Service

pytestmark = pytest.mark.e2e


async def set_goal(page: Page, name: str, amount: str, queued: bool) -> None:
    await page.locator("#goal-name").fill(name)
    await page.locator("#goal-sum").fill(amount)
    await page.locator("#goal-queued").set_checked(queued)
    await page.locator("#goal-form button").click()
    await expect(page.locator("#goal-name")).to_have_value("")  # cleared on 201


async def test_queued_goals_wait_under_the_active_one_and_start_in_order(
    browser: Chromium, dev_service: Service, people: People, migrated: Settings,  # noqa: F811
) -> None:
    una_token, una, max_ = await own_chat(browser, dev_service, people, migrated, "Una", "Max")
    await expect(max_.locator("#goal-form")).to_be_hidden()  # the form is the model's
    await expect(max_.locator("#goal-queue-card")).to_be_hidden()  # nothing queued yet

    await set_goal(una, "Dance", "10", queued=False)
    await set_goal(una, "Song", "5", queued=True)
    await set_goal(una, "Encore", "7", queued=True)
    for page in (una, max_):
        await expect(page.locator("#goals li.goal")).to_have_count(1)
        await expect_goal(page, "Dance", "0.00", 0)
        await expect(page.locator("#goal-queue li")).to_have_text(
            [r"1. Song5.00", r"2. Encore7.00"])
        await expect(rows(page, "Queued goal: Song (5.00)")).to_have_count(1)

    await tip(max_, "12")
    for page in (una, max_):
        await expect(rows(page, "Goal started: Song (5.00)")).to_have_count(1)
        await expect_goal(page, "Song", "0.00", 0)  # the 12 stayed with Dance
        await expect(page.locator("#goal-queue li")).to_have_text([r"1. Encore7.00"])

    # A page opened later rebuilds the queue from the chat's history.
    late = await open_with_token(browser, dev_service, una_token)
    await expect(late.locator("#goal-queue li")).to_have_text([r"1. Encore7.00"])
    await expect_goal(late, "Song", "0.00", 0)

    # A queued goal with a bad sum is refused with the reason; the queue stays.
    await una.locator("#goal-name").fill("Bad")
    await una.locator("#goal-sum").fill("0")
    await una.locator("#goal-queued").set_checked(True)
    await una.locator("#goal-form button").click()
    await expect(una.locator("#notice")).to_contain_text("Goal not set: 400")
    await expect(una.locator("#goal-queue li")).to_have_text([r"1. Encore7.00"])
