"""The ledger's MySQL side: load the state a batch needs, append its events, update projections.

A batch is ONE transaction. Locks are taken in a fixed order (streams, then accounts, each sorted)
so that two workers owning the same chat during a rebalance serialise instead of deadlocking;
unique keys on `applied_commands`, `chat_events.event_id` and `(stream, seq)` make a duplicate
application impossible even if they did not (and `refunds`' and `deleted_messages`' primary keys
make a second refund or deletion of the same event impossible). Deadlocks and duplicate-key races
roll back the whole batch, which is then decided again from fresh state.

What a batch reads, and why each read is current (READ COMMITTED):
- its streams, locked FOR UPDATE first (a chat's stream is its model's account stream too);
- every projection row of a chat (goals, sponsors, donor totals, settings, mutes, bans, refunds,
  deletions): only batches holding that chat's stream lock write them (and `rebuild`'s swap,
  which locks every stream), so once the stream is locked they cannot change under the batch;
- the accounts whose money may move, locked FOR UPDATE in uuid order after the streams. A refund
  moves its donor's money, and the donor is known only from the donation: it is found by a plain
  read of the donation's row before the accounts are locked (event rows never change);
- immutable facts read plainly: event rows (donations, messages), accounts.kind, names and ids.

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
from typing import Any, Final

from databases import Database

from chatledger.domain import events as ev
from chatledger.domain.commands import (
    BanViewer,
    ChatCommand,
    Command,
    DeleteMessage,
    Deposit,
    Donate,
    MuteViewer,
    Payout,
    PostMessage,
    Refund,
    RegisterConnection,
    UnbanViewer,
    stream_of,
)
from chatledger.domain.decider import CommandRefused, apply
from chatledger.domain.events import Event
from chatledger.domain.state import (
    ZERO,
    Donation,
    Goal,
    LedgerState,
    Message,
    Pair,
    Sponsor,
    donation_of,
    message_of,
)
from chatledger.ledger import connections
from chatledger.ledger.event_rows import EVENT_COLUMNS, event_to_row, placeholders, row_to_event
from chatledger.ledger.projection_rows import (
    ban_rows,
    current_sponsor_rows,
    deletion_rows,
    donor_day_rows,
    donor_total_rows,
    goal_rows,
    mute_rows,
    refund_rows,
    setting_rows,
    sponsor_row,
)
from chatledger.platform.retrying import DUPLICATE_KEY, LOCK_CONFLICTS, on_conflict

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What a batch produced: the events to publish, and what happened to each command."""

    events: list[Event] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)


MODERATION: Final = (MuteViewer, BanViewer, UnbanViewer)
SPEECH: Final = (PostMessage, Donate)


def _owners(commands: Iterable[Command], donations: dict[str, Donation]) -> set[str]:
    """The accounts a batch locks: every one whose money it may move (or that must exist)."""
    owners: set[str] = set()
    for command in commands:
        if isinstance(command, Deposit | Payout):
            owners.add(command.account)
        elif isinstance(command, Refund):
            owners.add(command.chat)
            donation = donations.get(command.donation_id)
            if donation is not None:
                owners.add(donation.donor.uuid)
        else:
            owners.update((command.chat, command.actor.uuid))
    return owners


async def read_donations(cur: Any, refunds: Iterable[Refund]) -> dict[str, Donation]:
    """The donations these refunds name, each only in the refund's own chat, as `evolve` left
    them (refund_id from `refunds`: current once the chat's stream is locked)."""
    wanted = {(refund.donation_id, refund.chat) for refund in refunds}
    found = await _read_events_in_chats(cur, wanted, ev.DONATE, "refunds", "donation_id",
                                        "refund_id")
    return {event.event_id: donation_of(event, refund_id) for event, refund_id in found}


async def read_messages(cur: Any, deletions: Iterable[DeleteMessage]) -> dict[str, Message]:
    """The messages these deletions name, each only in the deletion's own chat."""
    wanted = {(deletion.message_id, deletion.chat) for deletion in deletions}
    found = await _read_events_in_chats(cur, wanted, ev.MESSAGE, "deleted_messages",
                                        "message_id", "deletion_id")
    return {event.event_id: message_of(event, deletion_id) for event, deletion_id in found}


