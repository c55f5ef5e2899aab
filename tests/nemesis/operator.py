"""What an operator does meanwhile: deposits (straight to MySQL, as `chatledger deposit` does)
and refunds through the real `chatledger refund` CLI, which goes over the broker to the ledger.

A refund's exit status is its answer: 0 applied (its command id must be in MySQL once), 1
refused, 3 undecided within --wait (it may still apply, once); a deposit's outcome likewise.
"""

import asyncio
import random
import uuid
from decimal import Decimal

import orjson
from databases import Database

from chatledger.cli.main import apply_money_command
from chatledger.domain.commands import Deposit
from chatledger.platform.config import Settings
from tests.helpers.cli import cli
from tests.nemesis.cast import Chat
from tests.nemesis.load import Load, Op

REFUND_WAIT_S = 8


class Operator:
    def __init__(self, rng: random.Random, chats: list[Chat], settings: Settings, db: Database,
                 env: dict[str, str], load: Load) -> None:
        self.rng, self.chats, self.settings = rng, chats, settings
        self.db, self.env, self.load = db, env, load
        self.refunded: set[str] = set()

    async def run(self, stop: asyncio.Event, every_s: float = 2.5) -> None:
        while not stop.is_set():
            await (self.deposit() if self.rng.random() < 0.5 else self.refund())
            await asyncio.sleep(every_s)

    async def deposit(self) -> None:
        chat = self.rng.choice(self.chats)
        who = self.rng.choice(chat.talkers + chat.targets)
        command = Deposit(str(uuid.uuid4()), who.uuid, Decimal(self.rng.randrange(5, 50)))
        op = Op("deposit", who.uuid, who.uuid, "", command_id=None)
        self.load.ops.append(op)
        try:
            outcome, _ = await asyncio.wait_for(apply_money_command(self.settings, command), 20)
        except Exception as failed:
            op.statuses.append(-1)
            op.mark = f"deposit failed: {failed!r}"[:200]
            return
        op.statuses.append(0 if outcome == "applied" else 1)
        if outcome == "applied":
            op.command_id = command.command_id

    async def refund(self) -> None:
        donation = await self._a_donation()
        if donation is None:
            return
        await self.refund_of(*donation)

    async def refund_of(self, event_id: str, chat: str) -> None:
        """Refund one donation (the extras load names a tip whose toy turn still waits)."""
        if event_id in self.refunded:
            return
        self.refunded.add(event_id)
        op = Op("refund", chat, "operator", "")
        self.load.ops.append(op)
        ran = await cli("refund", event_id, "--reason", "nemesis", "--wait", str(REFUND_WAIT_S),
                        env=self.env)
        op.statuses.append(ran.code)
        if ran.code == 0:
            op.command_id = orjson.loads(ran.out)["command_id"]
        elif ran.code not in (1, 3):
            op.mark = f"refund exit {ran.code}: {ran.err[-300:]}"

    async def _a_donation(self) -> tuple[str, str] | None:
        """A donation acknowledged by the API and applied, not refunded by us yet."""
        tips = [op.command_id for op in self.load.ops if op.kind == "donat" and op.accepted]
        if not tips:
            return None
        sample = self.rng.sample(tips[-100:], min(len(tips), 10))
        rows = await self.db.fetch_all(
            "SELECT event_id, stream FROM chat_events WHERE type = 'donate' AND command_id IN"
            f" ({', '.join(f':c{n}' for n in range(len(sample)))})",
            {f"c{n}": c for n, c in enumerate(sample)})
        fresh = [(row[0], row[1]) for row in rows if row[0] not in self.refunded]
        return self.rng.choice(sorted(fresh)) if fresh else None
