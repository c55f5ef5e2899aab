"""tools/demo_accounts.py is idempotent; /dev/tokens exists only in dev mode; / serves the page."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp.test_utils import TestClient
from databases import Database

from chatledger.config import Settings
from chatledger.http.auth import read_claims
from chatledger.service import create_app
from tests.helpers.demo import run_demo_accounts
from tests.helpers.people import People

ClientFactory = Callable[..., Any]


async def test_demo_accounts_creates_once_and_reuses(
    migrated: Settings, db: Database, people: People
) -> None:
    first = run_demo_accounts(migrated)
    second = run_demo_accounts(migrated)

    assert [(p["name"], p["role"]) for p in first] == [
        ("Mia", "model"),
        ("Alice", "client"),
        ("Bob", "client"),
    ]
    assert [p["uuid"] for p in second] == [p["uuid"] for p in first]
    assert {p["created"] for p in second} == {False}
    mia, alice, bob = first
    # Money went in once, on creation: a re-run deposits nothing more.
    assert await people.balance(alice["uuid"]) == Decimal("500.00")
    assert await people.balance(bob["uuid"]) == Decimal("300.00")
    assert await people.balance(mia["uuid"]) == Decimal("0.00")
    # The tokens are for Mia's chat.
    assert read_claims(alice["token"], migrated) == (alice["uuid"], "client", mia["uuid"])
    assert read_claims(mia["token"], migrated) == (mia["uuid"], "model", mia["uuid"])


async def test_dev_tokens_is_not_routed_without_dev(
    migrated: Settings, aiohttp_client: ClientFactory
) -> None:
    run_demo_accounts(migrated)
    client: TestClient = await aiohttp_client(
        create_app(migrated.model_copy(update={"dev": False}), ["api"])
    )
    response = await client.get("/dev/tokens")
    assert response.status == 404
    assert await response.json() == {"success": "false", "message": "not found"}


async def test_dev_tokens_lists_the_demo_people_with_dev(
    migrated: Settings, aiohttp_client: ClientFactory
) -> None:
    expected = run_demo_accounts(migrated)
    client: TestClient = await aiohttp_client(
        create_app(migrated.model_copy(update={"dev": True}), ["api"])
    )
    response = await client.get("/dev/tokens")
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["chat"]["uuid"] == expected[0]["uuid"] and body["chat"]["name"] == "Mia"
    assert isinstance(body["chat"]["seq"], int)
    assert [(p["uuid"], p["name"], p["role"]) for p in body["people"]] == [
        (p["uuid"], p["name"], p["role"]) for p in expected
    ]
    for person in body["people"]:
        assert read_claims(person["token"], migrated)[0] == person["uuid"]


async def test_the_page_and_its_assets_are_served(
    migrated: Settings, aiohttp_client: ClientFactory
) -> None:
    client: TestClient = await aiohttp_client(create_app(migrated, ["api"]))
    page = await client.get("/")
    assert page.status == 200
    assert page.content_type == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert '<script src="/static/app.js"' in await page.text()
    script = await client.get("/static/app.js")
    assert script.status == 200
    # The page renders chat text with textContent only; HTML parsing sinks stay out of it.
    source = await script.text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, sink
    assert (await client.get("/static/style.css")).status == 200
    assert (await client.get("/static/../demo.py")).status in (403, 404)
