"""One attempt at one ledger batch inside one open transaction: lock, load, decide, append.

Locks are taken in a fixed order (streams, then accounts, each sorted) so that two workers owning
the same chat during a rebalance serialise instead of deadlocking. The streams' rows are locked
EXCLUSIVELY from the first statement (an insert that updates a duplicate takes an X lock on it,
where `INSERT IGNORE` took a shared one that two batches could both hold and then both try to
upgrade: a deadlock). Unique keys on `applied_commands`, `chat_events.event_id` and
`(stream, seq)` make a duplicate application impossible even if they did not: the store's
first attempt at a batch does not read `applied_commands` at all (`dedup=False`), it counts on
that key. Every command it decides gets its row there, written before the COMMIT in the same
transaction, so a command applied before fails the batch with a duplicate key, nothing of it
committed, and the store runs it again reading first (`dedup=True`). What is read, and why it
is current, is `state_loader.py`'s (in which round trips: `batch_reads.py`); the projection
rows' SQL is `projection_writes.py`'s.
The batch's writes are queued (`write_trips.py`): the store sends them with its COMMIT, but for
a long batch's event and applied_commands rows, which leave OVERLAP_EVERY commands at a time
while the next are decided (the server writes while the ledger decides; a batch never reads
back what it writes, and the rows still reach the server in order, before the COMMIT).
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from chatledger.domain.commands import Command, stream_of
from chatledger.domain.decider import CommandRefused, apply
from chatledger.domain.events import Event
from chatledger.ledger.batch_reads import BatchLoader
from chatledger.ledger.event_rows import (
    EVENT_COLUMNS,
    placeholders,
    row_to_event,
    spelt_event_row,
)
from chatledger.ledger.known_people import KnownPeople
from chatledger.ledger.projection_writes import ProjectionWriter
from chatledger.ledger.read_trips import ReadTrip
from chatledger.ledger.rules_memory import RulesMemory
from chatledger.ledger.show_loader import QuietChats
from chatledger.ledger.write_trips import QueuedWrites

log = logging.getLogger(__name__)
# A full batch's rows leave in parts of this many commands, each while the next part is decided
# (`QueuedWrites.overlap`); a batch of at most this many sends them all with its COMMIT, as before.
OVERLAP_EVERY = 100
# What `executemany` made of the events' INSERT with its 12 placeholders, before its rows.
_EVENTS_INSERT = (
    "INSERT INTO chat_events (event_id, command_id, stream, seq, type, actor_uuid, actor_role,"
    " actor_name, is_public, amount, payload, created_at) VALUES "
)


@dataclass
class BatchResult:
    """What a batch produced: the events to publish, and what happened to each command."""

    events: list[Event] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)


class PresumedWrong(Exception):
    """A batch's first trip presumed what it could not know before its locks (`BatchLoader
    .presume`), and the locks said otherwise: the transaction is rolled back and the batch
    run again, reading first (`Batch(presume=False)`)."""


def _no_rows(rows: Sequence[Sequence[Any]]) -> None:
    """A statement of a trip whose result is not read (it opens the transaction, or writes)."""


class Batch:
    def __init__(self, cur: Any, commands: Sequence[Command],
                 quiet: QuietChats | None = None, known: KnownPeople | None = None,
                 begin: str = "", presume: bool = True, dedup: bool = True,
                 rules: RulesMemory | None = None) -> None:
        self.cur = cur
        # Whether the first trip may carry the reads after the locks (`BatchLoader.presume`):
        # one round trip fewer for a batch of messages and tips in chats already seen.
        self.presume = presume
        # Whether to read which commands were applied before (see the module's docstring):
        # ~500 primary-key lookups per full batch that nearly always find nothing.
        self.dedup = dedup
        self.begin = begin  # statements that open the transaction, sent with the first trip
        self.commands = commands
        self.loader = BatchLoader(cur, quiet=quiet, known=known, rules=rules)
        self.state = self.loader.state
        self.locked: dict[str, int] = {}  # the streams' versions once locked
        self.fresh: list[Command] = []  # the commands decided (not applied before)
        self.already: set[str] = set()  # the batch's command ids applied before it
        self.writes = QueuedWrites(cur)  # sent by the caller, with its COMMIT

    async def run(self) -> BatchResult:
        commands = self.commands
        ids = list(dict.fromkeys(command.command_id for command in commands))
        trip = ReadTrip()
        self._plan_locks(trip, sorted({stream_of(command) for command in commands}), ids)
        fresh = _unique_fresh(commands, set())
        asked = self.loader.presume(trip, fresh) if self.presume else None
        await trip.send(self.cur)
        self.locked = dict(self.state.versions)
        already = self.already
        if asked is not None:
            if already or not self.loader.confirmed():
                raise PresumedWrong
            await self.loader.after_locked(fresh, asked)
        else:
            fresh = _unique_fresh(commands, already)
            if fresh:
                await self.loader.for_batch(fresh)
        self.fresh = fresh
        result = BatchResult(outcomes=dict.fromkeys(already, "duplicate"))
        if fresh:
            balances_before = dict(self.state.balances)
            now = datetime.now(UTC)
            queued = (0, 0)  # the commands, and the events, whose rows are queued or sent
            for at, command in enumerate(fresh, 1):
                try:
                    new_events = apply(command, self.state, now)
                    result.outcomes[command.command_id] = "applied"
                except CommandRefused as refusal:
                    new_events = []
                    result.outcomes[command.command_id] = f"refused: {refusal}"[:255]
                    log.warning("command %s refused: %s", command.command_id, refusal)
                result.events.extend(new_events)
                if at % OVERLAP_EVERY == 0 and at < len(fresh):
                    # These rows go to the server while it decides the next commands.
                    queued = await self._append(fresh, result, queued, at)
                    await self.writes.overlap()
            await self._append(fresh, result, queued, len(fresh))
            await self._write(fresh, result, balances_before)  # queued while the last part goes
        if already:
            await self.writes.drain()  # the connection is the batch's own again
            result.events[:0] = await self._events_of(sorted(already))
        return result

    def _plan_locks(self, trip: ReadTrip, streams: list[str], ids: list[str]) -> None:
        """Lock the streams, read their versions, then (`dedup`) which of `ids` were applied
        already.

        The first statements of the batch's first trip, opening the transaction (`begin`): the
        server runs a trip's statements in order, so the streams are locked before anything
        after them is read. `version = version` changes nothing, but the duplicate's row is
        locked exclusively (and a new row is the inserter's alone): see the module's docstring.
        """
        for statement in self.begin.split(";") if self.begin else ():
            trip.add(statement.strip(), (), _no_rows)
        trip.add(
            f"INSERT INTO streams (stream, version) VALUES {placeholders(len(streams), 2)}"
            " ON DUPLICATE KEY UPDATE version = version",
            [value for stream in streams for value in (stream, 0)], _no_rows,
        )
        trip.add(
            f"SELECT stream, version FROM streams WHERE stream IN ({placeholders(len(streams))})"
            " ORDER BY stream FOR UPDATE", streams, self._fold_versions,
        )
        if self.dedup:
            trip.add(
                f"SELECT command_id FROM applied_commands WHERE command_id IN"
                f" ({placeholders(len(ids))})", ids, self._fold_applied,
            )

    def _fold_versions(self, rows: Sequence[Sequence[Any]]) -> None:
        self.state.versions = {stream: int(version) for stream, version in rows}

    def _fold_applied(self, rows: Sequence[Sequence[Any]]) -> None:
        self.already = {row[0] for row in rows}

    async def _events_of(self, command_ids: list[str]) -> list[Event]:
        await self.cur.execute(
            f"SELECT {EVENT_COLUMNS} FROM chat_events"
            f" WHERE command_id IN ({placeholders(len(command_ids))}) ORDER BY id",
            command_ids,
        )
        return [row_to_event(row) for row in await self.cur.fetchall()]

    async def _append(self, fresh: list[Command], result: BatchResult,
                      queued: tuple[int, int], decided: int) -> tuple[int, int]:
        """Queue the rows of the commands decided since `queued` (commands, events) and of
        their events: chat_events, then applied_commands. Returns the new `queued`."""
        cur, events = self.writes, result.events[queued[1]:]
        if events:
            literal = cur.literal
            cur.insert(_EVENTS_INSERT, [spelt_event_row(event, literal) for event in events])
        if decided > queued[0]:
            await cur.executemany(
                "INSERT INTO applied_commands (command_id, outcome) VALUES (%s, %s)",
                [(c.command_id, result.outcomes[c.command_id])
                 for c in fresh[queued[0]:decided]],
            )
        return decided, len(result.events)

    async def _write(
        self, commands: list[Command], result: BatchResult, balances_before: dict[str, Decimal]
    ) -> None:
        """What follows the event and applied_commands rows: versions, balances, projections."""
        cur, state = self.writes, self.state
        versions = state.versions
        await cur.execute(
            f"INSERT INTO streams (stream, version) VALUES {placeholders(len(versions), 2)}"
            " ON DUPLICATE KEY UPDATE version = VALUES(version)",
            [value for item in versions.items() for value in item],
        )
        changed = {
            owner: balance
            for owner, balance in state.balances.items()
            if balances_before.get(owner) != balance
        }
        if changed:
            cases = " ".join(["WHEN %s THEN %s"] * len(changed))
            await cur.execute(
                f"UPDATE accounts SET balance = CASE owner_uuid {cases} END"
                f" WHERE owner_uuid IN ({placeholders(len(changed))})",
                [v for item in changed.items() for v in item] + list(changed),
            )
        await ProjectionWriter(cur, state, self.loader.entity_ids).write(result.events, commands)


def _unique_fresh(commands: Sequence[Command], already: set[str]) -> list[Command]:
    """Commands not yet applied, each once (a batch may hold a redelivered twin)."""
    seen = set(already)
    fresh = []
    for command in commands:
        if command.command_id not in seen:
            seen.add(command.command_id)
            fresh.append(command)
    return fresh
