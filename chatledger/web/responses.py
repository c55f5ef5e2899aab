"""Response bodies in the brief's wire format, typos included (DESIGN §4)."""

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from chatledger.domain.wire import dumps

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# an accepted command's id, kept on its 201 response for the access log
COMMAND_ID = web.ResponseKey("command_id", str)


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=dumps(body), status=status, headers=headers, content_type="application/json"
    )


def accepted(command_id: str) -> web.Response:
    response = json_response({"success": "ok", "id": command_id}, status=201)
    response[COMMAND_ID] = command_id
    return response


def failure(
    status: int,
    message: str,
    *,
    errors: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"success": "false", "message": message}
    if errors is not None:
        body["errors"] = errors
    return json_response(body, status=status, headers=headers)


def unauthorized() -> web.Response:
    return failure(401, "anauthorized")


def bad_params(errors: list[str]) -> web.Response:
    return failure(400, "bad params", errors=errors)


def forbidden(reason: str) -> web.Response:
    return failure(403, "forbidden", errors=[reason])


def silenced(reason: str) -> web.Response:
    """A muted or banned person (DESIGN §9): the reason is the message itself."""
    return failure(403, reason)


def insufficient_funds() -> web.Response:
    return failure(402, "insufficient funds")


def client_gone() -> web.Response:
    """For the access line and the metrics only, as nginx counts it: the client closed the
    connection before its request was read whole, so nobody receives this."""
    return failure(499, "client closed request")


def unavailable() -> web.Response:
    return failure(503, "unavailable", headers={"Retry-After": "1"})
