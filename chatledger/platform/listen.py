"""Where a `serve` process listens, so that any mix of processes on one machine never collides.

- A process with a public role (api, gateway) binds CHATLEDGER_HTTP_HOST:CHATLEDGER_HTTP_PORT with
  SO_REUSEPORT: several such processes with the same environment share the port and the kernel
  spreads connections over them.
- Every process also binds its own ops listener, CHATLEDGER_OPS_HOST:CHATLEDGER_OPS_PORT (0, the
  default, is an ephemeral port), serving /healthz, /readyz and /metrics of that process alone:
  behind a shared port a scrape would reach a random process. Ledger and history processes bind
  only this one.
- The ops address is logged at start and, with CHATLEDGER_METRICS_TARGETS_DIR, written as a
  Prometheus file_sd target file (one per process, removed at a clean exit) so Prometheus finds
  every process, however many run and whatever ports they got.
"""

import contextlib
import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson

from chatledger.platform.config import Settings

log = logging.getLogger(__name__)
PUBLIC_ROLES = frozenset({"api", "gateway"})


@dataclass(frozen=True)
class Listeners:
    sockets: list[socket.socket]
    public: str | None  # host:port of the shared API/websocket port; None for a back-end process
    ops: str  # host:port of this process's own probes and metrics


def _bound(host: str, port: int, *, shared: bool) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def _address(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    # A wildcard bind is reached through the machine's name, not through 0.0.0.0.
    shown = socket.gethostname() if host in ("", "0.0.0.0", "::") else host
    return f"{shown}:{port}"


def bind(settings: Settings, roles: Iterable[str]) -> Listeners:
    """Bind the sockets a process with `roles` serves on (OSError: the address is taken)."""
    sockets = []
    public = None
    if PUBLIC_ROLES & set(roles):
        shared = _bound(settings.http_host, settings.http_port, shared=True)
        sockets.append(shared)
        public = _address(shared, settings.http_host)
    ops = _bound(settings.ops_host, settings.ops_port, shared=False)
    # Listening at once claims the port (two sockets with SO_REUSEADDR may both bind it until
    # one listens). The shared port waits for the app: the kernel would hand a process that is
    # still starting its share of the connections.
    ops.listen(128)
    sockets.append(ops)
    return Listeners(sockets, public, _address(ops, settings.ops_host))


def target_file(directory: Path, pid: int) -> Path:
    return directory / f"chatledger-{socket.gethostname()}-{pid}.json"


def target_body(ops: str, roles: Iterable[str], prefix: str) -> bytes:
    """Prometheus file_sd: one target with labels naming the process's roles."""
    labels = {"job": "chatledger", "roles": ",".join(sorted(roles)), "pid": str(os.getpid())}
    if prefix:
        labels["prefix"] = prefix
    return orjson.dumps([{"targets": [ops], "labels": labels}], option=orjson.OPT_INDENT_2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_dead_targets(directory: Path) -> list[Path]:
    """Remove the target files of this machine's processes that died without cleaning up."""
    removed = []
    for path in directory.glob(f"chatledger-{socket.gethostname()}-*.json"):
        pid = path.stem.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def announce(settings: Settings, roles: Iterable[str], listeners: Listeners) -> Path | None:
    """Log where this process listens; write its file_sd target file when configured."""
    roles = sorted(roles)
    log.info(
        "listening",
        extra={"roles": roles, "public": listeners.public, "ops": f"http://{listeners.ops}"},
    )
    if settings.metrics_targets_dir is None:
        return None
    directory = Path(settings.metrics_targets_dir)
    directory.mkdir(parents=True, exist_ok=True)
    forget_dead_targets(directory)
    path = target_file(directory, os.getpid())
    partial = path.with_suffix(".tmp")
    partial.write_bytes(target_body(listeners.ops, roles, settings.prefix))
    partial.replace(path)  # Prometheus never reads half a file
    return path


def withdraw(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
