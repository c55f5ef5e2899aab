"""Money on hold under the nemesis (DESIGN §10): private and spy shows and the tip menu.

One loop per chat, beside the mixed load. The model sets its rates and a menu; showgoers ask
for shows, the model accepts or declines them (the first one in the first chat it never answers:
the 60 s timeout declines it), the client or the model ends them, other showgoers spy and stop,
the show's client tips, and now and then the client closes its socket for longer than the 10 s
disconnect rule (its show must end `disconnected`). The model changes its menu and a viewer
buys an item of the menu just replaced (`donate_rejected` "menu changed", or 400 when the API
already knows), other viewers buy from the current menu.

Every POST is an `Op` of the load, so the load's checks (applied exactly once, lost only with a
broker kill) cover them; `finish` then ends what is still on so the checks can see every show
over. Which show a request made follows from its command id (`show_requested` is its first event).
"""

import asyncio
import random
import time
import uuid
from decimal import Decimal
from typing import Any

import aiohttp

from chatledger.domain.events import event_id_for
from chatledger.domain.menu_items import item_id
from tests.helpers.people import Someone
from tests.nemesis.cast import Chat
from tests.nemesis.load import Load, Op
from tests.nemesis.viewers import Viewer

LEAVE_S = 14.0  # away longer than the 10 s disconnect rule, with room for the clock's pass
IGNORE_WITHIN_S = 5.0  # only a request this early is left unanswered: it times out by the end
LABELS = ("Dance", "Song", "Wave", "Joke", "Pose", "Spin", "Story")


