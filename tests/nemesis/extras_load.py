"""The room's paid extras under the nemesis (DESIGN §11): paid pins, the toy queue, queued goals.

One loop per chat, beside the mixed load. The model sets short pin tiers (2-6 s) and toy levels
(1-3 s) so that pins and turns fall due during the run; clients buy pins, sometimes several at
once so that they land in one ledger batch (which must still show the highest sum first); the
model deletes a live pin now and then; the mixed load's bans hit the ban targets, who buy pins
too (a ban takes their pins down). Tips reach toy levels (sometimes together, so turns wait), and
the operator refunds some tip whose turn still waits (its turn must be removed, never played).
The model queues goals behind the mixed load's goals.

The toy's lowest level is above every tip of the other loads, so the toy queue is this load's
own; no pin or toy tip joins a queue of `MAX_WAITING` already (as the model's `GET` sees it), and
`finish` trims each pin queue (the model deletes all but `KEEP_QUEUED`), so what waits when the
storm ends drains within the quiet phase.

Every POST is an `Op` of the load (applied exactly once, lost only with a broker kill).
"""

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp

from tests.helpers.people import Someone
from tests.nemesis.cast import Chat
from tests.nemesis.load import Load, Op
from tests.nemesis.operator import Operator
from tests.nemesis.show_load import _get

PIN_TIERS = [{"min": "2", "seconds": 2}, {"min": "5", "seconds": 4}, {"min": "9", "seconds": 6}]
TOY_LEVELS = [{"min": "8", "level": 3, "seconds": 1}, {"min": "12", "level": 8, "seconds": 2},
              {"min": "20", "level": 15, "seconds": 3}]
KEEP_QUEUED = 1
# A queue this long takes no more: what waits when the storm ends drains within the quiet phase.
MAX_WAITING = 4


class ExtrasLoad:
    def __init__(self, rng: random.Random, chats: list[Chat], load: Load,
                 operator: Operator) -> None:
        self.rng, self.chats, self.load, self.operator = rng, chats, load, operator
        self.counter = 0
        self.refunds: set[asyncio.Task[None]] = set()
        self.asked_refunds: set[str] = set()  # toy tips refunded while their turn waited

    async def run(self, stop: asyncio.Event) -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(self.load.api_url, timeout=timeout) as http:
            await asyncio.gather(*(self._chat(http, chat, stop) for chat in self.chats))
        await asyncio.gather(*self.refunds)

    async def _chat(self, http: aiohttp.ClientSession, chat: Chat, stop: asyncio.Event) -> None:
        await self._send(http, "settings", chat, chat.model, "/chat/settings",
                         {"pin_tiers": PIN_TIERS, "toy_levels": TOY_LEVELS})
        while not stop.is_set():
            roll = self.rng.random()
            if roll < 0.25:
                if await self._waiting(http, chat, "/chat/pins") < MAX_WAITING:
                    await self._burst(lambda: self._pin(http, chat))
            elif roll < 0.35:
                await self._delete_a_pin(http, chat)
            elif roll < 0.6:
                if await self._waiting(http, chat, "/chat/toy") < MAX_WAITING:
                    await self._burst(lambda: self._toy_tip(http, chat))
            elif roll < 0.7:
                await self._refund_a_waiting_turn(chat)
            elif roll < 0.8:
                await self._send(http, "goal", chat, chat.model, "/chat/goal/add",
                                 {"name": self._mark("goal"), "queued": True,
                                  "require_sum": self.rng.randrange(5, 30)})
            await asyncio.sleep(self.rng.uniform(1.0, 2.0))  # a pace, not a synchronisation

    async def _waiting(self, http: aiohttp.ClientSession, chat: Chat, path: str) -> int:
        """How many pins or turns wait (unknown: as many as the most allowed)."""
        status, body = await _get(http, path, chat.model)
        return len(body["queue"]) if status == 200 else MAX_WAITING

    async def _burst(self, one: Callable[[], Awaitable[None]]) -> None:
        """One request, or (one time in three) 3-4 at once: they may share a ledger batch."""
        many = self.rng.randrange(3, 5) if self.rng.random() < 0.33 else 1
        await asyncio.gather(*(one() for _ in range(many)))

    async def _pin(self, http: aiohttp.ClientSession, chat: Chat) -> None:
        buyer = self.rng.choice(chat.talkers + chat.targets)
        body = {"message": self._mark("pin"),
                "sum": str(Decimal(self.rng.randrange(200, 1200)) / 100)}
        await self._send(http, "pin", chat, buyer, "/chat/pin", body, text=body["message"])

    async def _toy_tip(self, http: aiohttp.ClientSession, chat: Chat) -> None:
        donor = self.rng.choice(chat.talkers)
        public = self.rng.random() < 0.7
        body: dict[str, Any] = {"sum": str(Decimal(self.rng.randrange(800, 2500)) / 100),
                                "messgae": {"message": self._mark("toy"), "is_public": public}}
        if self.rng.random() < 0.2:
            body["anonymous"] = True
        op = await self._send(http, "donat", chat, donor, "/chat/donat/add", body,
                              text=body["messgae"]["message"])
        op.hidden = " ".join(w for w, on in (("anonymous", body.get("anonymous")),
                                             ("private", not public)) if on)

    async def _delete_a_pin(self, http: aiohttp.ClientSession, chat: Chat) -> None:
        status, pins = await _get(http, "/chat/pins", chat.model)
        if status != 200:
            return
        live = ([pins["current"]] if pins["current"] else []) + list(pins["queue"])
        if live:
            pin = self.rng.choice(live)
            await self._send(http, "delete_pin", chat, chat.model, "/chat/message/delete",
                             {"id": pin["pin"]})

    async def _refund_a_waiting_turn(self, chat: Chat) -> None:
        """The operator refunds a tip whose toy turn has not begun (in the background: the CLI
        waits for its answer)."""
        waiting = await self.operator.db.fetch_all(
            "SELECT donation_id FROM toy_turns WHERE model_uuid = :chat AND status = 'queued'"
            " ORDER BY seq DESC", {"chat": chat.uuid})  # the last in line: the CLI takes a while
        fresh = [row[0] for row in waiting if row[0] not in self.operator.refunded]
        if not fresh or len(self.refunds) > 1:
            return
        donation = fresh[0]
        self.asked_refunds.add(donation)
        task = asyncio.create_task(self.operator.refund_of(donation, chat.uuid))
        self.refunds.add(task)
        task.add_done_callback(self.refunds.discard)

    async def finish(self) -> None:
        """After the heal: each model deletes its queued pins but the best `KEEP_QUEUED`."""
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(self.load.api_url, timeout=timeout) as http:
            for chat in self.chats:
                status, pins = await _get(http, "/chat/pins", chat.model)
                for pin in (pins["queue"][KEEP_QUEUED:] if status == 200 else []):
                    await self._send(http, "delete_pin", chat, chat.model,
                                     "/chat/message/delete", {"id": pin["pin"]})

    async def _send(self, http: aiohttp.ClientSession, kind: str, chat: Chat, who: Someone,
                    path: str, body: dict[str, Any], text: str = "") -> Op:
        op = Op(kind, chat.uuid, who.uuid, text or body.get("name", ""))
        await self.load.send(http, op, who, path, body)
        return op

    def _mark(self, what: str) -> str:
        self.counter += 1
        return f"nemesis-{what}-{self.counter}-{uuid.uuid4().hex[:6]}"
