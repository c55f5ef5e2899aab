"""The process's Redis: one server (CHATLEDGER_REDIS_URL) or a Redis Cluster (DESIGN §12).

With CHATLEDGER_REDIS_CLUSTER_NODES set the client is redis-py's asyncio RedisCluster and
CHATLEDGER_REDIS_URL is never contacted. Both clients take the same commands, scripts and
non-transactional pipelines (a cluster pipeline sends each command to its slot's node and
answers each in place); nothing here uses MULTI, which a cluster allows only within one slot.
Timeouts are short so a hung or dead node degrades what it serves instead of hanging requests.
"""

import asyncio

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from chatledger.platform.config import Settings

AnyRedis = Redis | RedisCluster
# What a Redis call may raise when a server or a cluster node is away: a cluster's routing
# errors (an uncovered slot, no node reachable) are not RedisErrors, and while a replica takes
# over a dead master redis-py's topology refresh can find no primary and raise IndexError
# (redis/redis-py#2433; it crashed the history role in `make test`). Only Redis calls are
# wrapped in these, so no IndexError of ours is mistaken for Redis away.
REDIS_ERRORS = (RedisError, RedisClusterException, OSError, TimeoutError, IndexError)
CHECK_TIMEOUT_S = 3.0


def redis_client(settings: Settings, timeout_s: float = 2.0) -> AnyRedis:
    """One client per use (connections open lazily: a Redis down slows nothing at start)."""
    if settings.cluster_nodes:
        return _cluster(settings, timeout_s)
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=30,
    )


def _cluster(settings: Settings, timeout_s: float) -> RedisCluster:
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in settings.cluster_nodes],
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        require_full_coverage=False,  # a dead master makes only its slots fail
        # The listed nodes stay the ones asked for the topology: by default redis-py replaces
        # them with what each refresh finds, and a refresh that found no slots (a master
        # restarting empty while the others time out) left it nobody to ask, for good
        # (redis/redis-py#3693; the mirror never refilled in a `make test`).
        dynamic_startup_nodes=False,
    )


def cluster_problem(settings: Settings) -> str | None:
    """Why CHATLEDGER_REDIS_CLUSTER_NODES cannot be used (None: it can, or it is not set).

    Asked once at start (`serve` refuses the setting, exit 2): the nodes must answer as a
    cluster. A single Redis listed there would otherwise take every key and script silently.
    """
    if not settings.cluster_nodes:
        return None
    return asyncio.run(_cluster_problem(settings))


async def _cluster_problem(settings: Settings) -> str | None:
    client = _cluster(settings, CHECK_TIMEOUT_S)
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S * 2):
            await client.initialize()
    except REDIS_ERRORS as exc:
        return f"CHATLEDGER_REDIS_CLUSTER_NODES: not a reachable Redis Cluster ({exc})"
    finally:
        await client.aclose()
    return None
