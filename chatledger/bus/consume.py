"""The one consume loop of every role that reads a topic in a consumer group (ledger, history).

Per batch: `handle` does the work that must happen first (the ledger's MySQL transaction, the
history projector's Redis write) and returns what is left (`Finish`: the ledger's publish, or
nothing); the loop runs that rest, then commits the batch's offsets. The rest of batch N runs
while `handle` works on batch N+1, and the rests run one after another, in batch order. Batch
N's offset commit (a broker round trip) does not hold up batch N+1's rest: it runs beside it,
after batch N-1's commit. So:
- each batch's effects stay in order: handle, finish, offsets;
- finishes (publishes) happen in batch order, keeping each chat's events in seq order;
- a crash anywhere leaves the offsets of every unfinished batch uncommitted: it is redelivered,
  and handlers are idempotent (the ledger dedups by command id, the mirror by seq);
- a batch fetched before the broker lost its partitions (`healing.rebirths`) never commits its
  offsets: they would point past records of the reborn partition that nobody has read.

Membership changes (a process joining, leaving or dying) are routine and never stop the loop:
- before a rebalance takes partitions away, `Handover` (the consumer's rebalance listener) waits
  for every batch already fetched to finish and commit, while this consumer still owns them, so
  the new owner starts where this one stopped; the wait is bounded by REVOKE_GRACE_S;
- a batch still unfinished when the rebalance goes on (or fetched under an assignment that has
  changed since) commits nothing, and never raises: its offsets are not this consumer's to
  commit any more. The new owner, or this one again, redelivers it and dedups;
- offsets are only ever committed for partitions assigned at the moment of the commit.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from chatledger.bus.healing import rebirths

log = logging.getLogger(__name__)

Batch = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
Finish = Callable[[], Awaitable[None]]
FETCH_TIMEOUT_MS = 200
# Other members wait for this one during a rebalance (up to the group's rebalance timeout, 30 s
# in aiokafka): a batch stuck longer than this (MySQL or the broker away) is left unfinished.
REVOKE_GRACE_S = 10.0


async def nothing_left() -> None:
    """The Finish of a handler that did everything in `handle`."""


def offsets_after(batch: Batch) -> dict[TopicPartition, int]:
    """Where each partition resumes once the batch is done: its last offset + 1."""
    return {partition: records[-1].offset + 1 for partition, records in batch.items()}


def still_owned(
    offsets: dict[TopicPartition, int], assigned: Iterable[TopicPartition]
) -> dict[TopicPartition, int]:
    """The offsets of the partitions this consumer still has (aiokafka refuses the others)."""
    owned = set(assigned)
    return {partition: offset for partition, offset in offsets.items() if partition in owned}


@dataclass(frozen=True, slots=True)
class Ticket:
    """A fetched batch: the assignment generation and rebirths count when it was fetched, and
    a future done once the batch is finished or abandoned."""

    generation: int
    rebirths: int
    done: "asyncio.Future[None]"


class Handover(ConsumerRebalanceListener):  # type: ignore[misc]
    """Finishes the batches in flight before their partitions are given away.

    aiokafka awaits `on_partitions_revoked` before rejoining the group, with the old assignment
    still in place (heartbeats go on meanwhile), so what finishes then is committed by the owner.
    """

    def __init__(self, grace_s: float = REVOKE_GRACE_S) -> None:
        self.grace_s = grace_s
        self.generation = 0  # moves at every revocation and assignment
        self._unfinished: set[asyncio.Future[None]] = set()

    def fetched(self, consumer: AIOKafkaConsumer) -> Ticket:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._unfinished.add(done)
        done.add_done_callback(self._unfinished.discard)
        return Ticket(self.generation, rebirths(consumer), done)

    def abandon(self) -> None:
        """The loop stopped: nothing it fetched will finish, nobody should wait for it."""
        for done in list(self._unfinished):
            done.cancel()

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if self._unfinished:
            _, late = await asyncio.wait(set(self._unfinished), timeout=self.grace_s)
            if late:
                log.warning(
                    "rebalance: %d batch(es) unfinished after %.1f s, left to the next owner",
                    len(late), self.grace_s,
                )
        self.generation += 1

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.generation += 1

    def committable(
        self, consumer: AIOKafkaConsumer, ticket: Ticket, offsets: dict[TopicPartition, int]
    ) -> dict[TopicPartition, int]:
        """What of a finished batch's offsets this consumer may still commit."""
        if rebirths(consumer) != ticket.rebirths:
            log.warning("partitions reborn since this batch was fetched: its offsets not committed")
            return {}
        if self.generation != ticket.generation:
            log.info("partitions reassigned since this batch was fetched: offsets not committed")
            return {}
        return still_owned(offsets, consumer.assignment())


