"""The one consume loop of every role that reads a topic in a consumer group (ledger, history).

Per batch: `handle` does the work that must happen first (the ledger's MySQL transaction, the
history projector's Redis write) and returns what is left (`Finish`: the ledger's publish, or
nothing); the loop runs that rest, then commits the batch's offsets. The rest of batch N runs
while `handle` works on batch N+1, and the rests run one after another, in batch order, so:
- each batch's effects stay in order: handle, finish, offsets;
- finishes (publishes) happen in batch order, keeping each chat's events in seq order;
- a crash anywhere leaves the offsets of every unfinished batch uncommitted: it is redelivered,
  and handlers are idempotent (the ledger dedups by command id, the mirror by seq);
- a batch fetched before the broker lost its partitions (`healing.rebirths`) never commits its
  offsets: they would point past records of the reborn partition that nobody has read.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError

from chatledger.bus.healing import rebirths

log = logging.getLogger(__name__)

Batch = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
Finish = Callable[[], Awaitable[None]]
FETCH_TIMEOUT_MS = 200


async def nothing_left() -> None:
    """The Finish of a handler that did everything in `handle`."""


def offsets_after(batch: Batch) -> dict[TopicPartition, int]:
    """Where each partition resumes once the batch is done: its last offset + 1."""
    return {partition: records[-1].offset + 1 for partition, records in batch.items()}


async def consume(
    consumer: AIOKafkaConsumer,
    handle: Callable[[Batch], Awaitable[Finish]],
    *,
    max_records: int,
    after_fetch: Callable[[AIOKafkaConsumer], Awaitable[None]] | None = None,
) -> None:
    finishing: asyncio.Task[None] | None = None  # batch N's rest and offsets
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS, max_records=max_records)
            if after_fetch is not None:
                await after_fetch(consumer)
            if not batch:
                continue
            epoch = rebirths(consumer)
            finish = await handle(batch)  # batch N+1, while batch N finishes
            if finishing is not None:
                await finishing
            finishing = asyncio.create_task(
                _finish(consumer, finish, offsets_after(batch), epoch)
            )
    finally:
        if finishing is not None:
            # Its offsets stay uncommitted: the batch is redelivered and finished again.
            finishing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await finishing


async def _finish(
    consumer: AIOKafkaConsumer, finish: Finish, offsets: dict[TopicPartition, int], epoch: int
) -> None:
    await finish()
    if rebirths(consumer) != epoch:
        log.warning("partitions reborn since this batch was fetched: its offsets not committed")
        return
    try:
        await consumer.commit(offsets)
    except CommitFailedError:
        log.warning("offset commit lost to a rebalance; the batch will be redelivered")
