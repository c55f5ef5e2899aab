"""The one reader of the decider's state from MySQL: whoever asks the decider over rows reads
them here (the ledger's batch, `refund`'s pre-check, the API's deletion check, the rules seed).

What it reads, and why each read is current for the ledger (READ COMMITTED, the chat's stream
locked FOR UPDATE first by the batch, `batch.py`):
- every projection row of a chat (goals, sponsors, donor totals, settings, mutes, bans, refunds,
  deletions, menus): only batches holding that chat's stream lock write them (and `rebuild`'s swap,
  which locks every stream), so once the stream is locked they cannot change under the batch;
- the holds and shows of the chats and the open holds of the clients locked: `show_loader.py`;
- the chats' pin tiers, toy levels, pins and toy turns not over: `extras_store.py`;
- the accounts whose money may move, locked FOR UPDATE in uuid order after the streams
  (`lock=True`). A refund moves its donor's money, and the donor is known only from the
  donation: it is found by a plain read of the donation's row before the accounts are locked
  (event rows never change);
- immutable facts read plainly: event rows (donations, messages), accounts.kind, names and ids
  (the ledger's people remembered once read: `known_people.py`).
Read-only callers (`lock=False`) get the same state without the locks: the ledger decides again.
"""

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC
from decimal import Decimal
from typing import Any, Final, TypeVar

from chatledger.domain import commands as cmd
from chatledger.domain import events as ev
from chatledger.domain.commands import Refund
from chatledger.domain.events import Event
from chatledger.domain.state import (
    LedgerState,
    Pair,
    donation_of,
    message_of,
)
from chatledger.ledger import show_loader
from chatledger.ledger.event_rows import EVENT_COLUMNS, pairs_in, placeholders, row_to_event
from chatledger.ledger.known_people import KnownPeople
from chatledger.ledger.read_trips import ReadTrip

MODERATION: Final = (cmd.MuteViewer, cmd.BanViewer, cmd.UnbanViewer)
SPEECH: Final = (cmd.PostMessage, cmd.Donate)
T = TypeVar("T")


