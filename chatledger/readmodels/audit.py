"""The audit: replay `chat_events` and check every rule and every live projection against it.

Pure: `Auditor.fold` takes events in `chat_events.id` order, `Auditor.finish` takes the live
projection tables as plain data (`Live`), and the result is an `AuditReport` whose findings name
the exact rows at fault (`audit_report.py`). Reading MySQL (in one consistent snapshot) is
`snapshot.py`.

Why id order is a valid history for the "never negative" check: the ledger locks an account's row
before it inserts the events that move its money, so two batches that touch the same account
insert (and get their auto-increment ids) one after the other's commit.

Every invariant the audit checks is listed in this file, but those of holds and shows
(`show_audit.py`) and of goals and their queue (`goal_audit.py`).
"""

from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from chatledger.domain import events as ev
from chatledger.domain.events import Event
from chatledger.domain.menu import purchase_problem
from chatledger.domain.state import ZERO
from chatledger.domain.wire import money
from chatledger.ledger.menu_rows import menu_rows
from chatledger.ledger.projection_rows import (
    GoalRow,
    balance_rows,
    ban_rows,
    current_sponsor_rows,
    deletion_rows,
    donor_day_rows,
    donor_total_rows,
    goal_rows,
    mute_rows,
    refund_rows,
    setting_rows,
)
from chatledger.readmodels import extras_audit, show_audit
from chatledger.readmodels.audit_report import (
    AuditReport,
    Finding,
    Live,
    difference,
    key_text,
    render,
)
from chatledger.readmodels.goal_audit import GoalAudit
from chatledger.readmodels.replay import Replay, sponsor_rows

__all__ = ["AuditReport", "Auditor", "Finding", "Live", "render"]


