"""The scale-out stack of DESIGN §12, started by the project's own script (`tools/stack.sh
up-scale`, idempotent), so a fresh machine gets it too: a MariaDB replica and a Redis Cluster."""

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

from chatledger.platform.config import Settings
from tests.helpers.service import ROOT

REPLICA_PORT = 3307
CLUSTER_PORTS = (7001, 7002, 7003)
CLUSTER_NODES = ",".join(f"127.0.0.1:{port}" for port in CLUSTER_PORTS)


def up_scale() -> None:
    done = subprocess.run(
        ["tools/stack.sh", "up-scale"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"tools/stack.sh up-scale failed:\n{done.stdout}{done.stderr}"


def replica_dsn(settings: Settings) -> str:
    """The session's database, as the replica holds it (replication copies every database)."""
    return settings.mysql_dsn.replace(":3306/", f":{REPLICA_PORT}/")


def node_pid(port: int) -> int:
    """Asked of the node itself: whichever checkout's `up-scale` started it."""
    info = subprocess.run(["redis-cli", "-p", str(port), "info", "server"], capture_output=True,
                          text=True, timeout=10, check=True).stdout
    return int(next(line for line in info.splitlines() if line.startswith("process_id:"))
               .split(":", 1)[1])


def replica_pid() -> int:
    """Asked of the replica itself (its pid file), whichever checkout started it."""
    path = subprocess.run(
        ["mariadb", "-h127.0.0.1", f"-P{REPLICA_PORT}", "-uroot", "-N", "-B", "-e",
         "SELECT @@pid_file"], capture_output=True, text=True, timeout=10, check=True,
    ).stdout.strip()
    return int(Path(path).read_text())


@contextlib.contextmanager
def replica_stopped() -> Iterator[int]:
    """The replica frozen (SIGSTOP): it accepts connections and answers nothing."""
    pid = replica_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)
