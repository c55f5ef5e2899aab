"""Per-person limits on the POST endpoints: a fixed window counted in Redis, shared by every API.

One Redis round trip per command (a Lua script: INCR, and PEXPIRE on the window's first hit so
old windows clean themselves up). A Redis that is down or slow must not stop money: the limiter
then fails OPEN, logs, and the command goes through (abuse protection degrades; the ledger's own
checks still hold).
"""

import asyncio
import logging
import math
import time

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from chatledger.config import Settings
from chatledger.http import responses
from chatledger.http.keys import REDIS, SETTINGS

log = logging.getLogger(__name__)

# KEYS[1]: the counter of one (route, person, window); ARGV[1]: how long to keep it, in ms.
_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
"""
REDIS_TIMEOUT_S = 0.5  # a limiter slower than this counts as down: fail open


def allowance(settings: Settings) -> int:
    """How many commands one person may send to one route per window (0: no limit)."""
    if settings.rate_limit_per_s <= 0:
        return 0
    return max(1, math.ceil(settings.rate_limit_per_s * settings.rate_limit_window_s))


def too_many(retry_after_s: float) -> web.Response:
    return responses.failure(
        429, "too many requests", headers={"Retry-After": str(max(1, math.ceil(retry_after_s)))}
    )


async def _count(redis: Redis, key: str, keep_ms: int) -> int:
    return int(await redis.eval(_COUNT, 1, key, keep_ms))  # type: ignore[misc]


async def rate_limited(request: web.Request, subject: str, route: str) -> web.Response | None:
    """The 429 to answer if `subject` is over its allowance on `route` now, else None."""
    settings = request.app[SETTINGS]
    limit = allowance(settings)
    redis = request.app.get(REDIS)
    if limit == 0 or redis is None:
        return None
    window_ms = max(1, int(settings.rate_limit_window_s * 1000))
    now_ms = int(time.time() * 1000)
    key = settings.redis_key("rl", route, subject, str(now_ms // window_ms))
    try:
        count = await asyncio.wait_for(_count(redis, key, 2 * window_ms), REDIS_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning("rate limiter unavailable, letting %s through: %r", subject, exc)
        return None
    if count <= limit:
        return None
    return too_many((window_ms - now_ms % window_ms) / 1000)
