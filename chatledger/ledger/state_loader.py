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

from collections.abc import Iterable, Sequence
from datetime import UTC
from decimal import Decimal
from typing import Any, Final

from chatledger.domain import commands as cmd
from chatledger.domain import events as ev
from chatledger.domain.commands import ChatCommand, Command, Refund
from chatledger.domain.events import Event
from chatledger.domain.state import (
    ZERO,
    Donation,
    Goal,
    LedgerState,
    Pair,
    Sponsor,
    donation_of,
    message_of,
)
from chatledger.ledger import extras_store, show_loader
from chatledger.ledger.event_rows import EVENT_COLUMNS, pairs_in, placeholders, row_to_event
from chatledger.ledger.known_people import Known, KnownPeople
from chatledger.ledger.menu_rows import load_menus, menu_chats

MODERATION: Final = (cmd.MuteViewer, cmd.BanViewer, cmd.UnbanViewer)
SPEECH: Final = (cmd.PostMessage, cmd.Donate)


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

    async def for_batch(self, commands: list[Command]) -> None:
        """Exactly what the decider reads for these commands, accounts locked."""
        state = self.state
        await self.donations([c for c in commands if isinstance(c, Refund)])  # before the locks
        shows = show_loader.show_chats(commands)
        unknown = shows if self.quiet is None else self.quiet.unknown(state, shows)
        await show_loader.chat_shows(self.cur, state, unknown)  # before the locks too
        owners = sorted(_owners(commands, state.donations) | show_loader.owners(state, shows))
        await self.accounts(owners, lock=True)
        if show_loader.spends(commands):
            clients = [owner for owner in owners if state.kinds.get(owner) == "client"]
            await show_loader.open_holds_of(self.cur, state, clients)
        await extras_store.load_for_batch(self.cur, state, commands)
        chat_commands: list[ChatCommand | Refund | cmd.Tick] = [
            c for c in commands if not isinstance(c, cmd.Deposit | cmd.Payout)
        ]
        if chat_commands:
            await self._chat_state(chat_commands)
        targets = {c.client for c in chat_commands if isinstance(c, MODERATION)}
        candidates = {client for _, client in state.donor_totals}
        await self._people(set(owners) | targets | candidates)

    async def donations(self, refunds: Iterable[Refund]) -> None:
        """The donations these refunds name, each only in the refund's own chat, as `evolve`
        left them (refund_id from `refunds`: current once the chat's stream is locked)."""
        wanted = {(refund.donation_id, refund.chat) for refund in refunds}
        found = await self._events_in_chats(wanted, ev.DONATE, "refunds", "donation_id",
                                            "refund_id")
        self.state.donations.update(
            (event.event_id, donation_of(event, refund_id)) for event, refund_id in found
        )

    async def messages(self, deletions: Iterable[cmd.DeleteMessage]) -> None:
        """The messages these deletions name, each only in the deletion's own chat."""
        wanted = {(deletion.message_id, deletion.chat) for deletion in deletions}
        found = await self._events_in_chats(wanted, ev.MESSAGE, "deleted_messages",
                                            "message_id", "deletion_id")
        self.state.messages.update(
            (event.event_id, message_of(event, deletion_id)) for event, deletion_id in found
        )

    async def accounts(self, owners: list[str], *, lock: bool) -> None:
        """Balances and kinds; `lock`: FOR UPDATE, in uuid order (the batch's lock order)."""
        if not owners:
            return
        await self.cur.execute(
            "SELECT owner_uuid, balance, kind FROM accounts"
            f" WHERE owner_uuid IN ({placeholders(len(owners))}) ORDER BY owner_uuid"
            + (" FOR UPDATE" if lock else ""),
            sorted(owners),
        )
        for owner, balance, kind in await self.cur.fetchall():
            self.state.balances[owner] = balance
            self.state.kinds[owner] = kind

    async def chat_rules(self, models: list[str] | None, pairs: list[Pair] | None) -> None:
        """Minimum tips of the chats, and the bans and mutes of these (chat, client) pairs, in
        one round trip. None for both: every chat's rules, expired mutes left out (the seed)."""
        await self.cur.execute(*_rules_query(models, pairs))
        self._fold_rules(await self.cur.fetchall())

    def _fold_rules(self, rows: Iterable[Sequence[Any]]) -> None:
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

    async def _chat_state(self, commands: Sequence[ChatCommand | Refund | cmd.Tick]) -> None:
        models = sorted({command.chat for command in commands})
        marks = placeholders(len(models))
        pairs = sorted(
            {(c.chat, c.actor.uuid) for c in commands if isinstance(c, SPEECH)}
            | {(c.chat, c.client) for c in commands if isinstance(c, MODERATION)}
        )
        rules, rule_values = _rules_query(models, pairs)
        # Three reads in one round trip (aiomysql enables multi-statements): active goals, then
        # the queue in its order (DESIGN §11); the sponsors; the rules.
        await self.cur.execute(
            "SELECT uuid, model_uuid, name, require_sum, sum, is_queued, queue_seq FROM goals"
            f" WHERE model_uuid IN ({marks}) AND (is_active OR is_queued)"
            " ORDER BY is_queued, queue_seq, id;"
            " SELECT model_uuid, client_uuid, client_name FROM current_sponsors"
            f" WHERE model_uuid IN ({marks}); {rules}",
            models + models + rule_values,
        )
        for goal_id, model, name, require_sum, sum_, queued, place in await self.cur.fetchall():
            goal = Goal(goal_id, model, name, require_sum, sum_,
                        queue_seq=None if place is None else int(place))
            goals = self.state.queued_goals if queued else self.state.goals
            goals.setdefault(model, []).append(goal)
        await self.cur.nextset()
        for model, client, name in await self.cur.fetchall():
            self.state.sponsors[model] = Sponsor(client, name)
        await self.cur.nextset()
        self._fold_rules(await self.cur.fetchall())
        await self._donor_totals(commands)
        await self.messages([c for c in commands if isinstance(c, cmd.DeleteMessage)])
        await load_menus(self.cur, self.state, menu_chats(commands))

    async def _donor_totals(self, commands: Sequence[ChatCommand | Refund | cmd.Tick]) -> None:
        """The totals the batch moves or compares: its donors', the sponsors' of the chats it
        tips or refunds in (only a tip or a refund compares a total with the sponsor's), and for
        a refund everyone who could take the sponsor's place (see `_challenger_floors`)."""
        state = self.state
        refunded = [
            d for c in commands if isinstance(c, Refund)
            for d in (state.donations.get(c.donation_id),) if d is not None and d.ranked
        ]
        pairs = {(c.chat, c.actor.uuid) for c in commands if isinstance(c, cmd.Donate)}
        money = {c.chat for c in commands if isinstance(c, cmd.Donate | Refund)}
        pairs |= {(model, sponsor.uuid) for model, sponsor in state.sponsors.items()
                  if model in money}
        pairs |= {(d.model, d.donor.uuid) for d in refunded}
        if pairs:
            await self._read_donor_totals(*pairs_in(sorted(pairs)))
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

    async def _people(self, people: set[str]) -> None:
        """Row ids, names and kinds: plain reads, of those not known already (`known`)."""
        known = self.known
        found = {uuid: person for uuid in people
                 if (person := known.get(uuid) if known is not None else None) is not None}
        uuids = sorted(people - found.keys())
        if uuids:
            marks = placeholders(len(uuids))
            await self.cur.execute(
                "SELECT p.uuid, p.id, p.name, a.kind FROM users p JOIN accounts a"
                f" ON a.id = p.account_id WHERE p.uuid IN ({marks}) UNION ALL"
                " SELECT p.uuid, p.id, p.name, a.kind FROM clients p JOIN accounts a"
                f" ON a.id = p.account_id WHERE p.uuid IN ({marks})",
                uuids + uuids,
            )
            for uuid, id_, name, kind in await self.cur.fetchall():
                found[uuid] = person = Known(int(id_), name, kind)
                if known is not None:
                    known.keep(uuid, person)
        state = self.state
        for uuid, person in found.items():
            self.entity_ids[uuid] = person.id
            state.kinds[uuid] = person.kind
            state.names[uuid] = person.name  # a client's names a sponsor, a model's its shows

    async def _events_in_chats(
        self, wanted: set[tuple[str, str]], type_: str, table: str, key: str, column: str
    ) -> list[tuple[Event, str | None]]:
        """Events of `type_` by (event_id, chat), each with `column` of its `table` row if any."""
        if not wanted:
            return []
        ids = sorted({event_id for event_id, _ in wanted})
        await self.cur.execute(
            f"SELECT {EVENT_COLUMNS}, t.{column} FROM chat_events"
            f" LEFT JOIN {table} t ON t.{key} = event_id"
            f" WHERE event_id IN ({placeholders(len(ids))}) AND type = %s",
            [*ids, type_],
        )
        found = []
        for *row, mark in await self.cur.fetchall():
            event = row_to_event(row)
            if (event.event_id, event.stream) in wanted:
                found.append((event, mark))
        return found


