"""`GET /ws?token=<JWT>[&since=<seq>]` (DESIGN §7): one websocket, from upgrade to close.

Everything that can refuse a socket (origin, token, `since`, a gateway not yet following the bus,
a person banned from the chat) answers with a plain HTTP error BEFORE the upgrade. After it, the
socket joins its chat's room first (live events are held), registers itself in `connections`,
announces `connected`, replays from MySQL what the caller missed after `since`, releases the held
live events and goes live. A ban of its person closes it with 4003 (gateway/consumer.py).

The room's fan-out writes each event's prepared frame straight to the socket's transport (see
`outbox.py`): no task per socket wakes up for an event. A socket gets a flusher task only while
flow control holds its frames back, and a socket whose outbox overflows is closed (1008) instead
of slowing its room. The request handler's own task reads the socket until it closes; the
gateway's heartbeat loop (`heartbeat.py`) pings it when it is quiet.

Thousands of sockets sit idle at once, so what each keeps matters (docs/performance.md): after the
upgrade a socket holds its Connection, aiohttp's request and response objects, and the few
coroutine frames it is parked in, nothing more.
"""

import asyncio
import contextlib
import logging
import math
import time
import uuid

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web
from databases import Database
from multidict import MultiDictProxy
from yarl import URL

from chatledger.domain.decider import BANNED
from chatledger.domain.visibility import visible_to
from chatledger.domain.wire import dumps
from chatledger.gateway.flood import FrameBudget
from chatledger.gateway.frames import text_frame
from chatledger.gateway.heartbeat import PING
from chatledger.gateway.hub import GATEWAY, Gateway
from chatledger.gateway.outbox import Outbox
from chatledger.gateway.rooms import BANNED_CLOSE
from chatledger.history.reader import HistoryReader
from chatledger.ledger import connections
from chatledger.platform.metrics import WS_BACKLOGS, WS_CONNECTIONS, WS_SLOW_DISCONNECTS
from chatledger.readmodels.chat_rules import ChatRules
from chatledger.web import responses
from chatledger.web.auth import Principal, Unauthorized, authenticate, bearer_token
from chatledger.web.keys import DATABASE, DIRECTORY, HISTORY, RULES, SETTINGS

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 10.0  # how long a socket may wait for a gateway that is still starting
CLOSE_TIMEOUT_S = 2.0  # the close handshake; a peer that does not answer is cut off
MAX_INCOMING_BYTES = 4096  # clients only ever send pings and close frames
# What ends the read loop: the close handshake (answered by aiohttp) or a broken connection.
_ENDED = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR})
_CONTROL = frozenset({WSMsgType.PING, WSMsgType.PONG})  # not counted against the frame budget


def origin_allowed(origin: str | None, allowed: tuple[str, ...]) -> bool:
    """No list: anyone. With a list, a browser (which always sends Origin) must be on it."""
    return not allowed or origin is None or origin in allowed


