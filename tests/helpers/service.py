"""Run `chatledger serve` as a real subprocess, on a free port, with this session's settings."""

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from chatledger.platform.config import Settings

ROOT = Path(__file__).resolve().parents[2]


# The ports tests hand out. Below the kernel's ephemeral range (net.ipv4.ip_local_port_range,
# 32768 and up here): an outgoing connection takes its local port from there, so a port drawn by
# bind(0) could be taken before the process launched with it bound it. And a slice of its own for
# each pytest-xdist worker: workers drawing independently once gave two processes the same ops
# port, the start-up probe was answered by the other worker's process, and the test then found
# its own process gone (it had died on the bind).
PORTS = range(20000, 32000)

_HANDED_OUT: set[int] = set()


def port_slice(worker: str, workers: int) -> range:
    """The ports of xdist worker `worker` ("gw1"; "" without xdist) of `workers`."""
    index = int(worker.removeprefix("gw") or 0)
    size = len(PORTS) // max(workers, 1)
    return range(PORTS.start + index * size, PORTS.start + (index + 1) * size)


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A port free now, in this worker's slice, never handed out before by this process."""
    ports = port_slice(os.environ.get("PYTEST_XDIST_WORKER", ""),
                       int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    start = random.randrange(len(ports))  # a rerun does not start where a killed run's left
    for step in range(len(ports)):
        port = ports[(start + step) % len(ports)]
        if port not in _HANDED_OUT and _bindable(port):
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError(f"no free port left in {ports}")


PUBLIC_ROLES = {"api", "gateway"}

# How long a process may take to start before a test fails. A deadline, not a wait: an idle
# machine starts one in ~2 s, but `make test` runs several workers on 2 cores that other runs
# share too, and an interpreter importing aiohttp/aiokafka/pydantic then takes far longer.
START_TIMEOUT_S = 120.0


@dataclass
class Service:
    url: str  # the API port, or the ops port of a process without api/gateway
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    ops_url: str = ""  # this process's own /healthz, /readyz, /metrics

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def spawn(roles: str, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    if not PUBLIC_ROLES & set(roles.split(",")) and "CHATLEDGER_OPS_PORT" not in env:
        # A back-end process does not bind the API port: probe it on the port the caller chose.
        env = {**env, "CHATLEDGER_OPS_PORT": env.get("CHATLEDGER_HTTP_PORT", "0")}
    log_file = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "chatledger", "serve", "--roles", roles],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )


def wait_http(url: str, process: subprocess.Popen[bytes],
              timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited with {process.returncode}")
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it listens
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer in {timeout}s")


def wait_ready(service: Service, timeout: float = START_TIMEOUT_S) -> None:
    """Until the process's /readyz answers 200: a process that answers /healthz may still be
    joining the bus (its first minutes on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):  # a 503 (HTTPError) is an OSError too
            if urllib.request.urlopen(service.ops_url + "/readyz", timeout=1).status == 200:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{service.ops_url}/readyz not 200 in {timeout}s")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def launch(settings: Settings, roles: str, extra_env: dict[str, str] | None = None,
           unset: tuple[str, ...] = ()) -> Service:
    """Start one process (not waiting for it). Its API port is CHATLEDGER_HTTP_PORT when
    `extra_env` sets it (processes may share it), else a free one; its ops port is its own.
    Variables named in `unset` are removed from its environment."""
    extra_env = extra_env or {}
    port = int(extra_env.get("CHATLEDGER_HTTP_PORT") or free_port())
    ops_port = free_port()
    public = bool(PUBLIC_ROLES & set(roles.split(",")))
    env = {**os.environ, **extra_env, "CHATLEDGER_HTTP_PORT": str(port),
           "CHATLEDGER_OPS_PORT": str(ops_port)}
    for name in unset:
        env.pop(name, None)
    log_dir = Path(os.environ.get("TMPDIR", "/tmp"))
    log_path = log_dir / f"chatledger-{settings.prefix}{port}-{ops_port}.log"
    process = spawn(roles, env, log_path)
    ops_url = f"http://127.0.0.1:{ops_port}"
    return Service(f"http://127.0.0.1:{port}" if public else ops_url,
                   port if public else ops_port, process, log_path, ops_url)


@contextlib.contextmanager
def start_service(
    settings: Settings,
    roles: str = "api,gateway,ledger,history",
    extra_env: dict[str, str] | None = None,
    unset: tuple[str, ...] = (),
) -> Iterator[Service]:
    service = launch(settings, roles, extra_env, unset)
    try:
        wait_http(service.ops_url, service.process)
        yield service
    finally:
        stop(service.process)
