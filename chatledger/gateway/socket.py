"""`GET /ws?token=<JWT>[&since=<seq>]` (DESIGN §7): one websocket, from upgrade to close.

Everything that can refuse a socket (origin, token, `since`, a gateway not yet following the bus,
a person banned from the chat) answers with a plain HTTP error BEFORE the upgrade. After it, the
socket joins its chat's room first (live events are held), registers itself in `connections`,
announces `connected`, replays from MySQL what the caller missed after `since`, releases the held
live events and goes live. A ban of its person closes it with 4003 (gateway/consumer.py).

The room's fan-out writes each event's prepared frame straight to the socket's transport (see
`outbox.py`): no task per socket wakes up for an event. A socket gets a flusher task only while
flow control holds its frames back, and a socket whose outbox overflows is closed (1008) instead
of slowing its room. The request handler's own task reads the socket until it closes.
"""

import asyncio
import contextlib
import logging
import time
import uuid

from aiohttp import WSCloseCode, web
from databases import Database

from chatledger.domain.decider import BANNED
from chatledger.domain.visibility import visible_to
from chatledger.domain.wire import dumps
from chatledger.gateway.flood import FrameBudget
from chatledger.gateway.frames import text_frame
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
        "_closing", "_flusher", "frames", "gateway", "id", "outbox", "principal", "protocol",
        "transport", "ws",
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
        # A peer that stopped reading never lets the close frame (or anything) out of our
        # buffers, and a plain close would wait for them to drain: abort instead.
        transport = self.transport
        if transport is not None and (
            not transport.is_closing() or transport.get_write_buffer_size() > 0
        ):
            transport.abort()

    async def serve(
        self, db: Database, history: HistoryReader, rules: ChatRules, since: int | None
    ) -> None:
        """Join, register, announce, replay, go live, then read until the socket closes.

        One coroutine for the socket's whole life (thousands are parked here at once)."""
        chat = self.principal.chat
        self.gateway.rooms.join(chat, self)
        self.gateway.sockets.add(self)
        WS_CONNECTIONS.inc()
        try:
            if rules.banned(chat, self.person):
                # Banned while this socket was being upgraded: the ban's own close found no
                # socket to close, so it is closed here (from now on the room is in the feed's
                # reach: a ban folded later closes it there).
                await self.close(*BANNED_CLOSE)
                return
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
            async for _message in self.ws:
                # Nothing to do with what clients send (reading answers pings and sees close),
                # but a client that floods frames is cut off rather than let burn our CPU.
                if not self.frames.allow(time.monotonic()):
                    log.warning("socket %s of %s floods frames: disconnecting", self.id,
                                self.person)
                    await self.close(WSCloseCode.POLICY_VIOLATION, "too many frames")
                    return
        except ConnectionError:
            pass  # the peer went away mid-replay: nothing to tell it
        except Exception:
            log.exception("socket %s failed", self.id)
        finally:
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


def _token(request: web.Request) -> str:
    token = request.query.get("token")
    if token:
        return token
    return bearer_token(request.headers.get("Authorization"))


async def websocket(request: web.Request) -> web.StreamResponse:
    app = request.app
    settings, gateway = app[SETTINGS], app[GATEWAY]
    if not origin_allowed(request.headers.get("Origin"), settings.allowed_origins):
        return responses.forbidden("origin not allowed")
    try:
        # Not remembered: thousands of idle sockets would each keep their token in the cache.
        principal = await authenticate(
            _token(request), settings, app[DIRECTORY], remember=False
        )
    except Unauthorized:
        return responses.unauthorized()
    try:
        since = parse_since(request.query.get("since"))
    except ValueError as exc:
        return responses.bad_params([str(exc)])
    # compress=False: frames are prepared once for every recipient, so none is compressed
    # per socket, and an extension nobody uses is not negotiated.
    ws = web.WebSocketResponse(
        heartbeat=settings.ws_heartbeat_s,
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
    connection = Connection(
        request, ws, principal, gateway, settings.ws_send_queue, settings.ws_max_frames_per_s
    )
    await connection.serve(app[DATABASE], app[HISTORY], rules, since)
    return ws
