"""The service's processes for a bench run (one per group of roles), and hello-world."""

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.helpers.service import free_port, stop
from tools.bench.peers import wait_listening

ROOT = Path(__file__).resolve().parents[2]


def serve_offers_workers() -> bool:
    """`serve --workers N` (SO_REUSEPORT) exists in this checkout's CLI."""
    done = subprocess.run([sys.executable, "-m", "chatledger", "serve", "--help"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    return "--workers" in done.stdout


def spawn(roles: str, env: dict[str, str], log_path: Path,
          extra: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as out:
        return subprocess.Popen(
            # BENCH_STALLWATCH=1: the service under tools/bench/stallwatch.py (GC pauses, loop lag)
            [sys.executable, "-m", "tools.bench.stallwatch" if env.get("BENCH_STALLWATCH")
             else "chatledger", "serve", "--roles", roles, *extra],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


class Stack:
    """The service processes of one layout ("api;history;gateway;ledger" = four processes).

    Only the roles that serve HTTP by nature are waited for over HTTP (the api, the gateway's
    /ws); a ledger- or history-only process is ready when its effect shows (see Bench.warm_up).
    """

    def __init__(self, layout: str, env: dict[str, str], log_dir: Path) -> None:
        self.urls: dict[str, str] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        for roles in layout.split(";"):
            port = free_port()
            process = spawn(roles, {**env, "CHATLEDGER_HTTP_PORT": str(port)},
                            log_dir / f"service-{roles.replace(',', '+')}-{port}.log")
            self.processes[roles] = process
            for role in roles.split(","):
                self.urls[role.strip()] = f"http://127.0.0.1:{port}"
        try:
            for roles, process in self.processes.items():
                names = set(roles.split(","))
                if "api" in names:
                    wait_listening(self.urls["api"] + "/chat/event/history", process)
                elif "gateway" in names:
                    wait_listening(self.urls["gateway"] + "/ws", process)
        except BaseException:
            self.close()  # none left running to load the machine for the runs after this one
            raise

    def pid_of(self, role: str) -> int:
        return next(p.pid for roles, p in self.processes.items() if role in roles.split(","))

    @property
    def pids_by_roles(self) -> dict[str, list[int]]:
        """CPU is reported per service process, named by its roles."""
        return {roles: [process.pid] for roles, process in self.processes.items()}

    def alive(self) -> None:
        for roles, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"service process {roles} exited with {process.returncode}")

    def close(self) -> None:
        for process in self.processes.values():
            stop(process)


@contextlib.contextmanager
def hello_server(log_dir: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    with (log_dir / "hello.log").open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "tools.bench.hello", str(port)],
                                   cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_listening(url + "/hello", process)
        yield url, process.pid
    finally:
        stop(process)
