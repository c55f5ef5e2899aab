"""Every Redis key the service uses, named in one place (DESIGN §12).

Guarantee: the keys of one chat carry the hash tag `{<chat uuid>}`, so on a Redis Cluster they
all live in one slot and a Lua script (or anything else) given one chat's keys touches one slot.
Per-person keys (rate limits, idempotency) carry no tag: they are read and written one at a
time, so they may live anywhere. All keys start with `<prefix>chatledger:` (test isolation).
"""

from chatledger.platform.config import Settings


def chat_key(settings: Settings, kind: str, chat: str) -> str:
    """`<prefix>chatledger:<kind>:{<chat>}`: one chat's `kind` (history, presence, ...)."""
    return settings.redis_key(kind, "{" + chat + "}")


def history(settings: Settings, chat: str) -> str:
    return chat_key(settings, "history", chat)


def presence(settings: Settings, chat: str) -> str:
    return chat_key(settings, "presence", chat)


def rate_limit(settings: Settings, route: str, subject: str, window: int) -> str:
    return settings.redis_key("rl", route, subject, str(window))


def idempotency(settings: Settings, subject: str, scope_digest: str) -> str:
    """A person's Idempotency-Key, by the digest of its scope (subject, chat, endpoint, key)."""
    return settings.redis_key("idem", subject, scope_digest)
