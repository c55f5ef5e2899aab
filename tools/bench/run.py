"""The bench run: stack, service, baselines and peers, scenarios, then the table, results.json,
the latency chart and the block of docs/performance.md.

Order: HTTP (hello-world, each endpoint, the raw Redis page read, 2 api workers), the pipeline
with 1,000 viewers attached (its max found by stepping the rate, then the latency curve), the
fan-out against the fair peers (with idle-socket memory), the ledger against its raw-SQL peer,
then the ledger beside 1,000 shows billed by the minute (`shows.py`).
"""

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import subprocess
import tempfile
import time
import urllib.request
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from databases import Database

from chatledger.platform import redis_keys
from chatledger.platform.config import Settings
from chatledger.platform.db import database, migrate
from chatledger.platform.redis_client import redis_client
from tools.bench import chart, compare, http_section, pipeline, report, shows, targets
from tools.bench.console import log
from tools.bench.ledger import bench_env, count, measure_ledger, raw_same_writes, wait_count
from tools.bench.options import parse
from tools.bench.peers import FanOutBench, record
from tools.bench.population import Population, ledger_commands, open_goals, populate
from tools.bench.profile import NoProfiler, Profiler, profiler
from tools.bench.stack import Stack
from tools.bench.stats import CpuMeter, pids_of
from tools.bench.viewers import raise_fd_limit
from tools.bench.wrk import HttpRequest, ensure_wrk, run_wrk

ROOT = Path(__file__).resolve().parents[2]
# BENCH_MYSQL_DSN: another database, so that two runs on one MariaDB do not recreate each other's.
DSN = os.environ.get("BENCH_MYSQL_DSN", "mysql://root@127.0.0.1:3306/chatledger_bench")
CHART = Path("bench") / "latency.png"
WATERFALL = Path("bench") / "waterfall.png"


