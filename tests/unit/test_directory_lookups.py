"""The Directory's misses of a moment are read from MySQL together (ledger/lookups.py)."""

import asyncio
import uuid
from collections.abc import Sequence

import pytest

from chatledger.ledger.accounts import Directory, Person


class MySQL:
    """MySQL's people, each query recorded: `find_person` (one) and `people_among` (many)."""

    def __init__(self, count: int) -> None:
        self.rows = {
            person.uuid: person
            for person in (Person(str(uuid.uuid4()), f"Viewer {n}", "client") for n in range(count))
        }
        self.queries: list[list[str]] = []
        self.failing: Exception | None = None
        self.started = asyncio.Event()  # a query was sent
        self.held: asyncio.Event | None = None  # set: a query waits for it

    async def _query(self, uuids: Sequence[str]) -> list[Person]:
        self.queries.append(list(uuids))
        self.started.set()
        if self.held is not None:
            await self.held.wait()
        if self.failing is not None:
            raise self.failing
        return [self.rows[who] for who in uuids if who in self.rows]

    async def find_person(self, database: object, person_uuid: str) -> Person | None:
        found = await self._query([person_uuid])
        return found[0] if found else None

    async def people_among(self, database: object, uuids: Sequence[str]) -> list[Person]:
        return await self._query(uuids)


@pytest.fixture
def mysql(monkeypatch: pytest.MonkeyPatch) -> MySQL:
    fake = MySQL(50)
    monkeypatch.setattr("chatledger.ledger.accounts.find_person", fake.find_person)
    monkeypatch.setattr("chatledger.ledger.accounts.people_among", fake.people_among)
    return fake


def directory() -> Directory:
    return Directory(None, ttl_s=30)  # type: ignore[arg-type]


async def test_misses_of_one_moment_are_one_query_each_caller_its_own_answer(
    mysql: MySQL,
) -> None:
    people, nobody = list(mysql.rows), str(uuid.uuid4())
    asked = [*people, nobody, people[0]]
    known = directory()
    found = await asyncio.gather(*(known.find(who) for who in asked))
    assert found == [*mysql.rows.values(), None, mysql.rows[people[0]]]
    assert len(mysql.queries) == 1
    assert sorted(mysql.queries[0]) == sorted([*people, nobody])  # each asked once


async def test_a_lone_miss_is_one_query_and_is_remembered(mysql: MySQL) -> None:
    known = directory()
    who = next(iter(mysql.rows))
    for _ in range(3):
        assert await known.find(who) == mysql.rows[who]
    assert mysql.queries == [[who]]


async def test_misses_during_a_query_wait_for_it_and_go_together_in_the_next(
    mysql: MySQL,
) -> None:
    known, people = directory(), list(mysql.rows)
    mysql.held = asyncio.Event()
    first = asyncio.ensure_future(known.find(people[0]))
    await mysql.started.wait()  # the first query is in flight
    later = asyncio.gather(*(known.find(who) for who in people[1:]))
    # Released after the later finds' first steps (the loop runs callbacks in order): they
    # have asked before the first query's answer comes.
    asyncio.get_running_loop().call_soon(mysql.held.set)
    assert [await first, *await later] == list(mysql.rows.values())
    assert [len(query) for query in mysql.queries] == [1, 49]


async def test_a_failed_query_fails_each_of_its_callers_and_the_next_miss_asks_again(
    mysql: MySQL,
) -> None:
    known, people = directory(), list(mysql.rows)
    mysql.failing = OSError("MySQL away")
    outcomes = await asyncio.gather(*(known.find(who) for who in people[:3]),
                                    return_exceptions=True)
    assert [type(outcome) for outcome in outcomes] == [OSError] * 3
    mysql.failing = None
    assert await known.find(people[0]) == mysql.rows[people[0]]
    assert len(mysql.queries) == 2
