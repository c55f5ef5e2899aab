"""CPU per GET /chat/event/history of an `--roles api` process, beside hello-world GET.

`python -m tools.bench.history_cpu [CHECKOUT ...]` (BENCH_MYSQL_DSN: a database of its own,
recreated; CHATLEDGER_PREFIX: Redis keys and topics of its own): one api process per checkout (this
one when none is named, e.g. an unpacked `git archive` of the commit before a change), all on the
same database and mirror, and the hello-world server. Each round loads each of them in turn with
wrk (`-c 256` as in `make bench`; the request mix: 2,000 lines over 1,000 viewers in 10 chats, all
public), the order rotated per round, and reports the server's CPU µs per answered request (and the
kernel's share of it, `sys_us_per_ok`: mostly the sockets' work, which grows with the page's size)
and its ratio to hello-world's in that round: on a 2-core machine shared with others requests/s
moves with the load, CPU per request much less, and a CPU-bound server's requests/s is ~1 / that.
"""

import argparse
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

from chatledger.ledger.store import LedgerStore
from chatledger.platform.config import Settings
from chatledger.platform.db import database, migrate
from tests.helpers.service import free_port, stop
from tools.bench.ledger import bench_env
from tools.bench.options import CONNECTIONS
from tools.bench.peers import wait_listening
from tools.bench.population import message_commands, populate
from tools.bench.stats import descendants
from tools.bench.wrk import HttpRequest, run_wrk

ROOT = Path(__file__).resolve().parents[2]
DSN = os.environ.get("BENCH_MYSQL_DSN", "mysql://root@127.0.0.1:3306/chatledger_bench_history")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> tuple[float, float]:
    """(user, system) CPU seconds of `pids`: the kernel's share is mostly the sockets' work."""
    user = system = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        user, system = user + int(fields[11]), system + int(fields[12])  # utime, stime
    return user / TICKS, system / TICKS


def spawn(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


async def prepare(settings: Settings, events: int) -> list[HttpRequest]:
    await migrate(DSN, recreate=True)
    db = database(DSN, 10)
    await db.connect()
    try:
        people = await populate(db, settings, 10, 1000, 10)
        senders = people.mix(events, None)
        store = LedgerStore(db)
        for at in range(0, events, 500):
            await store.apply_batch(message_commands(senders[at:at + 500], "hello from the bench"))
    finally:
        await db.disconnect()
    return [HttpRequest("GET", "/chat/event/history", viewer.token)
            for viewer in people.mix(2000, None)]


def window(base: str, requests: list[HttpRequest], pid: int, seconds: float) -> dict[str, Any]:
    pids = descendants(pid)
    user, system = cpu_seconds(pids)
    outcome = run_wrk(base, requests, duration_s=seconds, connections=CONNECTIONS)
    after = cpu_seconds(pids)
    user, system = after[0] - user, after[1] - system
    answered = max(outcome["ok"], 1)
    return {"ok_per_s": outcome["ok_per_s"], "bad": outcome["bad_status"],
            "us_per_ok": round(1e6 * (user + system) / answered, 1),
            "sys_us_per_ok": round(1e6 * system / answered, 1),
            "cpu_pct": round(100 * (user + system) / seconds, 1)}


Servers = dict[str, tuple[str, subprocess.Popen[bytes], list[HttpRequest]]]


def start(servers: Servers, hello: list[HttpRequest], checkouts: list[Path],
          requests: list[HttpRequest], env: dict[str, str], logs: Path) -> None:
    """Into `servers` as each starts: the hello-world server, then one api per checkout; then
    each warmed (caches, connections) with an unmeasured wrk window."""
    port = free_port()
    process = spawn(["-m", "tools.bench.hello", str(port)], ROOT, env, Path(f"{logs}-hello.log"))
    servers["hello"] = (f"http://127.0.0.1:{port}", process, hello)
    for n, checkout in enumerate(checkouts):
        port = free_port()
        process = spawn(["-m", "chatledger", "serve", "--roles", "api"], checkout,
                        {**env, "CHATLEDGER_HTTP_PORT": str(port)}, Path(f"{logs}-api{n}.log"))
        servers[f"api{n}"] = (f"http://127.0.0.1:{port}", process, requests)
    for name, (base, process, lines) in servers.items():
        wait_listening(base + ("/hello" if name == "hello" else "/chat/event/history"), process)
        run_wrk(base, lines, duration_s=2, connections=CONNECTIONS)


def alternate(servers: Servers, rounds: int, seconds: float) -> dict[str, list[dict[str, Any]]]:
    """`rounds` windows per server, one server after another, the order rotated per round."""
    names = list(servers)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for turn in range(rounds):
        for name in names[turn % len(names):] + names[:turn % len(names)]:
            base, process, lines = servers[name]
            row = window(base, lines, process.pid, seconds)
            row["load"] = round(os.getloadavg()[0], 2)
            rows[name].append(row)
            print(json.dumps({"round": turn, "server": name, **row}), flush=True)
    return rows


def rounds_parser(description: str | None) -> argparse.ArgumentParser:
    """The checkouts to compare and the alternating rounds' number and length."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("checkouts", nargs="*", type=Path, default=[ROOT])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    return parser


def main() -> None:
    parser = rounds_parser(__doc__)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--set", action="append", default=[], help="NAME=VALUE for the api")
    parser.add_argument("--profile", action="store_true",
                        help="then one window per api under py-spy (raw stacks in the log dir)")
    args = parser.parse_args()
    prefix = os.environ.get("CHATLEDGER_PREFIX", f"hcpu{int(time.time())}.")
    env = bench_env(DSN, prefix)
    for setting in args.set:
        name, _, value = setting.partition("=")
        env[f"CHATLEDGER_{name.upper()}"] = value
    settings = Settings(mysql_dsn=DSN, prefix=prefix, jwt_secret=env["CHATLEDGER_JWT_SECRET"])
    requests = asyncio.run(prepare(settings, args.events))
    logs = Path(os.environ.get("BENCH_LOG_DIR", "/tmp"))
    servers: Servers = {}
    try:
        start(servers, [HttpRequest("GET", "/hello")], args.checkouts, requests, env,
              logs / "hcpu")
        names = list(servers)
        rows = alternate(servers, args.rounds, args.seconds)
        summary: dict[str, Any] = {}
        for name in names:
            cost = [row["us_per_ok"] for row in rows[name]]
            summary[name] = {"us_per_ok_median": statistics.median(cost), "us_per_ok": cost,
                             "sys_us_per_ok_median": statistics.median(
                                 row["sys_us_per_ok"] for row in rows[name])}
            if name != "hello":
                summary[name]["hello_cpu_ratio_median"] = round(statistics.median(
                    h["us_per_ok"] / row["us_per_ok"]
                    for h, row in zip(rows["hello"], rows[name], strict=True)), 3)
                summary[name]["hello_rps_ratio_median"] = round(statistics.median(
                    row["ok_per_s"] / h["ok_per_s"]
                    for h, row in zip(rows["hello"], rows[name], strict=True)), 3)
        print(json.dumps({"summary": summary}), flush=True)
        for name in names[1:] if args.profile else []:
            base, process, lines = servers[name]
            spy = subprocess.Popen(
                [str(Path(sys.executable).with_name("py-spy")), "record", "--nonblocking", "-r",
                 "200", "-f", "raw", "-p", str(process.pid), "-o", str(logs / f"hcpu-{name}.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
            print(json.dumps({"profiled": name, **window(base, lines, process.pid, args.seconds)}),
                  flush=True)
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
    finally:
        for _, process, _ in servers.values():
            stop(process)


if __name__ == "__main__":
    main()
