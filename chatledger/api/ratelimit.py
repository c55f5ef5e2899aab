"""Per-person limits on the POST endpoints: a fixed window counted in Redis, shared by every API.

The count lives in Redis (one key per route, person and window, INCR'd by a Lua script that also
sets the key's expiry on its first hit), so the limit means the same with one api process or
many: N commands per person and route per window, whichever process takes them.

Cost: at most one Redis round trip per POST, usually a fraction of one. Requests waiting for a
count are sent together: while one round trip is in flight, the next requests queue and their
hits go in the next one, as ONE script call that counts every key of the round
(`redis_batch.BatchedCounter`), so under load one round trip and one reply count many POSTs. A
person already over the limit in this window is refused from memory (the window's count only
grows), so a flood costs Redis nothing until the window turns.

A Redis that is down or slow must not stop money: the limiter then fails OPEN, logs, and the
command goes through (abuse protection degrades; the ledger's own checks still hold).
"""

import logging
import math
import time
from collections.abc import AsyncIterator

from aiohttp import web

from chatledger.platform import redis_keys
from chatledger.platform.config import Settings
from chatledger.platform.redis_batch import BatchedCounter
from chatledger.platform.redis_client import REDIS_ERRORS, AnyRedis
from chatledger.web import responses
from chatledger.web.keys import REDIS, SETTINGS

log = logging.getLogger(__name__)

# A round trip slower than this counts as down: fail open (a request waits at most for the round
# trip in flight and its own, so ~2x this).
REDIS_TIMEOUT_S = 0.5


def allowance(settings: Settings) -> int:
    """How many commands one person may send to one route per window (0: no limit)."""
    if settings.rate_limit_per_s <= 0:
        return 0
    return max(1, math.ceil(settings.rate_limit_per_s * settings.rate_limit_window_s))


def too_many(retry_after_s: float) -> web.Response:
    return responses.failure(
        429, "too many requests", headers={"Retry-After": str(max(1, math.ceil(retry_after_s)))}
    )


class HitCounter:
    """INCRs keys in Redis; the hits of many requests share a round trip (BatchedCounter)."""

    def __init__(self, redis: AnyRedis) -> None:
        self.script = BatchedCounter(redis, timeout_s=REDIS_TIMEOUT_S)

    async def hit(self, key: str, keep_ms: int) -> int:
        """The key's count after this hit (it expires `keep_ms` after its first hit)."""
        return int(await self.script(key, keep_ms, 1))


class RateLimiter:
    def __init__(self, settings: Settings, counter: HitCounter) -> None:
        self.settings = settings
        self.limit = allowance(settings)
        self.window_ms = max(1, int(settings.rate_limit_window_s * 1000))
        self.counter = counter
        self._over_window = -1
        self._over: set[str] = set()  # keys of this window known to be over the limit

    async def check(self, subject: str, route: str) -> web.Response | None:
        """The 429 to answer if `subject` is over its allowance on `route` now, else None."""
        if self.limit == 0:
            return None
        now_ms = int(time.time() * 1000)
        window = now_ms // self.window_ms
        if window != self._over_window:
            self._over_window, self._over = window, set()
        key = redis_keys.rate_limit(self.settings, route, subject, window)
        if key not in self._over:
            try:
                count = await self.counter.hit(key, 2 * self.window_ms)
            except REDIS_ERRORS as exc:
                log.warning("rate limiter unavailable, letting %s through: %r", subject, exc)
                return None
            if count <= self.limit:
                return None
            if window == self._over_window:
                self._over.add(key)
        return too_many((self.window_ms - now_ms % self.window_ms) / 1000)


RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)


async def rate_limiter_ctx(app: web.Application) -> AsyncIterator[None]:
    """Needs the app's Redis client, so it runs after the context that creates it."""
    redis = app.get(REDIS)
    if redis is not None:
        app[RATE_LIMITER] = RateLimiter(app[SETTINGS], HitCounter(redis))
    yield


async def rate_limited(request: web.Request, subject: str, route: str) -> web.Response | None:
    limiter = request.app.get(RATE_LIMITER)
    return None if limiter is None else await limiter.check(subject, route)