class Auditor:
    """Folds events with the ledger's fold, checking on the way what only history can show."""

    def __init__(self, kinds: Mapping[str, str]) -> None:
        self.kinds = kinds
        self.replay = Replay()
        self.findings: list[Finding] = []
        self.by_type: Counter[str] = Counter()
        self.deposits = ZERO
        self.payouts = ZERO
        self.donations = 0
        self.donated = ZERO
        self.refunds = 0
        self.refunded = ZERO
        self.last_seq: dict[str, int] = {}
        self.went_negative: set[str] = set()
        self.goals = GoalAudit(self._fail)

    def _fail(self, check: str, row: str, detail: str) -> None:
        self.findings.append(Finding(check, row, detail))

    def fold(self, event: Event, position: int) -> None:
        where = f"chat_events.id={position}"
        self._check_seq(event, where)
        self.by_type[event.type] += 1
        if event.type in (ev.DEPOSITED, ev.PAID_OUT):
            self._check_money_event(event, where)
        elif event.type == ev.DONATE:
            self._check_donation(event, where)
        elif event.type == ev.DONATE_REFUNDED:
            self._check_refund(event, where)
        elif event.type == ev.MESSAGE_DELETED:
            self._check_deletion(event, where)
        if event.type == ev.DONATE and event.payload.get("menu_item"):
            problem = purchase_problem(self.replay.state, event)
            if problem is not None:
                self._fail("menu_purchase", where, problem)
        show_audit.check_before(self.replay.state, event, where, self._fail)
        self.goals.before(self.replay.state, event, where)
        extras_audit.check_before(self.replay.state, event, where, self._fail)
        self.replay.fold(event, position)
        self.goals.after(event, where)
        show_audit.check_after(self.replay.state, event, where, self._fail)
        extras_audit.check_after(self.replay.state, event, where, self._fail)
        if event.type == ev.DONATE and event.actor is not None:
            self._check_not_negative(event.actor.uuid, where)
        elif event.type in (ev.PAID_OUT, ev.DONATE_REFUNDED):
            self._check_not_negative(event.stream, where)

    def _check_seq(self, event: Event, where: str) -> None:
        expected = self.last_seq.get(event.stream, 0) + 1
        if event.seq != expected:
            self._fail(
                "seq", where, f"stream {event.stream} has seq {event.seq}, expected {expected}"
            )
        self.last_seq[event.stream] = max(event.seq, self.last_seq.get(event.stream, 0))

    def _check_money_event(self, event: Event, where: str) -> None:
        amount = event.amount
        if amount is None or amount <= ZERO:
            self._fail("money", where, f"{event.type} of {amount} is not a positive amount")
            return
        if event.stream not in self.kinds:
            self._fail("money", where, f"{event.type} to {event.stream}, which has no account")
        if event.type == ev.DEPOSITED:
            self.deposits += amount
        else:
            self.payouts += amount

    def _check_donation(self, event: Event, where: str) -> None:
        amount, actor = event.amount, event.actor
        problems = []
        if amount is None or amount <= ZERO:
            problems.append(f"amount {amount} is not positive")
        if actor is None or actor.role != "client" or self.kinds.get(actor.uuid) != "client":
            donor = actor.uuid if actor else None
            problems.append(f"donor {donor} is not a client's account")
        if self.kinds.get(event.stream) != "model":
            problems.append(f"stream {event.stream} is not a model's account")
        for problem in problems:
            self._fail("donation", where, problem)
        if not problems and amount is not None:
            self.donations += 1
            self.donated += amount

    def _check_refund(self, event: Event, where: str) -> None:
        """Once, whole, from the model back to the donor, of a donation of this very stream.

        The fold moves a refund's money by the donation it names, so a refund of no donation
        moves none, and balances and conservation are checked on what the fold did."""
        donation_id = event.payload.get("donation_id")
        donation = self.replay.state.donations.get(donation_id or "")
        if donation is None or donation.model != event.stream:
            self._fail("refund", where, f"refunds {donation_id}, not a donation of this chat")
            return
        problems = []
        if donation.refund_id is not None:
            problems.append(f"{donation_id} was refunded already by {donation.refund_id}")
        if event.amount != donation.amount:
            problems.append(f"refunds {event.amount} of a donation of {money(donation.amount)}")
        if event.actor is None or event.actor.uuid != donation.donor.uuid:
            donor = event.actor.uuid if event.actor else None
            problems.append(f"pays back {donor}, the donation was {donation.donor.uuid}'s")
        if bool(event.payload.get(ev.ANONYMOUS)) != donation.anonymous:
            problems.append(f"anonymous={not donation.anonymous}, the donation's is the opposite")
        for problem in problems:
            self._fail("refund", where, problem)
        if not problems:
            self.refunds += 1
            self.refunded += donation.amount

    def _check_deletion(self, event: Event, where: str) -> None:
        message_id = event.payload.get("message_id")
        message = self.replay.state.messages.get(message_id or "")
        if message is None or message.model != event.stream:
            self._fail("deletion", where, f"deletes {message_id}, not a message of this chat")
        elif message.deletion_id is not None:
            self._fail("deletion", where, f"{message_id} was deleted already")

    def _check_not_negative(self, owner: str, where: str) -> None:
        balance = self.replay.state.balances.get(owner, ZERO)
        if balance < ZERO and owner not in self.went_negative:
            self.went_negative.add(owner)  # once per account: the first time says it all
            self._fail("negative_balance", where, f"balance of {owner} fell to {money(balance)}")

    def finish(self, live: Live) -> AuditReport:
        self._check_versions(live.versions)
        self._check_balances(live)
        self._check_goals(live.goals)
        self._compare("donor_total", "donor_totals.model_uuid,client_uuid",
                      donor_total_rows(self.replay.state), live.donor_totals)
        self._check_sponsors(live)
        self._check_day_one(live)
        self._check_shows(live)
        by_kind = Counter(kind for kind, _ in live.accounts.values())
        return AuditReport(
            findings=self.findings,
            events=self.replay.count,
            position=self.replay.position,
            events_by_type=dict(sorted(self.by_type.items())),
            accounts_by_kind=dict(sorted(by_kind.items())),
            deposits=self.deposits,
            payouts=self.payouts,
            balances=sum((balance for _, balance in live.accounts.values()), ZERO),
            donations=self.donations,
            donated=self.donated,
            refunds=self.refunds,
            refunded=self.refunded,
            streams=len(live.versions),
        )

    def _check_versions(self, versions: Mapping[str, int]) -> None:
        for stream in sorted(versions.keys() | self.last_seq.keys()):
            version, last = versions.get(stream), self.last_seq.get(stream, 0)
            if version != last:
                self._fail(
                    "stream_version",
                    f"streams.stream={stream}",
                    f"version {version}, max seq {last}",
                )

    def _check_balances(self, live: Live) -> None:
        replayed = balance_rows(self.replay.state)
        for owner in sorted(replayed.keys() - live.accounts.keys()):
            self._fail("balance", f"accounts.owner_uuid={owner}", "events move money of no account")
        for owner, (_, balance) in sorted(live.accounts.items()):
            expected = replayed.get(owner, ZERO)
            if balance != expected:
                self._fail(
                    "balance",
                    f"accounts.owner_uuid={owner}",
                    f"balance {money(balance)}, replay says {money(expected)}",
                )
        total = sum((balance for _, balance in live.accounts.values()), ZERO)
        if total != self.deposits - self.payouts:
            self._fail(
                "conservation",
                "accounts (all rows)",
                f"balances sum to {money(total)}, deposits - payouts = {money(self.deposits)}"
                f" - {money(self.payouts)} = {money(self.deposits - self.payouts)}",
            )

    def _check_goals(self, live_goals: Mapping[str, GoalRow]) -> None:
        replayed = goal_rows(self.replay.state)
        self.goals.finish(self.replay.state, replayed)
        self._compare("goal", "goals.uuid", replayed, live_goals)

    def _check_sponsors(self, live: Live) -> None:
        replayed = current_sponsor_rows(self.replay.state)
        totals = donor_total_rows(self.replay.state)
        top: dict[str, tuple[Decimal, str]] = {}
        for (model, client), total in totals.items():
            if model not in top or total > top[model][0]:
                top[model] = (total, client)
        for model, (best, client) in sorted(top.items()):
            sponsor = replayed.get(model)
            held = totals.get((model, sponsor[0]), ZERO) if sponsor else ZERO
            if sponsor is None or best > held:
                self._fail(
                    "sponsor_rule",
                    f"current_sponsors.model_uuid={model}",
                    f"donor {client} gave {money(best)}, more than sponsor "
                    f"{sponsor[0] if sponsor else None} with {money(held)}",
                )
        self._compare("sponsor", "current_sponsors.model_uuid", replayed, live.current_sponsors)
        self._compare("sponsor_row", "sponsors.event_id", sponsor_rows(self.replay), live.sponsors)

    def _check_day_one(self, live: Live) -> None:
        """DESIGN §9's tables: each equal to the fold, row by row."""
        state = self.replay.state
        for check, row, replayed, have in (
            ("donor_day", "donor_days.model_uuid,day,client_uuid", donor_day_rows(state),
             live.donor_days),
            ("setting", "chat_settings.model_uuid", setting_rows(state), live.chat_settings),
            ("mute", "chat_mutes.model_uuid,client_uuid", mute_rows(state), live.chat_mutes),
            ("ban", "chat_bans.model_uuid,client_uuid", ban_rows(state), live.chat_bans),
            ("refund_row", "refunds.donation_id", refund_rows(state), live.refunds),
            ("deletion_row", "deleted_messages.message_id", deletion_rows(state),
             live.deleted_messages),
            ("menu", "chat_menus.model_uuid", menu_rows(state), live.chat_menus),
        ):
            self._compare(check, row, replayed, have)

    def _check_shows(self, live: Live) -> None:
        """§10: money on hold conserved, the hold and show tables (and §11's) equal the fold."""
        state = self.replay.state
        show_audit.conservation(state, self.deposits, self.payouts, self._fail)
        tables = {**show_audit.replay_tables(state), **extras_audit.replay_tables(state)}
        for table, replayed in tables.items():
            self._compare(table, f"{table}.id", replayed, live.show_tables.get(table, {}))

    def _compare(
        self, check: str, row: str, replayed: Mapping[Any, Any], live: Mapping[Any, Any]
    ) -> None:
        """A live table equals the replay: same keys, same values; names each differing row.

        `row` is "table.key_columns": the finding names the row as "table.key_columns=key".
        """
        for key in sorted(replayed.keys() | live.keys()):
            want, have = replayed.get(key), live.get(key)
            if want != have:
                self._fail(check, f"{row}={key_text(key)}", difference(have, want))