async def _read_events_in_chats(
    cur: Any, wanted: set[tuple[str, str]], type_: str, table: str, key: str, column: str
) -> list[tuple[Event, str | None]]:
    """Events of `type_` by (event_id, chat), each with `column` of its row in `table`, if any."""
    if not wanted:
        return []
    ids = sorted({event_id for event_id, _ in wanted})
    await cur.execute(
        f"SELECT {EVENT_COLUMNS}, t.{column} FROM chat_events"
        f" LEFT JOIN {table} t ON t.{key} = event_id"
        f" WHERE event_id IN ({placeholders(len(ids))}) AND type = %s",
        [*ids, type_],
    )
    found = []
    for *row, mark in await cur.fetchall():
        event = row_to_event(row)
        if (event.event_id, event.stream) in wanted:
            found.append((event, mark))
    return found


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
        """Exactly what the decider reads for these commands (see the module's docstring)."""
        state = self.state
        refunds = [c for c in commands if isinstance(c, Refund)]
        state.donations = await read_donations(self.cur, refunds)  # before the accounts' locks
        owners = sorted(_owners(commands, state.donations))
        await self.cur.execute(
            "SELECT owner_uuid, balance, kind FROM accounts"
            f" WHERE owner_uuid IN ({placeholders(len(owners))}) ORDER BY owner_uuid FOR UPDATE",
            owners,
        )
        for owner, balance, kind in await self.cur.fetchall():
            state.balances[owner] = balance
            state.kinds[owner] = kind
        chat_commands: list[ChatCommand | Refund] = [
            c for c in commands if not isinstance(c, Deposit | Payout)
        ]
        if chat_commands:
            await self._load_chat_state(chat_commands)
        targets = {c.client for c in chat_commands if isinstance(c, MODERATION)}
        candidates = {client for _, client in state.donor_totals}
        await self._load_people(set(owners) | targets | candidates)

    async def _load_chat_state(self, commands: Sequence[ChatCommand | Refund]) -> None:
        models = sorted({command.chat for command in commands})
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
        await self._load_chat_rules(models, commands)
        await self._load_donor_totals(commands)
        deletions = [c for c in commands if isinstance(c, DeleteMessage)]
        self.state.messages = await read_messages(self.cur, deletions)

    async def _load_chat_rules(
        self, models: list[str], commands: Sequence[ChatCommand | Refund]
    ) -> None:
        """Minimum tips of the chats, and the bans and mutes of the people speaking or moderated
        in them: one round trip (every donation and message batch needs it)."""
        pairs = sorted(
            {(c.chat, c.actor.uuid) for c in commands if isinstance(c, SPEECH)}
            | {(c.chat, c.client) for c in commands if isinstance(c, MODERATION)}
        )
        pair_values = [value for pair in pairs for value in pair]
        sql = (
            "SELECT 'min', model_uuid, NULL, NULL, min_donation FROM chat_settings"
            f" WHERE model_uuid IN ({placeholders(len(models))})"
        )
        if pairs:
            in_pairs = f"(model_uuid, client_uuid) IN ({placeholders(len(pairs), 2)})"
            sql += (
                " UNION ALL SELECT 'ban', model_uuid, client_uuid, NULL, NULL FROM chat_bans"
                f" WHERE {in_pairs} UNION ALL SELECT 'mute', model_uuid, client_uuid,"
                f" muted_until, NULL FROM chat_mutes WHERE {in_pairs}"
            )
        await self.cur.execute(sql, models + pair_values + pair_values)
        state = self.state
        for rule, model, client, until, minimum in await self.cur.fetchall():
            if rule == "min":
                state.min_donations[model] = minimum
            elif rule == "ban":
                state.bans.add((model, client))
            else:
                state.mutes[(model, client)] = until.replace(tzinfo=UTC)

    async def _load_donor_totals(self, commands: Sequence[ChatCommand | Refund]) -> None:
        """The totals the batch moves or compares: its donors', the sponsors', and for a refund
        everyone who could take the sponsor's place (see `_challenger_floors`)."""
        state = self.state
        refunded = [
            d for c in commands if isinstance(c, Refund)
            for d in (state.donations.get(c.donation_id),) if d is not None and not d.anonymous
        ]
        pairs = {(c.chat, c.actor.uuid) for c in commands if isinstance(c, Donate)}
        pairs |= {(model, sponsor.uuid) for model, sponsor in state.sponsors.items()}
        pairs |= {(d.model, d.donor.uuid) for d in refunded}
        if pairs:
            await self._read_donor_totals(
                f"(model_uuid, client_uuid) IN ({placeholders(len(pairs), 2)})",
                [value for pair in sorted(pairs) for value in pair],
            )
        floors = _challenger_floors(state, refunded)
        if floors:
            await self._read_donor_totals(
                " OR ".join(["(model_uuid = %s AND total > %s)"] * len(floors)),
                [value for item in sorted(floors.items()) for value in item],
            )

    async def _read_donor_totals(self, where: str, values: list[Any]) -> None:
        await self.cur.execute(
            f"SELECT model_uuid, client_uuid, total FROM donor_totals WHERE {where}", values
        )
        for model, client, total in await self.cur.fetchall():
            self.state.donor_totals[(model, client)] = total

    async def _load_people(self, people: set[str]) -> None:
        """Row ids (the brief's user_id/client_id columns), names and kinds: plain reads."""
        uuids = sorted(people)
        marks = placeholders(len(uuids))
        await self.cur.execute(
            "SELECT p.uuid, p.id, p.name, a.kind FROM users p JOIN accounts a"
            f" ON a.id = p.account_id WHERE p.uuid IN ({marks}) UNION ALL"
            " SELECT p.uuid, p.id, p.name, a.kind FROM clients p JOIN accounts a"
            f" ON a.id = p.account_id WHERE p.uuid IN ({marks})",
            uuids + uuids,
        )
        state = self.state
        for uuid, id_, name, kind in await self.cur.fetchall():
            self.entity_ids[uuid] = int(id_)
            state.kinds[uuid] = kind
            if kind == "client":
                state.names[uuid] = name

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
        await self._write_donor_days()
        await self._write_chat_rules(result.events)
        await self._write_refunds_and_deletions(result.events)
        await self._write_connections(commands)

    async def _write_versions(self) -> None:
        versions = self.state.versions
        await self.cur.execute(
            f"INSERT INTO streams (stream, version) VALUES {placeholders(len(versions), 2)}"
            " ON DUPLICATE KEY UPDATE version = VALUES(version)",
            [value for item in versions.items() for value in item],
        )

    async def _write_goals(self, events: list[Event]) -> None:
        touched = {
            e.stream for e in events if e.type in (ev.DONATE, ev.NEW_GOAL, ev.DONATE_REFUNDED)
        }
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
        ranked = {  # a refund's actor is the donor whose total it lowers
            (e.stream, e.actor.uuid)
            for e in events
            if e.type in (ev.DONATE, ev.DONATE_REFUNDED) and e.actor
            and not e.payload.get(ev.ANONYMOUS)
        }
        totals = donor_total_rows(self.state)
        if ranked:
            await self.cur.execute(
                "INSERT INTO donor_totals (model_uuid, client_uuid, total)"
                f" VALUES {placeholders(len(ranked), 3)}"
                " ON DUPLICATE KEY UPDATE total = VALUES(total)",
                [v for pair in sorted(ranked) for v in (*pair, totals[pair])],
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

    async def _write_donor_days(self) -> None:
        # The batch's state folded its donations and refunds into an empty map: changes, added.
        days = donor_day_rows(self.state)
        if days:
            await self.cur.execute(
                "INSERT INTO donor_days (model_uuid, day, client_uuid, total)"
                f" VALUES {placeholders(len(days), 4)}"
                " ON DUPLICATE KEY UPDATE total = total + VALUES(total)",
                [v for key, change in sorted(days.items()) for v in (*key, change)],
            )

    async def _write_chat_rules(self, events: list[Event]) -> None:
        """chat_settings, chat_mutes and chat_bans rows of what the batch's events changed."""
        cur, state = self.cur, self.state
        settings = setting_rows(state)
        changed = sorted({e.stream for e in events if e.type == ev.SETTINGS_CHANGED})
        if changed:
            await cur.execute(
                "INSERT INTO chat_settings (model_uuid, min_donation)"
                f" VALUES {placeholders(len(changed), 2)}"
                " ON DUPLICATE KEY UPDATE min_donation = VALUES(min_donation)",
                [v for model in changed for v in (model, settings[model])],
            )
        mutes = mute_rows(state)
        muted = sorted({_target(e) for e in events if e.type == ev.VIEWER_MUTED})
        if muted:
            await cur.execute(
                "INSERT INTO chat_mutes (model_uuid, client_uuid, muted_until)"
                f" VALUES {placeholders(len(muted), 3)}"
                " ON DUPLICATE KEY UPDATE muted_until = VALUES(muted_until)",
                [v for pair in muted for v in (*pair, mutes[pair])],
            )
        bans = ban_rows(state)
        touched = {_target(e) for e in events if e.type in (ev.VIEWER_BANNED, ev.VIEWER_UNBANNED)}
        banned = sorted(pair for pair in touched if pair in bans)
        lifted = sorted(pair for pair in touched if pair not in bans)
        if banned:
            await cur.execute(
                f"INSERT IGNORE INTO chat_bans (model_uuid, client_uuid)"
                f" VALUES {placeholders(len(banned), 2)}",
                [v for pair in banned for v in pair],
            )
        if lifted:
            await cur.execute(
                "DELETE FROM chat_bans WHERE (model_uuid, client_uuid)"
                f" IN ({placeholders(len(lifted), 2)})",
                [v for pair in lifted for v in pair],
            )

    async def _write_refunds_and_deletions(self, events: list[Event]) -> None:
        # Plain INSERTs: a second row for the same donation or message is a duplicate key, which
        # rolls the batch back (the primary keys hold "at most once" whatever the decider said).
        refunds = refund_rows(
            self.state, [e.payload["donation_id"] for e in events if e.type == ev.DONATE_REFUNDED]
        )
        if refunds:
            await self.cur.execute(
                "INSERT INTO refunds (donation_id, model_uuid, refund_id)"
                f" VALUES {placeholders(len(refunds), 3)}",
                [v for key, row in refunds.items() for v in (key, row.model_uuid, row.refund_id)],
            )
        deletions = deletion_rows(
            self.state, [e.payload["message_id"] for e in events if e.type == ev.MESSAGE_DELETED]
        )
        if deletions:
            await self.cur.execute(
                "INSERT INTO deleted_messages (message_id, model_uuid, deletion_id)"
                f" VALUES {placeholders(len(deletions), 3)}",
                [
                    v for key, row in deletions.items()
                    for v in (key, row.model_uuid, row.deletion_id)
                ],
            )

    async def _write_connections(self, commands: list[Command]) -> None:
        await connections.upsert(self.cur, [
            connections.row(c.actor.role, c.actor.uuid, c.connection_id, c.chat)
            for c in commands
            if isinstance(c, RegisterConnection)
        ])


def _target(event: Event) -> Pair:
    """The (chat, client) a moderation event is about."""
    return (event.stream, event.payload["client"]["uuid"])


def _challenger_floors(state: LedgerState, refunded: list[Donation]) -> dict[str, Decimal]:
    """Per chat with a ranked refund in the batch: a total that nobody at or below it can pass
    while the batch runs, so only the donor_totals rows above it need loading.

    A sponsor's total falls only by a refund of its own donation (a new sponsor always has more
    than the one it replaces, a dethroned one's successor more than what it kept). So throughout
    the batch the sponsor holds at least its total now less the batch's refunds in that chat,
    and a challenger needs strictly more than what the sponsor keeps. With one refund of the
    sponsor's donation the floor is exactly what the sponsor keeps; a row that moves during the
    batch (a donor's, a refunded donor's) is loaded anyway.
    """
    cuts: dict[str, Decimal] = {}
    for donation in refunded:
        cuts[donation.model] = cuts.get(donation.model, ZERO) + donation.amount
    floors = {}
    for model, cut in cuts.items():
        sponsor = state.sponsors.get(model)
        held = state.donor_total(model, sponsor.uuid) if sponsor else ZERO
        floors[model] = held - cut
    return floors


def _unique_fresh(commands: Sequence[Command], already: set[str]) -> list[Command]:
    """Commands not yet applied, each once (a batch may hold a redelivered twin)."""
    seen = set(already)
    fresh = []
    for command in commands:
        if command.command_id not in seen:
            seen.add(command.command_id)
            fresh.append(command)
    return fresh
