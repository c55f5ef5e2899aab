"""Token verification is cached while a token is valid, never beyond its exp or its secret."""

import time
import uuid

import jwt
import pytest

from chatledger.platform.config import Settings
from chatledger.web.auth import (
    Unauthorized,
    VerifiedTokens,
    issue_token,
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
