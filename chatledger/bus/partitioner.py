"""aiokafka's default partitioner with each key's hash remembered.

A record's partition is murmur2(key) as the Java client computes it (so a chat's commands and
events stay on the partitions every other client puts them on), but aiokafka's murmur2 is pure
Python: ~20 µs per record, paid by the API on every POST for one of only as many keys as there
are chats. The hash of a key never changes, so it is computed once per key.
"""

import functools
from collections.abc import Sequence

from aiokafka.partitioner import DefaultPartitioner, murmur2

MAX_KEYS = 100_000  # ~10 MB at most; past it the memory starts over (a hash is cheap to redo)


class CachedPartitioner:
    """The same choice as `DefaultPartitioner`; a key's hash is computed once."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self.max_keys = max_keys
        self._hashes: dict[bytes, int] = {}

    def __call__(self, key: bytes | None, all_partitions: Sequence[int],
                 available: Sequence[int]) -> int:
        if key is None:  # a random partition: nothing to remember
            return int(DefaultPartitioner()(key, all_partitions, available))
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self.max_keys:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[hashed % len(all_partitions)]


def partition_of(key: str, partitions: int) -> int:
    """The partition the producer's default partitioner gives a record keyed by `key`."""
    return _hash(key) % partitions


@functools.lru_cache(maxsize=MAX_KEYS)
def _hash(key: str) -> int:
    """murmur2 is pure Python (tens of µs): the ledger's clock asks for each chat it ticks on
    every pass, its relay and publisher for each event."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF)
