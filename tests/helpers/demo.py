"""Run tools/demo_accounts.py against this session's database, as `make demo` does."""

import os
import subprocess
import sys
from typing import Any

import orjson

from chatledger.platform.config import Settings
from tests.helpers.service import ROOT, START_TIMEOUT_S


def run_demo_accounts(settings: Settings) -> list[dict[str, Any]]:
    """Mia, Alice and Bob: uuid, name, role, token, and whether this run created them."""
    done = subprocess.run(
        [sys.executable, "tools/demo_accounts.py"],
        cwd=ROOT,
        env={**os.environ, "CHATLEDGER_MYSQL_DSN": settings.mysql_dsn},
        capture_output=True,
        check=True,
        timeout=START_TIMEOUT_S,
    )
    return [orjson.loads(line) for line in done.stdout.splitlines()]
