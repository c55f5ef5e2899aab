"""The relay's pure parts: which partitions went back, and where a stream's records go."""

import uuid

from aiokafka.partitioner import DefaultPartitioner

from chatledger.ledger.relay import partition_of, reborn


def test_only_an_end_that_went_back_is_a_rebirth() -> None:
    recorded = {0: 10, 1: 5, 2: 0}
    assert reborn(recorded, {0: 3, 1: 5, 2: 0, 3: 7}) == [0]
    assert reborn(recorded, {0: 10, 1: 6, 2: 1}) == []
    assert reborn({}, {0: 0}) == []


def test_a_stream_maps_to_the_partition_the_producer_picks() -> None:
    partitions = list(range(8))
    for _ in range(50):
        stream = str(uuid.uuid4())
        picked = DefaultPartitioner()(stream.encode(), partitions, partitions)
        assert partition_of(stream, 8) == picked