def parse_since(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ValueError("since: must be a non-negative integer (a seq)")
    return int(raw)


class Connection:
    """One open socket: the sink of its outbox, its flusher when backlogged, and how it leaves."""

    # Thousands live at once: no per-instance __dict__.
    __slots__ = (
        "_closing", "_flusher", "frames", "gateway", "heard", "id", "outbox", "pinged",
        "principal", "protocol", "transport", "ws",
    )

    def __init__(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        principal: Principal,
        gateway: Gateway,
        bound: int,
        max_frames_per_s: int = 20,
    ) -> None:
        self.id = str(uuid.uuid4())
        self.ws = ws
        self.transport = request.transport
        self.protocol = request.protocol
        self.principal = principal
        self.gateway = gateway
        self.outbox = Outbox(self, bound)
        self.frames = FrameBudget(max_frames_per_s)
        self._flusher: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        # The heartbeat's (heartbeat.Beating). Never quiet until the socket is read (`start`
        # returned): until then nothing reads what the peer sends, its pongs included.
        self.heard = math.inf
        self.pinged = 0.0

    @property
    def person(self) -> str:
        return self.principal.uuid

    # -- the outbox's Sink ------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self.protocol.writing_paused

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    # -- the heartbeat's Beating ----------------------------------------------------------------
    def ping(self) -> None:
        self.write(PING)  # a control frame may go between any two frames

    def lost(self) -> None:
        log.info("socket %s of %s did not answer a ping: cut off", self.id, self.person)
        self._leave()
        self._cut()

    def backlogged(self) -> None:
        WS_BACKLOGS.inc()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name=f"ws-flush-{self.id}")

    async def _flush(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self._drained()

    async def _drained(self) -> None:
        """Until nothing waits in the outbox: each round writes all of it once the kernel
        takes more. aiohttp's protocol resolves `_drain_helper` on resume_writing (its own
        websocket writer waits the same way)."""
        while not self.outbox.flush():
            await self.protocol._drain_helper()

    # -----------------------------------------------------------------------------------------
    def offer(self, seq: int, frame: bytes) -> bool:
        if self.outbox.offer(seq, frame):
            return True
        if self._closing is None:
            log.warning("socket %s of %s too slow: disconnecting", self.id, self.person)
            WS_SLOW_DISCONNECTS.inc()
            self.shut(WSCloseCode.POLICY_VIOLATION, "too slow: send queue full")
        return False

    def shut(self, code: int, reason: str) -> None:
        if self._closing is None:
            self._leave()
            self._closing = asyncio.create_task(self.close(code, reason))

    def send(self, frame: bytes) -> None:
        if not self.outbox.overflowed and self._closing is None:
            self.outbox.aside(frame)

    async def close(self, code: int, reason: str) -> None:
        """Close politely if the peer answers in time, else cut the TCP connection."""
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(
                self.ws.close(code=code, message=reason.encode(), drain=False), CLOSE_TIMEOUT_S
            )
        self._cut()

    def _cut(self) -> None:
        # A peer that stopped reading never lets the close frame (or anything) out of our
        # buffers, and a plain close would wait for them to drain: abort instead.
        transport = self.transport
        if transport is not None and (
            not transport.is_closing() or transport.get_write_buffer_size() > 0
        ):
            transport.abort()

    def enter(self) -> None:
        """Join the room (live events are held from now on) and the process's sockets."""
        self.gateway.rooms.join(self.principal.chat, self)
        self.gateway.sockets.add(self)
        WS_CONNECTIONS.inc()

    async def start(
        self, db: Database, history: HistoryReader, rules: ChatRules, since: int | None
    ) -> bool:
        """Register, announce, replay, go live; False if the socket was closed instead."""
        chat = self.principal.chat
        if rules.banned(chat, self.person):
            # Banned while this socket was being upgraded: the ban's own close found no
            # socket to close, so it is closed here (from now on the room is in the feed's
            # reach: a ban folded later closes it there).
            await self.close(*BANNED_CLOSE)
            return False
        latest = await self.gateway.arrivals_of(db).register(
            self.principal.role, self.principal.uuid, self.id, chat
        )
        self.outbox.sent_seq = latest if since is None else since
        self.outbox.announce(text_frame(dumps(
            {"type": "connected", "connection_id": self.id, "chat": chat, "seq": latest}
        )))
        if since is not None:
            await self._replay(history, since, latest)
        self.outbox.go_live()
        self.heard = time.monotonic()  # read from now on: the heartbeat may ping it
        return True

    def heard_from(self, message: WSMessage) -> bool:
        """A frame from the client (who only pings and closes): a sign of life for the
        heartbeat. False if it is one too many: a client that floods frames is cut off rather
        than let burn our CPU."""
        now = time.monotonic()
        self.heard, self.pinged = now, 0.0
        return message.type in _CONTROL or self.frames.allow(now)

    async def leave(self, db: Database) -> None:
        WS_CONNECTIONS.dec()
        self._leave()
        if self._flusher is not None:
            self._flusher.cancel()
        # Shielded: a socket torn down by shutdown still removes its row.
        with contextlib.suppress(Exception):
            await asyncio.shield(connections.unregister(db, self.id))

    async def _replay(self, history: HistoryReader, since: int, latest: int) -> None:
        """Everything in (since, latest]: what came later is held in the outbox already."""
        chat, viewer = self.principal.chat, self.principal.uuid
        after = since
        while after < latest:
            # From the Redis mirror when it has reached `latest`, else from MySQL; paged.
            page = await history.events_after(chat, after, until_seq=latest)
            if not page:
                return
            for event in page:
                if visible_to(event, viewer, chat):
                    self.outbox.replay(event["seq"], text_frame(dumps(event)))
            after = page[-1]["seq"]
            await self._drained()  # a slow reader slows only its own replay

    def _leave(self) -> None:
        self.gateway.rooms.leave(self.principal.chat, self)
        self.gateway.sockets.discard(self)


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


async def websocket(request: web.Request) -> web.StreamResponse:
    """The route: refused, or upgraded and served until the socket closes.

    The socket's whole life is parked in this one coroutine (with aiohttp's few above it):
    with thousands of idle sockets, every coroutine frame parked per socket counts, so the
    upgrade and the start are coroutines that finish, and the read loop is here."""
    opened = await _upgrade(request)
    if isinstance(opened, web.StreamResponse):
        return opened
    connection, since = opened
    app, ws = request.app, connection.ws
    connection.enter()
    try:
        if await connection.start(app[DATABASE], app[HISTORY], app[RULES], since):
            while (message := await ws.receive()).type not in _ENDED:
                if message.type is WSMsgType.PING:
                    await ws.pong(message.data)  # no autoping: so that pongs are seen here
                if not connection.heard_from(message):
                    log.warning("socket %s of %s floods frames: disconnecting", connection.id,
                                connection.person)
                    await connection.close(WSCloseCode.POLICY_VIOLATION, "too many frames")
                    break
    except ConnectionError:
        pass  # the peer went away mid-replay: nothing to tell it
    except Exception:
        log.exception("socket %s failed", connection.id)
    finally:
        await connection.leave(app[DATABASE])
    return ws


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
