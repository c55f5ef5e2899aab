"""CPU per POST of the one process (`api,history,gateway,ledger`, as `make run` serves) at low
load: `compare`'s scenario (5 chats x 100 viewers, paced POSTs), one process per checkout.

`python -m tools.bench.oneproc_cpu [CHECKOUT ...]` (a CHECKOUT named `bare`: the bare-pipeline
peer; BENCH_MYSQL_DSN: a database name of its own, suffixed per checkout and recreated;
CHATLEDGER_PREFIX: Redis keys and topics of its own):
each checkout's process on its own database and topics, its own viewers attached throughout.
Each round paces `--rate` POSTs/s for `--seconds` at each process in turn, the order rotated per
round, and reports the process's CPU ms per accepted POST (the warm-up second's POSTs counted),
its CPU % and the POST -> viewer p50/p99. `--profile`: then one window per process under
py-spy (raw stacks in BENCH_LOG_DIR, /tmp by default), its samples split by role (`by_role`).
"""

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from chatledger.platform.config import Settings
from chatledger.platform.db import database, migrate
from tests.helpers.service import free_port, stop
from tools.bench.compare import ONE_PROCESS, low_population
from tools.bench.history_cpu import cpu_seconds, rounds_parser, spawn
from tools.bench.ledger import bench_env
from tools.bench.loadgen import Poster
from tools.bench.peers import wait_listening
from tools.bench.population import Population, populate
from tools.bench.profile import frame_name
from tools.bench.stats import descendants, percentile
from tools.bench.viewers import ViewerPool, ws_urls

ROOT = Path(__file__).resolve().parents[2]
DSN = os.environ.get("BENCH_MYSQL_DSN", "mysql://root@127.0.0.1:3306/chatledger_bench_oneproc")


async def prepare(dsn: str, settings: Settings) -> Population:
    await migrate(dsn, recreate=True)
    db = database(dsn, 10)
    await db.connect()
    try:
        return await populate(db, settings, 10, 1000, 10)
    finally:
        await db.disconnect()


# A sample's role: the first rule any of its frames (from the task's root down) matches, rules
# in this order; a frame of the ledger's anywhere in a stack makes it the ledger's.
ROLE_RULES = (
    ("ledger", ("chatledger/ledger/", "_consume_commands (chatledger/service.py",
                "ledger (bench/bare_pipeline")),
    ("gateway fan-out", ("chatledger/gateway/", "feed (bench/bare_pipeline")),
    ("history projector", ("chatledger/history/",)),
    ("api requests", ("chatledger/api/", "web_protocol", "chatledger/web/")),
    ("kafka producer", ("aiokafka/producer/",)),
    ("kafka fetches", ("aiokafka/consumer/fetcher",)),
    ("kafka offset commits, group", ("aiokafka/consumer/",)),
    ("kafka connections (reads)", ("aiokafka/",)),
    ("redis", ("redis/", "redis_batch")),
    ("mysql", ("aiomysql", "pymysql")),
    ("logs, metrics", ("platform/logs", "prometheus")),
    ("other chatledger", ("chatledger/",)),
)
SYSCALLS = ("StreamWriter.write (", "StreamWriter.writelines", "StreamWriter._writelines",
            "Connection._send (chatledger/gateway/")


def by_role(path: Path, ms_per_post: float) -> dict[str, list[float]]:
    """py-spy's raw stacks as [µs per post, of which at a socket write] per role. A sample at a
    socket write also counts time the process waited for a core right after waking its peer
    (py-spy sees it runnable): read those as upper bounds."""
    roles: dict[str, list[int]] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [frame_name(frame) for frame in stack.split(";")]
        loop = next((at for at, f in enumerate(frames) if f.startswith("run_app")), -1)
        frames = frames[loop + 1:]
        role = next((name for name, marks in ROLE_RULES
                     if any(mark in f for f in frames for mark in marks)),
                    "event loop (uvloop's C)" if not frames else "asyncio, other")
        row = roles.setdefault(role, [0, 0])
        row[0] += int(count)
        row[1] += int(count) if frames and frames[-1].startswith(SYSCALLS) else 0
        total += int(count)
    scale = 1000 * ms_per_post / max(total, 1)
    return {role: [round(n * scale), round(w * scale)]
            for role, (n, w) in sorted(roles.items(), key=lambda item: -item[1][0])}


