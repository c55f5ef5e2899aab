"""`rebuild --projection history`: drop the Redis mirror, which readers then refill from MySQL.

history_mirror.py explains why a chat key without its completeness marker is simply cold and
never serves a partial page, even with the projector writing meanwhile: dropping every key of
this prefix is exactly the flush the mirror is built to survive.
"""

from chatledger.history.mirror import HistoryMirror
from chatledger.platform.config import Settings
from chatledger.platform.redis_client import redis_client


async def rebuild_history(settings: Settings) -> int:
    """Drop every chat's mirror key (UNLINK, in pages of SCAN): readers refill from MySQL."""
    redis = redis_client(settings)
    dropped = 0
    try:
        pattern = HistoryMirror(settings, redis).key("*")
        batch: list[bytes] = []
        async for key in redis.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                dropped += int(await redis.unlink(*batch))
                batch = []
        if batch:
            dropped += int(await redis.unlink(*batch))
    finally:
        await redis.aclose()
    return dropped
