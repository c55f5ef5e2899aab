"""The pieces an OpenAPI operation is described with, and the replies every command shares."""

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from chatledger.api.response_models import (
    Accepted,
    BadParams,
    Failure,
    PayloadTooLarge,
    Silenced,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)

JSON = "application/json"
Route = tuple[str, str]  # (method, the route's canonical path)


@dataclass(frozen=True)
class Reply:
    """An answer other than the shared failures: a status, and a body model or media type."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    media_type: str | None = JSON


@dataclass(frozen=True)
class Operation:
    operation_id: str
    summary: str
    replies: tuple[Reply | type[Failure], ...]
    description: str = ""
    tag: str = "chat"
    body: type[BaseModel] | None = None
    parameters: tuple[dict[str, Any], ...] = ()
    security: tuple[dict[str, list[str]], ...] | None = None  # None: the document's (bearer)


@dataclass(frozen=True)
class Prose:
    """What only a person can say about a command route of the table; the rest is derived."""

    summary: str
    description: str = ""
    failures: tuple[type[Failure], ...] = ()
    operation_id: str | None = None


def parameter(where: str, name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema,
    }


IDEMPOTENCY_KEY = parameter(
    "header",
    "Idempotency-Key",
    "A retried POST with the same key is applied once, under the same command id.",
    {"type": "string", "pattern": "^[\\x21-\\x7E][\\x20-\\x7E]{0,253}[\\x21-\\x7E]$"},
)
PUBLIC: tuple[dict[str, list[str]], ...] = ()
# Every POST may meet a banned caller (403 "banned").
COMMON = (BadParams, Unauthorized, Silenced, PayloadTooLarge, TooManyRequests, Unavailable)
ACCEPTED = Reply(201, "Accepted: the command will be applied once.", Accepted)


def page(operation_id: str, summary: str, media_type: str, tag: str) -> Operation:
    """A public GET answering a document or a file."""
    return Operation(
        operation_id,
        summary,
        (Reply(200, summary, media_type=media_type),),
        tag=tag,
        security=PUBLIC,
    )
