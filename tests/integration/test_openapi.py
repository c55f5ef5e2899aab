"""/openapi.json: equal to the request models, covering every route, and true of the real service.

The schemathesis run drives the running `service` with valid tokens (a client's for everything
but goals, the model's for goals) over every operation of the document, with data generated from
it (valid and invalid), and fails on any 5xx, on an undocumented status and on a body that does
not match its documented schema.
"""

import asyncio
import json

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

from chatledger.config import Settings
from chatledger.db import database
from chatledger.http.openapi import REF, REQUEST_MODELS, document
from chatledger.service import create_app
from tests.helpers.people import People
from tests.helpers.service import Service

# A JSON round trip: schemathesis gets its own copy (and exactly what /openapi.json serves).
API = schemathesis.openapi.from_dict(json.loads(json.dumps(document())))
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# Routed but not part of the API: the demo chat page and its assets (dev tokens only in dev).
NOT_API = {"/", "/static", "/dev/tokens"}
RICH = "10000000.00"  # enough for every generated donation (each at most 100000.00)


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


def test_request_schemas_are_the_models_schemas() -> None:
    schemas = document()["components"]["schemas"]
    for model in REQUEST_MODELS:
        expected = model.model_json_schema(mode="validation", ref_template=REF)
        nested = expected.pop("$defs", {})
        assert schemas[model.__name__] == expected, model.__name__
        for name, schema in nested.items():
            assert schemas[name] == schema, name


def test_every_route_is_documented(settings: Settings) -> None:
    app = create_app(settings)
    routed = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    documented = {(method, path) for path, item in document()["paths"].items() for method in item}
    undocumented = {(m, p) for m, p in routed - documented if p not in NOT_API}
    assert not undocumented
    assert documented <= routed, documented - routed


async def test_document_and_docs_page_are_served(service: Service) -> None:
    async with aiohttp.ClientSession(service.url) as http:
        served = await http.get("/openapi.json")
        assert served.status == 200
        assert served.content_type == "application/json"
        assert await served.json() == json.loads(json.dumps(document()))
        page = await http.get("/docs")
        assert page.status == 200
        assert page.content_type == "text/html"
        assert "/openapi.json" in await page.text()


@API.parametrize()
@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_service_conforms_to_the_document(
    case: schemathesis.Case, service: Service, tokens: dict[str, str]
) -> None:
    token = tokens["model"] if case.path == "/chat/goal/add" else tokens["client"]
    case.call_and_validate(
        base_url=service.url,
        headers={"Authorization": f"Bearer {token}"},
        checks=CHECKS,
        timeout=10,
    )
