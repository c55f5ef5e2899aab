"""The consume loop's order of effects, on a fake consumer (no broker)."""

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError, KafkaConnectionError

from chatledger.bus import healing
from chatledger.bus.consume import Batch, Finish, Handover, consume
from tests.helpers.wait import eventually

PARTITION = TopicPartition("t", 0)
OTHER = TopicPartition("t", 1)


@dataclass
class Record:
    offset: int
    value: bytes = b""


@dataclass(eq=False)
class FakeConsumer:
    """Hands out the given batches, then nothing; remembers what was committed when. Like
    aiokafka, it refuses to commit a partition it does not have."""

    batches: list[Batch]
    log: list[str] = field(default_factory=list)
    assigned: set[TopicPartition] = field(default_factory=lambda: {PARTITION, OTHER})

    async def getmany(self, timeout_ms: int, max_records: int) -> Batch:
        await asyncio.sleep(0)
        return self.batches.pop(0) if self.batches else {}

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        for partition, offset in sorted(offsets.items()):
            if partition not in self.assigned:
                raise IllegalStateError(f"Partition {partition} is not assigned")
            self.log.append(f"commit {offset}" if partition == PARTITION else
                            f"commit {partition.partition}:{offset}")


def batch(first: int, size: int, partition: TopicPartition = PARTITION) -> Batch:
    return {partition: [Record(offset) for offset in range(first, first + size)]}  # type: ignore[misc]


async def logged(consumer: FakeConsumer, entry: str) -> None:
    async def log() -> list[str]:
        return list(consumer.log)

    await eventually(log, until=lambda got: entry in got, what=repr(entry))


async def test_finish_overlaps_the_next_handle_and_offsets_follow_their_own_finish() -> None:
    consumer = FakeConsumer([batch(0, 2), batch(2, 3), batch(5, 1)])
    second_handled = asyncio.Event()

    async def handle(records: Batch) -> Finish:
        first = records[PARTITION][0].offset
        consumer.log.append(f"handle {first}")
        if first == 2:
            second_handled.set()

        async def finish() -> None:
            if first == 0:
                await second_handled.wait()  # only possible if batch 2 is handled meanwhile
            consumer.log.append(f"finish {first}")

        return finish

    loop = asyncio.create_task(consume(consumer, handle, max_records=10))  # type: ignore[arg-type]

    async def log() -> list[str]:
        return list(consumer.log)

    await eventually(log, until=lambda got: "commit 6" in got, what="the third commit")
    loop.cancel()
    got = consumer.log
    at = got.index
    assert [e for e in got if e.startswith("handle")] == ["handle 0", "handle 2", "handle 5"]
    assert [e for e in got if e.startswith("finish")] == ["finish 0", "finish 2", "finish 5"]
    assert [e for e in got if e.startswith("commit")] == ["commit 2", "commit 5", "commit 6"]
    assert at("handle 2") < at("finish 0")  # batch 2 was handled while batch 0 finished
    assert at("finish 0") < at("commit 2") < at("commit 5") < at("commit 6")
    assert at("finish 2") < at("commit 5") and at("finish 5") < at("commit 6")


async def test_the_next_publish_does_not_wait_for_the_offsets_before_it() -> None:
    """Batch N+1 is published while batch N's offset commit is still on its way (a broker round
    trip that used to stand between every two publishes); the commits stay in batch order."""
    consumer = SlowCommits([batch(0, 2), batch(2, 3)])

    async def handle(records: Batch) -> Finish:
        first = records[PARTITION][0].offset

        async def finish() -> None:
            consumer.log.append(f"finish {first}")

        return finish

    loop = asyncio.create_task(consume(consumer, handle, max_records=10))  # type: ignore[arg-type]
    await logged(consumer, "commit 5")
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    assert consumer.log == ["finish 0", "finish 2", "commit 2", "commit 5"]


async def test_an_offset_commit_that_fails_stops_the_loop() -> None:
    """Off the loop's path now, a failed commit still ends the loop, with its error, as it did
    when the loop awaited each commit."""
    consumer = BrokenCommits([batch(0, 1), batch(1, 1), batch(2, 1), batch(3, 1)])

    async def handle(records: Batch) -> Finish:
        async def finish() -> None:
            consumer.log.append("finish")

        return finish

    loop = asyncio.create_task(consume(consumer, handle, max_records=10))  # type: ignore[arg-type]
    done, _ = await asyncio.wait({loop}, timeout=30)
    assert done, "the loop went on"
    assert isinstance(loop.exception(), KafkaConnectionError)


@dataclass(eq=False)
class BrokenCommits(FakeConsumer):
    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        raise KafkaConnectionError("broker away")


@dataclass(eq=False)
class SlowCommits(FakeConsumer):
    """The first offset commit is answered only once the next batch has been published."""

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if "finish 2" not in self.log:
            await logged(self, "finish 2")
        await super().commit(offsets)


async def test_a_batch_unfinished_when_the_loop_stops_is_not_committed() -> None:
    consumer = FakeConsumer([batch(0, 1)])
    never = asyncio.Event()

    async def handle(records: Batch) -> Finish:
        async def finish() -> None:
            await never.wait()

        return finish

    loop = asyncio.create_task(consume(consumer, handle, max_records=10))  # type: ignore[arg-type]

    async def drained() -> Any:
        return not consumer.batches

    await eventually(drained, what="the batch fetched")
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    assert consumer.log == []


