"""`GET /chat/me` (DESIGN §9, §10): who the token is, their balance, available and held as the
ledger has it now
(from a replica only once it has caught up with the primary: DESIGN §12)."""

from aiohttp import web

from chatledger.api.command_routes import (
    MYSQL_UNAVAILABLE,
    Rejected,
    mysql_unavailable,
    principal_of,
)
from chatledger.domain.wire import money
from chatledger.ledger.accounts import funds_of
from chatledger.web import responses
from chatledger.web.keys import READS


async def get_me(request: web.Request) -> web.Response:
    try:
        principal = await principal_of(request)
        # Fresh: the replica only once it has every tip and deposit acknowledged before.
        funds = await request.app[READS].read(
            lambda db: funds_of(db, principal.uuid), fresh=True
        )
    except Rejected as rejection:
        return rejection.response
    except MYSQL_UNAVAILABLE as exc:
        return mysql_unavailable(exc)
    if funds is None:  # deleted between the token check and this read
        return responses.unauthorized()
    person = principal.person
    return responses.json_response({
        "success": True,
        "uuid": person.uuid,
        "name": person.name,
        "role": person.role,
        "chat": principal.chat,
        "balance": money(funds[0]),
        "available": money(funds[0] - funds[1]),  # DESIGN §10: less what is on hold
        "held": money(funds[1]),
    })