def measured_commit() -> str:
    """The commit measured, "+dirty" when tracked files differ from it (the bench's own outputs
    aside: they are rewritten by the run)."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=False).stdout.strip() or "unknown"
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                              ".", ":!bench", ":!docs/performance.md"], cwd=ROOT,
                             capture_output=True, text=True, check=False).stdout.strip()
    return head + ("+dirty" if changed else "")


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.seconds: float = args.seconds
        self.run_id = f"b{int(time.time())}"
        self.prefix = f"{self.run_id}."
        self.env = bench_env(DSN, self.prefix)
        if args.kafka:
            self.env["CHATLEDGER_KAFKA_BOOTSTRAP"] = args.kafka
        for setting in args.set:  # e.g. KAFKA_FETCH_MAX_WAIT_MS=5 for every process of the run
            name, _, value = setting.partition("=")
            self.env[f"CHATLEDGER_{name.upper()}"] = value
        # The waterfall's stamps (chatledger/platform/stages.py) only where a waterfall is drawn
        # (the pipeline and the comparison with the bare peer, which stamps the same stages):
        # elsewhere the service runs as deployed, so its CPU is its own, not its tracing's.
        self.traced = {**self.env, "CHATLEDGER_TRACE_STAGES": "1"} if args.stages else self.env
        self.settings = Settings(mysql_dsn=DSN, prefix=self.prefix,
                                 jwt_secret=self.env["CHATLEDGER_JWT_SECRET"])
        self.log_dir = Path(tempfile.mkdtemp(prefix="chatledger-bench-"))
        self.results: dict[str, Any] = {"http": {}, "ledger": {}, "fanout": {}, "redis": {},
                                        "pipeline": {}}
        # The shared stack only: tests start private brokers beside it (the shared mariadbd
        # runs on its default port, so it has no port argument to tell it by). The broker is the
        # one the run uses: with --kafka, the private Tansu listening or advertised there.
        self.stack_pids = {"mariadbd": pids_of("mariadbd"),
                           "redis-server": pids_of("redis-server", "6379"),
                           "tansu": pids_of("tansu", args.kafka or "127.0.0.1:9092")}
        self.service_pids: dict[str, list[int]] = {}

    def meter(self, *loadgen: int, **groups: list[int]) -> CpuMeter:
        return CpuMeter({**{k: v for k, v in self.stack_pids.items() if v},
                         **self.service_pids, **groups,
                         **({"loadgen": list(loadgen)} if loadgen else {})})

    def profiler(self, pid: int, name: str) -> Profiler | NoProfiler:
        return profiler(self.args.profile, pid, self.log_dir / f"profile-{name}.txt")

    def keep_profile(self, name: str, profile: dict[str, Any] | None) -> None:
        if profile is not None:
            self.results.setdefault("profiles", {})[name] = profile

    def warn(self, text: str) -> None:
        log(f"WARNING: {text}")
        self.results.setdefault("warnings", []).append(text)

    async def drain(self, db: Database, expected: int, what: str,
                    table: str = "applied_commands") -> None:
        """Let the ledger finish the backlog a POST scenario left, so it does not skew the next."""
        started = time.monotonic()
        try:
            await wait_count(db, table, expected, self.args.drain_timeout)
            log(f"drained {what} in {time.monotonic() - started:.1f}s")
        except TimeoutError:
            self.warn(f"ledger backlog after {what}")

    def post_lines(self, people: Population, path: str, hot: float | None,
                   body: str, senders: list[Any] | None = None) -> list[HttpRequest]:
        return [HttpRequest("POST", path, viewer.token, body)
                for viewer in people.mix(2000, hot, senders)]

    # --- fan-out against the peers ----------------------------------------------------------
    async def fanout(self, db: Database, people: Population) -> None:
        recording_path = self.log_dir / "recording.jsonl"
        recording = await record(db, self.args.fanout_events, recording_path)
        log(f"recorded {len(recording)} events for the fan-out")
        bench = FanOutBench(self.seconds, self.log_dir, self.meter, self.args.idle_sockets,
                            self.args.node_modes, self.args.viewer_processes,
                            self.profiler if self.args.profile else None)
        prefix = f"{self.run_id}fan."
        settings = Settings(mysql_dsn=DSN, prefix=prefix,
                            jwt_secret=self.env["CHATLEDGER_JWT_SECRET"])
        tokens = [viewer.token for viewer in people.viewers]
        per_chat = len(people.viewers) / len(people.models)
        gateway = await asyncio.to_thread(bench.gateway, {**self.env, "CHATLEDGER_PREFIX": prefix},
                                          settings, recording, tokens, per_chat)
        self.results["fanout"]["gateway"] = gateway
        peers = await asyncio.to_thread(bench.peers, recording_path, len(recording),
                                        [model.uuid for model in people.models],
                                        len(people.viewers))
        self.results["fanout"].update(peers)
        for name, data in self.results["fanout"].items():
            self.keep_profile(f"fanout_{name}", data.pop("profile", None))
            if "error" in data:
                self.warn(f"fan-out {name} did not run: {data['error']}")
                continue
            if data.get("viewers_saturated"):
                self.warn(f"fan-out {name}: the viewers used {data['viewers_cpu_pct']}% CPU,"
                          " near a core per process: they may have limited the rate"
                          " (try --viewer-processes)")
            log(f"fan-out {name}: {data['rate_per_s']} deliveries/s"
                f" ({data['server_cpu_us_per_delivery']} µs CPU each, {data['open_sockets']}"
                f" open), idle {data['idle']['kib_per_connection']} KiB per socket,"
                f" {data['idle']['sockets']} connected in {data['idle']['connect_s']} s")

    # --- ledger ---------------------------------------------------------------------------
    async def ledger_scenarios(self, db: Database, people: Population) -> None:
        await open_goals(db, people)
        n = self.args.ledger_commands
        plans = (("batched", self.args.batch_size, None, n),
                 ("hot", self.args.batch_size, 0.8, n),
                 ("batch_1", 1, None, self.args.batch1_commands))
        for name, batch, hot, size in plans:
            warmup, *commands = ledger_commands(people, size + 1, hot,
                                                self.args.donation_share, seed=len(name))
            outcome = await measure_ledger(
                db, self.env, f"{self.run_id}{name}.", batch, warmup, commands, self.log_dir,
                lambda pid: self.meter(ledger=[pid]),
                lambda pid, name=name: self.profiler(pid, f"ledger_{name}"))
            self.keep_profile(f"ledger_{name}", outcome.pop("profile", None))
            self.results["ledger"][name] = outcome
            log(f"ledger {name}: {outcome['commands_per_s']} commands/s,"
                f" {outcome['rows_per_s']} event rows/s")
            if name == "batched":
                raw = await raw_same_writes(DSN, commands, outcome.pop("after_id"),
                                            self.args.batch_size)
                self.results["ledger"]["raw_same_writes"] = raw
                log(f"raw SQL, same writes: {raw['commands_per_s']} commands/s")
            outcome.pop("after_id", None)

    # --- the run --------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        started = time.monotonic()
        loadavg_at_start = [round(x, 2) for x in os.getloadavg()]
        commit = measured_commit()  # at the start: what runs is what was checked out then
        ensure_wrk()
        raise_fd_limit(4 * self.args.idle_sockets + 4096)  # inherited by every server we spawn
        log(f"migrating {DSN} (recreate), prefix {self.prefix}, logs in {self.log_dir}")
        await migrate(DSN, recreate=True)
        db = database(DSN, 10)
        await db.connect()
        try:
            people = await populate(db, self.settings, self.args.chats, self.args.viewers,
                                    self.args.donors)
            log(f"{len(people.models)} chats, {len(people.viewers)} viewers")
            if "http" not in self.args.skip:
                await http_section.section(self, db, people)
            if "gateway" in self.args.layout and "pipeline" not in self.args.skip:
                # Not on the HTTP section's topics (~67,000 commands and as many events by
                # then): the bare pipeline, whose max this one's is compared with, gets new ones.
                await pipeline.run(self, db, people)
            if "compare" not in self.args.skip:
                await compare.run(self, db, people)
            if self.args.sweep_fetch_wait or self.args.sweep_linger:
                await compare.sweep(self, db, people)
            if "fanout" not in self.args.skip:
                await self.fanout(db, people)
            if "ledger" not in self.args.skip:
                await self.ledger_scenarios(db, people)
            if "shows" not in self.args.skip:  # last: its shows stay in the database
                self.results["shows"] = await shows.measure_shows(
                    db, self.env, f"{self.run_id}shows.", people, self.args, self.log_dir,
                    lambda pid: self.meter(ledger=[pid]))
                log(f"shows: {shows.summary(self.results['shows'])}")
        finally:
            await db.disconnect()
        self.results["run"] = {
            "finished": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "quick": self.args.quick, "layout": self.args.layout,
            "seconds_per_scenario": self.seconds, "viewers": self.args.viewers,
            "chats": self.args.chats, "connections": self.args.connections,
            "total_s": round(time.monotonic() - started), "cpus": os.cpu_count(),
            "loadavg_at_start": loadavg_at_start, "settings": self.args.set,
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
            "commit": commit,
        }
        self.results["targets"] = targets.evaluate(self.results)
        return self.results

    @contextlib.asynccontextmanager
    async def fresh_stack(self, db: Database, people: Population, layout: str, label: str,
                          **settings: str) -> AsyncIterator["Stack"]:
        """The service on topics and Redis keys of its own, new like each bare-pipeline peer's
        (Tansu keeps every record in memory: the two are compared on brokers in the same state),
        warmed up; `settings`: more CHATLEDGER_* variables for it."""
        prefix = f"{self.prefix}{label}."
        shared = self.settings
        self.settings = Settings(mysql_dsn=shared.mysql_dsn, prefix=prefix,
                                 jwt_secret=shared.jwt_secret)
        stack = Stack(layout, {**self.traced, **settings, "CHATLEDGER_PREFIX": prefix},
                      self.log_dir)
        self.stack, self.service_pids = stack, stack.pids_by_roles
        try:
            await self.warm_up(db, people)
            yield stack
            stack.alive()
        finally:
            stack.close()
            self.service_pids = {}
            self.settings = shared

    async def warm_up(self, db: Database, people: Population) -> None:
        """Ready by effect: a POST applied by the ledger and mirrored by the history projector
        (their processes need not answer HTTP). Then 2 s of unmeasured POSTs from everyone, so
        connections, caches and the producer's partition leaders are warm."""
        applied = await count(db, "applied_commands")
        message = json.dumps({"message": "warm-up", "is_public": True})
        viewer = people.viewers[0]
        request = urllib.request.Request(
            self.stack.urls["api"] + "/chat/message/add", data=message.encode(), method="POST",
            headers={"Authorization": f"Bearer {viewer.token}",
                     "Content-Type": "application/json"})
        await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).read())
        await wait_count(db, "applied_commands", applied + 1, 60)
        if "history" in self.stack.urls:
            await self.wait_mirrored(viewer.chat)
        self.stack.alive()
        applied = await count(db, "applied_commands")
        warm = await asyncio.to_thread(
            run_wrk, self.stack.urls["api"],
            self.post_lines(people, "/chat/message/add", None, message),
            duration_s=2, connections=self.args.connections)
        await self.drain(db, applied + int(warm["ok"]), "warm-up")

    async def wait_mirrored(self, chat: str, timeout_s: float = 60) -> None:
        key = redis_keys.history(self.settings, chat)
        client = redis_client(self.settings)
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if await client.zcount(key, 1, "+inf"):
                    return
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        raise TimeoutError(f"the history projector did not mirror {key} in {timeout_s}s")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # INSERT IGNORE and DROP TABLE IF EXISTS notes from MariaDB are expected here.
    warnings.filterwarnings("ignore", module="aiomysql")
    results = asyncio.run(Bench(args).run())
    print(report.text_table(results))
    if not args.no_write:
        drawn = chart.draw(results, ROOT / CHART)
        chart.draw_waterfall(results, ROOT / WATERFALL)
        link = os.path.relpath(ROOT / CHART, args.report.parent) if drawn else None
        report.write(results, args.output, args.report, link)
        log(f"wrote {args.output}, {CHART if drawn else 'no chart'} and {args.report}")
    return 0
