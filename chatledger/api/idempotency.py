"""Idempotency-Key on the command endpoints, as Stripe does it (DESIGN §4).

Guarantees:
- A key is scoped to (the token's subject, the token's chat, the endpoint); `/chat/donat/add`
  and `/chat/donate/add` are one endpoint. The same key in another scope is another command.
- The command id is derived from the scope, the key AND the body's fingerprint. The ledger dedups
  by command id, so the same key and body always make the same id (applied once, whatever Redis
  remembers), and two different bodies can never share an id: a body Redis has forgotten is
  never swallowed behind a 201 for a command that was not it.
- The fingerprint is of the parsed command (without id, chat and author, which the scope holds),
  so "7" and "7.00", "true" and true, `messgae` and `message`, key order and whitespace are the
  same body.
- Redis remembers each key's fingerprint for at least 24 h (SET NX with a TTL, one key per
  person and scope). The same key with another fingerprint in the same scope → 422 "idempotency
  key reused", and nothing is submitted. A key is remembered only once its command passed every
  check and is about to be submitted: a 400/402/403 is not remembered, and a retry of a
  remembered command skips the state checks (the balance it spent must not make it a 402) and is
  submitted again (the ledger dedups it), so it answers the first 201 again.
- Redis down or slow: a request WITH a key is refused with 503 (retry later, nothing applied),
  because without Redis the 422 cannot be given and a changed retry would apply a second command.
  A request without a key does not touch Redis and is unaffected.
"""

import asyncio
import dataclasses
import hashlib
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, Literal

import orjson
from aiohttp import web

from chatledger.api.response_models import Failure
from chatledger.domain.commands import ChatCommand
from chatledger.platform import redis_keys
from chatledger.platform.redis_client import REDIS_ERRORS
from chatledger.web import responses
from chatledger.web.auth import Principal
from chatledger.web.keys import REDIS, SETTINGS

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
MAX_KEY = 255
REMEMBER_S = 24 * 3600
REDIS_TIMEOUT_S = 1.0
_NAMESPACE = uuid.UUID("0c4f6a4e-3b1d-4f5e-9d55-7a0e2b6c8f31")
# the brief's spelling and ours are one endpoint
_SAME_ENDPOINT = {"/chat/donat/add": "/chat/donate/add"}
# held in the scope, so left out of the body's fingerprint
_NOT_BODY = ("command_id", "chat", "actor")


class KeyReused(Failure):
    """The Idempotency-Key was already used with another body, by the same person in the same
    chat on the same endpoint: nothing was applied."""

    status: ClassVar[int] = 422
    message: Literal["idempotency key reused"]


class KeyRefused(Exception):
    """The request cannot go on under its key; `response` says why (400, 422 or 503)."""

    def __init__(self, response: web.Response) -> None:
        self.response = response


@dataclass(frozen=True)
class Keyed:
    """A request's key in its scope, and the body it came with."""

    scope: str
    fingerprint: str

    @property
    def command_id(self) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{self.scope}\n{self.fingerprint}"))


def reused() -> web.Response:
    return responses.failure(KeyReused.status, "idempotency key reused")


def key_of(request: web.Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is not None and (not 0 < len(key) <= MAX_KEY or not key.isprintable()):
        raise KeyRefused(responses.bad_params(
            [f"{HEADER}: must be 1..{MAX_KEY} printable characters"]
        ))
    return key


def _plain(value: object) -> object:
    # Decimals by value: 7, 7.0 and 7.00 are one sum
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


def fingerprint(command: ChatCommand) -> str:
    fields = {f.name: getattr(command, f.name) for f in dataclasses.fields(command)
              if f.name not in _NOT_BODY}
    canonical = orjson.dumps([type(command).__name__, fields], default=_plain,
                             option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def keyed(request: web.Request, principal: Principal, command: ChatCommand) -> Keyed | None:
    """The request's key and body, or None without a key (400 for a malformed key)."""
    key = key_of(request)
    if key is None:
        return None
    endpoint = _SAME_ENDPOINT.get(request.path, request.path)
    scope = f"{principal.uuid}\n{principal.chat}\n{endpoint}\n{key}"
    return Keyed(scope, fingerprint(command))


def with_id(command: ChatCommand, key: Keyed | None) -> ChatCommand:
    return command if key is None else dataclasses.replace(command, command_id=key.command_id)


def _redis_key(request: web.Request, principal: Principal, key: Keyed) -> str:
    scope = hashlib.sha256(key.scope.encode()).hexdigest()
    return redis_keys.idempotency(request.app[SETTINGS], principal.uuid, scope)


async def _redis_call(request: web.Request, name: str, *args: object, **kwargs: object) -> object:
    try:
        async with asyncio.timeout(REDIS_TIMEOUT_S):
            return await getattr(request.app[REDIS], name)(*args, **kwargs)
    except REDIS_ERRORS as exc:
        log.warning("idempotency keys unavailable, refusing a keyed request: %r", exc)
        raise KeyRefused(responses.unavailable()) from exc


def _compare(stored: object, key: Keyed) -> bool:
    """True if the key was already used with this body; 422 if with another one."""
    if stored is None:
        return False
    text = stored.decode() if isinstance(stored, bytes) else str(stored)
    if text != key.fingerprint:
        raise KeyRefused(reused())
    return True


async def seen(request: web.Request, principal: Principal, key: Keyed) -> bool:
    """Whether this key already carried this body (then answer it again); 422 if another."""
    stored = await _redis_call(request, "get", _redis_key(request, principal, key))
    return _compare(stored, key)


async def remember(request: web.Request, principal: Principal, key: Keyed) -> None:
    """Claim the key for this body; of two racing requests the second is compared (422 if its
    body differs, else it is the same command and goes on)."""
    name = _redis_key(request, principal, key)
    if not await _redis_call(request, "set", name, key.fingerprint, nx=True, ex=REMEMBER_S):
        _compare(await _redis_call(request, "get", name), key)