class Server:
    def __init__(self, n: int, checkout: Path, env: dict[str, str], logs: Path) -> None:
        self.name = f"c{n}:{checkout.name}"
        self.dsn = f"{DSN}_c{n}"
        prefix = f"{env['CHATLEDGER_PREFIX']}c{n}."
        self.env = {**bench_env(self.dsn, prefix), "CHATLEDGER_TRACE_STAGES": "1"}
        settings = Settings(mysql_dsn=self.dsn, prefix=prefix,
                            jwt_secret=self.env["CHATLEDGER_JWT_SECRET"])
        people = asyncio.run(prepare(self.dsn, settings))
        viewers = low_population(people, 5, 100)
        self.senders = [viewer.token for viewer in people.mix(2000, None, viewers)]
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        if checkout.name == "bare":  # the bare-pipeline peer (tools/bench/bare_pipeline.py)
            tokens = logs / f"oneproc-c{n}-tokens.json"
            tokens.write_text(json.dumps({viewer.token: viewer.chat for viewer in viewers}))
            command, checkout = ["-m", "tools.bench.bare_pipeline", str(port), str(tokens)], ROOT
        else:
            command = ["-m", "chatledger", "serve", "--roles", ONE_PROCESS]
        self.process = spawn(command, checkout, {**self.env, "CHATLEDGER_HTTP_PORT": str(port)},
                             logs / f"oneproc-c{n}.log")
        wait_listening(self.base + "/ws", self.process)
        self.pool = ViewerPool(ws_urls(self.base, viewers), 2)
        self.per_chat = self.pool.connected / 5

    def window(self, rate: float, seconds: float, grace: float = 1.5) -> dict[str, Any]:
        pids = descendants(self.process.pid)
        before, started = cpu_seconds(pids), time.monotonic()
        self.pool.start_measure(None)
        posted = Poster(f"{self.base}/chat/message/add", self.senders, rate, seconds).result()
        time.sleep(grace)
        got = self.pool.finish()
        after, wall = cpu_seconds(pids), time.monotonic() - started
        cpu = after[0] - before[0] + after[1] - before[1]
        posts = max(posted["accepted"] + posted["warmup_accepted"], 1)
        total = got["total_ms"]
        return {"posts": posts, "ms_per_post": round(1000 * cpu / posts, 3),
                "sys_ms_per_post": round(1000 * (after[1] - before[1]) / posts, 3),
                "cpu_pct": round(100 * cpu / wall, 1),
                "delivered": f"{got['deliveries']}/{int(posts * self.per_chat)}",
                "p50_ms": round(percentile(total, 50) or 0, 1),
                "p99_ms": round(percentile(total, 99) or 0, 1)}

    def close(self) -> None:
        self.pool.close()
        stop(self.process)


def main() -> None:
    parser = rounds_parser(__doc__)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--attach", default="",
                        help="instead of py-spy: this command ({pid}, {out}) in the window")
    args = parser.parse_args()
    env = {**os.environ,
           "CHATLEDGER_PREFIX": os.environ.get("CHATLEDGER_PREFIX", f"ocpu{int(time.time())}.")}
    logs = Path(os.environ.get("BENCH_LOG_DIR", "/tmp"))
    servers: list[Server] = []
    try:
        for n, checkout in enumerate(args.checkouts):
            servers.append(Server(n, checkout.resolve(), env, logs))
        for server in servers:  # warm: connections, caches, partition leaders
            server.window(args.rate, 2.0)
        rows: dict[str, list[dict[str, Any]]] = {server.name: [] for server in servers}
        for turn in range(args.rounds):
            for server in servers[turn % len(servers):] + servers[:turn % len(servers)]:
                row = {**server.window(args.rate, args.seconds),
                       "load": round(os.getloadavg()[0], 2)}
                rows[server.name].append(row)
                print(json.dumps({"round": turn, "server": server.name, **row}), flush=True)
        print(json.dumps({"summary": {
            name: {"ms_per_post_median": statistics.median(r["ms_per_post"] for r in mine),
                   "p99_median": statistics.median(r["p99_ms"] for r in mine),
                   "p50_median": statistics.median(r["p50_ms"] for r in mine)}
            for name, mine in rows.items()}}), flush=True)
        for server in servers if args.profile or args.attach else []:
            out = logs / f"oneproc-{server.name.replace(':', '-')}.txt"
            command = (args.attach.format(pid=server.process.pid, out=out).split() if args.attach
                       else [str(Path(sys.executable).with_name("py-spy")), "record",
                             "--nonblocking", "-r", "200", "-f", "raw",
                             "-p", str(server.process.pid), "-o", str(out)])
            spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            row = server.window(args.rate, args.seconds)
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
            if not args.attach:
                row["us_per_post_by_role"] = by_role(out, row["ms_per_post"])
            print(json.dumps({"profiled": server.name, "out": str(out), **row}), flush=True)
    finally:
        for server in servers:
            server.close()


if __name__ == "__main__":
    main()
