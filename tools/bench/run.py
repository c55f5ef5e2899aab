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
import sys
import tempfile
import time
import urllib.request
import warnings
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from databases import Database

from chatledger.platform import redis_keys
from chatledger.platform.config import Settings
from chatledger.platform.db import database, migrate
from chatledger.platform.redis_client import redis_client
from tests.helpers.service import free_port, stop
from tools.bench import chart, compare, curve, fan_out, report, shows, waterfall
from tools.bench.ledger import bench_env, count, measure_ledger, raw_same_writes, wait_count
from tools.bench.loadgen import Poster
from tools.bench.peers import FanOutBench, record, wait_listening
from tools.bench.population import Population, ledger_commands, open_goals, populate
from tools.bench.profile import NoProfiler, Profiler, profiler
from tools.bench.stats import CpuMeter, descendants, percentile, pids_of
from tools.bench.viewers import ViewerPool, attached, raise_fd_limit
from tools.bench.wrk import HttpRequest, ensure_wrk, run_wrk

ROOT = Path(__file__).resolve().parents[2]
# BENCH_MYSQL_DSN: another database, so that two runs on one MariaDB do not recreate each other's.
# Below this a server's CPU per request is not comparable with a loaded one's (per process).
BUSY_ENOUGH_PCT = 80.0
DSN = os.environ.get("BENCH_MYSQL_DSN", "mysql://root@127.0.0.1:3306/chatledger_bench")
CHART = Path("bench") / "latency.png"
WATERFALL = Path("bench") / "waterfall.png"


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


