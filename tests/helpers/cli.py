"""Run `python -m chatledger ...` as an operator would: a real process, this session's settings."""

import asyncio
import os
import sys
from typing import Any

import orjson

from tests.helpers.service import ROOT


class Ran:
    def __init__(self, code: int, out: bytes, err: bytes) -> None:
        self.code, self.out, self.err = code, out.decode(), err.decode()

    def json(self) -> Any:
        return orjson.loads(self.out)

    def __repr__(self) -> str:
        return f"exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err[-3000:]}"


async def cli(*args: str, env: dict[str, str] | None = None) -> Ran:
    """`python -m chatledger ARGS` with this session's environment (database, prefix) and `env`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatledger",
        *args,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=240)
    assert process.returncode is not None
    return Ran(process.returncode, out, err)


async def audit_ok() -> Ran:
    ran = await cli("audit")
    assert ran.code == 0, ran
    assert ran.out.startswith("audit OK:"), ran
    return ran
