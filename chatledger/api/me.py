"""`GET /chat/me` (DESIGN §9): who the token is, and their balance as the ledger has it now."""

from aiohttp import web

from chatledger.api.command_routes import (
    MYSQL_UNAVAILABLE,
    Rejected,
    mysql_unavailable,
    principal_of,
)
from chatledger.domain.wire import money
from chatledger.ledger.accounts import balance_of
from chatledger.web import responses
from chatledger.web.keys import DATABASE


async def get_me(request: web.Request) -> web.Response:
    try:
        principal = await principal_of(request)
        balance = await balance_of(request.app[DATABASE], principal.uuid)
    except Rejected as rejection:
        return rejection.response
    except MYSQL_UNAVAILABLE as exc:
        return mysql_unavailable(exc)
    if balance is None:  # deleted between the token check and this read
        return responses.unauthorized()
    person = principal.person
    return responses.json_response({
        "success": True,
        "uuid": person.uuid,
        "name": person.name,
        "role": person.role,
        "chat": principal.chat,
        "balance": money(balance),
    })