async def consume(
    consumer: AIOKafkaConsumer,
    handle: Callable[[Batch], Awaitable[Finish]],
    *,
    max_records: int,
    after_fetch: Callable[[AIOKafkaConsumer], Awaitable[None]] | None = None,
    handover: Handover | None = None,
) -> None:
    """Run the loop; `handover` is the listener the consumer was subscribed with (without
    one, no wait before a rebalance, but offsets are still committed only while owned)."""
    handover = handover if handover is not None else Handover()
    last: _Finishing | None = None  # batch N's rest, then its offsets
    unfinished: set[asyncio.Task[None]] = set()
    failed: list[BaseException] = []

    def settled(task: "asyncio.Task[None]") -> None:
        unfinished.discard(task)
        if not task.cancelled() and task.exception() is not None:
            failed.append(task.exception())  # type: ignore[arg-type]

    try:
        while True:
            batch = await consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS, max_records=max_records)
            # Taken at once: a rebalance during after_fetch must count as after the fetch.
            ticket = handover.fetched(consumer) if batch else None
            if after_fetch is not None:
                await after_fetch(consumer)
            if ticket is None:
                continue
            finish = await handle(batch)  # batch N+1, while batch N finishes
            if last is not None:
                await last.finished()
            if failed:  # an offset commit behind the last rest: as if the loop had awaited it
                raise failed[0]
            last = _Finishing(consumer, handover, finish, offsets_after(batch), ticket, last)
            unfinished.add(last.task)
            last.task.add_done_callback(settled)
    finally:
        # Their offsets stay uncommitted: the batches are redelivered and finished again.
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        handover.abandon()


class _Finishing:
    """One batch's rest, then its offsets. The loop waits for the rest only (the next batch's
    rest must follow it: publishes stay in batch order); the offset commit, one more broker
    round trip, goes on beside the next batch, after the commit of the batch before."""

    def __init__(self, consumer: AIOKafkaConsumer, handover: Handover, finish: Finish,
                 offsets: dict[TopicPartition, int], ticket: Ticket,
                 before: "_Finishing | None") -> None:
        self.rest_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] = asyncio.create_task(
            self._run(consumer, handover, finish, offsets, ticket,
                      before.task if before is not None else None))

    async def finished(self) -> None:
        """Until the rest is done; raises what the rest or an offset commit before it raised."""
        if not (self.rest_done.done() or self.task.done()):  # often done: no wait's machinery
            await asyncio.wait({self.rest_done, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if self.task.done():
            self.task.result()

    async def _run(self, consumer: AIOKafkaConsumer, handover: Handover, finish: Finish,
                   offsets: dict[TopicPartition, int], ticket: Ticket,
                   before: "asyncio.Task[None] | None") -> None:
        try:
            await finish()
            self.rest_done.set_result(None)
            if before is not None:
                await before  # offsets in batch order
            await _commit(consumer, handover.committable(consumer, ticket, offsets))
        finally:
            if not ticket.done.done():
                ticket.done.set_result(None)


async def _commit(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
    if not offsets:
        return
    try:
        await consumer.commit(offsets)
    except CommitFailedError:
        log.warning("offset commit lost to a rebalance; the batch will be redelivered")
    except IllegalStateError:
        # Unreachable while `committable` reads the assignment with no await before the commit
        # checks it; kept so that a membership change can never stop the loop.
        log.warning("offset commit for partitions no longer assigned skipped")
