"""Presence (DESIGN §9): how many distinct viewers watch a chat, across every gateway process.

Each gateway process keeps, per chat, one member `<viewer>|<gateway>` in the sorted set
`<prefix>chatledger:presence:{<chat>}`, scored by when it expires. Every tick
(`gateway/presence.py`, 2 s) it re-adds the viewers it holds (pushing their expiry `TTL_S`
ahead), removes those who left it, and counts the distinct viewers of its rooms, all in one
pipelined round trip; the model is never counted. So a join or a leave shows within one tick,
and a gateway that crashed stops counting its viewers within `TTL_S` (its members simply
expire): that is the bound on ghosts.
`GET /chat/presence` reads the same count.
"""

import time
import uuid
from collections.abc import Mapping

from redis.exceptions import NoScriptError

from chatledger.platform import redis_keys
from chatledger.platform.config import Settings
from chatledger.platform.redis_client import AnyRedis

TTL_S = 10.0

# KEYS[1] = a chat's presence key, ARGV[1] = now: drop the expired, count distinct viewers.
_COUNT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local seen, n = {}, 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local viewer = string.match(member, '^([^|]+)|')
  if viewer and not seen[viewer] then seen[viewer] = true; n = n + 1 end
end
return n
"""


class PresenceBoard:
    """The Redis side: this process's viewers in, the distinct count of every chat out."""

    def __init__(self, settings: Settings, redis: AnyRedis) -> None:
        self.settings = settings
        self.redis = redis
        self.gateway = uuid.uuid4().hex  # this process, for as long as it lives
        self._count = redis.register_script(_COUNT)
        self._held: dict[str, set[str]] = {}  # chat -> viewers written at the last tick

    def key(self, chat: str) -> str:
        return redis_keys.presence(self.settings, chat)

    async def tick(self, viewers: Mapping[str, set[str]]) -> dict[str, int]:
        """Publish who is here now; return the distinct viewer count of each chat given."""
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        for chat in set(self._held) | set(viewers):
            key, here = self.key(chat), viewers.get(chat, set())
            gone = self._held.get(chat, set()) - here
            if gone:
                pipe.zrem(key, *(f"{viewer}|{self.gateway}" for viewer in gone))
            if here:
                pipe.zadd(key, {f"{viewer}|{self.gateway}": now + TTL_S for viewer in here})
                pipe.expire(key, int(TTL_S * 3))
        chats = sorted(viewers)
        for chat in chats:
            pipe.evalsha(self._count.sha, 1, self.key(chat), now)
        try:
            answers = await pipe.execute()
        except NoScriptError:
            await self.redis.script_load(_COUNT)
            return await self.tick(viewers)
        self._held = {chat: set(here) for chat, here in viewers.items() if here}
        counts = answers[len(answers) - len(chats):]
        return {chat: int(n) for chat, n in zip(chats, counts, strict=True)}

    async def here(self, chat: str) -> set[str]:
        """Who has a socket in the chat on any gateway now (members not yet expired)."""
        members = await self.redis.zrangebyscore(self.key(chat), time.time(), "+inf")
        return {_text(member).split("|", 1)[0] for member in members}

    async def here_in(self, chats: list[str]) -> dict[str, set[str]]:
        """`here` of many chats, in one pipelined round trip (the ledger's clock asks for every
        running show's chat each second)."""
        now, pipe = time.time(), self.redis.pipeline(transaction=False)
        for chat in chats:
            pipe.zrangebyscore(self.key(chat), now, "+inf")
        answers = await pipe.execute()
        return {chat: {_text(member).split("|", 1)[0] for member in members}
                for chat, members in zip(chats, answers, strict=True)}

    async def count(self, chat: str) -> int:
        return int(await self._count(keys=[self.key(chat)], args=[time.time()]))


def _text(member: object) -> str:
    return member.decode() if isinstance(member, bytes) else str(member)
