"""Run the `chatledger` command line as a real subprocess with this session's environment."""

import os
import subprocess
import sys

from tests.helpers.service import ROOT


def chatledger(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m chatledger ARGS...`: its exit status and output, never raising on failure."""
    return subprocess.run(
        [sys.executable, "-m", "chatledger", *args],
        cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=timeout,
    )
