"""`GET /chat/me` (DESIGN §9): who the token is, and their balance as the ledger has it now
(from a replica only once it has caught up with the primary: DESIGN §12)."""

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
from chatledger.web.keys import READS


async def get_me(request: web.Request) -> web.Response:
    try:
        principal = await principal_of(request)
        # Fresh: the replica only once it has every tip and deposit acknowledged before.
        balance = await request.app[READS].read(
            lambda db: balance_of(db, principal.uuid), fresh=True
        )
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
