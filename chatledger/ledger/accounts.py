"""People and their accounts: models (`users`) and viewers (`clients`), one account each."""

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from databases import Database

from chatledger.domain.commands import Actor, Role
from chatledger.domain.decider import affordable
from chatledger.ledger.lookups import Lookups
from chatledger.platform.retrying import UNAVAILABLE as MYSQL_AWAY

log = logging.getLogger(__name__)

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


async def _one_row(database: Database, query: str, args: tuple[object, ...]) -> Any:
    """The first row, read on the driver's cursor: the API looks people and balances up on its
    hot path, and `databases` would compile each query through SQLAlchemy first (~40% of such a
    lookup's CPU)."""
    async with database.connection() as connection, connection.raw_connection.cursor() as cur:
        await cur.execute(query, args)
        return await cur.fetchone()


async def find_person(database: Database, person_uuid: str) -> Person | None:
    row = await _one_row(
        database,
        "SELECT uuid, name, 'model' AS role FROM users WHERE uuid = %s"
        " UNION ALL SELECT uuid, name, 'client' FROM clients WHERE uuid = %s",
        (person_uuid, person_uuid),
    )
    return Person(row[0], row[1], row[2]) if row else None


async def balance_of(database: Database, owner: str) -> Decimal | None:
    value = await database.fetch_val(
        "SELECT balance FROM accounts WHERE owner_uuid = :owner", {"owner": owner}
    )
    return Decimal(value) if value is not None else None


async def funds_of(database: Database, owner: str) -> tuple[Decimal, Decimal] | None:
    """(balance, held): the balance and the sum of the owner's open holds (DESIGN §10); what it
    may spend is the difference."""
    row = await _one_row(
        database,
        "SELECT a.balance, (SELECT COALESCE(SUM(h.amount), 0) FROM holds h"
        " WHERE h.client_uuid = a.owner_uuid AND h.status = 'open')"
        " FROM accounts a WHERE a.owner_uuid = %s",
        (owner,),
    )
    return (Decimal(row[0]), Decimal(row[1])) if row else None


async def people_among(database: Database, uuids: Sequence[str]) -> list[Person]:
    """The people of `uuids` that exist, in one query."""
    marks = ", ".join(["%s"] * len(uuids))
    async with database.connection() as connection, connection.raw_connection.cursor() as cur:
        await cur.execute(
            f"SELECT uuid, name, 'model' FROM users WHERE uuid IN ({marks})"
            f" UNION ALL SELECT uuid, name, 'client' FROM clients WHERE uuid IN ({marks})",
            (*uuids, *uuids),
        )
        return [Person(*row) for row in await cur.fetchall()]


async def available_of(database: Database, owner: str) -> Decimal | None:
    funds = await funds_of(database, owner)
    return None if funds is None else funds[0] - funds[1]


BALANCE_TTL_MAX_S = 5.0
MAX_REMEMBERED = 100_000
REFRESH_BATCH = 500


class Balances:
    """What the API remembers of balances for the donation's 402 pre-check (pure; no I/O).

    A remembered balance says yes to a tip it covers, and is lowered by that tip (so one person's
    quick run of tips stops being covered once they would have spent it). It never says no: a tip
    it does not cover is checked against MySQL, so a deposit made since is seen and a 402 always
    comes from a balance read at that moment. A remembered balance can be too high for at most
    `ttl_s` (a payout or another api process's tips since): such a tip gets 201, and the ledger,
    whose check is the one that counts, refuses it with a private `donate_rejected` event.
    """

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._known: dict[str, tuple[Decimal, float]] = {}

    def spend(self, owner: str, amount: Decimal, now: float) -> bool:
        """True if the remembered balance covers `amount` (and is lowered by it); False: ask."""
        known = self._known.get(owner)
        if known is None or known[1] <= now or not affordable(known[0], amount):
            return False
        self._known[owner] = (known[0] - amount, known[1])
        return True

    def remember(self, owner: str, balance: Decimal, amount: Decimal, now: float) -> bool:
        """A balance just read from MySQL: whether it covers `amount` (if so, lowered by it)."""
        covered = affordable(balance, amount)
        if self.ttl_s > 0:
            if len(self._known) >= MAX_REMEMBERED:
                self._known.clear()
            left = balance - amount if covered else balance
            self._known[owner] = (left, now + self.ttl_s)
        return covered


