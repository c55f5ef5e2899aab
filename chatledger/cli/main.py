"""`chatledger ...`: the command line of DESIGN §8."""

import argparse
import contextlib
import logging
import sys
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from decimal import Decimal
from typing import Any

import uvloop
from databases import Database
from pydantic import ValidationError
from pymysql import Warning as MySQLWarning

from chatledger.api.schemas import parse_money
from chatledger.bus.kafka import BusUnavailable
from chatledger.cli import refund as refunding
from chatledger.domain.commands import Command, Deposit, Payout
from chatledger.domain.ids import parse_uuid
from chatledger.domain.wire import dumps, money
from chatledger.history import rebuild as history_rebuild
from chatledger.ledger import accounts
from chatledger.ledger.publish_written import publish_written
from chatledger.ledger.store import LedgerStore
from chatledger.platform.config import Settings, describe_errors
from chatledger.platform.db import database, migrate, redact
from chatledger.platform.logs import configure_logging
from chatledger.platform.progress import progress_for
from chatledger.platform.replica import lag_tolerant
from chatledger.platform.roles import ALL_ROLES
from chatledger.readmodels import audit, rebuild
from chatledger.readmodels import snapshot as source
from chatledger.readmodels.shadow_tables import SQL_PROJECTIONS
from chatledger.web.auth import issue_token

Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]
# Exit statuses: 0 done, 1 refused (nothing changed), 2 bad arguments (argparse), and for a
# command handed to the ledger, 3 when its outcome is not known yet (it may still apply, once).
REFUSED, UNKNOWN = 1, 3


def _print_json(value: object) -> None:
    sys.stdout.write(dumps(value).decode() + "\n")


def _amount(text: str) -> Decimal:
    try:
        return parse_money(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text}: an amount is > 0 with at most 2 decimal places ({exc})"
        ) from exc


def _uuid(text: str) -> str:
    try:
        return parse_uuid(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text}: {exc}") from exc


@contextlib.asynccontextmanager
async def connected(settings: Settings, pool_size: int = 1) -> AsyncIterator[Database]:
    db = database(settings.mysql_dsn, pool_size)
    await db.connect()
    try:
        yield db
    finally:
        await db.disconnect()


def _fail(status: int, text: str) -> int:
    sys.stderr.write(f"{text}\n")
    return status


async def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    applied = await migrate(settings.mysql_dsn)
    _print_json({"database": redact(settings.mysql_dsn), "applied": applied})
    return 0


async def cmd_accounts_create(args: argparse.Namespace, settings: Settings) -> int:
    async with connected(settings) as db:
        person = await accounts.create_account(db, args.kind, args.name)
    _print_json({"uuid": person.uuid, "name": person.name, "kind": person.role})
    return 0


async def apply_money_command(settings: Settings, command: Command) -> tuple[str, str | None]:
    """Deposits and payouts go through the same decider and store as the ledger's batches."""
    async with connected(settings) as db:
        result = await LedgerStore(db).apply_batch([command])
        balance = await accounts.balance_of(db, command.account)  # type: ignore[union-attr]
    await publish_written(settings, result.events)  # after the commit, like the ledger
    return result.outcomes[command.command_id], None if balance is None else money(balance)


async def _money(args: argparse.Namespace, settings: Settings, kind: type[Command]) -> int:
    command = kind(str(uuid.uuid4()), args.uuid, args.amount)  # type: ignore[call-arg]
    outcome, balance = await apply_money_command(settings, command)
    _print_json({"command_id": command.command_id, "outcome": outcome, "balance": balance})
    return 0 if outcome == "applied" else REFUSED


async def cmd_deposit(args: argparse.Namespace, settings: Settings) -> int:
    return await _money(args, settings, Deposit)


async def cmd_payout(args: argparse.Namespace, settings: Settings) -> int:
    return await _money(args, settings, Payout)


async def cmd_refund(args: argparse.Namespace, settings: Settings) -> int:
    """Pre-check, send to the ledger, wait for its decision (DESIGN §9; see `refunding`)."""
    if args.reason is not None and not 0 < len(args.reason) <= settings.max_text_length:
        return _fail(2, f"--reason: 1..{settings.max_text_length} characters")
    async with connected(settings) as db:
        try:
            refund = await refunding.prepare(db, args.event_id, args.reason)
        except refunding.RefundRefused as refused:
            return _fail(REFUSED, f"refund refused (nothing sent): {refused}")
        try:
            await refunding.send(settings, refund)
        except BusUnavailable as exc:
            return _fail(UNKNOWN, f"the broker did not acknowledge refund {refund.command_id}"
                                  f" ({exc}); if it got it the ledger applies it once")
        outcome = await refunding.outcome(db, refund.command_id, args.wait)
        if outcome is None:
            return _fail(UNKNOWN, f"refund {refund.command_id} is queued but the ledger did not"
                                  f" decide it within {args.wait} s; it will apply once")
        if outcome != "applied":
            reason = outcome.removeprefix("refused: ")
            return _fail(REFUSED, f"refund refused by the ledger ({refund.command_id}): {reason}")
        done = await refunding.applied(db, refund)
    _print_json({"command_id": done.command_id, "outcome": outcome, "donor": done.donor,
                 "events": done.events, "balances": done.balances})
    return 0


