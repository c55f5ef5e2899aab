"""`GET /ws?token=<JWT>[&since=<seq>]` (DESIGN §7): the route, from request to close.

Everything that can refuse a socket (origin, token, `since`, a gateway not yet following the bus,
a person banned from the chat) answers with a plain HTTP error BEFORE the upgrade. After it, the
socket (`connection.py`) joins its chat's room first (live events are held), registers itself in
`connections`, announces `connected`, replays from MySQL what the caller missed after `since`,
releases the held live events and goes live. A ban of its person closes it with 4003
(gateway/consumer.py). The request handler's own task then reads the socket until it closes; the
gateway's heartbeat loop (`heartbeat.py`) pings it when it is quiet.
"""

import asyncio
import logging
import time

from aiohttp import WSCloseCode, WSMsgType, web
from multidict import MultiDictProxy
from yarl import URL

from chatledger.domain.decider import BANNED
from chatledger.gateway.connection import CLOSE_TIMEOUT_S, Connection
from chatledger.gateway.hub import GATEWAY
from chatledger.web import responses
from chatledger.web.auth import Unauthorized, authenticate, bearer_token
from chatledger.web.keys import DATABASE, DIRECTORY, HISTORY, RULES, SETTINGS
from chatledger.web.observe import observes_itself, record

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 10.0  # how long a socket may wait for a gateway that is still starting
MAX_INCOMING_BYTES = 4096  # clients only ever send pings and close frames
# What ends the read loop: the close handshake (answered by aiohttp) or a broken connection.
_ENDED = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR})


def origin_allowed(origin: str | None, allowed: tuple[str, ...]) -> bool:
    """No list: anyone. With a list, a browser (which always sends Origin) must be on it."""
    return not allowed or origin is None or origin in allowed


def parse_since(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ValueError("since: must be a non-negative integer (a seq)")
    return int(raw)


def query_of(request: web.Request) -> MultiDictProxy[str]:
    """The request's query, parsed as `request.query` would be but not cached on the request:
    aiohttp keeps the request (and its URL's cache) for the socket's whole life, and the parsed
    copy of the token would cost each idle socket ~0.8 KiB."""
    return URL.build(query_string=request.rel_url.raw_query_string, encoded=True).query


def _token(request: web.Request, query: MultiDictProxy[str]) -> str:
    token = query.get("token")
    if token:
        return token
    return bearer_token(request.headers.get("Authorization"))


@observes_itself
async def websocket(request: web.Request) -> web.StreamResponse:
    """The route: refused, or upgraded and served until the socket closes.

    The socket's whole life is parked in this one coroutine (with aiohttp's few above it):
    with thousands of idle sockets, every coroutine frame parked per socket counts, so the
    upgrade and the start are coroutines that finish, the read loop is here, and so is the
    request's access-log line and sample (the route is `observes_itself`: no wrapper)."""
    started = time.perf_counter()
    status = 500  # what the client gets if something unexpected is raised
    try:
        opened = await _upgrade(request)
        if isinstance(opened, web.StreamResponse):
            status = opened.status
            return opened
        connection, since = opened
        app, ws = request.app, connection.ws
        status = ws.status
        connection.enter()
        try:
            if await connection.start(app[DATABASE], app[HISTORY], app[RULES], since):
                while (message := await ws.receive()).type not in _ENDED:
                    if message.type is WSMsgType.PING:
                        await ws.pong(message.data)  # no autoping: so that pongs are seen here
                    if not connection.heard_from(message):
                        log.warning("socket %s of %s floods frames: disconnecting",
                                    connection.id, connection.person)
                        await connection.close(WSCloseCode.POLICY_VIOLATION, "too many frames")
                        break
        except ConnectionError:
            pass  # the peer went away mid-replay: nothing to tell it
        except Exception:
            log.exception("socket %s failed", connection.id)
        finally:
            await connection.leave(app[DATABASE])
        return ws
    finally:
        record(request, status, time.perf_counter() - started)


async def _upgrade(
    request: web.Request,
) -> web.StreamResponse | tuple[Connection, int | None]:
    """Everything that can refuse the socket, with a plain HTTP answer; then the upgrade."""
    app = request.app
    settings, gateway = app[SETTINGS], app[GATEWAY]
    if not origin_allowed(request.headers.get("Origin"), settings.allowed_origins):
        return responses.forbidden("origin not allowed")
    query = query_of(request)
    try:
        # Not remembered: thousands of idle sockets would each keep their token in the cache.
        principal = await authenticate(
            _token(request, query), settings, app[DIRECTORY], remember=False
        )
    except Unauthorized:
        return responses.unauthorized()
    try:
        since = parse_since(query.get("since"))
    except ValueError as exc:
        return responses.bad_params([str(exc)])
    # compress=False: frames are prepared once for every recipient, so none is compressed
    # per socket, and an extension nobody uses is not negotiated. No aiohttp heartbeat and no
    # autoping: the gateway's heartbeat loop pings quiet sockets, and `websocket` answers pings
    # and sees pongs.
    ws = web.WebSocketResponse(
        heartbeat=None,
        autoping=False,
        timeout=CLOSE_TIMEOUT_S,
        max_msg_size=MAX_INCOMING_BYTES,
        compress=False,
    )
    try:
        await asyncio.wait_for(gateway.ready.wait(), READY_TIMEOUT_S)
    except TimeoutError:
        return responses.unavailable()
    rules = app[RULES]  # seeded: the gateway is ready
    if rules.banned(principal.chat, principal.uuid):
        # Before the upgrade check: a browser only sees a failed handshake, so the demo page
        # asks the same URL over plain HTTP to learn why, and must get this answer.
        return responses.silenced(BANNED)
    if not ws.can_prepare(request).ok:
        return responses.bad_params(["not a websocket upgrade request"])
    await ws.prepare(request)
    return Connection(
        request, ws, principal, gateway, settings.ws_send_queue, settings.ws_max_frames_per_s
    ), since
