"""The consume loop's order of effects, on a fake consumer (no broker)."""

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from chatledger.bus import healing
from chatledger.bus.consume import Batch, Finish, consume
from tests.helpers.wait import eventually

PARTITION = TopicPartition("t", 0)


@dataclass
class Record:
    offset: int
    value: bytes = b""


@dataclass(eq=False)
class FakeConsumer:
    """Hands out the given batches, then nothing; remembers what was committed when."""

    batches: list[Batch]
    log: list[str] = field(default_factory=list)

    async def getmany(self, timeout_ms: int, max_records: int) -> Batch:
        await asyncio.sleep(0)
        return self.batches.pop(0) if self.batches else {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.log.append(f"commit {offsets[PARTITION]}")


def batch(first: int, size: int) -> Batch:
    return {PARTITION: [Record(offset) for offset in range(first, first + size)]}  # type: ignore[misc]


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
    assert at("finish 0") < at("commit 2") < at("finish 2") < at("commit 5") < at("finish 5")


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
