"""Token verification is cached while a token is valid, never beyond its exp or its secret; the
principal made of it, never beyond what the Directory remembers of its people."""

import time
import uuid

import jwt
import pytest

from chatledger.ledger.accounts import Directory, Person
from chatledger.platform.config import Settings
from chatledger.web.auth import (
    Unauthorized,
    VerifiedTokens,
    authenticate,
    issue_token,
    known_principal,
    known_principals,
    read_claims,
    verified_tokens,
)

SECRET_A = "secret-a-0123456789abcdef0123456789abcdef"
SECRET_B = "secret-b-0123456789abcdef0123456789abcdef"


def settings_with(secret: str) -> Settings:
    return Settings(jwt_secret=secret)


def test_a_verified_token_is_cached_until_its_exp() -> None:
    cache = VerifiedTokens()
    claims = (str(uuid.uuid4()), "client", str(uuid.uuid4()))
    cache.put("t", claims, exp=1000)  # type: ignore[arg-type]
    assert cache.get("t", now=999.9) == claims
    assert cache.get("t", now=1000) is None  # exp <= now: expired, as PyJWT says
    assert cache.get("t", now=999) is None  # and forgotten
    assert len(cache) == 0


def test_the_cache_is_bounded_oldest_out_first() -> None:
    cache = VerifiedTokens(max_entries=3)
    for name in "abcd":
        cache.put(name, (name, "client", name), exp=10**10)  # type: ignore[arg-type]
    assert len(cache) == 3
    assert cache.get("a", now=0) is None
    assert [cache.get(name, now=0) for name in "bcd"] == [(n, "client", n) for n in "bcd"]


def test_read_claims_verifies_once_and_remembers() -> None:
    settings = settings_with(SECRET_A)
    person = str(uuid.uuid4())
    token = issue_token(settings, person, "model")
    assert verified_tokens(SECRET_A, settings.jwt_algorithms).get(token, time.time()) is None
    assert read_claims(token, settings) == (person, "model", person)
    cached = verified_tokens(SECRET_A, settings.jwt_algorithms).get(token, time.time())
    assert cached == (person, "model", person)
    assert read_claims(token, settings) == cached


def test_a_changed_secret_refuses_a_token_cached_under_the_old_one() -> None:
    old, new = settings_with(SECRET_A), settings_with(SECRET_B)
    person = str(uuid.uuid4())
    token = issue_token(old, person, "model")
    read_claims(token, old)
    with pytest.raises(Unauthorized):
        read_claims(token, new)


def test_an_expired_token_is_refused_even_after_it_was_cached() -> None:
    settings = settings_with(SECRET_A)
    person = str(uuid.uuid4())
    now = int(time.time())
    expired = jwt.encode({"sub": person, "role": "model", "exp": now - 1}, SECRET_A)
    with pytest.raises(Unauthorized):
        read_claims(expired, settings)
    assert verified_tokens(SECRET_A, settings.jwt_algorithms).get(expired, now) is None


def test_refusals_are_not_cached() -> None:
    settings = settings_with(SECRET_A)
    person = str(uuid.uuid4())
    soon = jwt.encode(
        {
            "sub": person,
            "role": "model",
            "exp": int(time.time()) + 60,
            "nbf": int(time.time()) + 30,
        },
        SECRET_A,
    )
    for _ in range(2):
        with pytest.raises(Unauthorized):
            read_claims(soon, settings)
    assert verified_tokens(SECRET_A, settings.jwt_algorithms).get(soon, time.time()) is None


def test_a_websockets_token_is_verified_without_being_remembered() -> None:
    settings = settings_with(SECRET_A)
    person = str(uuid.uuid4())
    token = issue_token(settings, person, "model")
    assert read_claims(token, settings, remember=False) == (person, "model", person)
    assert verified_tokens(SECRET_A, settings.jwt_algorithms).get(token, time.time()) is None


class People:
    """MySQL's people, as `find_person` reads them (each read counted)."""

    def __init__(self) -> None:
        self.rows: dict[str, Person] = {}
        self.reads = 0

    async def find(self, database: object, person_uuid: str) -> Person | None:
        self.reads += 1
        return self.rows.get(person_uuid)