class Directory:
    """Looks people up, remembering the ones that exist for at most `ttl_s` (the hot path; a
    deleted person is refused within it), and their balances for the 402 pre-check for at most
    BALANCE_TTL_MAX_S (see Balances)."""

    def __init__(self, database: Database, ttl_s: float) -> None:
        self.database = database
        self.ttl_s = ttl_s
        self._known: dict[str, tuple[Person, float]] = {}
        self._used: set[str] = set()  # found in memory since the last refresh
        self.refreshes = 0  # refreshes begun: `in_use` marks once per refresh suffice
        self.balances = Balances(min(ttl_s, BALANCE_TTL_MAX_S))
        self._misses: Lookups[Person] = Lookups(self._read, REFRESH_BATCH)

    async def affords(self, owner: str, amount: Decimal) -> bool:
        """Whether `owner` (an existing account) may plausibly spend `amount` now."""
        now = time.monotonic()
        if self.balances.spend(owner, amount, now):
            return True
        available = await available_of(self.database, owner)  # money on hold is not spendable
        return available is not None and self.balances.remember(owner, available, amount, now)

    async def find(self, person_uuid: str) -> Person | None:
        now = time.monotonic()
        cached = self._known.get(person_uuid)
        if cached is not None and cached[1] > now:
            self._used.add(person_uuid)
            return cached[0]
        person = await self._misses.find(person_uuid)
        if person is not None:
            self._remember(person, now)
        return person

    async def _read(self, uuids: list[str]) -> dict[str, Person]:
        """The people of `uuids` that exist, by uuid: one alone as `find_person` reads it."""
        if len(uuids) == 1:
            person = await find_person(self.database, uuids[0])
            return {uuids[0]: person} if person is not None else {}
        return {person.uuid.lower(): person for person in await people_among(self.database, uuids)}

    def remembered(self, person_uuid: str) -> float:
        """Until when (time.monotonic()) `find` answers for `person_uuid` from memory; a caller
        keeping what `find` gave keeps it no longer (0.0: not remembered)."""
        cached = self._known.get(person_uuid)
        return cached[1] if cached is not None else 0.0

    def in_use(self, *person_uuids: str) -> None:
        """What `find` notes of a person found in memory, for a caller that kept what it gave:
        in use, so `refresh` reads them again before their memory lapses. Once between two
        refreshes is enough (`refreshes` counts them)."""
        self._used.update(person_uuids)

    def _remember(self, person: Person, now: float) -> None:
        if self.ttl_s > 0:
            if len(self._known) >= MAX_REMEMBERED:
                self._known.clear()
            # Between half and all of the TTL: people first seen together (a restart, a burst)
            # are looked up again spread out, not in one wave of MySQL queries.
            self._known[person.uuid] = (person, now + self.ttl_s * (0.5 + random.random() / 2))

    async def refresh(self, horizon_s: float) -> int:
        """Read again, in one query per REFRESH_BATCH, the people found since the last refresh
        whose memory lapses within `horizon_s`: the requests of people who keep coming back then
        never wait for MySQL (a lookup alone costs the API ~150-400 µs of CPU, a row of a batch
        a few). Each is still read from MySQL at least once per TTL, and one no longer there is
        forgotten (its next request asks MySQL, and is refused). Returns how many were read."""
        now = time.monotonic()
        used, self._used = self._used, set()
        self.refreshes += 1
        due = [who for who in used
               if (cached := self._known.get(who)) is not None and cached[1] <= now + horizon_s]
        for start in range(0, len(due), REFRESH_BATCH):
            batch = due[start:start + REFRESH_BATCH]
            found = await people_among(self.database, batch)
            for who in batch:
                self._known.pop(who, None)
            for person in found:
                self._remember(person, now)
        return len(due)

    async def keep_fresh(self, every_s: float) -> None:
        """`refresh` every `every_s`, for as long as the process runs (MySQL away: next time)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.refresh(2 * every_s)
            except MYSQL_AWAY as exc:
                log.warning("directory refresh: MySQL unavailable: %r", exc)
