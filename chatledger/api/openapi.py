"""The OpenAPI 3.1 document, generated, served at /openapi.json, with a docs page at /docs.

Nothing in it is written by hand twice: the paths are the routes of the app that serves it (its
router), each described by its entry in `operations.OPERATIONS`, and every body schema is a
pydantic model's `model_json_schema` (requests in validation mode, so the document accepts what
the server validates). A route without an entry is an error, not an omission.
"""

from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chatledger.api.idempotency import KeyReused
from chatledger.api.openapi_operations import JSON, OPERATIONS, Operation, Reply, Route
from chatledger.api.response_models import (
    ALTERNATIVE_FAILURES,
    FAILURES,
    Connected,
    Failure,
    PresenceFrame,
)
from chatledger.api.wire_models import BusEvent, ChatEvent
from chatledger.domain.wire import dumps

REF = "#/components/schemas/{model}"
DOCS_PAGE = Path(__file__).resolve().parent.parent / "static" / "docs.html"
# Described in prose (the websocket's frames) or for other readers (`chat.events`), not an
# operation's body, and published all the same.
EXTRA_MODELS: tuple[type[BaseModel], ...] = (Connected, PresenceFrame, ChatEvent, BusEvent)
# Failures declared beside the code that answers them, not in response_models.FAILURES.
MORE_FAILURES: tuple[type[Failure], ...] = (KeyReused,)
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "claims sub, role (client|model), chat, exp (DESIGN §4)",
}


class UndocumentedRoute(LookupError):
    """The app routes something `operations.OPERATIONS` does not describe."""


def routes_of(router: web.UrlDispatcher) -> tuple[Route, ...]:
    """Every (method, canonical path) the router answers, in the order they were added.

    HEAD is left out: aiohttp adds it beside GET, and it answers the GET without a body."""
    return tuple(
        (route.method, resource.canonical)
        for resource in router.resources()
        for route in resource
        if route.method != "HEAD"
    )


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def request_models() -> list[type[BaseModel]]:
    return sorted({op.body for op in OPERATIONS.values() if op.body}, key=lambda m: m.__name__)


def response_models() -> list[type[BaseModel]]:
    replies = {
        reply.model
        for op in OPERATIONS.values()
        for reply in op.replies
        if isinstance(reply, Reply) and reply.model is not None
    }
    return sorted(
        {*replies, *FAILURES, *ALTERNATIVE_FAILURES, *MORE_FAILURES, *EXTRA_MODELS},
        key=lambda m: m.__name__,
    )


def schemas() -> dict[str, Any]:
    """Every model under its own name (and the models they nest), refs pointing here."""
    _, top = models_json_schema(
        [(model, "validation") for model in (*request_models(), *response_models())],
        ref_template=REF,
    )
    return dict(top["$defs"])


def failure_response(model: type[Failure]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": (model.__doc__ or model.__name__).strip(),
        "content": {JSON: {"schema": ref(model)}},
    }
    if model.retry_after:
        response["headers"] = RETRY_AFTER
    return response


def reply_object(reply: Reply | type[Failure]) -> tuple[str, dict[str, Any]]:
    if not isinstance(reply, Reply):
        return str(reply.status), {"$ref": f"#/components/responses/{reply.__name__}"}
    answer: dict[str, Any] = {"description": reply.description}
    if reply.media_type is not None:
        schema = ref(reply.model) if reply.model else {}
        answer["content"] = {reply.media_type: {"schema": schema}}
    return str(reply.status), answer


def either_failure(models: list[type[Failure]]) -> dict[str, Any]:
    """One status, several bodies (403: forbidden, or muted/banned): any of their schemas."""
    response: dict[str, Any] = {
        "description": " Or: ".join((m.__doc__ or m.__name__).strip() for m in models),
        "content": {JSON: {"schema": {"anyOf": [ref(model) for model in models]}}},
    }
    if any(model.retry_after for model in models):
        response["headers"] = RETRY_AFTER
    return response


def responses_object(replies: tuple[Reply | type[Failure], ...]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    failures: dict[int, list[type[Failure]]] = {}
    for reply in replies:
        if isinstance(reply, Reply):
            code, answer = reply_object(reply)
            answers[code] = answer
        else:
            failures.setdefault(reply.status, []).append(reply)
    for status, models in failures.items():
        answers[str(status)] = (
            reply_object(models[0])[1] if len(models) == 1 else either_failure(models)
        )
    return answers


def operation_object(op: Operation) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
    }
    if op.description:
        operation["description"] = op.description
    if op.security is not None:
        operation["security"] = list(op.security)
    if op.parameters:
        operation["parameters"] = list(op.parameters)
    if op.body is not None:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": ref(op.body)}}}
    operation["responses"] = responses_object(op.replies)
    return operation


def paths(routes: tuple[Route, ...]) -> dict[str, Any]:
    missing = [route for route in routes if route not in OPERATIONS]
    if missing:
        raise UndocumentedRoute(f"routes without an entry in operations.OPERATIONS: {missing}")
    documented: dict[str, Any] = {}
    for method, path in routes:
        op = OPERATIONS[(method, path)]
        documented.setdefault(path, {})[method.lower()] = operation_object(op)
    return documented


def _version() -> str:
    try:
        return metadata.version("chatledger")
    except metadata.PackageNotFoundError:
        return "0.0.0"


@cache
def document(routes: tuple[Route, ...]) -> dict[str, Any]:
    """The document of an app that serves `routes` (see `routes_of`)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "chatledger",
            "version": _version(),
            "description": (
                "Live-stream chat with donations. Bodies keep the original brief's wire format,"
                " typos included (`anauthorized`, `messgae`, `/chat/donat/add`)."
            ),
        },
        "security": [{"bearerAuth": []}],
        "paths": paths(routes),
        "components": {
            "securitySchemes": {"bearerAuth": BEARER},
            "schemas": schemas(),
            "responses": {
                model.__name__: failure_response(model)
                for model in (*FAILURES, *ALTERNATIVE_FAILURES, *MORE_FAILURES)
            },
        },
    }


@cache
def _document_bytes(routes: tuple[Route, ...]) -> bytes:
    return dumps(document(routes))


async def serve_document(request: web.Request) -> web.Response:
    return web.Response(body=_document_bytes(routes_of(request.app.router)), content_type=JSON)


async def serve_docs(request: web.Request) -> web.FileResponse:
    return web.FileResponse(DOCS_PAGE)
