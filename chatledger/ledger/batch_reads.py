"""What the ledger's batch reads (`StateLoader.for_batch`), in as few round trips as the reads'
dependencies allow. Why each read is current: `state_loader.py`.

The trips, in order:
1. before the accounts are locked, only when needed: the donations the batch's refunds name
   (their donors' accounts are locked too) and the show state of chats not known quiet;
2. the accounts FOR UPDATE, then in the same trip everything that depends only on the commands:
   the chats' rules, goals and sponsors (only of chats with a tip, a refund or a new goal:
   nothing else decides over them), the deleted messages named, the donor totals (the sponsors'
   through a join on `current_sponsors`, read by the same trip), the open holds of the client
   accounts among those locked (`show_loader.py`), the chats' pin tiers, toy levels and pins
   (`extras_store.py`) and the people not known yet;
3. only when a command needs them: the toy turns (of chats with toy levels, known from trip 2)
   and the menus;
4. only for a ranked refund: the totals that could take the sponsor's place, then only if some
   are new: their people.
"""

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from chatledger.domain import commands as cmd
from chatledger.domain.commands import ChatCommand, Command, Refund
from chatledger.domain.state import ZERO, Donation, Goal, LedgerState, Pair, Sponsor
from chatledger.ledger import extras_store, show_loader
from chatledger.ledger.event_rows import pairs_in, placeholders
from chatledger.ledger.known_people import Known, KnownPeople
from chatledger.ledger.menu_rows import load_menus, menu_chats
from chatledger.ledger.read_trips import ReadTrip
from chatledger.ledger.rules_memory import RulesMemory, whole_query
from chatledger.ledger.state_loader import MODERATION, SPEECH, StateLoader, rules_query

ChatScoped = ChatCommand | Refund | cmd.Tick
_TOTALS = "SELECT model_uuid, client_uuid, total FROM donor_totals"
_TOTAL_COLUMNS = ("model_uuid", "client_uuid", "total")
# Made once, not per command (`A | B` in a call builds a union each time).
_ACCOUNT_COMMANDS = (cmd.Deposit, cmd.Payout)
# What reads no chat state (goals, sponsors, rules, totals, menus): an account's command, and a
# tick (a show's, a pin's, the toy's: its state is the show loader's and the extras').
_NO_CHAT_STATE = (*_ACCOUNT_COMMANDS, cmd.Tick)
_MOVES_TOTALS = (cmd.Donate, Refund)  # what moves a donor total, or compares one with a sponsor's
_MOVES_GOALS = (cmd.Donate, Refund, cmd.AddGoal)  # all that decides over goals or a sponsor


