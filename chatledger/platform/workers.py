"""`serve --workers N`: N processes serving one port (SO_REUSEPORT), the kernel spreading the
connections over them. One Python process uses one core; this is how the API uses several.

Which roles run where: `api` and `gateway` are stateless per request/socket and run in every
worker. `ledger` and `history` are Kafka consumer-group members whose work is split by partitions,
not by connections, so they run in worker 0 only (start more of them as separate `serve --roles`
processes if they need more cores). A worker that exits stops the others and the parent exits
with its code, so a process manager restarts the whole set: never half a service on the port;
and a worker whose parent dies (even SIGKILLed) gets SIGTERM.
"""

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from types import FrameType

from chatledger.platform.metrics import MULTIPROCESS_DIR

log = logging.getLogger(__name__)

PER_CONNECTION_ROLES = ("api", "gateway")
POLL_S = 0.2  # how often the parent looks at its workers (it has nothing else to do)
KILL_AFTER_S = 15.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>  # a worker still running this long after SIGTERM is killed


class WorkerPlanError(ValueError):
    pass


def worker_roles(roles: Sequence[str], workers: int, port: int) -> list[list[str]]:
    """The roles of each worker: all of them in worker 0, the per-connection ones in the rest."""
    if workers < 1:
        raise WorkerPlanError("--workers must be at least 1")
    if workers > 1 and port == 0:
        raise WorkerPlanError("--workers needs a fixed CHATLEDGER_HTTP_PORT (0 picks one each)")
    shared = [role for role in roles if role in PER_CONNECTION_ROLES]
    if workers > 1 and not shared:
        served = ", ".join(PER_CONNECTION_ROLES)
        raise WorkerPlanError(f"--workers {workers} needs a role served on the port ({served})")
    return [list(roles)] + [shared] * (workers - 1)


@contextlib.contextmanager
def metrics_directory() -> Iterator[str]:
    """Where the workers' metrics meet (see platform/metrics.py); one the operator set is kept."""
    given = os.environ.get(MULTIPROCESS_DIR)
    if given:
        yield given
        return
    made = tempfile.mkdtemp(prefix="chatledger-metrics-")
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


def worker_command(roles: Sequence[str]) -> list[str]:
    # Every serve process binds the API port with SO_REUSEPORT (chatledger/platform/listen.py).
    return [sys.executable, "-m", "chatledger", "serve", "--roles", ",".join(roles)]


def supervise(plans: Sequence[Sequence[str]]) -> int:
    """Start one worker per plan; forward SIGTERM/SIGINT; return when all have exited."""
    with metrics_directory() as directory:
        env = {**os.environ, MULTIPROCESS_DIR: directory}
        return _run(plans, env)


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the parent dies, even by SIGKILL, so no
    orphaned worker keeps serving the port beside a restarted set."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _run(plans: Sequence[Sequence[str]], env: dict[str, str]) -> int:
    children = [
        subprocess.Popen(worker_command(roles), env=env, preexec_fn=_die_with_parent)
        for roles in plans
    ]
    stopping = False
    kill_at = float("inf")

    def stop_all(signum: int) -> None:
        nonlocal stopping, kill_at
        stopping = True
        kill_at = min(kill_at, time.monotonic() + KILL_AFTER_S)
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop_all(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    log.info(
        "workers started",
        extra={"pids": [child.pid for child in children], "metrics": env[MULTIPROCESS_DIR]},
    )
    code = 0
    while [child.poll() for child in children].count(None):  # poll each: no short circuit
        for index, child in enumerate(children):
            if child.returncode is not None and not stopping:
                log.critical("worker %d (pid %d) exited with %d: stopping the others",
                             index, child.pid, child.returncode)
                code = exit_code(child.returncode)
                stop_all(signal.SIGTERM)
        if time.monotonic() > kill_at:
            for child in children:
                if child.poll() is None:
                    child.kill()
        time.sleep(POLL_S)
    if not stopping:  # every worker ended by itself at once
        code = next((exit_code(child.returncode) for child in children if child.returncode), 0)
    return code


def exit_code(returncode: int) -> int:
    """A worker's end as the parent's exit status: a signal N as 128 + N, like a shell; never 0."""
    return 128 - returncode if returncode < 0 else returncode or 1
