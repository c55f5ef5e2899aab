"""Roles as processes: what binds where, and a process that cannot serve refuses to start."""

import asyncio
import os
import socket
import subprocess
import sys

import aiohttp
import pytest

from chatledger.platform.config import Settings
from tests.helpers.service import ROOT, START_TIMEOUT_S, start_service
from tests.helpers.wait import eventually


def serve(roles: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`chatledger serve` expected to refuse at once (the timeout fails a process that starts)."""
    return subprocess.run([sys.executable, "-m", "chatledger", "serve", "--roles", roles],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=START_TIMEOUT_S)


def without_secret() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "CHATLEDGER_JWT_SECRET"}


@pytest.mark.parametrize("roles", ["api", "gateway", "api,gateway,ledger,history"])
async def test_a_token_role_without_the_jwt_secret_refuses_to_start(roles: str) -> None:
    result = await asyncio.to_thread(serve, roles, without_secret())
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("chatledger serve: CHATLEDGER_JWT_SECRET is not set"), lines


@pytest.mark.parametrize(("env", "says"), [
    ({"CHATLEDGER_HTTP_PORT": "70000"}, "CHATLEDGER_HTTP_PORT: Input should be less than"),
    ({"CHATLEDGER_KAFKA_PARTITIONS": "many"}, "CHATLEDGER_KAFKA_PARTITIONS: Input should be"),
])
async def test_a_bad_setting_is_named_in_one_line(env: dict[str, str], says: str) -> None:
    result = await asyncio.to_thread(serve, "api", {**os.environ, **env})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr


async def test_an_unknown_role_or_a_taken_ops_port_refuses_to_start() -> None:
    result = await asyncio.to_thread(serve, "api,ledgr", dict(os.environ))
    assert (result.returncode, result.stderr.count("\n")) == (2, 1)
    assert "unknown roles: ledgr" in result.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = await asyncio.to_thread(
            serve, "ledger", {**os.environ, "CHATLEDGER_OPS_PORT": str(port)})
    assert result.returncode == 2 and "cannot listen" in result.stderr, result.stderr


async def test_a_ledger_process_needs_no_secret_and_leaves_the_api_port_alone(
    migrated: Settings,
) -> None:
    """The issue's layout: a ledger process with the API's environment (its port taken by
    something else) starts, never binds the API port, and is ready on its own ops port."""
    with socket.socket() as api:
        api.bind(("127.0.0.1", 0))
        api.listen()
        api_port = api.getsockname()[1]
        with start_service(migrated, roles="ledger", unset=("CHATLEDGER_JWT_SECRET",),
                           extra_env={"CHATLEDGER_HTTP_PORT": str(api_port)}) as ledger:
            assert ledger.port != api_port
            async with aiohttp.ClientSession(ledger.ops_url) as http:

                async def ready() -> tuple[int, dict[str, bool]]:
                    async with http.get("/readyz") as response:
                        body = await response.json()
                        return response.status, {k: v["ok"] for k, v in body["checks"].items()}

                _, checks = await eventually(ready, until=lambda r: r[0] == 200,
                                             what="the ledger process ready")
    assert checks == dict.fromkeys(["mysql", "redis", "kafka", "ledger", "ledger_lag"], True)
