"""A private MariaDB server on a free port, for tests that kill MySQL (never the shared one)."""

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.service import free_port


@dataclass
class PrivateMariaDB:
    datadir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def dsn(self, name: str) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{name}"

    def start(self, timeout: float = 30.0) -> None:
        log = (self.datadir.parent / "mariadbd.log").open("ab")
        self.process = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.datadir.parent / 'sock'}",
             "--user=root", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
             "--skip-name-resolve"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while subprocess.run(["mariadb-admin", "-h127.0.0.1", f"-P{self.port}", "-uroot",
                              "ping"], capture_output=True).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"private mariadbd did not start (rc {self.process.poll()})")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def private_mariadb(directory: Path) -> Iterator[PrivateMariaDB]:
    if shutil.which("mariadbd") is None or shutil.which("mariadb-install-db") is None:
        raise RuntimeError("mariadbd / mariadb-install-db are not installed")
    datadir = directory / "mariadb-data"
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={datadir}",
                    "--auth-root-authentication-method=normal", "--skip-test-db"],
                   check=True, capture_output=True)
    server = PrivateMariaDB(datadir, free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()
