"""The OpenAPI 3.1 document of every endpoint, served at /openapi.json, with a docs page at /docs.

Request bodies are the pydantic models of `schemas.py`, exported with model_json_schema in
validation mode, so the document cannot drift from what the server validates (a test holds the two
equal). Responses are written out here with their exact bodies (DESIGN §4, typos included).
"""

from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chatledger.http.schemas import (
    UUID_SCHEMA,
    ConnectionBody,
    DonationBody,
    GoalBody,
    MessageBody,
)
from chatledger.ledger.wire import dumps

REF = "#/components/schemas/{model}"
DOCS_PAGE = Path(__file__).resolve().parent.parent / "static" / "docs.html"
REQUEST_MODELS: tuple[type[BaseModel], ...] = (MessageBody, DonationBody, ConnectionBody, GoalBody)
JSON = "application/json"
MAX_HISTORY = 20


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def request_schemas() -> dict[str, Any]:
    """Every request model (and the models they nest) under its own name, refs pointing here."""
    _, top = models_json_schema(
        [(model, "validation") for model in REQUEST_MODELS], ref_template=REF
    )
    return dict(top["$defs"])


def failure(message: str, *, errors: bool = False) -> dict[str, Any]:
    """The brief's error body {"success": "false", "message"}, + "errors" where we give them."""
    properties: dict[str, Any] = {"success": {"const": "false"}, "message": {"const": message}}
    required = ["success", "message"]
    if errors:
        properties["errors"] = {"type": "array", "items": {"type": "string"}, "minItems": 1}
        required.append("errors")
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


MONEY_TEXT = {"type": "string", "pattern": "^[0-9]+\\.[0-9]{2}$"}
NULLABLE_UUID = {"anyOf": [UUID_SCHEMA, {"type": "null"}]}
NULLABLE_TEXT = {"type": ["string", "null"]}

RESPONSE_SCHEMAS: dict[str, Any] = {
    "Accepted": {
        "type": "object",
        "description": "The command is durable on the bus; `id` is its command id.",
        "properties": {"success": {"const": "ok"}, "id": UUID_SCHEMA},
        "required": ["success", "id"],
        "additionalProperties": False,
    },
    "BadParams": failure("bad params", errors=True),
    "Unauthorized": failure("anauthorized"),
    "InsufficientFunds": failure("insufficient funds"),
    "Forbidden": failure("forbidden", errors=True),
    "PayloadTooLarge": failure("payload too large"),
    "TooManyRequests": failure("too many requests"),
    "Unavailable": failure("unavailable"),
    "Actor": {
        "type": "object",
        "properties": {
            "uuid": UUID_SCHEMA,
            "name": {"type": "string"},
            "role": {"enum": ["client", "model"]},
        },
        "required": ["uuid", "name", "role"],
    },
    "Goal": {
        "type": "object",
        "properties": {
            "id": UUID_SCHEMA,
            "name": {"type": "string"},
            "sum": MONEY_TEXT,
            "require_sum": MONEY_TEXT,
            "reached": {"type": "boolean"},
        },
        "required": ["id", "name", "sum", "require_sum", "reached"],
    },
    "Event": {
        "description": "DESIGN §5 wire form; identical on the websocket and in history.",
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "id": UUID_SCHEMA,
            "seq": {"type": "integer", "minimum": 1},
            "chat": UUID_SCHEMA,
            "is_public": {"type": "boolean"},
            "from": {"anyOf": [ref("Actor"), {"type": "null"}]},
            "created_at": {"type": "string", "format": "date-time"},
        },
        "required": ["type", "id", "seq", "chat", "is_public", "from", "created_at"],
        "oneOf": [
            {
                "properties": {
                    "type": {"const": "message"},
                    "message": {"type": "string"},
                    "to": NULLABLE_UUID,
                },
                "required": ["message"],
            },
            {
                "properties": {
                    "type": {"const": "donate"},
                    "sum": MONEY_TEXT,
                    "message": NULLABLE_TEXT,
                    "goals": {"type": "array", "items": ref("Goal")},
                },
                "required": ["sum", "goals"],
            },
            {
                "properties": {
                    "type": {"const": "donate_rejected"},
                    "sum": MONEY_TEXT,
                    "reason": {"type": "string"},
                    "message": NULLABLE_TEXT,
                },
                "required": ["sum", "reason"],
            },
            {
                "properties": {
                    "type": {"const": "change_sponsor"},
                    "sponsor": {
                        "type": "object",
                        "properties": {"uuid": UUID_SCHEMA, "name": {"type": "string"}},
                        "required": ["uuid", "name"],
                    },
                    "previous": NULLABLE_UUID,
                    "total": MONEY_TEXT,
                },
                "required": ["sponsor", "previous", "total"],
            },
            {
                "properties": {"type": {"enum": ["end_goal", "new_goal"]}, "goal": ref("Goal")},
                "required": ["goal"],
            },
        ],
    },
    "History": {
        "type": "object",
        "properties": {
            "success": {"const": True},
            "events": {"type": "array", "items": ref("Event"), "maxItems": MAX_HISTORY},
        },
        "required": ["success", "events"],
        "additionalProperties": False,
    },
    "Health": {
        "type": "object",
        "properties": {"status": {"const": "ok"}},
        "required": ["status"],
        "additionalProperties": False,
    },
    "Check": {
        "type": "object",
        "description": "One dependency: ok, or the error that made it not ok (plus details).",
        "properties": {"ok": {"type": "boolean"}, "error": {"type": "string"}},
        "required": ["ok"],
    },
    "Readiness": {
        "type": "object",
        "properties": {
            "status": {"enum": ["ready", "not ready"]},
            "checks": {
                "type": "object",
                "description": "mysql, redis, kafka, and ledger_lag where this process runs it.",
                "additionalProperties": ref("Check"),
                "required": ["mysql", "redis", "kafka"],
            },
        },
        "required": ["status", "checks"],
        "additionalProperties": False,
    },
}

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}


