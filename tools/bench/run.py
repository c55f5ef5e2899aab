"""The bench run: stack, service, baselines, scenarios, then the table, results.json and README."""

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from databases import Database

from chatledger.config import Settings
from chatledger.db import database, migrate
from tests.helpers.service import free_port, spawn, stop, wait_http
from tools.bench import report
from tools.bench.ledger import bench_env, count, measure_ledger, raw_executemany, wait_count
from tools.bench.loadgen import Poster, ViewerPool
from tools.bench.population import Population, message_commands, populate
from tools.bench.stats import CpuMeter, percentile, pids_of
from tools.bench.wrk import HttpRequest, ensure_wrk, run_wrk

ROOT = Path(__file__).resolve().parents[2]
DSN = "mysql://root@127.0.0.1:3306/chatledger_bench"


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


class Stack:
    """The service processes of one layout ("api,history;gateway;ledger" = three processes)."""

    def __init__(self, layout: str, env: dict[str, str], log_dir: Path) -> None:
        self.urls: dict[str, str] = {}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.layout = layout.split(";")
        for roles in self.layout:
            port = free_port()
            process = spawn(roles, {**env, "CHATLEDGER_HTTP_PORT": str(port)},
                            log_dir / f"service-{port}.log")
            self.processes.append(process)
            for role in roles.split(","):
                self.urls[role.strip()] = f"http://127.0.0.1:{port}"
        for process, url in zip(self.processes, dict.fromkeys(self.urls.values()), strict=False):
            wait_http(url, process)

    @property
    def pids_by_roles(self) -> dict[str, list[int]]:
        """CPU is reported per service process, named by its roles."""
        return {f"service[{roles}]": [process.pid]
                for roles, process in zip(self.layout, self.processes, strict=True)}

    def close(self) -> None:
        for process in self.processes:
            stop(process)