def _rules_query(models: list[str] | None, pairs: list[Pair] | None) -> tuple[str, list[Any]]:
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


def _owners(commands: Iterable[Command], donations: dict[str, Donation]) -> set[str]:
    """The accounts a batch locks: every one whose money it may move (or that must exist)."""
    owners: set[str] = set()
    for command in commands:
        if isinstance(command, cmd.Deposit | cmd.Payout):
            owners.add(command.account)
        elif isinstance(command, cmd.Tick):  # a tick's clients: show_loader.owners
            owners.add(command.chat)
        elif isinstance(command, Refund):
            owners.add(command.chat)
            donation = donations.get(command.donation_id)
            if donation is not None:
                owners.add(donation.donor.uuid)
        else:
            owners.update((command.chat, command.actor.uuid))
    return owners


def _challenger_floors(state: LedgerState, refunded: list[Donation]) -> dict[str, Decimal]:
    """Per chat with a ranked refund in the batch: a total that nobody at or below it can pass
    while the batch runs, so only the donor_totals rows above it need loading.

    A sponsor's total falls only by a refund of its own donation (a new sponsor always has more
    than the one it replaces, a dethroned one's successor more than what it kept). So throughout
    the batch the sponsor holds at least its total now less the batch's refunds in that chat,
    and a challenger needs strictly more than what the sponsor keeps.
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
