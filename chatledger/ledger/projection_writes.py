"""The SQL of the projection tables a batch touched: goals, donor totals and days, sponsors,
chat settings, mutes, bans, refunds, deletions, connections and menus (`menu_rows.py`; holds
and shows: `show_writes.py`; pins and the toy: `extras_store.py`).

Runs inside the batch's transaction, after its events, with the chat's stream locked (so these
rows cannot change under it: `state_loader.py`). The rows themselves come from
`projection_rows.py`, the same builders `rebuild` and `audit` use.
"""

from typing import Any

from chatledger.domain import events as ev
from chatledger.domain.commands import Command, RegisterConnection
from chatledger.domain.events import Event
from chatledger.domain.state import LedgerState, Pair
from chatledger.ledger import connections
from chatledger.ledger import projection_rows as rows
from chatledger.ledger.event_rows import placeholders
from chatledger.ledger.extras_store import write_extras
from chatledger.ledger.menu_rows import write_menus
from chatledger.ledger.show_writes import write_shows

_GOAL_MOVES = frozenset({ev.DONATE, ev.NEW_GOAL, ev.DONATE_REFUNDED, ev.GOAL_STARTED})


class ProjectionWriter:
    def __init__(self, cur: Any, state: LedgerState, entity_ids: dict[str, int]) -> None:
        self.cur = cur
        self.state = state
        self.entity_ids = entity_ids

    async def write(self, events: list[Event], commands: list[Command]) -> None:
        await self._goals(events)
        await self._donors_and_sponsors(events)
        await self._donor_days()
        await self._chat_rules(events)
        await self._refunds_and_deletions(events)
        await self._connections(commands)
        await write_menus(self.cur, self.state, events)
        await write_shows(self._upsert, self.cur, self.state, events)
        await write_extras(self._upsert, self.state, events)

    async def _goals(self, events: list[Event]) -> None:
        touched = {
            e.stream for e in events if e.type in _GOAL_MOVES
        }
        goals = rows.goal_rows(self.state, touched)
        if not goals:
            return
        await self._upsert(
            "goals (uuid, user_id, model_uuid, name, sum, require_sum, is_active, is_queued,"
            " queue_seq)",
            [
                (goal_id, self.entity_ids.get(row.model_uuid, 0), row.model_uuid, row.name,
                 row.sum, row.require_sum, row.is_active, row.is_queued, row.queue_seq)
                for goal_id, row in goals.items()
            ],
            "sum = VALUES(sum), is_active = VALUES(is_active), is_queued = VALUES(is_queued)",
        )

    async def _donors_and_sponsors(self, events: list[Event]) -> None:
        ranked = {  # a refund's actor is the donor whose total it lowers
            (e.stream, e.actor.uuid)
            for e in events
            if e.type in (ev.DONATE, ev.DONATE_REFUNDED) and e.actor and ranks(e)
        }
        totals = rows.donor_total_rows(self.state)
        await self._upsert(
            "donor_totals (model_uuid, client_uuid, total)",
            [(*pair, totals[pair]) for pair in sorted(ranked)], "total = VALUES(total)",
        )
        changes = [e for e in events if e.type == ev.CHANGE_SPONSOR]
        if changes:
            await self._sponsors(changes)

    async def _sponsors(self, changes: list[Event]) -> None:
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
                for row in (rows.sponsor_row(e),)
            ],
        )
        models = {e.stream for e in changes}
        current = {m: s for m, s in rows.current_sponsor_rows(self.state).items() if m in models}
        await self._upsert(
            "current_sponsors (model_uuid, client_uuid, client_name)",
            [(model, *sponsor) for model, sponsor in current.items()],
            "client_uuid = VALUES(client_uuid), client_name = VALUES(client_name)",
        )

    async def _donor_days(self) -> None:
        # The batch's state folded its donations and refunds into an empty map: changes, added.
        days = rows.donor_day_rows(self.state)
        await self._upsert(
            "donor_days (model_uuid, day, client_uuid, total)",
            [(*key, change) for key, change in sorted(days.items())],
            "total = total + VALUES(total)",
        )

    async def _chat_rules(self, events: list[Event]) -> None:
        """chat_settings, chat_mutes and chat_bans rows of what the batch's events changed."""
        settings = rows.setting_rows(self.state)
        changed = sorted({e.stream for e in events if e.type == ev.SETTINGS_CHANGED})
        await self._upsert(
            "chat_settings (model_uuid, min_donation)",
            [(model, settings[model]) for model in changed], "min_donation = VALUES(min_donation)",
        )
        mutes = rows.mute_rows(self.state)
        muted = sorted({_target(e) for e in events if e.type == ev.VIEWER_MUTED})
        await self._upsert(
            "chat_mutes (model_uuid, client_uuid, muted_until)",
            [(*pair, mutes[pair]) for pair in muted], "muted_until = VALUES(muted_until)",
        )
        await self._bans(events)

    async def _bans(self, events: list[Event]) -> None:
        bans = rows.ban_rows(self.state)
        touched = {_target(e) for e in events if e.type in (ev.VIEWER_BANNED, ev.VIEWER_UNBANNED)}
        banned = sorted(pair for pair in touched if pair in bans)
        lifted = sorted(pair for pair in touched if pair not in bans)
        if banned:
            await self.cur.execute(
                f"INSERT IGNORE INTO chat_bans (model_uuid, client_uuid)"
                f" VALUES {placeholders(len(banned), 2)}",
                [v for pair in banned for v in pair],
            )
        if lifted:
            await self.cur.execute(
                "DELETE FROM chat_bans WHERE (model_uuid, client_uuid)"
                f" IN ({placeholders(len(lifted), 2)})",
                [v for pair in lifted for v in pair],
            )

    async def _refunds_and_deletions(self, events: list[Event]) -> None:
        # Plain INSERTs: a second row for the same donation or message is a duplicate key, which
        # rolls the batch back (the primary keys hold "at most once" whatever the decider said).
        refunds = rows.refund_rows(
            self.state, [e.payload["donation_id"] for e in events if e.type == ev.DONATE_REFUNDED]
        )
        deletions = rows.deletion_rows(
            self.state, [e.payload["message_id"] for e in events if e.type == ev.MESSAGE_DELETED]
        )
        for table, key, column, found in (
            ("refunds", "donation_id", "refund_id", refunds),
            ("deleted_messages", "message_id", "deletion_id", deletions),
        ):
            if found:
                await self.cur.execute(
                    f"INSERT INTO {table} ({key}, model_uuid, {column})"
                    f" VALUES {placeholders(len(found), 3)}",
                    [v for k, row in found.items()
                     for v in (k, row.model_uuid, getattr(row, column))],
                )

    async def _upsert(self, into: str, values: list[tuple[Any, ...]], update: str) -> None:
        """One INSERT ... ON DUPLICATE KEY UPDATE of these rows (none: no statement)."""
        if values:
            await self.cur.execute(
                f"INSERT INTO {into} VALUES {placeholders(len(values), len(values[0]))}"
                f" ON DUPLICATE KEY UPDATE {update}",
                [value for row in values for value in row],
            )

    async def _connections(self, commands: list[Command]) -> None:
        await connections.upsert(self.cur, [
            connections.row(c.actor.role, c.actor.uuid, c.connection_id, c.chat)
            for c in commands
            if isinstance(c, RegisterConnection)
        ])


def ranks(event: Event) -> bool:
    """A donation or refund that moves its donor's totals: `Donation.ranked`, as its events
    carry it (a private tip's refund is private too)."""
    return event.is_public and not event.payload.get(ev.ANONYMOUS)


def _target(event: Event) -> Pair:
    """The (chat, client) a moderation event is about."""
    return (event.stream, event.payload["client"]["uuid"])
