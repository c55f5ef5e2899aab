"""The `gateway` role's web side: shared state, the `/ws` route, and closing sockets on shutdown.

The feed itself (`consumer.follow`) runs as a background loop started by `service.gateway_ctx`.
"""

import asyncio

from aiohttp import WSCloseCode, web

from chatledger.gateway.hub import GATEWAY, Gateway
from chatledger.gateway.socket import websocket


def add_gateway(app: web.Application) -> None:
    app[GATEWAY] = Gateway()
    app.router.add_get("/ws", websocket)
    app.on_shutdown.append(_going_away)


async def _going_away(app: web.Application) -> None:
    """Tell every client the server is leaving (1001), so it reconnects with `since`."""
    sockets = list(app[GATEWAY].sockets)
    await asyncio.gather(
        *(socket.close(WSCloseCode.GOING_AWAY, "server shutdown") for socket in sockets),
        return_exceptions=True,
    )
