import uuid

from aiokafka.partitioner import DefaultPartitioner

from chatledger.bus.partitioner import CachedPartitioner


def test_a_key_goes_where_the_default_partitioner_puts_it_asked_once_or_again() -> None:
    cached, default = CachedPartitioner(), DefaultPartitioner()
    keys = [str(uuid.uuid4()).encode() for _ in range(200)] + [b"", b"a", b"abcde"]
    for count in (1, 3, 8, 24):
        partitions = list(range(count))
        for key in keys * 2:  # the second pass answers from the remembered hashes
            assert cached(key, partitions, partitions) == default(key, partitions, partitions)


def test_the_remembered_hashes_are_bounded() -> None:
    cached = CachedPartitioner(max_keys=3)
    for n in range(10):
        cached(f"key-{n}".encode(), [0, 1], [0, 1])
    assert len(cached._hashes) <= 3


def test_no_key_picks_an_available_partition() -> None:
    assert {CachedPartitioner()(None, [0, 1, 2], [2]) for _ in range(20)} == {2}
