"""One open websocket of the gateway: the sink of its outbox, a member of its room, a socket the
heartbeat keeps alive, and how it starts (register, announce, replay, go live) and leaves.

The room's fan-out writes each event's prepared frame straight to the socket's transport (see
`outbox.py`): no task per socket wakes up for an event. While the feed dispatches a batch, the
socket is corked (`cork.py`): its frames of the batch leave as one write when the batch is done.
A socket gets a flusher task only while flow control holds its frames back, and a socket whose
outbox overflows is closed (1008) instead of slowing its room. The route that upgrades a request
and reads the socket is `socket.py`.

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

from chatledger.domain.visibility import visible_to
from chatledger.domain.wire import dumps
from chatledger.gateway.flood import FrameBudget
from chatledger.gateway.frames import text_frame
from chatledger.gateway.heartbeat import PING
from chatledger.gateway.hub import Gateway
from chatledger.gateway.outbox import Outbox
from chatledger.gateway.rooms import BANNED_CLOSE
from chatledger.history.reader import HistoryReader
from chatledger.ledger import connections
from chatledger.platform.metrics import WS_BACKLOGS, WS_CONNECTIONS, WS_SLOW_DISCONNECTS
from chatledger.readmodels.chat_rules import ChatRules
from chatledger.web.auth import Principal

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 2.0  # the close handshake; a peer that does not answer is cut off
_CONTROL = frozenset({WSMsgType.PING, WSMsgType.PONG})  # not counted against the frame budget


# At most this many frames of a socket wait for the end of a batch (`cork.py`): a batch can hold
# a thousand events of one chat, and gathered whole they would reach a socket that stopped
# reading in one write, past flow control, copied per socket. Sent every CORK_FRAMES instead, a
# paused socket's outbox takes the rest, within its bound, as without a cork.
CORK_FRAMES = 64


class Connection:
    """One open socket: the sink of its outbox, its flusher when backlogged, and how it leaves."""

    # Thousands live at once: no per-instance __dict__.
    __slots__ = (
        "_closing", "_corked", "_flusher", "frames", "gateway", "heard", "id", "max_frames_per_s",
        "outbox", "pinged", "principal", "protocol", "transport", "ws",
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
        # Made by the first data frame: clients only ever ping, so most sockets never need it.
        self.frames: FrameBudget | None = None
        self.max_frames_per_s = max_frames_per_s
        self._flusher: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        # Only while the rooms' cork is held and this socket got frames: they leave as one write.
        self._corked: list[bytes] | None = None
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
        corked = self._corked
        if corked is not None:
            corked.append(data)
            if len(corked) >= CORK_FRAMES:  # leave now: flow control sees this socket mid-batch
                self._corked = []
                self._send(b"".join(corked))
        elif self.gateway.rooms.cork.take(self):
            self._corked = [data]
        else:
            self._send(data)

    # -- the cork's Corked --------------------------------------------------------------------
    def uncork(self) -> None:
        corked, self._corked = self._corked, None
        if corked:
            self._send(corked[0] if len(corked) == 1 else b"".join(corked))

    def _send(self, data: bytes) -> None:
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
        if message.type in _CONTROL:
            return True
        if self.frames is None:
            self.frames = FrameBudget(self.max_frames_per_s)
        return self.frames.allow(now)

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
