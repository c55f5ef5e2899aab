"""The chatledger processes under test: two of each role, each one its own `serve --roles R`.

The two api processes share one port and the two gateways another (SO_REUSEPORT, as in the
README's deployment): a client always dials the same address, and the kernel hands the
connection to whichever process of that role is alive. The fleet knows which processes the
nemesis killed; any other exit is a finding, recorded with the end of its log, and the process is
started again so the run can go on (the rest of the run then says what that crash cost).
"""

import signal
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from chatledger.platform.config import Settings
from tests.helpers.service import Service, free_port, launch, stop, wait_http

ROLES = ("ledger", "history", "api", "gateway")
COPIES = 2


@dataclass
class Member:
    name: str
    roles: str
    env: dict[str, str]
    service: Service | None = None
    killed_by_us: bool = False
    logs: list[str] = field(default_factory=list)


class Fleet:
    def __init__(self, settings: Settings, env: dict[str, str]) -> None:
        self.settings = settings
        self.api_port, self.gateway_port = free_port(), free_port()
        ports = {"api": self.api_port, "gateway": self.gateway_port}
        self.members = {
            f"{role}-{n}": Member(f"{role}-{n}", role,
                                  {**env, **({"CHATLEDGER_HTTP_PORT": str(ports[role])}
                                             if role in ports else {})})
            for role in ROLES for n in range(COPIES)
        }
        self.unexpected: list[str] = []  # "name exited with N: last log lines"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def start(self, name: str) -> None:
        member = self.members[name]
        member.service = launch(self.settings, member.roles, member.env)
        member.logs.append(str(member.service.log_path))
        member.killed_by_us = False

    def start_all(self, timeout: float = 90) -> None:
        for name in self.members:
            self.start(name)
        for name in self.members:
            self.wait_ready(name, timeout)

    def wait_ready(self, name: str, timeout: float = 60) -> None:
        service = self.members[name].service
        assert service is not None
        wait_http(service.ops_url, service.process, timeout)
        deadline = time.monotonic() + timeout
        while not _ready(service.ops_url):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} not ready after {timeout}s")
            time.sleep(0.1)

    def kill(self, name: str) -> None:
        member = self.members[name]
        if member.service is not None:
            member.killed_by_us = True
            stop(member.service.process, signal.SIGKILL)

    def restart(self, name: str) -> None:
        self.kill(name)
        self.start(name)

    def sweep(self) -> None:
        """Record and restart every process that exited without the nemesis killing it."""
        for name, member in self.members.items():
            service = member.service
            if service is None or member.killed_by_us or service.process.poll() is None:
                continue
            tail = service.log().splitlines()[-15:]
            self.unexpected.append(f"{name} exited with {service.process.returncode}"
                                   f" (log {service.log_path}):\n    " + "\n    ".join(tail))
            self.start(name)

    def stop_all(self) -> None:
        for member in self.members.values():
            if member.service is not None:
                stop(member.service.process, signal.SIGTERM)


def _ready(ops_url: str) -> bool:
    try:
        with urllib.request.urlopen(ops_url + "/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
