"""A ledger process of a test's own, on topics of its own: to pause, kill and restart it; and
`store`, an in-process LedgerStore on one connection of the test's database."""

import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from chatledger.bus.topics import ensure_topics
from chatledger.ledger.store import LedgerStore
from chatledger.platform.config import Settings
from chatledger.platform.db import database
from tests.helpers.kafka import records_in
from tests.helpers.service import ROOT, spawn, stop


@pytest.fixture
async def store(migrated: Settings) -> AsyncIterator[LedgerStore]:
    """A LedgerStore on one connection (its round trips are the batch's alone)."""
    await ensure_topics(migrated)  # the deposits publish their events
    ledger = LedgerStore(database(migrated.mysql_dsn, 1))
    await ledger.database.connect()
    yield ledger
    await ledger.database.disconnect()


class PrivateLedger:
    """A `serve --roles ledger` process of its own, on topics of its own (a fresh prefix), that a
    test may pause, kill and restart; the CLI is pointed at it through `env`."""

    def __init__(self, migrated: Settings, name: str, batch_size: int = 500) -> None:
        prefix = f"{migrated.prefix}{name}{uuid.uuid4().hex[:6]}."
        self.settings = migrated.model_copy(update={"prefix": prefix})
        self.env = {"CHATLEDGER_PREFIX": prefix}
        self._process_env = {**os.environ, **self.env, "CHATLEDGER_HTTP_PORT": "0",
                             "CHATLEDGER_LEDGER_BATCH_SIZE": str(batch_size)}
        self.log = ROOT / ".stack" / f"ledger-{prefix}log"
        self.log.parent.mkdir(exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = spawn("ledger", self._process_env, self.log)

    def send(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)  # a paused process cannot hear SIGTERM
            stop(self.process, sig)
            self.process = None

    async def commands(self) -> int:
        return await records_in(self.settings, self.settings.commands_topic)


@contextlib.contextmanager
def private_ledger(migrated: Settings, name: str, batch_size: int = 500) -> Iterator[PrivateLedger]:
    ledger = PrivateLedger(migrated, name, batch_size)
    try:
        yield ledger
    finally:
        ledger.stop()