async def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    async with connected(settings) as db:
        person = await accounts.find_person(db, args.uuid)
    if person is None:
        return _fail(REFUSED, f"no such person: {args.uuid}")
    sys.stdout.write(issue_token(settings, person.uuid, person.role, args.chat, args.ttl) + "\n")
    return 0


async def cmd_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    names = args.projection or rebuild.ALL_PROJECTIONS
    summary: dict[str, object] = {}
    sql = [name for name in names if name in SQL_PROJECTIONS]
    if sql:
        async with connected(settings, 2) as db:
            try:
                summary = (await rebuild.rebuild(db, sql, progress_for("rebuild"))).as_json()
            except rebuild.RebuildBusy as exc:
                return _fail(REFUSED, str(exc))
    if rebuild.HISTORY in names:
        summary["history_keys_dropped"] = await history_rebuild.rebuild_history(settings)
    _print_json(summary)
    return 0


async def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    # A replica's consistent snapshot is as good as the primary's (DESIGN §12); if the replica
    # does not answer, the primary is audited.
    async with (
        connected(settings) as db,
        lag_tolerant(settings.mysql_read_dsn, db, 1) as reads,
    ):
        report = await reads.read(source.audit_database, timeout_s=None)
    if args.json:
        _print_json(report.as_json())
    else:
        sys.stdout.write(audit.render(report) + "\n")
    return 0 if report.ok else 1


COMMANDS: dict[str, Handler] = {
    "migrate": cmd_migrate,
    "accounts create": cmd_accounts_create,
    "deposit": cmd_deposit,
    "payout": cmd_payout,
    "refund": cmd_refund,
    "token": cmd_token,
    "rebuild": cmd_rebuild,
    "audit": cmd_audit,
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="chatledger", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create the database and apply sql/ migrations")
    serve_p = sub.add_parser("serve", help="run the service")
    serve_p.add_argument(
        "--roles",
        default=",".join(ALL_ROLES),
        help=f"comma-separated subset of {','.join(ALL_ROLES)}",
    )
    serve_p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes sharing the port (SO_REUSEPORT); api and gateway run in each, "
        "ledger and history in the first only",
    )
    acc = sub.add_parser("accounts", help="manage accounts").add_subparsers(
        dest="action", required=True
    )
    create = acc.add_parser("create", help="create a model or a client with its account")
    create.add_argument("--kind", choices=["model", "client"], required=True)
    create.add_argument("--name", required=True)
    for name, help_text in (("deposit", "money in"), ("payout", "money out of a balance")):
        money = sub.add_parser(name, help=help_text)
        money.add_argument("uuid", type=_uuid)
        money.add_argument("amount", type=_amount)
    refund_p = sub.add_parser(
        "refund",
        help="give a donation back through the ledger (exit 1: refused, nothing changed;"
        " 3: sent, outcome not known yet)",
    )
    refund_p.add_argument("event_id", type=_uuid, help="the id of a donate event")
    refund_p.add_argument("--reason", default=None, help="shown in donate_refunded")
    refund_p.add_argument(
        "--wait", type=float, default=30.0, help="seconds to wait for the ledger's decision"
    )
    token = sub.add_parser("token", help="print a JWT for a person")
    token.add_argument("uuid", type=_uuid)
    token.add_argument("--chat", type=_uuid, default=None)
    token.add_argument("--ttl", type=int, default=3600)
    rebuild_p = sub.add_parser("rebuild", help="recompute projections from chat_events, live")
    rebuild_p.add_argument(
        "--projection",
        action="append",
        choices=rebuild.ALL_PROJECTIONS,
        help="rebuild only this one (repeatable); all by default",
    )
    audit_p = sub.add_parser("audit", help="replay chat_events and check every projection")
    audit_p.add_argument("--json", action="store_true", help="machine-readable report")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # A one-shot command's output is its result: libraries' INFO lines (a pool connected, a
    # producer started) would bury it, so only warnings and worse are logged. `serve` logs all.
    configure_logging(logging.INFO if args.command == "serve" else logging.WARNING)
    # The ledger's INSERT IGNOREs skip rows that exist on purpose; MySQL's note saying so is not
    # the operator's business.
    warnings.filterwarnings("ignore", "Duplicate entry", MySQLWarning)
    try:
        settings = Settings()
    except ValidationError as exc:
        sys.stderr.write(f"chatledger: bad configuration: {describe_errors(exc)}\n")
        return 2
    if args.command == "serve":
        # Only `serve` needs the whole service: the other commands start faster without it.
        from chatledger.cli import serve as serving

        return serving.serve(args.roles, args.workers, settings)
    name = f"{args.command} {args.action}" if args.command == "accounts" else args.command
    return uvloop.run(COMMANDS[name](args, settings))


if __name__ == "__main__":
    raise SystemExit(main())
