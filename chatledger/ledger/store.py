"""The ledger's MySQL side: each batch of commands applied in ONE transaction, retried whole.

Deadlocks and duplicate-key races (another worker applied some of these commands first, during a
rebalance) roll back the whole batch, which is then decided again from fresh state. What runs
inside the transaction, in order, is `batch.py` (locks, decisions, appends); what it reads is
`state_loader.py`; the projection rows it writes are `projection_writes.py`.
"""

import contextlib
from collections.abc import Callable, Sequence

import pymysql
from databases import Database

from chatledger.domain.commands import Command
from chatledger.domain.state import LedgerState
from chatledger.ledger.batch import Batch, BatchResult, PresumedWrong
from chatledger.ledger.known_people import KnownPeople
from chatledger.ledger.rules_memory import RulesMemory
from chatledger.ledger.show_loader import QuietChats
from chatledger.platform import stages
from chatledger.platform.metrics import LEDGER_DEDUP_READ, LEDGER_PRESUMED_WRONG
from chatledger.platform.retrying import DUPLICATE_KEY, LOCK_CONFLICTS, on_conflict

__all__ = ["BatchResult", "LedgerStore"]
# Told after each commit: the state the batch's decisions left, the commands it decided, and
# the whole batch (the ledger's clock learns what falls due from it: clock_book.py).
Committed = Callable[[LedgerState, Sequence[Command], Sequence[Command]], None]

_BEGIN = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; BEGIN"


class LedgerStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.quiet = QuietChats()  # learnt from this process's committed batches alone
        self.known = KnownPeople()  # rows that never change, read by any batch
        self.rules = RulesMemory()  # learnt from this process's committed batches alone
        self.committed: list[Committed] = []

    async def apply_batch(self, commands: Sequence[Command]) -> BatchResult:
        return await on_conflict(
            lambda: self._apply(commands), what="ledger batch",
            codes=LOCK_CONFLICTS | {DUPLICATE_KEY},
        )

    async def _apply(self, commands: Sequence[Command]) -> BatchResult:
        try:
            try:
                return await self._apply_once(commands, presume=True, dedup=False)
            except PresumedWrong:  # rolled back: now read before deciding what to read
                LEDGER_PRESUMED_WRONG.inc()
                return await self._apply_once(commands, presume=False, dedup=False)
        except pymysql.err.IntegrityError as error:
            if error.args[0] != DUPLICATE_KEY:
                raise
            # Rolled back: a command of the batch was applied before (a redelivery), or another
            # unique key refused a write. Run it again reading which were (batch.py's docstring);
            # a duplicate key then is the other kind, retried by `on_conflict` as it always was.
            LEDGER_DEDUP_READ.inc()
            return await self._apply_once(commands, presume=False, dedup=True)

    async def _apply_once(self, commands: Sequence[Command], presume: bool,
                          dedup: bool) -> BatchResult:
        # The transaction is driven on the raw connection: `databases`' Transaction skips its
        # release when the ROLLBACK itself fails (MySQL died mid-batch), and the worker's task
        # would then keep that dead connection for ever ("Not connected" on every retry).
        async with self.database.connection() as connection:
            raw = connection.raw_connection
            batch: Batch | None = None
            try:
                async with raw.cursor() as cur:
                    # The BEGIN goes with the batch's first statements, in one round trip.
                    batch = Batch(cur, commands, self.quiet, self.known, begin=_BEGIN,
                                  presume=presume, dedup=dedup, rules=self.rules)
                    result = await batch.run()
                    if stages.ON:
                        stages.mark("ledger_decided")
                    # The batch's writes and the COMMIT in one round trip where they fit: the
                    # server stops at the first error, so a failed write is never committed.
                    await batch.writes.execute("COMMIT")
                    await batch.writes.flush()
                self.quiet.learn(batch.state, batch.locked, batch.fresh)
                self.rules.learn(batch.state, batch.locked, batch.loader.rules_whole)
                for listener in self.committed:
                    listener(batch.state, batch.fresh, commands)
                return result
            except BaseException:
                if batch is not None:  # a send of its rows still under way ends first
                    await batch.writes.settle()
                with contextlib.suppress(Exception):  # a dead connection: the pool drops it
                    await raw.rollback()
                raise
