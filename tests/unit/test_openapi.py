"""The OpenAPI document is generated from the app's router: every route is in it, described by
its one entry in `operations.OPERATIONS`, and a route without an entry cannot be served."""

from typing import Any

import pytest
from aiohttp import web

from chatledger.api.openapi import REF, UndocumentedRoute, document, request_models, routes_of
from chatledger.api.openapi_operations import OPERATIONS
from chatledger.platform.config import Settings
from chatledger.service import ALL_ROLES, create_app

DEV = Settings(dev=True)


def documented(doc: dict[str, object]) -> set[tuple[str, str]]:
    paths = doc["paths"]
    assert isinstance(paths, dict)
    return {(method.upper(), path) for path, item in paths.items() for method in item}


def as_documented(routes: tuple[tuple[str, str], ...]) -> set[tuple[str, str]]:
    assert all(route in OPERATIONS for route in routes), set(routes) - set(OPERATIONS)
    return set(routes)


@pytest.mark.parametrize("roles", [ALL_ROLES, ("api",), ("gateway",), ("ledger", "history")])
def test_every_route_of_the_app_is_in_its_document(roles: tuple[str, ...]) -> None:
    routes = routes_of(create_app(DEV, roles).router)
    assert routes
    assert documented(document(routes)) == as_documented(routes)


def test_every_entry_describes_a_route_some_app_serves() -> None:
    served = set(routes_of(create_app(DEV).router))
    assert set(OPERATIONS) == served, set(OPERATIONS) ^ served


def test_the_demo_token_route_is_documented_only_where_it_is_served() -> None:
    assert ("GET", "/dev/tokens") in documented(document(routes_of(create_app(DEV).router)))
    plain = document(routes_of(create_app(Settings(dev=False)).router))
    assert ("GET", "/dev/tokens") not in documented(plain)


def test_a_route_without_an_entry_fails_the_document() -> None:
    app = create_app(DEV, ("api",))

    async def surprise(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_post("/chat/surprise/add", surprise)
    with pytest.raises(UndocumentedRoute, match="/chat/surprise/add"):
        document(routes_of(app.router))


def test_operation_ids_are_unique() -> None:
    ids = [op.operation_id for op in OPERATIONS.values()]
    assert len(ids) == len(set(ids))


def test_request_schemas_are_the_models_schemas() -> None:
    schemas = document(routes_of(create_app(DEV).router))["components"]["schemas"]
    for model in request_models():
        expected = model.model_json_schema(mode="validation", ref_template=REF)
        nested = expected.pop("$defs", {})
        assert schemas[model.__name__] == expected, model.__name__
        for name, schema in nested.items():
            assert schemas[name] == schema, name


def test_every_reference_resolves() -> None:
    doc = document(routes_of(create_app(DEV).router))

    def refs(node: object) -> set[str]:
        if isinstance(node, dict):
            found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
            return found.union(*(refs(value) for value in node.values()))
        if isinstance(node, list):
            return set().union(*(refs(value) for value in node))
        return set()

    for target in refs(doc):
        _, section, name = target.rsplit("/", 2)
        assert name in doc["components"][section], target


def test_every_post_may_answer_banned_and_model_only_ones_forbidden_too() -> None:
    doc = document(routes_of(create_app(DEV).router))

    def bodies_403(operation: dict[str, Any]) -> set[str]:
        answer = operation["responses"]["403"]
        if "$ref" in answer:
            return {answer["$ref"].rsplit("/", 1)[1]}
        return {option["$ref"].rsplit("/", 1)[1]
                for option in answer["content"]["application/json"]["schema"]["anyOf"]}

    posts = {path: item["post"] for path, item in doc["paths"].items() if "post" in item}
    assert all("Silenced" in bodies_403(op) for op in posts.values()), posts.keys()
    for path in ("/chat/settings", "/chat/moderation/mute", "/chat/moderation/ban",
                 "/chat/moderation/unban", "/chat/message/delete"):
        assert bodies_403(posts[path]) == {"Forbidden", "Silenced"}, path
    assert bodies_403(doc["paths"]["/ws"]["get"]) == {"Forbidden", "Silenced"}
    assert "Silenced" in doc["components"]["responses"]
