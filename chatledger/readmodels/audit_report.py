"""What the audit reports: its findings, the live tables it compared, its summary and text.

`Live` is the live projection tables as plain data (read in one consistent snapshot by
`snapshot.py`); `AuditReport` is what `audit.Auditor.finish` concludes; `render` is the text the
CLI prints. `difference` names only the columns that differ, so a finding points at a row.
"""

from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from chatledger.domain.state import Pair
from chatledger.domain.wire import money
from chatledger.ledger.menu_rows import MenuRow
from chatledger.ledger.projection_rows import DayKey, DeletionRow, GoalRow, RefundRow, SponsorRow


@dataclass(frozen=True, slots=True)
class Finding:
    check: str  # which rule failed
    row: str  # the exact row: "table.key=value"
    detail: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.row}: {self.detail}"


@dataclass(slots=True)
class Live:
    """The live projection tables, as read from MySQL in the same snapshot as the events."""

    accounts: dict[str, tuple[str, Decimal]] = field(default_factory=dict)  # owner -> kind, balance
    goals: dict[str, GoalRow] = field(default_factory=dict)
    donor_totals: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    current_sponsors: dict[str, tuple[str, str]] = field(default_factory=dict)
    sponsors: dict[str, SponsorRow] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)  # streams.version
    donor_days: dict[DayKey, Decimal] = field(default_factory=dict)
    chat_settings: dict[str, Decimal] = field(default_factory=dict)
    chat_mutes: dict[Pair, datetime] = field(default_factory=dict)
    chat_bans: dict[Pair, str] = field(default_factory=dict)
    refunds: dict[str, RefundRow] = field(default_factory=dict)
    deleted_messages: dict[str, DeletionRow] = field(default_factory=dict)
    chat_menus: dict[str, MenuRow] = field(default_factory=dict)
    # show_audit.read_live's and extras_audit.read_live's (holds, shows; pins, the toy)
    show_tables: dict[str, dict[Any, Any]] = field(default_factory=dict)

    @property
    def kinds(self) -> dict[str, str]:
        return {owner: kind for owner, (kind, _) in self.accounts.items()}


@dataclass(slots=True)
class AuditReport:
    findings: list[Finding]
    events: int
    position: int
    events_by_type: dict[str, int]
    accounts_by_kind: dict[str, int]
    deposits: Decimal
    payouts: Decimal
    balances: Decimal
    donations: int
    donated: Decimal
    refunds: int
    refunded: Decimal
    streams: int

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "position": self.position,
            "events_by_type": self.events_by_type,
            "accounts_by_kind": self.accounts_by_kind,
            "money": {
                "deposits": money(self.deposits),
                "payouts": money(self.payouts),
                "balances": money(self.balances),
                "donations": self.donations,
                "donated": money(self.donated),
                "refunds": self.refunds,
                "refunded": money(self.refunded),
            },
            "streams": self.streams,
            "findings": [
                {"check": f.check, "row": f.row, "detail": f.detail} for f in self.findings
            ],
        }


def key_text(key: object) -> str:
    return ",".join(map(str, key)) if isinstance(key, tuple) else str(key)


def difference(have: object, want: object) -> str:
    """Only the columns that differ, when both sides are rows of the same shape."""
    if have is None:
        return f"missing, replay has {want}"
    if want is None:
        return f"{have} is not in the replay"
    if is_dataclass(have) and type(have) is type(want):
        return ", ".join(
            f"{column.name} {_show(getattr(have, column.name))},"
            f" replay {_show(getattr(want, column.name))}"
            for column in fields(have)
            if getattr(have, column.name) != getattr(want, column.name)
        )
    return f"live {_show(have)}, replay {_show(want)}"


def _show(value: object) -> object:
    return money(value) if isinstance(value, Decimal) else value


def render(report: AuditReport) -> str:
    """The human report: a summary always, then every finding."""
    lines = [
        f"audit {'OK' if report.ok else 'FAILED'}: {report.events} events"
        f" (up to chat_events.id {report.position}), {report.streams} streams",
        "accounts: " + ", ".join(f"{n} {kind}" for kind, n in report.accounts_by_kind.items()),
        f"money in (deposits): {money(report.deposits)}",
        f"money out (payouts): {money(report.payouts)}",
        f"balances held:       {money(report.balances)}",
        f"donations: {report.donations} moving {money(report.donated)}",
        f"refunds: {report.refunds} giving back {money(report.refunded)}",
        "events by type: " + ", ".join(f"{kind} {n}" for kind, n in report.events_by_type.items()),
    ]
    if report.findings:
        lines.append(f"{len(report.findings)} finding(s):")
        lines.extend(f"  {finding}" for finding in report.findings)
    return "\n".join(lines)
