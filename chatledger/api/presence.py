"""`GET /chat/presence`: distinct viewers of the token's chat across every gateway (DESIGN §9)."""

from aiohttp import web

from chatledger.api.command_routes import Rejected, principal_of
from chatledger.platform.redis_client import REDIS_ERRORS
from chatledger.web import responses
from chatledger.web.keys import PRESENCE


async def get_presence(request: web.Request) -> web.Response:
    try:
        principal = await principal_of(request)
    except Rejected as rejection:
        return rejection.response
    try:
        viewers = await request.app[PRESENCE].count(principal.chat)
    except REDIS_ERRORS:
        return responses.unavailable()  # presence lives only in Redis
    return responses.json_response({"success": True, "chat": principal.chat, "viewers": viewers})