class ShowLoad:
    def __init__(self, rng: random.Random, chats: list[Chat], load: Load,
                 viewers: list[Viewer]) -> None:
        self.rng, self.chats, self.load = rng, chats, load
        self.viewers = {(v.chat, v.who.uuid): v for v in viewers}
        self.ignored: str | None = None  # the show whose request is left to time out
        self.left: set[str] = set()  # shows whose client went away (the disconnect rule)
        self.counter = 0
        self.start = self.ends_at = 0.0

    async def run(self, stop: asyncio.Event, seconds: float) -> None:
        """`seconds`: how long the storm lasts; nobody leaves so late that the end waits."""
        self.start = time.monotonic()
        self.ends_at = self.start + seconds
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(self.load.api_url, timeout=timeout) as http:
            await asyncio.gather(*(self._chat(http, chat, stop, n == 0)
                                   for n, chat in enumerate(self.chats)))

    async def _chat(self, http: aiohttp.ClientSession, chat: Chat, stop: asyncio.Event,
                    first: bool) -> None:
        rates = {"private_rate": str(self.rng.randrange(1, 4)),
                 "spy_rate": str(Decimal(self.rng.randrange(25, 150)) / 100)}
        await self._send(http, "settings", chat, chat.model, "/chat/settings", rates)
        await self._set_menu(http, chat)
        while not stop.is_set():
            if self.rng.random() < 0.15:
                await self._menu_step(http, chat)
            else:
                await self._show_step(http, chat, first)
            await asyncio.sleep(self.rng.uniform(0.3, 0.8))  # a pace, not a synchronisation

    async def _show_step(self, http: aiohttp.ClientSession, chat: Chat, first: bool) -> None:
        found, show = await self.current(http, chat)
        if not found:
            return
        if show is None:
            present = [g for g in chat.showgoers if self._here(chat, g)]
            if not present:
                return
            client = self.rng.choice(present)
            op = await self._send(http, "show_request", chat, client, "/chat/show/request", {})
            early = time.monotonic() < self.start + IGNORE_WITHIN_S
            if first and early and self.ignored is None and op.command_id:
                self.ignored = event_id_for(op.command_id, 0)
            return
        sid = show["show"]
        client = next(g for g in chat.showgoers if g.uuid == show["client"]["uuid"])
        roll = self.rng.random()
        if show["status"] == "requested":
            if sid == self.ignored:
                return
            verb, who = (("accept", chat.model) if roll < 0.6 else ("decline", chat.model)
                         if roll < 0.8 else ("end", client))
            await self._send(http, f"show_{verb}", chat, who, f"/chat/show/{verb}", {"show": sid})
        elif roll < 0.3:
            await self._tip(http, chat, client)
        elif roll < 0.7:
            spy = self.rng.choice([g for g in chat.showgoers if g.uuid != client.uuid])
            verb = "spy" if roll < 0.55 else "spy/end"
            await self._send(http, verb.replace("/", "_"), chat, spy, f"/chat/show/{verb}",
                             {"show": sid})
        elif roll < 0.78 and sid not in self.left and \
                time.monotonic() + LEAVE_S + 3 < self.ends_at:
            self.left.add(sid)
            await self.viewers[(chat.uuid, client.uuid)].leave(LEAVE_S)
        elif roll < 0.88 and sid not in self.left:
            who = client if self.rng.random() < 0.5 else chat.model
            await self._send(http, "show_end", chat, who, "/chat/show/end", {"show": sid})

    def _here(self, chat: Chat, who: Someone) -> bool:
        return self.viewers[(chat.uuid, who.uuid)].socket is not None

    async def _tip(self, http: aiohttp.ClientSession, chat: Chat, client: Someone) -> None:
        body = {"sum": str(Decimal(self.rng.randrange(20, 200)) / 100),
                "messgae": {"message": self._mark(), "is_public": True}}
        await self._send(http, "donat", chat, client, "/chat/donat/add", body)

    async def _menu_step(self, http: aiohttp.ClientSession, chat: Chat) -> None:
        buyer = self.rng.choice(chat.talkers + chat.showgoers)
        old = await self._menu(http, chat)
        if self.rng.random() < 0.35:
            new = await self._set_menu(http, chat)
            gone = [item for item in old if item["id"] not in new]
            if gone:  # bought from the menu the buyer's page still shows
                await self._buy(http, chat, buyer, self.rng.choice(gone))
        elif old:
            await self._buy(http, chat, buyer, self.rng.choice(old))

    async def _set_menu(self, http: aiohttp.ClientSession, chat: Chat) -> set[str]:
        """A new menu of 2-4 items; returns their ids."""
        items = [{"label": label, "price": str(self.rng.randrange(1, 6))}
                 for label in self.rng.sample(LABELS, self.rng.randrange(2, 5))]
        await self._send(http, "menu", chat, chat.model, "/chat/menu", {"items": items})
        return {item_id(item["label"], Decimal(item["price"])) for item in items}

    async def _buy(self, http: aiohttp.ClientSession, chat: Chat, buyer: Someone,
                   item: dict[str, Any]) -> None:
        body = {"sum": item["price"], "menu_item": item["id"],
                "messgae": {"message": self._mark(), "is_public": self.rng.random() < 0.7}}
        op = await self._send(http, "menu_buy", chat, buyer, "/chat/donat/add", body,
                              item=item)
        if not body["messgae"]["is_public"]:
            op.hidden = "private"

    async def _menu(self, http: aiohttp.ClientSession, chat: Chat) -> list[dict[str, Any]]:
        status, body = await _get(http, "/chat/menu", chat.model)
        return list(body["items"]) if status == 200 else []

    async def current(self, http: aiohttp.ClientSession,
                      chat: Chat) -> tuple[bool, dict[str, Any] | None]:
        """(answered, the chat's requested or running show as the model sees it)."""
        status, body = await _get(http, "/chat/show", chat.model)
        if status != 200:
            return False, None
        show = body.get("show")
        return True, show if show and show["status"] in ("requested", "running") else None

    async def _send(self, http: aiohttp.ClientSession, kind: str, chat: Chat, who: Someone,
                    path: str, body: dict[str, Any], **extra: Any) -> Op:
        text = (body.get("messgae") or {}).get("message", "")
        op = Op(kind, chat.uuid, who.uuid, text, **extra)
        await self.load.send(http, op, who, path, body)
        return op

    def _mark(self) -> str:
        self.counter += 1
        return f"nemesis-show-{self.counter}-{uuid.uuid4().hex[:6]}"

    async def finish(self, timeout_s: float = 30.0) -> list[str]:
        """After the heal: the model ends every running show and declines every request but the
        one left to time out, until no chat has one (bounded; what is left is reported)."""
        left = []
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(self.load.api_url, timeout=timeout) as http:
            for chat in self.chats:
                for _ in range(int(timeout_s / len(self.chats) / 0.5)):
                    found, show = await self.current(http, chat)
                    if found and (show is None or show["show"] == self.ignored):
                        break
                    if show is not None:
                        verb = "end" if show["status"] == "running" else "decline"
                        await self._send(http, f"show_{verb}", chat, chat.model,
                                         f"/chat/show/{verb}", {"show": show["show"]})
                    await asyncio.sleep(0.5)  # the ledger's decision is what is waited for
                else:
                    left.append(f"chat {chat.uuid[:8]}: a show still on after {timeout_s}s")
        return left


async def _get(http: aiohttp.ClientSession, path: str, who: Someone) -> tuple[int, Any]:
    try:
        async with http.get(path, headers=who.headers) as response:
            return response.status, (await response.json() if response.status == 200 else None)
    except (aiohttp.ClientError, TimeoutError):
        return 0, None
