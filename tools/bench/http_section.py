"""The HTTP part of the bench: hello-world, each endpoint under wrk, the raw Redis page read,
and `serve --workers 2`; per window the server's CPU per accepted request."""

import asyncio
import json
import os
import subprocess
import time
from typing import TYPE_CHECKING, Any

from databases import Database

from chatledger.platform import redis_keys
from tests.helpers.service import free_port, stop
from tools.bench.console import log
from tools.bench.ledger import count
from tools.bench.peers import wait_listening
from tools.bench.population import Population
from tools.bench.stack import Stack, hello_server, serve_offers_workers, spawn
from tools.bench.stats import descendants
from tools.bench.wrk import HttpRequest, run_wrk

if TYPE_CHECKING:
    from tools.bench.run import Bench

# Below this a server's CPU per request is not comparable with a loaded one's (per process).
BUSY_ENOUGH_PCT = 80.0


def window(bench: "Bench", name: str, base: str, requests: list[HttpRequest],
           server: list[int]) -> dict[str, Any]:
    """wrk for one window; CPU per accepted request of the server process(es) alone."""
    meter = bench.meter(server=server)
    spy = bench.profiler(server[0], name)
    meter.start()
    started = time.monotonic()
    outcome: dict[str, Any] = run_wrk(base, requests, duration_s=bench.seconds,
                                      connections=bench.args.connections)
    outcome["cpu_pct"] = meter.stop(time.monotonic() - started)
    bench.keep_profile(name, spy.result())
    outcome["cpu_us_per_ok"] = (round(1e6 * meter.seconds["server"] / outcome["ok"], 1)
                                if outcome["ok"] else None)
    busy = outcome["cpu_pct"].get("server", 0.0)
    if len(server) == 1 and busy < BUSY_ENOUGH_PCT:  # N workers: their parent idles
        bench.warn(f"{name}: the server was {busy:.0f}% busy, so its CPU per request carries"
                   " idle wake-ups: more --connections would load it as hello-world is")
    bench.results["http"][name] = outcome
    log(f"{name}: {outcome['ok_per_s']}/s ok, p50 {outcome['p50_ms']} ms,"
        f" p99 {outcome['p99_ms']} ms, server CPU {outcome['cpu_us_per_ok']} µs per ok,"
        f" wrk cpu {outcome['loadgen_cpu_pct']}%")
    return outcome


def history_lines(people: Population) -> list[HttpRequest]:
    return [HttpRequest("GET", "/chat/event/history", viewer.token)
            for viewer in people.mix(2000, None)]


async def scenarios(bench: "Bench", db: Database, people: Population, hello: str,
                    hello_pid: int) -> None:
    api = bench.stack.urls["api"]
    api_pids = descendants(bench.stack.pid_of("api"))
    message = json.dumps({"message": "hello from the bench", "is_public": True})
    donation = json.dumps({"sum": "1.00", "message": {"message": "tip", "is_public": True}})
    window(bench, "hello_post", hello, [HttpRequest("POST", "/hello", None, message)],
           [hello_pid])
    window(bench, "hello_get", hello, [HttpRequest("GET", "/hello")], [hello_pid])
    for name, path, hot, body, senders in (
        ("post_message", "/chat/message/add", None, message, None),
        ("post_donation", "/chat/donate/add", None, donation, people.donors),
        ("post_message_hot", "/chat/message/add", 0.8, message, None),
    ):
        applied = await count(db, "applied_commands")
        outcome = window(bench, name, api, bench.post_lines(people, path, hot, body, senders),
                         api_pids)
        await bench.drain(db, applied + int(outcome["ok"]), name)
    window(bench, "history", api, history_lines(people), api_pids)