class Clock:
    def __init__(self) -> None:
        self.wall, self.mono = time.time(), time.monotonic()

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def pass_(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


@pytest.fixture
def people(monkeypatch: pytest.MonkeyPatch) -> People:
    found = People()
    monkeypatch.setattr("chatledger.ledger.accounts.find_person", found.find)
    return found


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("chatledger.web.auth.time", fake)
    monkeypatch.setattr("chatledger.ledger.accounts.time", fake)
    return fake


def signed_in(people: People, ttl_s: int = 3600) -> tuple[Settings, Person, Person, str]:
    """A viewer and the chat's model, both in `people`, and the viewer's token for the chat."""
    settings = settings_with(SECRET_A)
    viewer = Person(str(uuid.uuid4()), "Viewer", "client")
    model = Person(str(uuid.uuid4()), "Model", "model")
    people.rows.update({viewer.uuid: viewer, model.uuid: model})
    token = issue_token(settings, viewer.uuid, "client", model.uuid, ttl_s=ttl_s)
    return settings, viewer, model, token


async def test_a_known_tokens_principal_is_kept_while_the_directory_remembers_its_people(
    people: People, clock: Clock
) -> None:
    settings, viewer, model, token = signed_in(people)
    directory = Directory(None, ttl_s=30)  # type: ignore[arg-type]
    first = await authenticate(token, settings, directory)
    assert (first.person, first.chat, people.reads) == (viewer, model.uuid, 2)
    for _ in range(2):  # after each refresh, the next hit marks its people in use again
        assert await directory.refresh(0) == 0  # none due: a refresh that reads nobody
        assert directory._used == set()
        assert await authenticate(token, settings, directory) is first
        assert people.reads == 2  # no look-up: the principal is known
        assert directory._used == {viewer.uuid, model.uuid}  # in use: refresh reads them again
    # Another Directory (another app) finds its people itself.
    assert (await authenticate(token, settings, Directory(None, ttl_s=30))).person == viewer  # type: ignore[arg-type]
    assert people.reads == 4


async def test_a_deleted_person_is_refused_once_the_directory_forgets_them_token_known_or_not(
    people: People, clock: Clock
) -> None:
    settings, viewer, model, token = signed_in(people)
    directory = Directory(None, ttl_s=30)  # type: ignore[arg-type]
    read_at = clock.mono
    await authenticate(token, settings, directory)
    lapses = min(directory.remembered(viewer.uuid), directory.remembered(model.uuid))
    del people.rows[viewer.uuid]
    clock.pass_(lapses - clock.mono - 0.001)
    assert (await authenticate(token, settings, directory)).person == viewer  # remembered
    assert people.reads == 2
    clock.pass_(read_at + 30 - clock.mono)  # subject_cache_ttl_s after the read that saw them
    with pytest.raises(Unauthorized):
        await authenticate(token, settings, directory)


async def test_nothing_is_kept_without_a_subject_cache_nor_past_the_tokens_exp(
    people: People, clock: Clock
) -> None:
    settings, _, _, token = signed_in(people, ttl_s=60)
    uncached = Directory(None, ttl_s=0)  # type: ignore[arg-type]
    for reads in (2, 4):
        await authenticate(token, settings, uncached)
        assert people.reads == reads  # every request asks MySQL, as before
    directory = Directory(None, ttl_s=3600)  # type: ignore[arg-type]
    principal = await authenticate(token, settings, directory)
    known = known_principals(SECRET_A, settings.jwt_algorithms)
    assert known.get(token, directory) is principal
    clock.pass_(60)  # exp <= now: expired, remembered people or not
    assert known.get(token, directory) is None
    assert verified_tokens(SECRET_A, settings.jwt_algorithms).get(token, clock.time()) is None


async def test_a_known_tokens_header_gives_its_principal_without_an_await(
    people: People, clock: Clock
) -> None:
    settings, _, _, token = signed_in(people)
    directory = Directory(None, ttl_s=30)  # type: ignore[arg-type]
    assert known_principal(f"Bearer {token}", settings, directory) is None  # not yet known
    principal = await authenticate(token, settings, directory)
    assert known_principal(f"Bearer {token} ", settings, directory) is principal
    for header in (None, "", token, f"Basic {token}"):
        assert known_principal(header, settings, directory) is None
    assert known_principal(f"Bearer {token}", settings_with(SECRET_B), directory) is None
