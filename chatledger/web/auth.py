"""Bearer JWT -> the principal: who is asking, in which role, for which chat (DESIGN §4).

A token's signature is verified once while it is valid: the claims of a verified token are kept
in a bounded cache (see `VerifiedTokens`) until its `exp`, scoped by the secret and algorithms
that verified it. The people it names are looked up through the Directory, and the principal
made of them is kept with the token until the first of its `exp` and the Directory's memory of
either person lapsing (`KnownPrincipals`): so a deleted person is still refused within the
Directory's `subject_cache_ttl_s`, cached token or not, and a request of a known token makes no
look-up at all (only marks its people in use, so the Directory keeps reading them again).
"""

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import jwt

from chatledger.domain.commands import Role
from chatledger.domain.ids import parse_uuid
from chatledger.ledger.accounts import Directory, Person
from chatledger.platform.config import Settings


class Unauthorized(Exception):
    """Any reason a token does not identify an existing person for an existing chat."""


@dataclass(frozen=True, slots=True)
class Principal:
    person: Person
    chat: str

    @property
    def uuid(self) -> str:
        return self.person.uuid

    @property
    def role(self) -> Role:
        return self.person.role


def _canonical_uuid(value: object) -> str:
    try:
        return parse_uuid(value)
    except ValueError as exc:
        raise Unauthorized(str(exc)) from exc


Claims = tuple[str, Role, str]  # (subject, role, chat)
MAX_VERIFIED_TOKENS = 50_000
_MAX_KEYRINGS = 4


class VerifiedTokens:
    """Claims of tokens verified under one secret, each kept until its `exp` (bounded, FIFO).

    A plain dict in insertion order, not an LRU: a hit is one lookup and one comparison, and
    evicting a live token only costs it one more verification (~30 µs), so recency tracking
    (OrderedDict.move_to_end, or cachetools' pure-Python bookkeeping) would cost every request
    to save a rare one. Only successes are cached: a token refused now (nbf/iat in the future)
    is verified again next time.
    """

    def __init__(self, max_entries: int = MAX_VERIFIED_TOKENS) -> None:
        self.max_entries = max_entries
        self._entries: dict[str, tuple[Claims, int]] = {}

    def get(self, token: str, now: float) -> Claims | None:
        found = self.get_with_exp(token, now)
        return found[0] if found is not None else None

    def get_with_exp(self, token: str, now: float) -> tuple[Claims, int] | None:
        found = self._entries.get(token)
        if found is None:
            return None
        if found[1] <= now:  # PyJWT's rule: expired once exp <= now
            del self._entries[token]
            return None
        return found

    def put(self, token: str, claims: Claims, exp: int) -> None:
        if len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[token] = (claims, exp)

    def __len__(self) -> int:
        return len(self._entries)


class Known:
    """A known token's principal, the Directory that found its people, until when (`until`:
    monotonic, `exp`: wall clock), and the Directory's refresh that last saw it in use."""

    __slots__ = ("directory", "exp", "principal", "seen_by_refresh", "until")

    def __init__(self, principal: Principal, directory: Directory, until: float, exp: int) -> None:
        self.principal = principal
        self.directory = directory
        self.until = until
        self.exp = exp
        self.seen_by_refresh = -1


class KnownPrincipals:
    """The principal of each token authenticated lately, with the Directory that found its
    people, until the first of the token's `exp` (wall clock, PyJWT's rule) and `until`
    (monotonic: when that Directory's memory of either person lapses). Bounded, FIFO.

    A hit marks its people in use once per Directory refresh (`Directory.refreshes`), not once
    per request: `refresh` reads again the people marked since the one before, and one mark
    between two refreshes says as much as a thousand."""

    def __init__(self, max_entries: int = MAX_VERIFIED_TOKENS) -> None:
        self.max_entries = max_entries
        self._entries: dict[str, Known] = {}

    def get(self, token: str, directory: Directory) -> Principal | None:
        known = self._entries.get(token)
        if known is None:
            return None
        if known.directory is not directory or known.until <= time.monotonic() or (
            known.exp <= time.time()
        ):
            del self._entries[token]
            return None
        principal = known.principal
        if known.seen_by_refresh != directory.refreshes:
            known.seen_by_refresh = directory.refreshes
            directory.in_use(principal.person.uuid, principal.chat)
        return principal

    def put(self, token: str, principal: Principal, directory: Directory, exp: int) -> None:
        until = min(directory.remembered(principal.uuid), directory.remembered(principal.chat))
        if until <= time.monotonic():
            return  # the Directory remembers nothing (subject_cache_ttl_s = 0): neither do we
        if len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[token] = Known(principal, directory, until, exp)