@contextlib.contextmanager
def hello_server(log_dir: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    with (log_dir / "hello.log").open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "tools.bench.hello", str(port)],
                                   cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url + "/hello", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url, process.pid
    finally:
        stop(process)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.seconds: float = args.seconds
        self.run_id = f"b{int(time.time())}"
        self.prefix = f"{self.run_id}."
        self.env = bench_env(DSN, self.prefix)
        self.settings = Settings(mysql_dsn=DSN, prefix=self.prefix,
                                 jwt_secret=self.env["CHATLEDGER_JWT_SECRET"])
        self.log_dir = Path(tempfile.mkdtemp(prefix="chatledger-bench-"))
        self.results: dict[str, Any] = {"http": {}, "ledger": {}, "websocket": {}, "redis": {}}
        self.stack_pids = {name: pids_of(name) for name in ("mariadbd", "redis-server", "tansu")}
        self.service_pids: dict[str, list[int]] = {}
        self.hello_pid = 0

    def meter(self, *extra: int, **groups: list[int]) -> CpuMeter:
        return CpuMeter({**{k: v for k, v in self.stack_pids.items() if v},
                         **self.service_pids, **groups,
                         **({"loadgen": list(extra)} if extra else {})})

    # --- HTTP ------------------------------------------------------------------------------
    def http(self, name: str, base: str, requests: list[HttpRequest]) -> dict[str, Any]:
        meter = self.meter(**({"hello": [self.hello_pid]} if self.hello_pid else {}))
        meter.start()
        started = time.monotonic()
        outcome: dict[str, Any] = run_wrk(base, requests, duration_s=self.seconds,
                                          connections=self.args.connections)
        outcome["cpu_pct"] = meter.stop(time.monotonic() - started)
        self.results["http"][name] = outcome
        log(f"{name}: {outcome['ok_per_s']}/s ok, p50 {outcome['p50_ms']} ms,"
            f" p99 {outcome['p99_ms']} ms, wrk cpu {outcome['loadgen_cpu_pct']}%")
        return outcome

    async def drain(self, db: Database, expected: int, what: str) -> None:
        """Let the ledger finish the backlog a POST scenario left, so it does not skew the next."""
        started = time.monotonic()
        try:
            await wait_count(db, "applied_commands", expected, self.args.drain_timeout)
            log(f"drained {what} in {time.monotonic() - started:.1f}s")
        except TimeoutError:
            log(f"WARNING: ledger still behind after {what}")
            self.results.setdefault("warnings", []).append(f"ledger backlog after {what}")

    def post_lines(self, people: Population, path: str, hot: float | None,
                   body: str, senders: list[Any] | None = None) -> list[HttpRequest]:
        return [HttpRequest("POST", path, viewer.token, body)
                for viewer in people.mix(2000, hot, senders)]

    async def http_scenarios(self, db: Database, people: Population, hello: str) -> None:
        api = self.stack.urls["api"]
        message = json.dumps({"message": "hello from the bench", "is_public": True})
        donation = json.dumps({"sum": "1.00", "message": {"message": "tip", "is_public": True}})
        self.http("hello_post", hello, [HttpRequest("POST", "/hello", None, message)])
        self.http("hello_get", hello, [HttpRequest("GET", "/hello")])
        for name, path, hot, body, senders in (
            ("post_message", "/chat/message/add", None, message, None),
            ("post_donation", "/chat/donate/add", None, donation, people.donors),
            ("post_message_hot", "/chat/message/add", 0.8, message, None),
        ):
            applied = await count(db, "applied_commands")
            outcome = self.http(name, api, self.post_lines(people, path, hot, body, senders))
            await self.drain(db, applied + int(outcome["ok"]), name)
        self.http("history", api, [HttpRequest("GET", "/chat/event/history", viewer.token)
                                   for viewer in people.mix(2000, None)])

    def redis_baseline(self, people: Population) -> None:
        key = self.settings.redis_key("history", people.hot_chat)
        meter = self.meter()
        meter.start()
        started = time.monotonic()
        before = os.times()
        done = subprocess.run(
            ["redis-benchmark", "-h", "127.0.0.1", "-p", "6379", "-c",
             str(self.args.connections), "-n", str(self.args.redis_requests), "--csv",
             "ZRANGE", key, "0", "-1", "WITHSCORES"],
            check=True, capture_output=True, text=True)
        after = os.times()
        wall = time.monotonic() - started
        header, values = (line.replace('"', "").split(",") for line in
                          done.stdout.strip().splitlines()[-2:])
        row = dict(zip(header, values, strict=True))
        self.results["redis"] = {
            "rps": float(row["rps"]), "p50_ms": float(row["p50_latency_ms"]),
            "p99_ms": float(row["p99_latency_ms"]), "key_members": _zcard(key),
            "loadgen_cpu_pct": round(100 * (after.children_user + after.children_system
                                            - before.children_user - before.children_system)
                                     / wall, 1),
            "cpu_pct": meter.stop(wall)}
        log(f"redis ZRANGE: {row['rps']}/s p99 {row['p99_latency_ms']} ms")

    # --- ledger ---------------------------------------------------------------------------
    async def ledger_scenarios(self, db: Database, people: Population) -> None:
        n = self.args.ledger_commands
        plans = (("batched", self.args.batch_size, None, n),
                 ("hot", self.args.batch_size, 0.8, n),
                 ("batch_1", 1, None, self.args.batch1_commands))
        for name, batch, hot, size in plans:
            warmup, *commands = message_commands(people.mix(size + 1, hot, seed=len(name)))
            outcome = await measure_ledger(
                db, self.env, f"{self.run_id}{name}.", batch, warmup, commands, self.log_dir,
                lambda pid: self.meter(**{"service[ledger]": [pid]}))
            self.results["ledger"][name] = outcome
            log(f"ledger {name}: {outcome['commands_per_s']} commands/s,"
                f" {outcome['rows_per_s']} rows/s")
            if name == "batched":
                raw = await raw_executemany(DSN, self.args.batch_size, outcome["rows"])
                self.results["ledger"]["raw_executemany"] = raw
                log(f"raw executemany: {raw['rows_per_s']} rows/s")

    # --- websocket ------------------------------------------------------------------------
    def ws_urls(self, base: str, people: Population) -> list[str]:
        ws = base.replace("http://", "ws://")
        return [f"{ws}/ws?token={viewer.token}" for viewer in people.viewers]

    def raw_ws(self, hello: str, hello_pid: int, people: Population) -> None:
        pool = ViewerPool([f"{hello.replace('http://', 'ws://')}/ws"] * len(people.viewers))
        try:
            meter = self.meter(*pool.pids, hello=[hello_pid])
            meter.start()
            started = time.monotonic()
            pool.start_measure(self.seconds + 1)
            urllib.request.urlopen(urllib.request.Request(
                f"{hello}/blast?seconds={self.seconds}&size=300", method="POST"),
                timeout=self.seconds + 60).read()
            outcome = pool.collect()
            outcome["cpu_pct"] = meter.stop(time.monotonic() - started)
        finally:
            pool.close()
        outcome.update(viewers=pool.connected, latencies_ms=None)
        self.results["websocket"]["raw"] = outcome
        log(f"raw websocket loop: {outcome['deliveries_per_s']} deliveries/s to {pool.connected}")

    async def gateway_ws(self, db: Database, people: Population) -> None:
        pool = ViewerPool(self.ws_urls(self.stack.urls["gateway"], people))
        log(f"{pool.connected} viewers connected to the gateway ({pool.failed} failed)")
        api = self.stack.urls["api"]
        per_chat = len(people.viewers) / len(people.models)
        try:
            # Max load: wrk posts public messages as fast as it can; count what viewers receive.
            applied = await count(db, "applied_commands")
            meter = self.meter(*pool.pids)
            meter.start()
            started = time.monotonic()
            pool.start_measure(self.seconds)
            message = json.dumps({"message": "hello viewers", "is_public": True})
            flood = run_wrk(api, self.post_lines(people, "/chat/message/add", None, message),
                            duration_s=self.seconds, connections=self.args.connections)
            outcome = pool.collect()
            outcome["cpu_pct"] = meter.stop(time.monotonic() - started)
            outcome.update(viewers=pool.connected, viewers_per_chat=per_chat,
                           posts_ok_per_s=flood["ok_per_s"], latencies_ms=None,
                           wrk_cpu_pct=flood["loadgen_cpu_pct"])
            self.results["websocket"]["gateway"] = outcome
            log(f"gateway: {outcome['deliveries_per_s']} deliveries/s"
                f" (posts {flood['ok_per_s']}/s, viewers cpu {outcome['loadgen_cpu_pct']}%)")
            await self.drain(db, applied + int(flood["ok"]), "websocket flood")
            self.settle(pool)
            # Latency at half the max sustained load (the slowest stage of the pipeline).
            sustained = min(filter(None, [
                self.results["http"].get("post_message", {}).get("ok_per_s"),
                self.results["ledger"].get("batched", {}).get("commands_per_s"),
                outcome["deliveries_per_s"] / per_chat]))
            senders = [viewer.token for viewer in people.mix(2000, None)]
            curve = []
            for share in self.args.latency_shares:
                latency = self.paced_latency(pool, f"{api}/chat/message/add", senders,
                                             max(1.0, sustained * share))
                latency.update(share_of_max=share, max_sustained_per_s=round(sustained, 1))
                curve.append(latency)
                if share == 0.5:
                    self.results["websocket"]["latency"] = latency
            self.results["websocket"]["latency_curve"] = curve
        finally:
            pool.close()

    def settle(self, pool: ViewerPool, quiet_s: float = 0.5, timeout_s: float = 60.0) -> None:
        """Wait until the gateway has flushed what the flood left in its outboxes and on Kafka:
        a latency window that starts on a backlog would time the backlog, not the pipeline."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pool.start_measure(quiet_s)
            if pool.collect()["deliveries"] == 0:
                return
        log("WARNING: viewers still receiving the flood's backlog")

    def paced_latency(self, pool: ViewerPool, url: str, senders: list[str],
                      rate: float) -> dict[str, Any]:
        """POST at a fixed rate with a send time in each message; viewers time the arrival."""
        self.settle(pool)
        meter = self.meter(*pool.pids)
        meter.start()
        started = time.monotonic()
        pool.start_measure(self.seconds + 2)
        posted = Poster(url, senders, rate, self.seconds).result()
        latency = pool.collect()
        lat = latency.pop("latencies_ms")
        latency.update(rate_per_s=round(rate, 1), posted=posted,
                       p50_ms=_round(percentile(lat, 50)), p99_ms=_round(percentile(lat, 99)),
                       max_ms=_round(max(lat, default=None)), samples=len(lat),
                       cpu_pct=meter.stop(time.monotonic() - started))
        log(f"POST->ws at {rate:.0f}/s: p50 {latency['p50_ms']} ms p99 {latency['p99_ms']} ms"
            f" ({len(lat)} samples; POST p99 {posted['post_p99_ms']} ms)")
        return latency

    # --- the run --------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        started = time.monotonic()
        ensure_wrk()
        log(f"migrating {DSN} (recreate), prefix {self.prefix}, logs in {self.log_dir}")
        await migrate(DSN, recreate=True)
        db = database(DSN, 10)
        await db.connect()
        try:
            people = await populate(db, self.settings, self.args.chats, self.args.viewers,
                                    self.args.donors)
            log(f"{len(people.models)} chats, {len(people.viewers)} viewers")
            self.stack = Stack(self.args.layout, self.env, self.log_dir)
            self.service_pids = self.stack.pids_by_roles
            try:
                await self.warm_up(db, people)
                with hello_server(self.log_dir) as (hello, hello_pid):
                    self.hello_pid = hello_pid
                    await self.http_scenarios(db, people, hello)
                    self.redis_baseline(people)
                    self.raw_ws(hello, hello_pid, people)
                self.hello_pid = 0
                if "gateway" in self.stack.urls:
                    await self.gateway_ws(db, people)
            finally:
                self.stack.close()
            self.service_pids = {}
            await self.ledger_scenarios(db, people)
        finally:
            await db.disconnect()
        self.results["run"] = {
            "finished": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "layout": self.args.layout, "seconds_per_scenario": self.seconds,
            "viewers": self.args.viewers, "chats": self.args.chats,
            "connections": self.args.connections, "total_s": round(time.monotonic() - started),
            "cpus": os.cpu_count(), "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        }
        self.results["targets"] = report.evaluate(self.results)
        return self.results

    async def warm_up(self, db: Database, people: Population) -> None:
        """The ledger's group join takes seconds: wait until a POST is applied before timing."""
        applied = await count(db, "applied_commands")
        body = json.dumps({"message": "warm-up", "is_public": True}).encode()
        request = urllib.request.Request(
            self.stack.urls["api"] + "/chat/message/add", data=body, method="POST",
            headers={"Authorization": f"Bearer {people.viewers[0].token}",
                     "Content-Type": "application/json"})
        await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).read())
        await wait_count(db, "applied_commands", applied + 1, 60)
        # Then 2 s of unmeasured POSTs from everyone: connections, caches and the Kafka
        # producer's partition leaders are warm before the first measured scenario.
        message = json.dumps({"message": "warm-up", "is_public": True})
        applied = await count(db, "applied_commands")
        warm = await asyncio.to_thread(
            run_wrk, self.stack.urls["api"],
            self.post_lines(people, "/chat/message/add", None, message),
            duration_s=2, connections=self.args.connections)
        await self.drain(db, applied + int(warm["ok"]), "warm-up")


