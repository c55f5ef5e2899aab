"""Run `chatledger serve` as a real subprocess, on a free port, with this session's settings."""

import contextlib
import os
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

from chatledger.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def spawn(roles: str, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log_file = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "chatledger", "serve", "--roles", roles],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited with {process.returncode}")
        try:
            urllib.request.urlopen(url + "/chat/event/history", timeout=1)
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it listens
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer in {timeout}s")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def start_service(
    settings: Settings,
    roles: str = "api,gateway,ledger,history",
    extra_env: dict[str, str] | None = None,
) -> Iterator[Service]:
    port = free_port()
    env = {**os.environ, "CHATLEDGER_HTTP_PORT": str(port), **(extra_env or {})}
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"chatledger-{settings.prefix}{port}.log"
    process = spawn(roles, env, log_path)
    service = Service(f"http://127.0.0.1:{port}", port, process, log_path)
    try:
        wait_http(service.url, process)
        yield service
    finally:
        stop(process)