def json_body(description: str, schema_name: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref(schema_name)}}, **extra}


# name -> (status, description); each response's body schema has the same name.
RESPONSE_CODES: dict[str, tuple[str, str]] = {
    "Accepted": ("201", "Accepted: the command will be applied once."),
    "BadParams": ("400", "Bad params: invalid JSON, fields or header; reasons in errors."),
    "Unauthorized": ("401", "Missing, bad, expired or unknown-subject token."),
    "InsufficientFunds": ("402", "The donation is above the donor's current balance."),
    "Forbidden": ("403", "Not allowed for this role (or origin); reason in errors."),
    "PayloadTooLarge": ("413", "The body is over the configured size limit."),
    "TooManyRequests": ("429", "Past a rate limit."),
    "Unavailable": ("503", "A dependency (the broker) cannot take the request now."),
}
RESPONSES: dict[str, Any] = {
    name: json_body(
        description, name, **({"headers": RETRY_AFTER} if status in ("429", "503") else {})
    )
    for name, (status, description) in RESPONSE_CODES.items()
}

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A retried POST with the same key is applied once, under the same command id.",
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7E][\\x20-\\x7E]{0,253}[\\x21-\\x7E]$"},
}


def responses_for(*names: str) -> dict[str, Any]:
    return {RESPONSE_CODES[name][0]: {"$ref": f"#/components/responses/{name}"} for name in names}


COMMON = ("BadParams", "Unauthorized", "PayloadTooLarge", "TooManyRequests", "Unavailable")


def command(model: type[BaseModel], summary: str, description: str, *extra: str) -> dict[str, Any]:
    return {
        "post": {
            "operationId": f"post{model.__name__.removesuffix('Body')}",
            "summary": summary,
            "description": description,
            "tags": ["chat"],
            "parameters": [IDEMPOTENCY_KEY],
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": ref(model.__name__)}},
            },
            "responses": responses_for("Accepted", *COMMON, *extra),
        }
    }


def plain_get(
    operation_id: str, summary: str, responses: dict[str, Any], tag: str = "operations"
) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": [tag],
            "security": [],
            "responses": responses,
        }
    }


