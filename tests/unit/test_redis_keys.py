"""Key names for a Redis Cluster (DESIGN §12): one chat's keys in one slot, whatever the prefix."""

import uuid

import pytest
from pydantic import ValidationError
from redis.crc import key_slot

from chatledger.platform import redis_keys
from chatledger.platform.config import Settings


@pytest.mark.parametrize("prefix", ["", "t1234.", "bench."])
def test_a_chats_keys_share_a_slot_and_chats_spread(prefix: str) -> None:
    settings = Settings(prefix=prefix)
    chats = [str(uuid.uuid4()) for _ in range(50)]
    for chat in chats:
        keys = [redis_keys.history(settings, chat), redis_keys.presence(settings, chat)]
        assert {key_slot(key.encode()) for key in keys} == {key_slot(chat.encode())}
        assert all(key.startswith(f"{prefix}chatledger:") for key in keys)
    assert len({key_slot(redis_keys.history(settings, chat).encode()) for chat in chats}) > 40


def test_cluster_nodes_are_parsed_and_a_malformed_list_is_refused() -> None:
    nodes = Settings(redis_cluster_nodes="10.0.0.1:7001,redis-b:7002").cluster_nodes
    assert nodes == [("10.0.0.1", 7001), ("redis-b", 7002)]
    assert Settings().cluster_nodes == []
    for bad in ("10.0.0.1", "a:1,,b:2", "a:b", "a:1 b:2"):
        with pytest.raises(ValidationError):
            Settings(redis_cluster_nodes=bad)
