"""/openapi.json: what the running service serves, and true of it.

The schemathesis run takes the document the running `service` serves (the first test holds
the two equal) and drives the service with valid tokens (the model's for what only the model
may do: goals, settings, moderation; a client's for the rest) over every operation, with data
generated from it (valid and invalid); it fails on any 5xx, on an undocumented status and on a
body that does not match its documented schema. The websocket test holds the frames the
gateway really sends, and history's page, to the same models.
"""

import asyncio
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from chatledger.api.openapi import document, routes_of
from chatledger.api.response_models import Connected, DemoTokens, History, PresenceFrame
from chatledger.api.wire_models import ChatEvent
from chatledger.domain import events as ev
from chatledger.domain.commands import Actor, AddGoal, Donate
from chatledger.ledger.store import LedgerStore
from chatledger.platform.config import Settings
from chatledger.platform.db import database, migrate
from chatledger.service import create_app
from tests.conftest import _drop
from tests.helpers.demo import run_demo_accounts
from tests.helpers.people import People
from tests.helpers.service import Service, wait_ready
from tests.helpers.ws import connected

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
MODEL_ONLY = {"/chat/goal/add", "/chat/settings", "/chat/moderation/mute",
              "/chat/moderation/ban", "/chat/moderation/unban"}
RICH = "10000000.00"  # enough for every generated donation (each at most 100000.00)


@pytest.fixture(scope="module")
def ready(service: Service) -> Service:
    """`service` once every role is on the bus: /readyz is one of the operations checked, and a
    worker whose first file this is would otherwise meet its documented-but-5xx "not ready"."""
    wait_ready(service)
    return service


@pytest.fixture(scope="module")
def tokens(migrated: Settings) -> dict[str, str]:
    async def make() -> dict[str, str]:
        db = database(migrated.mysql_dsn, 2)
        await db.connect()
        try:
            people = People(db, migrated)
            model = await people.model("Schema")
            client = await people.client(model, "Thesis", money=RICH)
        finally:
            await db.disconnect()
        return {"model": model.token, "client": client.token}

    return asyncio.run(make())


def generated() -> dict[str, Any]:
    """The document of an app with every role and this session's settings: what `service`
    serves (the first test holds the two equal)."""
    return document(routes_of(create_app(Settings()).router))


# A JSON round trip: schemathesis gets its own copy. (Loading it from the running service through
# schemathesis.pytest.from_fixture fails under pytest 9: "'Function' object has no attribute
# '_nodeid'".)
API = schemathesis.openapi.from_dict(json.loads(json.dumps(generated())))


async def test_the_served_document_is_the_one_generated_from_its_routes(
    service: Service, migrated: Settings
) -> None:
    async with aiohttp.ClientSession(service.url) as http:
        served = await http.get("/openapi.json")
        assert served.status == 200
        assert served.content_type == "application/json"
        expected = generated()
        assert expected == document(routes_of(create_app(migrated).router))
        assert await served.json() == json.loads(json.dumps(expected))
        assert {"/ws", "/chat/donat/add", "/readyz"} <= set(expected["paths"])
        page = await http.get("/docs")
        assert page.status == 200
        assert page.content_type == "text/html"
        assert "/openapi.json" in await page.text()


async def test_websocket_frames_and_history_are_the_documented_models(
    service: Service, people: People
) -> None:
    model = await people.model("Frames")
    client = await people.client(model, "Viewer", money="50")
    base = service.url
    async with aiohttp.ClientSession() as http, connected(http, base, client) as ws:
        Connected.model_validate(ws.connected, strict=True)
        posts = [
            (model, "/chat/goal/add", {"name": "Dance", "require_sum": 10}),
            (client, "/chat/message/add", {"message": "hello", "is_public": "true"}),
            (client, "/chat/donate/add", {"sum": "12.5", "messgae": {"message": "for you"}}),
        ]
        for who, path, body in posts:
            answer = await http.post(base + path, json=body, headers=who.headers)
            assert answer.status == 201, await answer.text()
        wanted = {ev.NEW_GOAL, ev.MESSAGE, ev.DONATE, ev.END_GOAL, ev.CHANGE_SPONSOR}
        events = await ws.until(lambda got: {e["type"] for e in got} >= wanted, "every event")
        for text in ws.texts[1:]:
            if '"type":"presence"' in text:
                PresenceFrame.model_validate_json(text, strict=True)
            else:
                ChatEvent.model_validate_json(text, strict=True)
        page = await http.get(f"{base}/chat/event/history", headers=client.headers)
        assert page.status == 200
        history = History.model_validate_json(await page.read(), strict=True)
        assert [e.root.seq for e in history.events] == [e["seq"] for e in events]


async def test_the_demo_tokens_body_is_its_model(
    migrated: Settings, aiohttp_client: Callable[..., Any]
) -> None:
    """In a database of its own, with a goal and a sponsor, so every key has a value."""
    settings = migrated.model_copy(
        update={"mysql_dsn": migrated.mysql_dsn + "_openapi", "dev": True}
    )
    await migrate(settings.mysql_dsn, recreate=True)
    db = database(settings.mysql_dsn, 1)
    await db.connect()
    http = None
    try:
        mia, alice, _ = (
            Actor(p["uuid"], p["name"], p["role"]) for p in run_demo_accounts(settings)
        )
        await LedgerStore(db).apply_batch(
            [
                AddGoal(str(uuid.uuid4()), mia.uuid, mia, "Dance", Decimal("100")),
                Donate(str(uuid.uuid4()), mia.uuid, alice, Decimal("12.5"), "hi"),
            ]
        )
        http = await aiohttp_client(create_app(settings, ["api"]))
        answer = await http.get("/dev/tokens")
        assert answer.status == 200, await answer.text()
        body = DemoTokens.model_validate_json(await answer.read(), strict=True)
        assert body.chat.sponsor is not None and body.chat.sponsor.total == "12.50"
        assert [goal.sum for goal in body.chat.goals] == ["12.50"]
    finally:
        if http is not None:  # its rules feed reads the database: stop it before the drop
            await http.close()
        await db.disconnect()
        await _drop(settings)


@API.parametrize()
@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_service_conforms_to_the_document(
    case: schemathesis.Case, ready: Service, tokens: dict[str, str]
) -> None:
    token = tokens["model"] if case.path in MODEL_ONLY else tokens["client"]
    case.call_and_validate(
        base_url=ready.url,
        headers={"Authorization": f"Bearer {token}"},
        checks=CHECKS,
        timeout=10,
    )
