"""The mixed load: messages, tips, goals, bans and unbans over HTTP; deposits and refunds as an
operator would make them. Every attempt and its answer is recorded for the checks.

Each command carries a text (or name) no other command has, so a command applied twice under
two different ids (a retried 503, a reused idempotency key) shows as two rows with one mark.
A 503 or a dropped connection is retried with the same Idempotency-Key, as a client should.
"""

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import orjson

from tests.helpers.people import Someone
from tests.nemesis.cast import Chat

RETRIES = 3
STATUS_LOST = 0  # no HTTP answer (connection refused or dropped, timeout)


@dataclass
class Op:
    kind: str
    chat: str
    actor: str
    mark: str  # unique text of the command; "" for bans (their target is the payload)
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    statuses: list[int] = field(default_factory=list)
    command_id: str | None = None  # from a 201 (or an operator command's own id)
    sent_at: float | None = None  # time.monotonic() when the POST that got the 201 was sent
    acked_at: float | None = None  # time.monotonic() of the first 201
    acked_wall: str = ""  # the same moment in UTC, to set beside the faults' times
    hidden: str = ""  # "private"/"anonymous" tip: no public event may name its donor
    expect: str = ""  # what the contract says the answer must be, for key-reuse probes
    item: dict[str, Any] | None = None  # a tip-menu purchase: the item bought {id, label, price}

    @property
    def accepted(self) -> bool:
        return self.command_id is not None


def _message(rng: random.Random, chat: Chat, mark: str) -> tuple[Someone, str, dict[str, Any]]:
    roll = rng.random()
    if roll < 0.15:  # the model's private reply to one watching talker
        to = rng.choice(chat.talkers).uuid
        return chat.model, "/chat/message/add", {"message": mark, "is_public": False, "to": to}
    who = rng.choice(chat.talkers + chat.targets)
    return who, "/chat/message/add", {"message": mark, "is_public": roll > 0.35}


def _tip(rng: random.Random, chat: Chat, mark: str) -> tuple[Someone, str, dict[str, Any]]:
    who = rng.choice(chat.talkers + chat.targets)
    body: dict[str, Any] = {"sum": str(Decimal(rng.randrange(50, 800)) / 100),
                            "messgae": {"message": mark, "is_public": rng.random() > 0.3}}
    if rng.random() < 0.25:
        body["anonymous"] = True
    return who, "/chat/donat/add", body


def _goal(rng: random.Random, chat: Chat, mark: str) -> tuple[Someone, str, dict[str, Any]]:
    return chat.model, "/chat/goal/add", {"name": mark, "require_sum": rng.randrange(5, 40)}


class Load:
    def __init__(self, rng: random.Random, chats: list[Chat], api_url: str,
                 token_for: Callable[[str, str], str]) -> None:
        self.rng = rng
        self.token_for = token_for  # (client, chat) -> a client token for that chat
        self.chats = chats
        self.api_url = api_url
        self.ops: list[Op] = []
        self.banned: set[str] = set()
        self.counter = 0
        # Messages answered 201, with how they were sent: the key-reuse probes resend them.
        self.sent: list[tuple[Op, Someone, dict[str, Any]]] = []

    async def run(self, stop: asyncio.Event, workers: int = 4, pace_s: float = 0.08) -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(self.api_url, timeout=timeout) as http:
            await asyncio.gather(*(self._worker(http, stop, pace_s) for _ in range(workers)))

    async def _worker(self, http: aiohttp.ClientSession, stop: asyncio.Event,
                      pace_s: float) -> None:
        while not stop.is_set():
            await self.one(http)
            await asyncio.sleep(pace_s)  # a steady load, not a benchmark

    async def one(self, http: aiohttp.ClientSession) -> None:
        chat = self.rng.choice(self.chats)
        self.counter += 1
        mark = f"nemesis-{self.counter}-{uuid.uuid4().hex[:6]}"
        roll = self.rng.random()
        if roll < 0.03 and self.sent:
            await probe_keys(self, http, mark)
            return
        if roll < 0.08:
            await self._moderate(http, chat)
            return
        build = _goal if roll < 0.12 else _tip if roll < 0.45 else _message
        who, path, body = build(self.rng, chat, mark)
        op = Op(path.rsplit("/", 2)[1], chat.uuid, who.uuid, mark)
        note = body.get("messgae") or {}
        if op.kind == "donat":
            op.hidden = " ".join(w for w, on in (("anonymous", body.get("anonymous")),
                                                 ("private", not note["is_public"])) if on)
        await self.send(http, op, who, path, body)
        if op.kind == "message" and op.accepted:
            self.sent.append((op, who, body))

    async def _moderate(self, http: aiohttp.ClientSession, chat: Chat) -> None:
        target = self.rng.choice(chat.targets)
        action = "unban" if target.uuid in self.banned else "ban"
        op = Op(action, chat.uuid, chat.model.uuid, "")
        await self.send(http, op, chat.model, f"/chat/moderation/{action}",
                        {"client": target.uuid})
        if op.accepted:
            self.banned.symmetric_difference_update({target.uuid})

    async def send(self, http: aiohttp.ClientSession, op: Op, who: Someone, path: str,
                   body: dict[str, Any]) -> None:
        self.ops.append(op)
        headers = {**who.headers, "Idempotency-Key": op.key}
        for attempt in range(RETRIES):
            sent_at = time.monotonic()
            status, answer = await _post(http, path, body, headers)
            op.statuses.append(status)
            if status == 201:
                op.command_id = answer["id"]
                op.sent_at = sent_at
                op.acked_at = time.monotonic()
                op.acked_wall = f"{datetime.now(UTC):%H:%M:%S.%f}"
                return
            if status not in (STATUS_LOST, 503):
                return
            await asyncio.sleep(0.3 * (attempt + 1))


async def probe_keys(load: Load, http: aiohttp.ClientSession, mark: str) -> None:
    """Use an Idempotency-Key again (DESIGN §4): the same request gets the first answer; the
    same key with another body is 422 and applies nothing; the same key in another chat (a
    token for that chat) is another command, applied on its own."""
    first, who, body = load.rng.choice(load.sent[-50:])
    kind = load.rng.choice(["replay", "reuse", "elsewhere"])
    if kind == "replay":
        op = Op("replay", first.chat, who.uuid, first.mark, key=first.key,
                expect=f"201 {first.command_id}")
        await load.send(http, op, who, "/chat/message/add", body)
        return
    chat = first.chat
    if kind == "elsewhere":
        other = next((c for c in load.chats if c.uuid != first.chat), None)
        if other is None or who.uuid == first.chat:
            return
        chat = other.uuid
        who = Someone(who.person, load.token_for(who.uuid, chat))
    op = Op(kind, chat, who.uuid, mark, key=first.key,
            expect="422" if kind == "reuse" else "201, applied with its own body")
    await load.send(http, op, who, "/chat/message/add", {**body, "message": mark})


async def _post(http: aiohttp.ClientSession, path: str, body: dict[str, Any],
                headers: dict[str, str]) -> tuple[int, Any]:
    try:
        async with http.post(path, data=orjson.dumps(body), headers=headers) as response:
            raw = await response.read()
            return response.status, orjson.loads(raw) if raw.startswith(b"{") else raw
    except (aiohttp.ClientError, TimeoutError):
        return STATUS_LOST, None