def paths() -> dict[str, Any]:
    donation = (
        DonationBody,
        "Donate to the model of the token's chat (clients only)",
        'Body: {"sum", "messgae" or "message": {"message", "is_public"} or plain text}.',
        "InsufficientFunds",
        "Forbidden",
    )
    donate_as = command(*donation)
    donat = command(*donation)
    donat["post"]["operationId"] = "postDonat"
    donat["post"]["description"] += " /chat/donat/add is the brief's spelling of the same endpoint."
    return {
        "/chat/message/add": command(
            MessageBody,
            "Post a chat message",
            "A model may add `to` (a client uuid) for a private reply; clients may not.",
        ),
        "/chat/donat/add": donat,
        "/chat/donate/add": donate_as,
        "/chat/connection/add": command(
            ConnectionBody,
            "Register a websocket connection for the token's subject",
            "The gateway registers its own sockets; this is for clients that track their own.",
        ),
        "/chat/goal/add": command(
            GoalBody, "Set a new goal (models only)", "Every donation advances it.", "Forbidden"
        ),
        "/chat/event/history": {
            "get": {
                "operationId": "getHistory",
                "summary": "The chat's last 10 minutes, oldest first, only what the caller may see",
                "tags": ["chat"],
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "description": f"How many of the newest events (default {MAX_HISTORY}).",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_HISTORY},
                    }
                ],
                "responses": {
                    "200": json_body("The events, oldest first.", "History"),
                    **responses_for("BadParams", "Unauthorized", "TooManyRequests", "Unavailable"),
                },
            }
        },
        "/ws": {
            "get": {
                "operationId": "websocket",
                "summary": "The chat's live events over a websocket (DESIGN §7)",
                "description": (
                    'First message: {"type": "connected", "connection_id", "chat", "seq"}; then'
                    " events in the wire form. With `since`, what was missed after that seq is"
                    " replayed first, with no gap and no duplicate. Refusals are plain HTTP"
                    " answers before the upgrade."
                ),
                "tags": ["chat"],
                "security": [{"bearerAuth": []}, {}],
                "parameters": [
                    {
                        "name": "token",
                        "in": "query",
                        "required": False,
                        "description": "The JWT (browsers cannot set headers on a websocket).",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "since",
                        "in": "query",
                        "required": False,
                        "description": "The last seq the caller has seen.",
                        "schema": {"type": "integer", "minimum": 0},
                    },
                ],
                "responses": {
                    "101": {"description": "Switching protocols: the websocket is open."},
                    **responses_for("BadParams", "Unauthorized", "Forbidden", "Unavailable"),
                },
            }
        },
        "/healthz": plain_get(
            "healthz", "Alive (the process answers)", {"200": json_body("Alive.", "Health")}
        ),
        "/readyz": plain_get(
            "readyz",
            "Ready: MySQL, Redis, the broker answer and the ledger keeps up",
            {
                "200": json_body("Every check is ok.", "Readiness"),
                "503": json_body("At least one check is not ok.", "Readiness"),
            },
        ),
        "/metrics": plain_get(
            "metrics",
            "Prometheus metrics (text exposition format)",
            {"200": {"description": "Metrics.", "content": {"text/plain": {"schema": {}}}}},
        ),
        "/openapi.json": plain_get(
            "openapi",
            "This document",
            {"200": {"description": "OpenAPI 3.1.", "content": {JSON: {"schema": {}}}}},
            tag="docs",
        ),
        "/docs": plain_get(
            "docs",
            "A page listing the operations of this document",
            {"200": {"description": "HTML.", "content": {"text/html": {"schema": {}}}}},
            tag="docs",
        ),
    }


def _version() -> str:
    try:
        return metadata.version("chatledger")
    except metadata.PackageNotFoundError:
        return "0.0.0"


@cache
def document() -> dict[str, Any]:
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
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "claims sub, role (client|model), chat, exp (DESIGN §4)",
                }
            },
            "schemas": {**request_schemas(), **RESPONSE_SCHEMAS},
            "responses": RESPONSES,
        },
    }


@cache
def _document_bytes() -> bytes:
    return dumps(document())


async def serve_document(request: web.Request) -> web.Response:
    return web.Response(body=_document_bytes(), content_type=JSON)


async def serve_docs(request: web.Request) -> web.FileResponse:
    return web.FileResponse(DOCS_PAGE)