async def test_a_batch_fetched_before_its_partitions_were_reborn_commits_nothing() -> None:
    """Its offsets count records of the lost partition: on the reborn one they would skip."""
    consumer = FakeConsumer([batch(0, 3)])
    handled = asyncio.Event()

    async def handle(records: Batch) -> Finish:
        handled.set()

        async def finish() -> None:
            healing._rebirths[consumer] = healing.rebirths(consumer) + 1  # type: ignore[index]
            consumer.log.append("finished")

        return finish

    loop = asyncio.create_task(consume(consumer, handle, max_records=10))  # type: ignore[arg-type]

    async def log() -> list[str]:
        return list(consumer.log)

    # A commit would follow `finish` in the same step of the same task: no wait needed.
    await eventually(log, until=lambda got: "finished" in got, what="the batch finished")
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    assert consumer.log == ["finished"]


async def test_a_batch_whose_partition_was_revoked_commits_nothing_and_the_loop_goes_on() -> None:
    """A rebalance took the partition while the batch finished: its offsets are not this
    consumer's any more (the new owner redelivers it); the loop neither commits nor raises,
    and the next batch, on a partition it still has, is committed."""
    consumer = FakeConsumer([batch(0, 3), batch(7, 2, OTHER)])

    async def handle(records: Batch) -> Finish:
        (partition,) = records

        async def finish() -> None:
            if partition == PARTITION:
                consumer.assigned.discard(PARTITION)  # the rebalance completed meanwhile
            consumer.log.append(f"finish {partition.partition}")

        return finish

    loop = asyncio.create_task(consume(consumer, handle, max_records=10))  # type: ignore[arg-type]

    async def log() -> list[str]:
        return list(consumer.log)

    await eventually(log, until=lambda got: "commit 1:9" in got or loop.done(),
                     what="the next batch committed")
    assert not loop.done(), loop.exception()
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    assert consumer.log == ["finish 0", "finish 1", "commit 1:9"]


async def test_a_revocation_waits_for_the_batch_in_flight_to_finish_and_commit() -> None:
    """The listener holds the rebalance until the batch fetched before it is published and its
    offsets committed, while the partition is still this consumer's."""
    consumer = FakeConsumer([batch(0, 2)])
    handover = Handover()
    release = asyncio.Event()

    async def handle(records: Batch) -> Finish:
        async def finish() -> None:
            consumer.log.append("finishing")
            await release.wait()

        return finish

    loop = asyncio.create_task(
        consume(consumer, handle, max_records=10, handover=handover)  # type: ignore[arg-type]
    )
    await logged(consumer, "finishing")
    revoking = asyncio.create_task(handover.on_partitions_revoked({PARTITION}))
    await asyncio.sleep(0)  # the listener starts; had it not waited, it would be done now
    release.set()
    await revoking
    consumer.log.append("revoked")
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    assert consumer.log == ["finishing", "commit 2", "revoked"]


async def test_a_batch_that_outlived_its_assignment_commits_nothing_even_if_given_back() -> None:
    """The rebalance went on without it (the wait is bounded) and handed the partition back:
    the new assignment started from the committed offset, so this batch is redelivered and
    its late offsets are not committed."""
    consumer = FakeConsumer([batch(0, 2)])
    handover = Handover(grace_s=0.01)
    reassigned = asyncio.Event()

    async def handle(records: Batch) -> Finish:
        async def finish() -> None:
            await reassigned.wait()
            consumer.log.append("finished")

        return finish

    loop = asyncio.create_task(
        consume(consumer, handle, max_records=10, handover=handover)  # type: ignore[arg-type]
    )

    async def in_flight() -> bool:
        return not consumer.batches

    await eventually(in_flight, what="the batch fetched")
    await handover.on_partitions_revoked({PARTITION})
    await handover.on_partitions_assigned({PARTITION})
    reassigned.set()
    await logged(consumer, "finished")
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    assert consumer.log == ["finished"]


@dataclass(eq=False)
class Rebalancing:
    """A consumer whose position() lets a rebalance take the other partition; like aiokafka,
    highwater() asserts that the partition is assigned."""

    assigned: set[TopicPartition] = field(default_factory=lambda: {PARTITION, OTHER})

    def assignment(self) -> set[TopicPartition]:
        return self.assigned  # aiokafka hands out its own set: it changes under the caller

    def highwater(self, partition: TopicPartition) -> int:
        assert partition in self.assigned, "Partition is not assigned"
        return 10

    async def position(self, partition: TopicPartition) -> int:
        await asyncio.sleep(0)
        self.assigned = {partition}  # the rebalance, during the await
        return 4


async def test_the_lag_skips_a_partition_revoked_while_it_measured() -> None:
    from chatledger.ledger.worker import consumer_lag

    assert await consumer_lag(Rebalancing()) == 6  # type: ignore[arg-type]


async def test_stopping_gives_up_on_a_group_the_broker_does_not_let_go() -> None:
    """A broker busy with a rebalance may never answer the LeaveGroup: the process stops anyway
    (the broker drops the member after its session timeout)."""
    from chatledger.bus.kafka import stop_consumer

    class Stuck:
        async def stop(self) -> None:
            await asyncio.Event().wait()

    await asyncio.wait_for(stop_consumer(Stuck(), timeout_s=0.05), 5)  # type: ignore[arg-type]
