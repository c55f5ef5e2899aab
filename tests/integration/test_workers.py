"""`chatledger serve --workers 2`: two processes on one port, both serving; one exit stops all."""

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from databases import Database
from prometheus_client.parser import text_string_to_metric_families

from chatledger.platform.config import Settings
from tests.helpers.people import People
from tests.helpers.service import ROOT, free_port, stop, wait_http
from tests.helpers.wait import eventually


class Workers:
    def __init__(self, tmp_path: Path, workers: int = 2) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "workers.log"
        env = {**os.environ, "CHATLEDGER_HTTP_PORT": str(self.port)}
        with self.log_path.open("ab") as out:
            self.parent = subprocess.Popen(
                [sys.executable, "-m", "chatledger", "serve", "--roles", "api",
                 "--workers", str(workers)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )

    def lines(self) -> list[dict[str, Any]]:
        text = self.log_path.read_text(errors="replace")
        return [json.loads(line) for line in text.split("\n") if line.startswith("{")]

    def worker_pids(self) -> list[int]:
        started = [line for line in self.lines() if line.get("msg") == "workers started"]
        return list(started[0]["pids"]) if started else []


@pytest.fixture
def workers(migrated: Settings, tmp_path: Path) -> Iterator[Workers]:
    running = Workers(tmp_path)
    try:
        wait_http(running.url, running.parent)
        yield running
    finally:
        stop(running.parent)


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that may never come has stopped serving)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_both_workers_serve_the_port_and_a_sigterm_stops_them_all(
    workers: Workers, people: People, db: Database, service: object
) -> None:
    model = await people.model()
    viewer = await people.client(model)
    accepted: list[str] = []

    async def post_on_a_new_connection() -> set[int]:
        # A fresh connection each time: the kernel picks a listening worker per connection.
        async with (aiohttp.ClientSession(workers.url) as http,
                    http.post("/chat/message/add", headers=viewer.headers,
                              json={"message": "which worker?", "is_public": True}) as answer):
            assert answer.status == 201, await answer.text()
            accepted.append((await answer.json())["id"])
        return {line["pid"] for line in workers.lines() if line.get("command_id") in accepted}

    pids = set(workers.worker_pids())
    assert len(pids) == 2 and workers.parent.pid not in pids
    served_by = await eventually(post_on_a_new_connection, until=lambda seen: seen == pids,
                                 what="requests answered by both workers")
    assert served_by == pids

    async def applied() -> int:
        return int(await db.fetch_val(
            "SELECT COUNT(*) FROM applied_commands WHERE command_id IN ("
            + ",".join(f"'{c}'" for c in accepted) + ")"))

    # /metrics, whichever worker answers, counts the requests of both
    async with (aiohttp.ClientSession(workers.url) as http,
                http.get("/metrics") as scrape):
        text = await scrape.text()
    counted = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "chatledger_http_requests_total"
        and sample.labels == {"method": "POST", "route": "/chat/message/add", "status": "201"}
    ]
    assert counted == [len(accepted)]

    # the session's ledger (the shared service, same prefix) applies every accepted command once
    await eventually(applied, until=lambda n: n == len(accepted), what="every 201 applied")

    directory = next(line["metrics"] for line in workers.lines()
                     if line.get("msg") == "workers started")
    workers.parent.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(workers.parent.wait, 20) == 0
    assert not any(alive(pid) for pid in pids)
    assert not await asyncio.to_thread(os.path.exists, directory)  # the metrics dir is removed


async def test_a_worker_that_dies_stops_the_others_and_the_parent_fails(workers: Workers) -> None:
    first, second = workers.worker_pids()
    os.kill(second, signal.SIGKILL)
    code = await asyncio.to_thread(workers.parent.wait, 20)
    assert code != 0
    await eventually(lambda: asyncio.sleep(0, result=alive(first)), until=lambda up: not up,
                     what="the other worker stopped")
    assert any("exited with" in line.get("msg", "") for line in workers.lines())


async def test_workers_do_not_outlive_a_killed_parent(workers: Workers) -> None:
    pids = workers.worker_pids()
    workers.parent.kill()
    await asyncio.to_thread(workers.parent.wait, 20)
    await eventually(lambda: asyncio.sleep(0, result=[p for p in pids if alive(p)]),
                     until=lambda left: left == [], what="workers gone with their parent")