class StateLoader:
    """Folds rows into `state` (and `entity_ids`: the brief's user_id/client_id columns)."""

    def __init__(self, cur: Any, state: LedgerState | None = None,
                 quiet: show_loader.QuietChats | None = None,
                 known: KnownPeople | None = None) -> None:
        self.cur = cur
        self.state = LedgerState() if state is None else state
        self.entity_ids: dict[str, int] = {}
        self.quiet = quiet  # the ledger's: chats known to have no show state (show_loader.py)
        self.known = known  # the ledger's: people read before (known_people.py)

    async def donations(self, refunds: Iterable[Refund]) -> None:
        """The donations these refunds name, each only in the refund's own chat, as `evolve`
        left them (refund_id from `refunds`: current once the chat's stream is locked)."""
        wanted = {(refund.donation_id, refund.chat) for refund in refunds}
        trip = ReadTrip()
        self._plan_events_in_chats(
            trip, wanted, ev.DONATE, "refunds", "donation_id", "refund_id",
            self.state.donations, donation_of)
        await trip.send(self.cur)

    async def messages(self, deletions: Iterable[cmd.DeleteMessage]) -> None:
        """The messages these deletions name, each only in the deletion's own chat."""
        trip = ReadTrip()
        self.plan_messages(trip, deletions)
        await trip.send(self.cur)

    def plan_messages(self, trip: ReadTrip, deletions: Iterable[cmd.DeleteMessage]) -> None:
        wanted = {(deletion.message_id, deletion.chat) for deletion in deletions}
        self._plan_events_in_chats(
            trip, wanted, ev.MESSAGE, "deleted_messages", "message_id", "deletion_id",
            self.state.messages, message_of)

    async def accounts(self, owners: list[str], *, lock: bool) -> None:
        """Balances and kinds; `lock`: FOR UPDATE, in uuid order (the batch's lock order)."""
        trip = ReadTrip()
        self.plan_accounts(trip, owners, lock=lock)
        await trip.send(self.cur)

    def plan_accounts(self, trip: ReadTrip, owners: list[str], *, lock: bool) -> None:
        """Packed (`ReadTrip.add_packed`: ~400 accounts in a batch of 500 messages and tips).
        The same WHERE, so the same plan, rows and locks as the plain read's ORDER BY: a range
        of the owner index, in its order, or (~400 owners here) a scan of the table for both."""
        if not owners:
            return
        marks, locking = placeholders(len(owners)), " FOR UPDATE" if lock else ""
        trip.add_packed(
            ("owner_uuid", "balance", "kind"),
            f"FROM accounts WHERE owner_uuid IN ({marks}){locking}", sorted(owners),
            self._fold_accounts,
            "SELECT owner_uuid, balance, kind FROM accounts"
            f" WHERE owner_uuid IN ({marks}) ORDER BY owner_uuid{locking}",
        )

    def _fold_accounts(self, rows: Iterable[Sequence[Any]]) -> None:
        for owner, balance, kind in rows:
            self.state.balances[owner] = Decimal(balance)  # its text, when packed
            self.state.kinds[owner] = kind

    async def chat_rules(self, models: list[str] | None, pairs: list[Pair] | None) -> None:
        """Minimum tips of the chats, and the bans and mutes of these (chat, client) pairs, in
        one round trip. None for both: every chat's rules, expired mutes left out (the seed)."""
        trip = ReadTrip()
        trip.add(*rules_query(models, pairs), self.fold_rules)
        await trip.send(self.cur)

    def fold_rules(self, rows: Iterable[Sequence[Any]]) -> None:
        state = self.state
        for rule, model, client, until, minimum in rows:
            if rule == "min":
                state.min_donations[model] = Decimal(minimum)
            elif rule == "ban":
                state.bans.add((model, client))
            else:
                state.mutes[(model, client)] = until.replace(tzinfo=UTC)

    async def versions_of_rule_chats(self) -> None:
        """The stream versions of every chat with a rule row (the seed says which events its
        rows hold already)."""
        await self.cur.execute(
            "SELECT stream, version FROM streams WHERE stream IN ("
            " SELECT model_uuid FROM chat_settings UNION SELECT model_uuid FROM chat_mutes"
            " UNION SELECT model_uuid FROM chat_bans UNION SELECT model_uuid FROM chat_menus)"
        )
        self.state.versions.update(
            (stream, int(version)) for stream, version in await self.cur.fetchall()
        )

    def _plan_events_in_chats(
        self, trip: ReadTrip, wanted: set[tuple[str, str]], type_: str, table: str, key: str,
        column: str, into: dict[str, T], of: Callable[[Event, str | None], T],
    ) -> None:
        """Events of `type_` by (event_id, chat), each put `into` by event id as `of` makes it
        from the event and `column` of its `table` row, if any."""
        if not wanted:
            return
        ids = sorted({event_id for event_id, _ in wanted})

        def fold(rows: Iterable[Sequence[Any]]) -> None:
            for *row, mark in rows:
                event = row_to_event(row)
                if (event.event_id, event.stream) in wanted:
                    into[event.event_id] = of(event, mark)

        trip.add(
            f"SELECT {EVENT_COLUMNS}, t.{column} FROM chat_events"
            f" LEFT JOIN {table} t ON t.{key} = event_id"
            f" WHERE event_id IN ({placeholders(len(ids))}) AND type = %s",
            [*ids, type_], fold,
        )


def rules_query(models: list[str] | None, pairs: list[Pair] | None) -> tuple[str, list[Any]]:
    """`chat_rules`' one statement and its values."""
    pair_values: list[str] = []
    if models is None:
        where_models, where_pairs = "TRUE", "TRUE"
        mute_alive, values = " AND muted_until > UTC_TIMESTAMP(6)", []
    else:
        where_models = f"model_uuid IN ({placeholders(len(models))})"
        where_pairs, pair_values = pairs_in(pairs or ())
        mute_alive, values = "", list(models)
    sql = ("SELECT 'min', model_uuid, NULL, NULL, min_donation FROM chat_settings"
           f" WHERE {where_models}")
    if pairs is None or pairs:
        sql += (
            " UNION ALL SELECT 'ban', model_uuid, client_uuid, NULL, NULL FROM chat_bans"
            f" WHERE {where_pairs} UNION ALL SELECT 'mute', model_uuid, client_uuid,"
            f" muted_until, NULL FROM chat_mutes WHERE {where_pairs}{mute_alive}"
        )
        values += pair_values + pair_values
    return sql, values