def measured_commit() -> str:
    """The commit measured, "+dirty" when tracked files differ from it (the bench's own outputs
    aside: they are rewritten by the run)."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=False).stdout.strip() or "unknown"
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                              ".", ":!bench", ":!docs/performance.md"], cwd=ROOT,
                             capture_output=True, text=True, check=False).stdout.strip()
    return head + ("+dirty" if changed else "")


def serve_offers_workers() -> bool:
    """`serve --workers N` (SO_REUSEPORT) exists in this checkout's CLI."""
    done = subprocess.run([sys.executable, "-m", "chatledger", "serve", "--help"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    return "--workers" in done.stdout


def spawn(roles: str, env: dict[str, str], log_path: Path,
          extra: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as out:
        return subprocess.Popen(
            # BENCH_STALLWATCH=1: the service under tools/bench/stallwatch.py (GC pauses, loop lag)
            [sys.executable, "-m", "tools.bench.stallwatch" if env.get("BENCH_STALLWATCH")
             else "chatledger", "serve", "--roles", roles, *extra],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


class Stack:
    """The service processes of one layout ("api;history;gateway;ledger" = four processes).

    Only the roles that serve HTTP by nature are waited for over HTTP (the api, the gateway's
    /ws); a ledger- or history-only process is ready when its effect shows (see Bench.warm_up).
    """

    def __init__(self, layout: str, env: dict[str, str], log_dir: Path) -> None:
        self.urls: dict[str, str] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        for roles in layout.split(";"):
            port = free_port()
            process = spawn(roles, {**env, "CHATLEDGER_HTTP_PORT": str(port)},
                            log_dir / f"service-{roles.replace(',', '+')}-{port}.log")
            self.processes[roles] = process
            for role in roles.split(","):
                self.urls[role.strip()] = f"http://127.0.0.1:{port}"
        try:
            for roles, process in self.processes.items():
                names = set(roles.split(","))
                if "api" in names:
                    wait_listening(self.urls["api"] + "/chat/event/history", process)
                elif "gateway" in names:
                    wait_listening(self.urls["gateway"] + "/ws", process)
        except BaseException:
            self.close()  # none left running to load the machine for the runs after this one
            raise

    def pid_of(self, role: str) -> int:
        return next(p.pid for roles, p in self.processes.items() if role in roles.split(","))

    @property
    def pids_by_roles(self) -> dict[str, list[int]]:
        """CPU is reported per service process, named by its roles."""
        return {roles: [process.pid] for roles, process in self.processes.items()}

    def alive(self) -> None:
        for roles, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"service process {roles} exited with {process.returncode}")

    def close(self) -> None:
        for process in self.processes.values():
            stop(process)


@contextlib.contextmanager
def hello_server(log_dir: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    with (log_dir / "hello.log").open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "tools.bench.hello", str(port)],
                                   cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_listening(url + "/hello", process)
        yield url, process.pid
    finally:
        stop(process)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _p50_p99(values: list[float]) -> list[float | None] | None:
    return [_round(percentile(values, 50)), _round(percentile(values, 99))] if values else None


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

    # --- HTTP ------------------------------------------------------------------------------
    def http(self, name: str, base: str, requests: list[HttpRequest],
             server: list[int]) -> dict[str, Any]:
        """wrk for one window; CPU per accepted request of the server process(es) alone."""
        meter = self.meter(server=server)
        spy = self.profiler(server[0], name)
        meter.start()
        started = time.monotonic()
        outcome: dict[str, Any] = run_wrk(base, requests, duration_s=self.seconds,
                                          connections=self.args.connections)
        outcome["cpu_pct"] = meter.stop(time.monotonic() - started)
        self.keep_profile(name, spy.result())
        outcome["cpu_us_per_ok"] = (round(1e6 * meter.seconds["server"] / outcome["ok"], 1)
                                    if outcome["ok"] else None)
        busy = outcome["cpu_pct"].get("server", 0.0)
        if len(server) == 1 and busy < BUSY_ENOUGH_PCT:  # N workers: their parent idles
            self.warn(f"{name}: the server was {busy:.0f}% busy, so its CPU per request carries"
                      " idle wake-ups: more --connections would load it as hello-world is")
        self.results["http"][name] = outcome
        log(f"{name}: {outcome['ok_per_s']}/s ok, p50 {outcome['p50_ms']} ms,"
            f" p99 {outcome['p99_ms']} ms, server CPU {outcome['cpu_us_per_ok']} µs per ok,"
            f" wrk cpu {outcome['loadgen_cpu_pct']}%")
        return outcome

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

    def history_lines(self, people: Population) -> list[HttpRequest]:
        return [HttpRequest("GET", "/chat/event/history", viewer.token)
                for viewer in people.mix(2000, None)]

    async def http_scenarios(self, db: Database, people: Population, hello: str,
                             hello_pid: int) -> None:
        api = self.stack.urls["api"]
        api_pids = descendants(self.stack.pid_of("api"))
        message = json.dumps({"message": "hello from the bench", "is_public": True})
        donation = json.dumps({"sum": "1.00", "message": {"message": "tip", "is_public": True}})
        self.http("hello_post", hello, [HttpRequest("POST", "/hello", None, message)],
                  [hello_pid])
        self.http("hello_get", hello, [HttpRequest("GET", "/hello")], [hello_pid])
        for name, path, hot, body, senders in (
            ("post_message", "/chat/message/add", None, message, None),
            ("post_donation", "/chat/donate/add", None, donation, people.donors),
            ("post_message_hot", "/chat/message/add", 0.8, message, None),
        ):
            applied = await count(db, "applied_commands")
            outcome = self.http(name, api, self.post_lines(people, path, hot, body, senders),
                                api_pids)
            await self.drain(db, applied + int(outcome["ok"]), name)
        self.http("history", api, self.history_lines(people), api_pids)

    async def two_workers(self, db: Database, people: Population) -> None:
        """The same POST and history scenarios against `serve --roles api --workers 2`."""
        if not serve_offers_workers():
            self.results["http"]["workers"] = "not available (serve has no --workers)"
            log("2 api workers: not available (serve has no --workers)")
            return
        port = free_port()
        process = spawn("api", {**self.env, "CHATLEDGER_HTTP_PORT": str(port)},
                        self.log_dir / f"service-api-2-workers-{port}.log", ("--workers", "2"))
        base = f"http://127.0.0.1:{port}"
        try:
            wait_listening(base + "/chat/event/history", process)
            pids = await self.wait_workers(process, 2)
            # Unmeasured: every worker listening, caches and connections warm.
            await asyncio.to_thread(run_wrk, base, self.history_lines(people), duration_s=1,
                                    connections=self.args.connections)
            self.results["http"]["workers"] = f"{len(pids)} processes (parent + workers)"
            message = json.dumps({"message": "hello from the bench", "is_public": True})
            applied = await count(db, "applied_commands")
            outcome = self.http("post_message_2_workers", base,
                                self.post_lines(people, "/chat/message/add", None, message),
                                pids)
            await self.drain(db, applied + int(outcome["ok"]), "post_message_2_workers")
            self.http("history_2_workers", base, self.history_lines(people), pids)
        finally:
            stop(process)

    @staticmethod
    async def wait_workers(process: subprocess.Popen[bytes], workers: int,
                           timeout_s: float = 30.0) -> list[int]:
        """The parent and its `workers` processes, once they all exist."""
        deadline = time.monotonic() + timeout_s
        while len(pids := descendants(process.pid)) < 1 + workers:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve --workers {workers}: only {len(pids)} processes")
            await asyncio.sleep(0.1)
        return pids

    def redis_page(self, people: Population) -> None:
        """The raw peer of a history request: the one Redis command that returns its page, the
        newest `limit` events of the chat's mirror (scores are seqs; the marker scores below 1),
        driven by redis-benchmark with wrk's connection count."""
        key = redis_keys.history(self.settings, people.hot_chat)
        command = ["ZRANGE", key, "+inf", "1", "BYSCORE", "REV", "LIMIT", "0", "20",
                   "WITHSCORES"]
        check = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", *command],
                               check=True, capture_output=True, text=True)
        returned = len(check.stdout.splitlines()) // 2  # member, score, member, ...
        meter = self.meter()
        meter.start()
        started = time.monotonic()
        before = os.times()
        done = subprocess.run(
            ["redis-benchmark", "-h", "127.0.0.1", "-p", "6379", "-c",
             str(self.args.connections), "-n", str(self.args.redis_requests), "--csv", *command],
            check=True, capture_output=True, text=True)
        after = os.times()
        wall = time.monotonic() - started
        header, values = (line.replace('"', "").split(",") for line in
                          done.stdout.strip().splitlines()[-2:])
        row = dict(zip(header, values, strict=True))
        self.results["redis"]["page"] = {
            "command": "ZRANGE key +inf 1 BYSCORE REV LIMIT 0 20 WITHSCORES",
            "returned": returned, "rps": float(row["rps"]),
            "p50_ms": float(row["p50_latency_ms"]), "p99_ms": float(row["p99_latency_ms"]),
            "loadgen_cpu_pct": round(100 * (after.children_user + after.children_system
                                            - before.children_user - before.children_system)
                                     / wall, 1),
            "cpu_pct": meter.stop(wall)}
        log(f"redis page read: {row['rps']}/s p99 {row['p99_latency_ms']} ms ({returned} events)")

    # --- the pipeline with viewers attached ---------------------------------------------------
    async def settle(self, db: Database, pool: ViewerPool, applied: int,
                     table: str = "applied_commands") -> None:
        """Until the ledger has applied every accepted POST and the viewers receive nothing:
        a window that starts on a backlog would time the backlog, not the pipeline."""
        await self.drain(db, applied, "paced POSTs", table)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if pool.measure(0.5)["deliveries"] == 0:
                return
        self.warn("viewers still receiving a backlog after 60 s")

    async def paced(self, db: Database, pool: ViewerPool, senders: list[str], rate: float,
                    seconds: float, per_chat: float, api: str | None = None,
                    table: str = "applied_commands") -> tuple[curve.Trial, dict[str, Any]]:
        """POST at `rate` for `seconds` (open loop) to `api` (default: the service's); the
        viewers time every arrival. `table` holds a row per applied command."""
        applied = await count(db, table)
        meter = self.meter(*pool.pids)
        meter.start()
        started, started_at = time.monotonic(), time.time()
        gateway = api or self.stack.urls["gateway"]  # one process serves every role's /metrics
        batches = await fan_out.scrape(gateway)
        pool.start_measure(None)
        posted = Poster(f"{api or self.stack.urls['api']}/chat/message/add", senders, rate,
                        seconds).result()
        await asyncio.sleep(self.args.grace)  # the last POSTs' events are still on their way
        got = pool.finish()
        cpu = meter.stop(time.monotonic() - started)
        fan_out_ms = fan_out.summary(batches, await fan_out.scrape(gateway))
        cpu["poster"] = posted["loadgen_cpu_pct"]
        accepted = posted["accepted"]
        # The warm-up's unmarked messages reach the viewers too.
        expected = int((accepted + posted["warmup_accepted"]) * per_chat)
        trial = curve.judge(rate, posted["sent"], accepted, posted["achieved_per_s"],
                            expected, got["deliveries"], got["sent_ns"], got["total_ms"])
        total = got["total_ms"]
        point = {
            "rate_per_s": round(rate, 1), "posted": posted["sent"], "accepted": accepted,
            "deliveries": got["deliveries"], "expected": expected,
            "window": [started_at, time.time()],
            "samples": len(total), "p50_ms": _round(percentile(total, 50)),
            "p99_ms": _round(percentile(total, 99)), "p999_ms": _round(percentile(total, 99.9)),
            "max_ms": _round(max(total, default=None)),
            "ledger_leg_ms": _p50_p99(got["ledger_leg_ms"]),
            "viewer_leg_ms": _p50_p99(got["viewer_leg_ms"]),
            "post_p50_p99_ms": [posted["post_p50_ms"], posted["post_p99_ms"]],
            "cpu_pct": cpu, "open_sockets": got["open_sockets"],
            "kept_up": trial.kept_up, "why": trial.why,
            "loadavg_1m": round(os.getloadavg()[0], 2),  # the machine's noise, noted
        }
        if got["stamps"]:
            point["waterfall"] = waterfall.legs(got["stamps"], posted["acks"], got["socket_ms"],
                                                fan_out_ms)
            point["slowest"] = waterfall.slowest(got["stamps"])
            point["events"] = {str(sent): stamps for sent, stamps in got["stamps"].items()}
        log(f"{rate:.0f} posts/s: {'kept up' if trial.kept_up else 'behind: ' + trial.why};"
            f" p50 {point['p50_ms']} p99 {point['p99_ms']} p99.9 {point['p999_ms']} ms,"
            f" {got['deliveries']}/{point['expected']} deliveries")
        await self.settle(db, pool, applied + accepted + posted["warmup_accepted"], table)
        return trial, point

    async def pipeline(self, db: Database, people: Population) -> None:
        """The max, then the curve at shares of it, each on topics of its own (`fresh_stack`):
        Tansu 0.6 lists every record batch of a partition on each fetch that finds new data,
        under a lock its produces wait for (docs/performance.md, "Why Tansu slows as a topic
        grows"), so a curve drawn on the search's topics (tens of thousands of batches by then)
        would measure that listing more than the service. The bare pipeline's is drawn the same
        way."""
        section = self.results["pipeline"]
        async with self.fresh_stack(db, people, self.args.layout, "pipe"):
            with self.viewers_on_gateway(people) as (pool, per_chat, senders):
                if self.args.rates:
                    await self.fixed_rates(db, pool, senders, per_chat)
                    return
                start = self.args.start_rate or max(20.0, 0.3 * (
                    self.results["http"].get("post_message", {}).get("ok_per_s") or 300))
                maximum = await self.search_max(db, pool, senders, per_chat, start, section)
        log(f"pipeline max with viewers: {maximum or 0:.1f} posts/s")
        if not maximum:
            self.warn("the pipeline kept up with no rate tried")
            return
        async with self.fresh_stack(db, people, self.args.layout, "curve"):
            with self.viewers_on_gateway(people) as (pool, per_chat, senders):
                points = await self.curve_at(db, pool, senders, per_chat, maximum,
                                             self.args.shares)
        section["curve"] = points
        flat, bent = curve.knee([(p["rate_per_s"], p["p99_ms"] or 0) for p in points])
        section["knee_per_s"] = flat
        section["knee_text"] = (
            f"p99 within 2x of its lowest-rate value up to {flat:.0f} posts/s"
            + (f", past it by {bent:.0f} posts/s" if bent else " (the highest rate drawn)"))

    @contextlib.contextmanager
    def viewers_on_gateway(self, people: Population
                           ) -> Iterator[tuple[ViewerPool, float, list[str]]]:
        """Every viewer on the stack's gateway: the pool, viewers per chat, the senders."""
        with attached(self.stack.urls["gateway"], people.viewers,
                      self.args.viewer_processes) as pool:
            log(f"{pool.connected} viewers on the gateway ({pool.failed} failed)"
                f" in {pool.connect_s} s")
            per_chat = pool.connected / len(people.models)
            self.results["pipeline"].update(viewers=pool.connected, viewers_per_chat=per_chat)
            yield pool, per_chat, [viewer.token for viewer in people.mix(2000, None)]

    async def search_max(self, db: Database, pool: ViewerPool, senders: list[str],
                         per_chat: float, start: float, section: dict[str, Any],
                         **target: str) -> float | None:
        """Step the rate from `start` until the max is known (`target`: paced's api and table);
        the trials and the max go into `section`."""
        trials: list[curve.Trial] = []
        rate = curve.next_rate(trials, start, refine=self.args.refine)
        while rate is not None:
            trial, _ = await self.paced(db, pool, senders, rate, self.args.step_seconds,
                                        per_chat, **target)
            trials.append(trial)
            rate = curve.next_rate(trials, start, refine=self.args.refine)
        maximum = curve.max_sustained(trials)
        section["trials"] = [{"rate": t.rate, "kept_up": t.kept_up, "why": t.why}
                             for t in trials]
        section["max_per_s"] = _round(maximum)
        return maximum

    async def curve_at(self, db: Database, pool: ViewerPool, senders: list[str],
                       per_chat: float, maximum: float, shares: Sequence[float],
                       **target: str) -> list[dict[str, Any]]:
        """The latency curve: a paced window at each share of `maximum` (`target`: paced's api
        and table)."""
        points = []
        for share in shares:
            _, point = await self.paced(db, pool, senders, maximum * share, self.seconds,
                                        per_chat, **target)
            points.append({"share": share, **point})
        return points

    async def fixed_rates(self, db: Database, pool: ViewerPool, senders: list[str],
                          per_chat: float) -> None:
        """--rates: the curve at the rates given, no search for the maximum."""
        points = []
        for rate in self.args.rates:
            _, point = await self.paced(db, pool, senders, rate, self.seconds, per_chat)
            points.append({"share": 0.0, **point})
        self.results["pipeline"]["curve"] = points

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
        for name, data in self.results["fanout"].items():
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
                await self.http_section(db, people)
            if "gateway" in self.args.layout and "pipeline" not in self.args.skip:
                # Not on the HTTP section's topics (~67,000 commands and as many events by
                # then): the bare pipeline, whose max this one's is compared with, gets new ones.
                await self.pipeline(db, people)
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
        self.results["targets"] = report.evaluate(self.results)
        return self.results

    async def http_section(self, db: Database, people: Population) -> None:
        self.stack = Stack(self.args.layout, self.env, self.log_dir)
        self.service_pids = self.stack.pids_by_roles
        try:
            await self.warm_up(db, people)
            with hello_server(self.log_dir) as (hello, hello_pid):
                await self.http_scenarios(db, people, hello, hello_pid)
                self.redis_page(people)
            try:
                await self.two_workers(db, people)
            except (OSError, RuntimeError, TimeoutError) as exc:
                self.warn(f"2 api workers did not run: {exc!r}")
            self.stack.alive()
        finally:
            self.stack.close()
            self.service_pids = {}

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
        body = json.dumps({"message": "warm-up", "is_public": True}).encode()
        viewer = people.viewers[0]
        request = urllib.request.Request(
            self.stack.urls["api"] + "/chat/message/add", data=body, method="POST",
            headers={"Authorization": f"Bearer {viewer.token}",
                     "Content-Type": "application/json"})
        await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).read())
        await wait_count(db, "applied_commands", applied + 1, 60)
        if "history" in self.stack.urls:
            await self.wait_mirrored(viewer.chat)
        self.stack.alive()
        message = json.dumps({"message": "warm-up", "is_public": True})
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