class BatchLoader(StateLoader):
    presumed: Sequence[str] = ()  # the chats whose show state `presume` took from memory
    rules_presumed: Sequence[str] = ()  # the chats whose rules `presume` took from memory
    _presuming = False

    def __init__(self, cur: Any, quiet: show_loader.QuietChats | None = None,
                 known: KnownPeople | None = None, rules: RulesMemory | None = None) -> None:
        super().__init__(cur, quiet=quiet, known=known)
        self.rules = rules  # the ledger's (rules_memory.py)
        # The chats whose rules are complete in the state (recalled or read whole), and when
        # their rows were read: what `RulesMemory.learn` may keep once the batch committed.
        self.rules_whole: dict[str, float] = {}

    async def for_batch(self, commands: list[Command]) -> None:
        """Exactly what the decider reads for these commands, accounts locked."""
        state = self.state
        await self.donations([c for c in commands if isinstance(c, Refund)])  # before the locks
        shows = show_loader.show_chats(commands)
        unknown = shows if self.quiet is None else self.quiet.unknown(state, shows)
        await show_loader.chat_shows(self.cur, state, unknown)  # before the locks too
        trip = ReadTrip()
        asked = self._plan_locked(trip, commands, shows)
        await trip.send(self.cur)
        await self.after_locked(commands, asked)

    def presume(self, trip: ReadTrip, commands: list[Command]) -> set[str] | None:
        """Plan into `trip`, after the lock of the streams in it, the reads `for_batch` sends
        once they are locked, when nothing needs reading before: no refund in the batch, and the
        show state of each of its show-aware chats remembered (`QuietChats`), presumed current
        until `confirmed` says so. None: not possible, `for_batch` it is. Else the people
        asked, for `after_locked`."""
        quiet = self.quiet
        if quiet is None or any(isinstance(c, Refund) for c in commands):
            return None
        shows = show_loader.show_chats(commands)
        if not quiet.remembers(shows):
            return None
        quiet.recall(self.state, shows)
        self.presumed = shows
        self._presuming = True
        try:
            return self._plan_locked(trip, commands, shows)
        finally:
            self._presuming = False

    def confirmed(self) -> bool:
        """After a `presume`d trip: whether what it presumed is what the locked streams say."""
        assert self.quiet is not None
        shows = self.quiet.confirm(self.state, self.presumed)
        rules = self.rules is None or self.rules.confirm(self.state, self.rules_presumed)
        return shows and rules

    def _plan_locked(self, trip: ReadTrip, commands: list[Command], shows: list[str]) -> set[str]:
        """The accounts FOR UPDATE, then the reads that depend only on the commands (`shows`:
        their show-aware chats)."""
        state = self.state
        in_shows = show_loader.owners(state, shows)
        owners = sorted(_owners(commands, state.donations) | in_shows)
        chat_commands = _chat_scoped(commands)
        targets = {c.client for c in chat_commands if isinstance(c, MODERATION)}
        self.plan_accounts(trip, owners, lock=True)  # first: the reads after it run locked
        if chat_commands:
            self._plan_chat_state(trip, chat_commands, self._refunded(chat_commands))
        spending = [c for c in commands if not isinstance(c, show_loader.SPENDS_NOTHING)]
        if spending:
            # The holds of those whose available balance the batch may read (show_loader
            # .spends): a message's author's are no concern of it, and most authors write.
            spenders = _owners(spending, state.donations) | in_shows
            show_loader.plan_open_holds(trip, state, sorted(spenders))
        extras_store.plan_for_batch(trip, state, commands)
        return self._plan_people(trip, set(owners) | targets)

    async def after_locked(self, commands: list[Command], asked: set[str]) -> None:
        """The reads that depend on what the locked trip read."""
        state = self.state
        chat_commands = _chat_scoped(commands)
        await extras_store.load_turns_for_batch(self.cur, state, commands)
        await load_menus(self.cur, state, menu_chats(chat_commands))
        floors = _challenger_floors(state, self._refunded(chat_commands))
        if floors:
            above = " OR ".join(["(model_uuid = %s AND total > %s)"] * len(floors))
            await self.cur.execute(f"{_TOTALS} WHERE {above}", [
                value for item in sorted(floors.items()) for value in item])
            self._fold_totals(await self.cur.fetchall())
        candidates = {client for _, client in state.donor_totals}
        trip = ReadTrip()
        self._plan_people(trip, candidates - asked)
        await trip.send(self.cur)

    def _refunded(self, commands: Iterable[ChatScoped]) -> list[Donation]:
        donations = self.state.donations
        return [d for c in commands if isinstance(c, Refund)
                for d in (donations.get(c.donation_id),) if d is not None and d.ranked]

    def _plan_chat_state(self, trip: ReadTrip, commands: Sequence[ChatScoped],
                         refunded: list[Donation]) -> None:
        models = sorted({command.chat for command in commands})
        pairs = sorted(
            {(c.chat, c.actor.uuid) for c in commands if isinstance(c, SPEECH)}
            | {(c.chat, c.client) for c in commands if isinstance(c, MODERATION)}
        )
        moving = sorted({c.chat for c in commands if isinstance(c, _MOVES_GOALS)})
        if moving:
            marks = placeholders(len(moving))
            # Active goals, then the queue in its order (DESIGN §11).
            trip.add(
                "SELECT uuid, model_uuid, name, require_sum, sum, is_queued, queue_seq FROM"
                f" goals WHERE model_uuid IN ({marks}) AND (is_active OR is_queued)"
                " ORDER BY is_queued, queue_seq, id",
                moving, self._fold_goals,
            )
            trip.add(
                "SELECT model_uuid, client_uuid, client_name FROM current_sponsors"
                f" WHERE model_uuid IN ({marks})", moving, self._fold_sponsors,
            )
        self._plan_rules(trip, models, pairs)
        self._plan_totals(trip, commands, refunded)
        self.plan_messages(trip, [c for c in commands if isinstance(c, cmd.DeleteMessage)])

    def _plan_rules(self, trip: ReadTrip, models: list[str], pairs: list[Pair]) -> None:
        """The chats' rules: those the ledger remembers at their versions recalled (at the
        version they will be locked at, when `presume`d: `confirmed` says), the others read
        whole; without a memory, those of the batch's pairs only."""
        memory = self.rules
        if memory is None:
            trip.add(*rules_query(models, pairs), self.fold_rules)
            return
        recalled = memory.usable(models, None if self._presuming else self.state.versions)
        memory.recall(self.state, recalled)
        if self._presuming:
            self.rules_presumed = recalled
        self.rules_whole = memory.read_at(recalled)
        unread = [model for model in models if model not in self.rules_whole]
        if unread:
            trip.add(*whole_query(unread), self.fold_rules)
            self.rules_whole.update(dict.fromkeys(unread, memory.monotonic()))

    def _plan_totals(self, trip: ReadTrip, commands: Sequence[ChatScoped],
                     refunded: list[Donation]) -> None:
        """The totals the batch moves or compares: its donors', the sponsors' of the chats it
        tips or refunds in (only a tip or a refund compares a total with the sponsor's), and
        for a refund everyone who could take the sponsor's place (`_challenger_floors`, later).
        """
        pairs = {(c.chat, c.actor.uuid) for c in commands if isinstance(c, cmd.Donate)}
        pairs |= {(d.model, d.donor.uuid) for d in refunded}
        money = sorted({c.chat for c in commands if isinstance(c, _MOVES_TOTALS)})
        parts: list[str] = []
        values: list[Any] = []
        if pairs:
            where, pair_values = pairs_in(sorted(pairs))
            values = [*pair_values]
            parts.append(f"{_TOTALS} WHERE {where}")
        if money:
            # The sponsors' rows, as read by this same trip's current_sponsors read.
            parts.append(
                "SELECT t.model_uuid, t.client_uuid, t.total FROM donor_totals t"
                " JOIN current_sponsors s ON s.model_uuid = t.model_uuid"
                f" AND s.client_uuid = t.client_uuid WHERE s.model_uuid IN"
                f" ({placeholders(len(money))})"
            )
            values = [*values, *money]
        if parts:  # a donor's total per tip (~100 in a batch of 500): packed
            plain = " UNION ALL ".join(parts)
            trip.add_packed(_TOTAL_COLUMNS, f"FROM ({plain}) t", values, self._fold_totals, plain)

    def _plan_people(self, trip: ReadTrip, people: set[str]) -> set[str]:
        """Row ids, names and kinds: plain reads, of those not known already (`known`); the
        known ones are put in the state at once. Returns the people asked or known."""
        known = self.known
        for uuid in people:
            person = known.get(uuid) if known is not None else None
            if person is not None:
                self._keep_person(uuid, person)
        uuids = sorted(people - self.entity_ids.keys())
        if uuids:
            marks = placeholders(len(uuids))
            trip.add(
                "SELECT p.uuid, p.id, p.name, a.kind FROM users p JOIN accounts a"
                f" ON a.id = p.account_id WHERE p.uuid IN ({marks}) UNION ALL"
                " SELECT p.uuid, p.id, p.name, a.kind FROM clients p JOIN accounts a"
                f" ON a.id = p.account_id WHERE p.uuid IN ({marks})",
                uuids + uuids, self._fold_people,
            )
        return people

    def _fold_people(self, rows: Iterable[Sequence[Any]]) -> None:
        for uuid, id_, name, kind in rows:
            person = Known(int(id_), name, kind)
            if self.known is not None:
                self.known.keep(uuid, person)
            self._keep_person(uuid, person)

    def _keep_person(self, uuid: str, person: Known) -> None:
        self.entity_ids[uuid] = person.id
        self.state.kinds[uuid] = person.kind
        self.state.names[uuid] = person.name  # a client's names a sponsor, a model's its shows

    def _fold_goals(self, rows: Iterable[Sequence[Any]]) -> None:
        for goal_id, model, name, require_sum, sum_, queued, place in rows:
            goal = Goal(goal_id, model, name, require_sum, sum_,
                        queue_seq=None if place is None else int(place))
            goals = self.state.queued_goals if queued else self.state.goals
            goals.setdefault(model, []).append(goal)

    def _fold_sponsors(self, rows: Iterable[Sequence[Any]]) -> None:
        for model, client, name in rows:
            self.state.sponsors[model] = Sponsor(client, name)

    def _fold_totals(self, rows: Iterable[Sequence[Any]]) -> None:
        for model, client, total in rows:
            self.state.donor_totals[(model, client)] = Decimal(total)  # its text, when packed


def _chat_scoped(commands: Iterable[Command]) -> list[ChatScoped]:
    """The commands whose chats' state (goals, sponsors, rules, totals, menus) is read."""
    return [c for c in commands if not isinstance(c, _NO_CHAT_STATE)]


def _owners(commands: Iterable[Command], donations: dict[str, Donation]) -> set[str]:
    """The accounts a batch locks: every one whose money it may move (or that must exist)."""
    owners: set[str] = set()
    for command in commands:
        if isinstance(command, _ACCOUNT_COMMANDS):
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
