"""Create models and viewers with money, and their tokens, straight through the real code."""

from dataclasses import dataclass
from decimal import Decimal

from databases import Database

from chatledger.cli.main import apply_money_command
from chatledger.domain.commands import Deposit
from chatledger.ledger.accounts import Person, balance_of, create_account
from chatledger.platform.config import Settings
from chatledger.web.auth import issue_token


@dataclass(frozen=True)
class Someone:
    person: Person
    token: str

    @property
    def uuid(self) -> str:
        return self.person.uuid

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class People:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def model(self, name: str = "Mia") -> Someone:
        person = await create_account(self.db, "model", name)
        return Someone(person, issue_token(self.settings, person.uuid, "model"))

    async def client(self, model: Someone, name: str = "Bob", money: str | None = None) -> Someone:
        person = await create_account(self.db, "client", name)
        if money is not None:
            await self.deposit(person.uuid, money)
        return Someone(person, issue_token(self.settings, person.uuid, "client", model.uuid))

    async def chat(self, client: str = "Bob", money: str | None = None,
                   model: str = "Mia") -> tuple[Someone, Someone]:
        """A fresh model and one client of its chat (with `money` deposited): most tests' cast."""
        host = await self.model(model)
        return host, await self.client(host, client, money)

    async def deposit(self, owner: str, amount: str) -> None:
        import uuid

        outcome, _ = await apply_money_command(
            self.settings, Deposit(str(uuid.uuid4()), owner, Decimal(amount))
        )
        assert outcome == "applied", outcome

    async def balance(self, owner: str) -> Decimal | None:
        return await balance_of(self.db, owner)
