"""A whole private stack (MariaDB, Redis, Tansu) on free ports, for tests that break all three.

The machine's shared servers on 3306/6379/9092 serve every other test run at the same time: a
test that SIGKILLs or SIGSTOPs a dependency must own it. `private_stack` starts one of each under
a directory of its own, migrates a database on the private MariaDB, and hands back the
environment that points `chatledger` processes (and this process's Settings) at them.

Pausing (SIGSTOP) keeps every socket open and answers nothing, which is how a stalled disk or a
long GC looks to clients; killing the broker loses everything it held (memory Tansu).
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatledger.platform.config import Settings
from chatledger.platform.db import migrate
from tests.helpers.daemons import Daemon, redis_server, running, tansu_broker
from tests.helpers.mariadb import PrivateMariaDB, private_mariadb
from tests.helpers.service import free_port


def pause(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        os.kill(process.pid, signal.SIGSTOP)


def resume(process: subprocess.Popen[bytes] | None) -> None:
    # SIGCONT to a process that is not stopped is harmless: resume is safe to call twice.
    if process is not None and process.poll() is None:
        os.kill(process.pid, signal.SIGCONT)


@dataclass
class PrivateStack:
    mysql: PrivateMariaDB
    redis: Daemon
    broker: Daemon
    database: str
    prefix: str

    @property
    def env(self) -> dict[str, str]:
        """What a `chatledger` process needs to use this stack and nothing shared."""
        return {
            "CHATLEDGER_MYSQL_DSN": self.mysql.dsn(self.database),
            "CHATLEDGER_REDIS_URL": f"redis://127.0.0.1:{self.redis.port}/0",
            "CHATLEDGER_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.broker.port}",
            "CHATLEDGER_PREFIX": self.prefix,
        }

    def settings(self, **overrides: Any) -> Settings:
        # A new Settings, not a model_copy: a copy would keep cached topic names.
        env = self.env
        return Settings(mysql_dsn=env["CHATLEDGER_MYSQL_DSN"],
                        redis_url=env["CHATLEDGER_REDIS_URL"],
                        kafka_bootstrap=env["CHATLEDGER_KAFKA_BOOTSTRAP"],
                        prefix=self.prefix, **overrides)

    def processes(self) -> dict[str, subprocess.Popen[bytes] | None]:
        return {"mysql": self.mysql.process, "redis": self.redis.process,
                "broker": self.broker.process}

    def restart_broker(self) -> None:
        """SIGKILL the broker and start it again, empty, on the same port."""
        self.broker.stop()
        self.broker.start()

    def resume_all(self) -> None:
        resume(self.mysql.process)
        resume(self.redis.process)

    def dead(self) -> list[str]:
        """The servers of this stack that are not running (none, unless something crashed)."""
        return [name for name, process in self.processes().items()
                if process is None or process.poll() is not None]


@contextlib.contextmanager
def private_stack(directory: Path) -> Iterator[PrivateStack]:
    """MariaDB, Redis and Tansu of our own, the database migrated; all stopped afterwards
    (resumed first: a stopped process ignores SIGTERM until continued)."""
    directory.mkdir(parents=True, exist_ok=True)
    redis = redis_server(free_port(), directory)
    broker = tansu_broker(free_port(), directory)
    with private_mariadb(directory) as mysql, running(redis), running(broker):
        stack = PrivateStack(mysql, redis, broker, "chatledger_private",
                             f"p{uuid.uuid4().hex[:8]}.")
        try:
            # In a thread of its own: the caller may be inside a running event loop.
            with ThreadPoolExecutor(1) as pool:
                dsn = stack.env["CHATLEDGER_MYSQL_DSN"]
                pool.submit(asyncio.run, migrate(dsn, recreate=True)).result()
            yield stack
        finally:
            stack.resume_all()
