"""tools/demo_accounts.py is idempotent; /dev/tokens exists only in dev mode; / serves the page."""

from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chatledger.ledger.accounts import balance_of
from chatledger.platform.config import Settings
from chatledger.platform.db import database, migrate
from chatledger.service import create_app
from chatledger.web.auth import read_claims
from tests.conftest import _drop
from tests.helpers.demo import run_demo_accounts

ClientFactory = Callable[..., Any]


@pytest.fixture
async def fresh(migrated: Settings) -> AsyncIterator[Settings]:
    """A database of its own: the session's one may already hold the demo people (e2e)."""
    settings = migrated.model_copy(update={"mysql_dsn": migrated.mysql_dsn + "_demo"})
    await migrate(settings.mysql_dsn, recreate=True)
    yield settings
    await _drop(settings)


async def balances(settings: Settings, people: list[dict[str, Any]]) -> list[Decimal | None]:
    db = database(settings.mysql_dsn, 1)
    await db.connect()
    try:
        return [await balance_of(db, person["uuid"]) for person in people]
    finally:
        await db.disconnect()


async def test_demo_accounts_creates_once_and_reuses(fresh: Settings) -> None:
    first = run_demo_accounts(fresh)
    second = run_demo_accounts(fresh)

    assert [(p["name"], p["role"], p["created"]) for p in first] == [
        ("Mia", "model", True),
        ("Alice", "client", True),
        ("Bob", "client", True),
    ]
    assert [p["uuid"] for p in second] == [p["uuid"] for p in first]
    assert {p["created"] for p in second} == {False}
    # Money went in once, on creation: the re-run deposited nothing more.
    assert await balances(fresh, second) == [Decimal("0.00"), Decimal("500.00"), Decimal("300.00")]
    mia, alice, _ = second
    # The tokens are for Mia's chat.
    assert read_claims(alice["token"], fresh) == (alice["uuid"], "client", mia["uuid"])
    assert read_claims(mia["token"], fresh) == (mia["uuid"], "model", mia["uuid"])


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
    for name in ("nope.js", "x" * 300, "%E1%B9%B0%CC%BA" * 60, "..%2Fdemo.py"):
        answer = await client.get(f"/static/{name}")  # found by schemathesis: was a 500
        assert answer.status == 404, name
        assert await answer.json() == {"success": "false", "message": "not found"}