def _zcard(key: str) -> int:
    """How many members the range read returned each time (the mirror's events + its marker)."""
    done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "ZCARD", key],
                          check=True, capture_output=True, text=True)
    return int(done.stdout.strip() or 0)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    # Default: one process per concern, so the service can use both cores like a deployment
    # would ("api,gateway,ledger,history" puts everything in one process, as `make run` does).
    p.add_argument("--layout", default="api,history;gateway;ledger",
                   help="service processes, ';' between them: e.g. 'api,history;gateway;ledger'")
    p.add_argument("--seconds", type=float, default=8.0, help="measurement window per scenario")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--viewers", type=int, default=1000)
    p.add_argument("--chats", type=int, default=10)
    p.add_argument("--donors", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--ledger-commands", type=int, default=20_000)
    p.add_argument("--batch1-commands", type=int, default=1_000)
    p.add_argument("--redis-requests", type=int, default=40_000)
    p.add_argument("--latency-shares", type=float, nargs="+", default=[0.1, 0.25, 0.5],
                   help="POST -> websocket latency at these shares of the max sustained rate")
    p.add_argument("--drain-timeout", type=float, default=120.0)
    p.add_argument("--output", type=Path, default=ROOT / "bench" / "results.json")
    p.add_argument("--readme", type=Path, default=ROOT / "README.md")
    p.add_argument("--no-write", action="store_true", help="print only; leave files alone")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    results = asyncio.run(Bench(args).run())
    print(report.text_table(results))
    if not args.no_write:
        report.write(results, args.output, args.readme)
        log(f"wrote {args.output} and the README block")
    return 0
