"""People and their accounts: models (`users`) and viewers (`clients`), one account each."""

import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from databases import Database

from chatledger.ledger.commands import Actor, Role

Kind = Literal["model", "client"]
_TABLE: dict[str, str] = {"model": "users", "client": "clients"}


@dataclass(frozen=True, slots=True)
class Person:
    uuid: str
    name: str
    role: Role

    def as_actor(self) -> Actor:
        return Actor(self.uuid, self.name, self.role)


async def create_account(database: Database, kind: Kind, name: str) -> Person:
    owner = str(uuid.uuid4())
    async with database.transaction():
        account_id = await database.execute(
            "INSERT INTO accounts (owner_uuid, kind, balance) VALUES (:owner, :kind, 0)",
            {"owner": owner, "kind": kind},
        )
        await database.execute(
            f"INSERT INTO {_TABLE[kind]} (uuid, name, account_id) VALUES (:uuid, :name, :account)",
            {"uuid": owner, "name": name, "account": account_id},
        )
    return Person(owner, name, kind)


async def find_person(database: Database, person_uuid: str) -> Person | None:
    row = await database.fetch_one(
        "SELECT uuid, name, 'model' AS role FROM users WHERE uuid = :uuid"
        " UNION ALL SELECT uuid, name, 'client' FROM clients WHERE uuid = :uuid",
        {"uuid": person_uuid},
    )
    return Person(row[0], row[1], row[2]) if row else None


async def balance_of(database: Database, owner: str) -> Decimal | None:
    value = await database.fetch_val(
        "SELECT balance FROM accounts WHERE owner_uuid = :owner", {"owner": owner}
    )
    return Decimal(value) if value is not None else None


class Directory:
    """Looks people up, remembering the ones that exist for a short while (the hot path)."""

    def __init__(self, database: Database, ttl_s: float) -> None:
        self.database = database
        self.ttl_s = ttl_s
        self._known: dict[str, tuple[Person, float]] = {}

    async def find(self, person_uuid: str) -> Person | None:
        now = time.monotonic()
        cached = self._known.get(person_uuid)
        if cached is not None and cached[1] > now:
            return cached[0]
        person = await find_person(self.database, person_uuid)
        if person is not None and self.ttl_s > 0:
            if len(self._known) > 100_000:
                self._known.clear()
            self._known[person_uuid] = (person, now + self.ttl_s)
        return person
