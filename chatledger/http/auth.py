"""Bearer JWT -> the principal: who is asking, in which role, for which chat (DESIGN §4)."""

import time
from dataclasses import dataclass
from typing import Any

import jwt

from chatledger.accounts import Directory, Person
from chatledger.config import Settings
from chatledger.http.schemas import parse_uuid
from chatledger.ledger.commands import Role


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


def read_claims(token: str, settings: Settings) -> tuple[str, Role, str]:
    """Verify signature and expiry; return (subject, role, chat). Never accepts `alg: none`."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.require_jwt_secret(),
            algorithms=list(settings.jwt_algorithms),
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
    return subject, role, chat


async def authenticate(token: str, settings: Settings, directory: Directory) -> Principal:
    subject, role, chat = read_claims(token, settings)
    person = await directory.find(subject)
    if person is None or person.role != role:
        raise Unauthorized("unknown subject")
    owner = person if chat == subject else await directory.find(chat)
    if owner is None or owner.role != "model":
        raise Unauthorized("unknown chat")
    return Principal(person, chat)


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