async def two_workers(bench: "Bench", db: Database, people: Population) -> None:
    """The same POST and history scenarios against `serve --roles api --workers 2`."""
    if not serve_offers_workers():
        bench.results["http"]["workers"] = "not available (serve has no --workers)"
        log("2 api workers: not available (serve has no --workers)")
        return
    port = free_port()
    process = spawn("api", {**bench.env, "CHATLEDGER_HTTP_PORT": str(port)},
                    bench.log_dir / f"service-api-2-workers-{port}.log", ("--workers", "2"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_listening(base + "/chat/event/history", process)
        pids = await wait_workers(process, 2)
        # Unmeasured: every worker listening, caches and connections warm.
        await asyncio.to_thread(run_wrk, base, history_lines(people), duration_s=1,
                                connections=bench.args.connections)
        bench.results["http"]["workers"] = f"{len(pids)} processes (parent + workers)"
        message = json.dumps({"message": "hello from the bench", "is_public": True})
        applied = await count(db, "applied_commands")
        outcome = window(bench, "post_message_2_workers", base,
                         bench.post_lines(people, "/chat/message/add", None, message),
                         pids)
        await bench.drain(db, applied + int(outcome["ok"]), "post_message_2_workers")
        window(bench, "history_2_workers", base, history_lines(people), pids)
    finally:
        stop(process)


async def wait_workers(process: subprocess.Popen[bytes], workers: int,
                       timeout_s: float = 30.0) -> list[int]:
    """The parent and its `workers` processes, once they all exist."""
    deadline = time.monotonic() + timeout_s
    while len(pids := descendants(process.pid)) < 1 + workers:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"serve --workers {workers}: only {len(pids)} processes")
        await asyncio.sleep(0.1)
    return pids


def redis_page(bench: "Bench", people: Population) -> None:
    """The raw peer of a history request: the one Redis command that returns its page, the
    newest `limit` events of the chat's mirror (scores are seqs; the marker scores below 1),
    driven by redis-benchmark with wrk's connection count."""
    key = redis_keys.history(bench.settings, people.hot_chat)
    command = ["ZRANGE", key, "+inf", "1", "BYSCORE", "REV", "LIMIT", "0", "20",
               "WITHSCORES"]
    check = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", *command],
                           check=True, capture_output=True, text=True)
    returned = len(check.stdout.splitlines()) // 2  # member, score, member, ...
    meter = bench.meter()
    meter.start()
    started = time.monotonic()
    before = os.times()
    done = subprocess.run(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", "6379", "-c",
         str(bench.args.connections), "-n", str(bench.args.redis_requests), "--csv", *command],
        check=True, capture_output=True, text=True)
    after = os.times()
    wall = time.monotonic() - started
    header, values = (line.replace('"', "").split(",") for line in
                      done.stdout.strip().splitlines()[-2:])
    row = dict(zip(header, values, strict=True))
    bench.results["redis"]["page"] = {
        "command": "ZRANGE key +inf 1 BYSCORE REV LIMIT 0 20 WITHSCORES",
        "returned": returned, "rps": float(row["rps"]),
        "p50_ms": float(row["p50_latency_ms"]), "p99_ms": float(row["p99_latency_ms"]),
        "loadgen_cpu_pct": round(100 * (after.children_user + after.children_system
                                        - before.children_user - before.children_system)
                                 / wall, 1),
        "cpu_pct": meter.stop(wall)}
    log(f"redis page read: {row['rps']}/s p99 {row['p99_latency_ms']} ms ({returned} events)")


async def section(bench: "Bench", db: Database, people: Population) -> None:
    bench.stack = Stack(bench.args.layout, bench.env, bench.log_dir)
    bench.service_pids = bench.stack.pids_by_roles
    try:
        await bench.warm_up(db, people)
        with hello_server(bench.log_dir) as (hello, hello_pid):
            await scenarios(bench, db, people, hello, hello_pid)
            redis_page(bench, people)
        try:
            await two_workers(bench, db, people)
        except (OSError, RuntimeError, TimeoutError) as exc:
            bench.warn(f"2 api workers did not run: {exc!r}")
        bench.stack.alive()
    finally:
        bench.stack.close()
        bench.service_pids = {}
