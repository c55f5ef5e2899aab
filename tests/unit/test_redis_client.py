"""The cluster client keeps the nodes it was given to ask for the topology (redis/redis-py#3693).

redis-py replaces its startup nodes with the nodes each refresh discovers. A refresh during which
every node that answered reported no slots (a master restarting empty while the others time out
under load) discovered nobody: the client then had no node left to ask, and every later command
failed with "Please provide at least one reachable node: None" until the process restarted (a
clean-clone `make test` saw it: the mirror never refilled after the node came back). No server
here: each node's answer is given in-process.
"""

from typing import Any

import pytest
from redis.asyncio.cluster import ClusterNode

from chatledger.platform.config import Settings
from chatledger.platform.redis_client import REDIS_ERRORS, redis_client

NODES = "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"


async def test_a_refresh_that_finds_no_slots_leaves_the_configured_nodes_to_ask_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = redis_client(Settings(redis_cluster_nodes=NODES))
    manager = client.nodes_manager
    seeds = sorted(manager.startup_nodes)
    assert len(seeds) == 3

    async def no_slots(self: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return []  # CLUSTER SLOTS of a node that holds none (restarted, not yet rejoined)

    monkeypatch.setattr(ClusterNode, "execute_command", no_slots)
    with pytest.raises(REDIS_ERRORS):
        await manager.initialize()
    assert sorted(manager.startup_nodes) == seeds
    await client.aclose()
