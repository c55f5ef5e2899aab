"""The ledger's MySQL side: load the state a batch needs, append its events, update projections.

A batch is ONE transaction. Locks are taken in a fixed order (streams, then accounts, each sorted)
so that two workers owning the same chat during a rebalance serialise instead of deadlocking;
unique keys on `applied_commands`, `chat_events.event_id` and `(stream, seq)` make a duplicate
application impossible even if they did not. Deadlocks and duplicate-key races roll back the whole
batch, which is then decided again from fresh state.

Longer than most modules on purpose: every statement of the batch's transaction is here, in the
order it runs, so the lock order can be checked by reading one file. The rows it writes come
from `projection_rows.py`, the row codec from `rows.py`.
"""

import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from databases import Database

from chatledger import connections
from chatledger.ledger import events as ev
from chatledger.ledger.commands import (
    Command,
    Deposit,
    Donate,
    Payout,
    Refund,
    RegisterConnection,
    stream_of,
)
from chatledger.ledger.decider import CommandRefused, apply
from chatledger.ledger.events import Event
from chatledger.ledger.projection_rows import (
    current_sponsor_rows,
    donor_total_rows,
    goal_rows,
    sponsor_row,
)
from chatledger.ledger.rows import EVENT_COLUMNS, event_to_row, placeholders, row_to_event
from chatledger.ledger.state import Goal, LedgerState, Sponsor
from chatledger.retrying import DUPLICATE_KEY, LOCK_CONFLICTS, on_conflict

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What a batch produced: the events to publish, and what happened to each command."""

    events: list[Event] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)


def _owners(commands: Iterable[Command]) -> set[str]:
    owners: set[str] = set()
    for command in commands:
        if isinstance(command, Deposit | Payout):
            owners.add(command.account)
        elif isinstance(command, Refund):
            owners.add(command.chat)  # the donor is loaded with the donation
        else:
            owners.update((command.chat, command.actor.uuid))
    return owners


class LedgerStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def apply_batch(self, commands: Sequence[Command]) -> BatchResult:
        # A duplicate key means another worker applied some of these commands first (rebalance).
        return await on_conflict(
            lambda: self._apply_once(commands), what="ledger batch",
            codes=LOCK_CONFLICTS | {DUPLICATE_KEY},
        )

    async def _apply_once(self, commands: Sequence[Command]) -> BatchResult:
        # The transaction is driven on the raw connection: `databases`' Transaction skips its
        # release when the ROLLBACK itself fails (MySQL died mid-batch), and the worker's task
        # would then keep that dead connection for ever ("Not connected" on every retry).
        async with self.database.connection() as connection:
            raw = connection.raw_connection
            try:
                async with raw.cursor() as cur:
                    await cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                await raw.begin()
                async with raw.cursor() as cur:
                    result = await _Batch(cur, commands).run()
                await raw.commit()
                return result
            except BaseException:
                with contextlib.suppress(Exception):  # a dead connection: the pool drops it
                    await raw.rollback()
                raise


class _Batch:
    """One attempt at one batch, inside one open transaction."""

    def __init__(self, cur: Any, commands: Sequence[Command]) -> None:
        self.cur = cur
        self.commands = commands
        self.state = LedgerState()
        self.entity_ids: dict[str, int] = {}
        self.kinds: dict[str, str] = {}

    async def run(self) -> BatchResult:
        ids = list(dict.fromkeys(command.command_id for command in self.commands))
        await self._lock_streams(sorted({stream_of(command) for command in self.commands}))
        already = await self._already_applied(ids)
        fresh = _unique_fresh(self.commands, already)
        result = BatchResult(outcomes=dict.fromkeys(already, "duplicate"))
        if fresh:
            await self._load_state(fresh)
            balances_before = dict(self.state.balances)
            now = datetime.now(UTC)
            for command in fresh:
                try:
                    new_events = apply(command, self.state, now)
                    result.outcomes[command.command_id] = "applied"
                except CommandRefused as refusal:
                    new_events = []
                    result.outcomes[command.command_id] = f"refused: {refusal}"[:255]
                    log.warning("command %s refused: %s", command.command_id, refusal)
                result.events.extend(new_events)
            await self._write(fresh, result, balances_before)
        if already:
            result.events[:0] = await self._events_of(sorted(already))
        return result

    async def _lock_streams(self, streams: list[str]) -> None:
        await self.cur.execute(
            f"INSERT IGNORE INTO streams (stream, version) VALUES {placeholders(len(streams), 2)}",
            [value for stream in streams for value in (stream, 0)],
        )
        await self.cur.execute(
            f"SELECT stream, version FROM streams WHERE stream IN ({placeholders(len(streams))})"
            " ORDER BY stream FOR UPDATE",
            streams,
        )
        self.state.versions = {
            stream: int(version) for stream, version in await self.cur.fetchall()
        }

    async def _already_applied(self, ids: list[str]) -> set[str]:
        await self.cur.execute(
            "SELECT command_id FROM applied_commands"
            f" WHERE command_id IN ({placeholders(len(ids))})",
            ids,
        )
        return {row[0] for row in await self.cur.fetchall()}

    async def _events_of(self, command_ids: list[str]) -> list[Event]:
        await self.cur.execute(
            f"SELECT {EVENT_COLUMNS} FROM chat_events"
            f" WHERE command_id IN ({placeholders(len(command_ids))}) ORDER BY id",
            command_ids,
        )
        return [row_to_event(row) for row in await self.cur.fetchall()]

    async def _load_state(self, commands: list[Command]) -> None:
        owners = sorted(_owners(commands))
        await self.cur.execute(
            "SELECT owner_uuid, balance, kind FROM accounts"
            f" WHERE owner_uuid IN ({placeholders(len(owners))}) ORDER BY owner_uuid FOR UPDATE",
            owners,
        )
        for owner, balance, kind in await self.cur.fetchall():
            self.state.balances[owner] = balance
            self.kinds[owner] = kind
        await self.cur.execute(
            f"SELECT uuid, id FROM users WHERE uuid IN ({placeholders(len(owners))})"
            f" UNION ALL SELECT uuid, id FROM clients WHERE uuid IN ({placeholders(len(owners))})",
            owners + owners,
        )
        self.entity_ids = {uuid: int(id_) for uuid, id_ in await self.cur.fetchall()}
        models = sorted(
            {command.chat for command in commands if not isinstance(command, Deposit | Payout)}
        )
        if models:
            await self._load_chat_state(models, commands)

    async def _load_chat_state(self, models: list[str], commands: list[Command]) -> None:
        marks = placeholders(len(models))
        await self.cur.execute(
            "SELECT uuid, model_uuid, name, require_sum, sum FROM goals"
            f" WHERE model_uuid IN ({marks}) AND is_active ORDER BY id",
            models,
        )
        for goal_id, model, name, require_sum, sum_ in await self.cur.fetchall():
            self.state.goals.setdefault(model, []).append(
                Goal(goal_id, model, name, require_sum, sum_)
            )
        await self.cur.execute(
            "SELECT model_uuid, client_uuid, client_name FROM current_sponsors"
            f" WHERE model_uuid IN ({marks})",
            models,
        )
        for model, client, name in await self.cur.fetchall():
            self.state.sponsors[model] = Sponsor(client, name)
        pairs = {(c.chat, c.actor.uuid) for c in commands if isinstance(c, Donate)}
        pairs |= {(model, sponsor.uuid) for model, sponsor in self.state.sponsors.items()}
        if pairs:
            await self.cur.execute(
                "SELECT model_uuid, client_uuid, total FROM donor_totals"
                f" WHERE (model_uuid, client_uuid) IN ({placeholders(len(pairs), 2)})",
                [value for pair in sorted(pairs) for value in pair],
            )
            for model, client, total in await self.cur.fetchall():
                self.state.donor_totals[(model, client)] = total

    async def _write(
        self, commands: list[Command], result: BatchResult, balances_before: dict[str, Decimal]
    ) -> None:
        cur, state = self.cur, self.state
        if result.events:
            await cur.executemany(
                "INSERT INTO chat_events (event_id, command_id, stream, seq, type, actor_uuid,"
                " actor_role, actor_name, is_public, amount, payload, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [event_to_row(event) for event in result.events],
            )
        await cur.executemany(
            "INSERT INTO applied_commands (command_id, outcome) VALUES (%s, %s)",
            [(command.command_id, result.outcomes[command.command_id]) for command in commands],
        )
        await self._write_versions()
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
        await self._write_goals(result.events)
        await self._write_donors_and_sponsors(result.events)
        await self._write_connections(commands)

    async def _write_versions(self) -> None:
        versions = self.state.versions
        await self.cur.execute(
            f"INSERT INTO streams (stream, version) VALUES {placeholders(len(versions), 2)}"
            " ON DUPLICATE KEY UPDATE version = VALUES(version)",
            [value for item in versions.items() for value in item],
        )

    async def _write_goals(self, events: list[Event]) -> None:
        touched = {e.stream for e in events if e.type in (ev.DONATE, ev.NEW_GOAL)}
        goals = goal_rows(self.state, touched)
        if not goals:
            return
        await self.cur.execute(
            "INSERT INTO goals (uuid, user_id, model_uuid, name, sum, require_sum, is_active)"
            f" VALUES {placeholders(len(goals), 7)}"
            " ON DUPLICATE KEY UPDATE sum = VALUES(sum), is_active = VALUES(is_active)",
            [
                value
                for goal_id, row in goals.items()
                for value in (
                    goal_id,
                    self.entity_ids.get(row.model_uuid, 0),
                    row.model_uuid,
                    row.name,
                    row.sum,
                    row.require_sum,
                    row.is_active,
                )
            ],
        )

    async def _write_donors_and_sponsors(self, events: list[Event]) -> None:
        donations = {
            (e.stream, e.actor.uuid)
            for e in events
            if e.type == ev.DONATE and e.actor and not e.payload.get(ev.ANONYMOUS)
        }
        totals = donor_total_rows(self.state)
        if donations:
            await self.cur.execute(
                "INSERT INTO donor_totals (model_uuid, client_uuid, total)"
                f" VALUES {placeholders(len(donations), 3)}"
                " ON DUPLICATE KEY UPDATE total = VALUES(total)",
                [v for pair in sorted(donations) for v in (*pair, totals[pair])],
            )
        changes = [e for e in events if e.type == ev.CHANGE_SPONSOR]
        if not changes:
            return
        await self.cur.executemany(
            "INSERT INTO sponsors (user_id, client_id, model_uuid, client_uuid, event_id)"
            " VALUES (%s, %s, %s, %s, %s)",
            [
                (
                    self.entity_ids.get(row.model_uuid, 0),
                    self.entity_ids.get(row.client_uuid, 0),
                    row.model_uuid,
                    row.client_uuid,
                    e.event_id,
                )
                for e in changes
                for row in (sponsor_row(e),)
            ],
        )
        models = {e.stream for e in changes}
        current = {m: s for m, s in current_sponsor_rows(self.state).items() if m in models}
        await self.cur.execute(
            "INSERT INTO current_sponsors (model_uuid, client_uuid, client_name)"
            f" VALUES {placeholders(len(current), 3)}"
            " ON DUPLICATE KEY UPDATE client_uuid = VALUES(client_uuid),"
            " client_name = VALUES(client_name)",
            [v for model, sponsor in current.items() for v in (model, *sponsor)],
        )

    async def _write_connections(self, commands: list[Command]) -> None:
        await connections.upsert(self.cur, [
            connections.row(c.actor.role, c.actor.uuid, c.connection_id, c.chat)
            for c in commands
            if isinstance(c, RegisterConnection)
        ])


def _unique_fresh(commands: Sequence[Command], already: set[str]) -> list[Command]:
    """Commands not yet applied, each once (a batch may hold a redelivered twin)."""
    seen = set(already)
    fresh = []
    for command in commands:
        if command.command_id not in seen:
            seen.add(command.command_id)
            fresh.append(command)
    return fresh