QUICK = {"seconds": 3.0, "step_seconds": 2.0, "shares": [0.1, 0.5], "refine": 1,
         "ledger_commands": 4000, "batch1_commands": 200, "fanout_events": 6000,
         "idle_sockets": 1000, "redis_requests": 20000, "node_modes": ["prepared"],
         "shows_steady_s": 5.0}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    # One process per concern, so the api's CPU per request is its own (the history projector
    # and the gateway are elsewhere) and the service can use both cores like a deployment would.
    p.add_argument("--layout", default="api;history;gateway;ledger",
                   help="service processes, ';' between them: e.g. 'api,history;gateway;ledger'")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: short windows, fewer rates and commands (numbers are rough)")
    p.add_argument("--seconds", type=float, default=8.0, help="measurement window per scenario")
    p.add_argument("--step-seconds", type=float, default=3.0,
                   help="window of each step while searching the pipeline's max rate")
    p.add_argument("--grace", type=float, default=1.5,
                   help="how long viewers keep counting after the last paced POST")
    p.add_argument("--start-rate", type=float, default=0.0,
                   help="first rate of the search (default: 0.3 x POST message ok/s)")
    p.add_argument("--refine", type=int, default=2, help="bisections after the first miss")
    p.add_argument("--shares", type=float, nargs="+", default=[0.05, 0.1, 0.25, 0.5, 0.75],
                   help="latency curve at these shares of the pipeline's max")
    # Enough requests in flight to keep each HTTP server busy (Little's law): a POST waits ~20-40
    # ms for the broker's acknowledgement, so 64 connections left the api half idle at ~1,500-
    # 2,800 POSTs/s, its CPU per request ~1.5-2x what it is when loaded like hello-world is.
    p.add_argument("--connections", type=int, default=256,
                   help="wrk's connections for every HTTP window (and redis-benchmark's)")
    p.add_argument("--viewers", type=int, default=1000)
    p.add_argument("--chats", type=int, default=10)
    p.add_argument("--donors", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--ledger-commands", type=int, default=20_000)
    p.add_argument("--batch1-commands", type=int, default=600)
    p.add_argument("--donation-share", type=float, default=0.25,
                   help="share of donations among the ledger's commands")
    p.add_argument("--shows", type=int, default=1000,
                   help="shows billed together beside the ledger's usual load")
    p.add_argument("--shows-steady-s", type=float, default=10.0,
                   help="how long the shows bill before their boundaries' lateness is read")
    p.add_argument("--fanout-events", type=int, default=30_000,
                   help="recorded events each fan-out server broadcasts")
    p.add_argument("--idle-sockets", type=int, default=5000)
    p.add_argument("--viewer-processes", type=int, default=2,
                   help="processes the websocket viewers are spread over")
    p.add_argument("--node-modes", nargs="+", default=["send", "prepared"],
                   choices=["send", "prepared"])
    p.add_argument("--redis-requests", type=int, default=100_000)
    p.add_argument("--drain-timeout", type=float, default=120.0)
    p.add_argument("--output", type=Path, default=ROOT / "bench" / "results.json")
    p.add_argument("--report", type=Path, default=ROOT / "docs" / "performance.md",
                   help="the markdown file whose bench block is replaced")
    p.add_argument("--no-write", action="store_true", help="print only; leave files alone")
    p.add_argument("--profile", action="store_true",
                   help="py-spy (non-blocking, 100 Hz) on the server of each HTTP scenario:"
                        " top frames in results.json and the report's block")
    p.add_argument("--rates", type=float, nargs="+", default=[],
                   help="pipeline: only these posting rates, no search for the maximum")
    p.add_argument("--low-rates", type=float, nargs="+", default=[20.0, 100.0],
                   help="chatledger (one process) and the bare pipeline at these posts/s")
    p.add_argument("--low-chats", type=int, default=5)
    p.add_argument("--sweep-fetch-wait", type=int, nargs="+", default=[],
                   help="also run chatledger's low-load part at each fetch_max_wait_ms")
    p.add_argument("--sweep-linger", type=int, nargs="+", default=[],
                   help="also run chatledger's low-load part at each producer linger_ms")
    p.add_argument("--low-viewers-per-chat", type=int, default=100)
    p.add_argument("--no-bare-max", dest="bare_max", action="store_false",
                   help="compare: the bare pipeline at the low rates only, not its max posts/s")
    p.add_argument("--kafka", default="",
                   help="bootstrap of another broker (e.g. a private, freshly started Tansu)")
    p.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE",
                   help="CHATLEDGER_NAME=VALUE for the service and the bare pipeline, e.g."
                        " KAFKA_FETCH_MAX_WAIT_MS=5")
    p.add_argument("--no-stages", dest="stages", action="store_false",
                   help="run the service without CHATLEDGER_TRACE_STAGES (no waterfall)")
    p.add_argument("--skip", nargs="+", default=[],
                   choices=["http", "pipeline", "compare", "fanout", "ledger", "shows"],
                   help="leave these parts out (while working on the others)")
    args = p.parse_args(argv)
    if args.quick:
        given = {action.dest for action in p._actions
                 if any(option in (argv if argv is not None else sys.argv[1:])
                        for option in action.option_strings)}
        for name, value in QUICK.items():
            if name not in given:
                setattr(args, name, value)
    return args


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
