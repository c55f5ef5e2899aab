"""Create the demo people once (Mia the model, viewers Alice and Bob with money); print tokens.

Idempotent: each demo person carries a fixed login in `accounts.login`, so a re-run finds and
reuses them, and money is deposited only when an account is created. `make demo` runs this.
"""

import asyncio
import sys
import uuid

from databases import Database

from chatledger.api import demo_people as demo
from chatledger.cli.main import apply_money_command
from chatledger.domain.commands import Deposit
from chatledger.domain.wire import dumps
from chatledger.ledger.accounts import Person, create_account
from chatledger.platform.config import Settings
from chatledger.platform.db import database


async def ensure(db: Database, settings: Settings, spec: demo.DemoSpec) -> tuple[Person, bool]:
    person = await demo.find_by_login(db, spec.login)
    if person is not None:
        return person, False
    person = await create_account(db, spec.kind, spec.name)
    await demo.set_login(db, person, spec.login)
    if spec.money is not None:
        outcome, _ = await apply_money_command(
            settings, Deposit(str(uuid.uuid4()), person.uuid, spec.money)
        )
        if outcome != "applied":
            raise SystemExit(f"deposit for {spec.name} was not applied: {outcome}")
    return person, True


async def main() -> int:
    settings = Settings()
    db = database(settings.mysql_dsn, 1)
    await db.connect()
    try:
        created = {}
        for spec in demo.DEMO_PEOPLE:
            person, new = await ensure(db, settings, spec)
            created[person.uuid] = new
        people = await demo.find_demo_people(db)
    finally:
        await db.disconnect()
    if people is None:
        sys.stderr.write("demo people are missing after creating them\n")
        return 1
    for entry in demo.demo_roster(settings, people):
        sys.stdout.write(dumps({**entry, "created": created[entry["uuid"]]}).decode() + "\n")
    url = f"http://{settings.http_host}:{settings.http_port}/"
    sys.stderr.write(f"demo: open {url} (served with CHATLEDGER_DEV=1, as `make run` does)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