T = TypeVar("T")

# One cache per (secret, algorithms): a token verified under an old secret is never trusted
# under a new one (a process normally has exactly one).
_keyrings: dict[tuple[str, tuple[str, ...]], VerifiedTokens] = {}
_principals: dict[tuple[str, tuple[str, ...]], KnownPrincipals] = {}


def _scoped(registry: dict[tuple[str, tuple[str, ...]], T], secret: str,
              algorithms: tuple[str, ...], make: Callable[[], T]) -> T:
    """The registry's one cache for (secret, algorithms), made on first use."""
    found = registry.get((secret, algorithms))
    if found is None:
        if len(registry) >= _MAX_KEYRINGS:
            registry.clear()
        found = registry[(secret, algorithms)] = make()
    return found


def verified_tokens(secret: str, algorithms: tuple[str, ...]) -> VerifiedTokens:
    return _scoped(_keyrings, secret, algorithms, VerifiedTokens)


def known_principals(secret: str, algorithms: tuple[str, ...]) -> KnownPrincipals:
    return _scoped(_principals, secret, algorithms, KnownPrincipals)


def read_claims(token: str, settings: Settings, *, remember: bool = True) -> Claims:
    """(subject, role, chat) of a valid token; verified once, then cached until its `exp`
    (unless `remember` is False: a websocket presents its token once per connection)."""
    return _claims(token, settings, remember)[0]


def _claims(token: str, settings: Settings, remember: bool) -> tuple[Claims, int]:
    secret = settings.require_jwt_secret()
    cache = verified_tokens(secret, settings.jwt_algorithms)
    found = cache.get_with_exp(token, time.time())
    if found is not None:
        return found
    claims, exp = verify(token, secret, settings.jwt_algorithms)
    if remember:
        cache.put(token, claims, exp)
    return claims, exp


def verify(token: str, secret: str, algorithms: tuple[str, ...]) -> tuple[Claims, int]:
    """Verify signature and expiry; return the claims and `exp`. Never accepts `alg: none`."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=list(algorithms),
            options={"require": ["exp", "sub", "role"]},
            leeway=0,
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized(str(exc)) from exc
    subject = _canonical_uuid(claims["sub"])
    role = claims["role"]
    if role not in ("client", "model"):
        raise Unauthorized("unknown role")
    chat = _canonical_uuid(claims.get("chat", subject if role == "model" else None))
    if role == "model" and chat != subject:
        raise Unauthorized("a model's token is for its own chat")
    return (subject, role, chat), int(claims["exp"])


async def authenticate(
    token: str, settings: Settings, directory: Directory, *, remember: bool = True
) -> Principal:
    known = known_principals(settings.require_jwt_secret(), settings.jwt_algorithms)
    principal = known.get(token, directory)
    if principal is not None:
        return principal
    (subject, role, chat), exp = _claims(token, settings, remember)
    person = await directory.find(subject)
    if person is None or person.role != role:
        raise Unauthorized("unknown subject")
    owner = person if chat == subject else await directory.find(chat)
    if owner is None or owner.role != "model":
        raise Unauthorized("unknown chat")
    # Interned: every socket of a chat keeps its principal for hours, and thousands of them
    # would each keep their own copy of the same uuid.
    principal = Principal(person, sys.intern(chat))
    if remember:
        known.put(token, principal, directory, exp)
    return principal


# The last Settings asked for and its KnownPrincipals (Settings are frozen: the same object has
# the same secret): a request's look-up skips reading the secret and the registry.
_last: tuple[Settings, KnownPrincipals] | None = None


def known_principal(
    header: str | None, settings: Settings, directory: Directory
) -> Principal | None:
    """`authenticate`'s answer for the `Authorization` header of a token it knows already, made
    without an await (a busy reader's common case); None: ask `authenticate`."""
    global _last
    if not header or not header.startswith("Bearer "):
        return None
    last = _last
    if last is None or last[0] is not settings:
        last = _last = (
            settings, known_principals(settings.require_jwt_secret(), settings.jwt_algorithms)
        )
    return last[1].get(header[len("Bearer ") :].strip(), directory)


def bearer_token(header: str | None) -> str:
    if not header or not header.startswith("Bearer "):
        raise Unauthorized("missing bearer token")
    return header[len("Bearer ") :].strip()


def issue_token(
    settings: Settings, subject: str, role: Role, chat: str | None = None, ttl_s: int = 3600
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": subject, "role": role, "iat": now, "exp": now + ttl_s}
    if chat is not None:
        claims["chat"] = chat
    return jwt.encode(claims, settings.require_jwt_secret(), algorithm=settings.jwt_algorithms[0])
