"""The people a bench run talks as: models (chats), viewers spread over them, donors with money."""

import asyncio
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from databases import Database

from chatledger.domain.commands import AddGoal, Command, Deposit, Donate, PostMessage
from chatledger.ledger.accounts import Person, create_account
from chatledger.ledger.store import LedgerStore
from chatledger.platform.config import Settings
from chatledger.web.auth import issue_token


@dataclass(frozen=True)
class Viewer:
    person: Person
    chat: str
    token: str


@dataclass(frozen=True)
class Population:
    models: list[Person]
    viewers: list[Viewer]  # viewers[i] watches models[i % len(models)]
    donors: list[Viewer]  # the first viewers, with money

    @property
    def hot_chat(self) -> str:
        return self.models[0].uuid

    def in_chat(self, chat: str) -> list[Viewer]:
        return [viewer for viewer in self.viewers if viewer.chat == chat]

    def mix(self, size: int, hot_share: float | None, pool: Sequence[Viewer] | None = None,
            seed: int = 5) -> list[Viewer]:
        """`size` senders: uniform over `pool`, or `hot_share` of them from the hot chat."""
        chooser = random.Random(seed)
        pool = list(pool or self.viewers)
        hot = [viewer for viewer in pool if viewer.chat == self.hot_chat]
        if hot_share is None:
            return [chooser.choice(pool) for _ in range(size)]
        return [chooser.choice(hot if chooser.random() < hot_share else pool)
                for _ in range(size)]


async def populate(db: Database, settings: Settings, models: int, viewers: int,
                   donors: int) -> Population:
    gate = asyncio.Semaphore(8)

    async def account(kind: str, name: str) -> Person:
        async with gate:
            return await create_account(db, kind, name)  # type: ignore[arg-type]

    chats = list(await asyncio.gather(*(account("model", f"Model{i}") for i in range(models))))
    people = await asyncio.gather(*(account("client", f"Viewer{i}") for i in range(viewers)))
    watching = [
        Viewer(person, chats[i % models].uuid,
               issue_token(settings, person.uuid, "client", chats[i % models].uuid, 6 * 3600))
        for i, person in enumerate(people)
    ]
    rich = watching[:donors]
    await LedgerStore(db).apply_batch(
        [Deposit(str(uuid.uuid4()), viewer.person.uuid, Decimal("90000.00")) for viewer in rich]
    )
    return Population(chats, watching, rich)


def message_commands(senders: Sequence[Viewer], text: str = "ledger bench") -> list[PostMessage]:
    return [PostMessage(str(uuid.uuid4()), viewer.chat, viewer.person.as_actor(), text, True)
            for viewer in senders]


async def open_goals(db: Database, people: Population) -> None:
    """An open goal per chat, never reached: each donation also moves a goal (as in a show).
    Written straight by the store, so only once no history projector runs (it would not see
    these events on the bus)."""
    await LedgerStore(db).apply_batch([
        AddGoal(str(uuid.uuid4()), model.uuid, model.as_actor(), "Show", Decimal("1000000000.00"))
        for model in people.models])


def ledger_commands(people: Population, size: int, hot: float | None, donation_share: float,
                    seed: int) -> list[Command]:
    """A chat's mix for the ledger: messages from anyone, and every `1 / donation_share`-th
    command a 1.00 tip from a donor (a balance, a goal, a donor total, maybe a sponsor)."""
    chooser = random.Random(seed)
    senders = people.mix(size, hot, seed=seed)
    donors = people.mix(size, hot, people.donors, seed=seed + 1)
    commands: list[Command] = []
    for sender, donor in zip(senders, donors, strict=True):
        if chooser.random() < donation_share:
            commands.append(Donate(str(uuid.uuid4()), donor.chat, donor.person.as_actor(),
                                   Decimal("1.00"), "tip", True))
        else:
            commands.append(PostMessage(str(uuid.uuid4()), sender.chat,
                                        sender.person.as_actor(), "ledger bench", True))
    return commands
