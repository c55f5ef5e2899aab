"""Where a show boundary's cost goes in the whole service, not in the ledger's batches alone.

`python -m tools.bench.shows_whole` (BENCH_MYSQL_DSN: a database of its own, recreated;
CHATLEDGER_PREFIX: topics of its own): one `serve --roles ledger` process with 1 s minutes and
1,000 shows billing (`shows.ShowsBench.start_shows`), nothing else offered to it. Per steady
window: boundaries decided per second, and CPU ms per boundary of the ledger process (its clock,
the ticks' round trip through the broker, the batches, the publish of the events), of the broker
(`tansu`) and of `mariadbd`. The broker's and MariaDB's are whole processes: on a shared machine
they include other clients' work, so they are upper bounds unless the machine is quiet
(`shows_cpu` has MariaDB's own thread for the batches alone; stopping the ledger for a baseline
window was tried: its consumer group's rebalance after it spoiled the next window).
PYSPY=1 then samples the ledger process for a window and splits its samples by what they were
under (`PARTS`).
"""

import asyncio
import json
import os
import re
import time
from collections import Counter
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from chatledger.platform.config import Settings
from chatledger.platform.db import database, migrate
from tests.helpers.service import free_port, spawn, stop
from tools.bench.ledger import bench_env
from tools.bench.profile import Profiler
from tools.bench.shows import ShowsBench
from tools.bench.stats import CpuMeter, pids_of

DSN = os.environ.get("BENCH_MYSQL_DSN", "mysql://root@127.0.0.1:3306/chatledger_bench_whole")
PREFIX = os.environ.get("CHATLEDGER_PREFIX", "benchwhole.") + f"{int(time.time())}."
SHOWS = int(os.environ.get("SHOWS", "1000"))
WINDOWS = int(os.environ.get("WINDOWS", "3"))
WINDOW_S = float(os.environ.get("WINDOW_S", "10"))
SETTLE_S = 4.0  # the first boundaries after the shows start are not steady yet
# What a ledger sample was under, first match wins (a py-spy stack, as `frame;frame;...`).
PARTS = (("batch (decide + MySQL)", r"LedgerStore\.apply_batch"),
         ("clock: presence", r"Clock\.disconnects"),
         ("clock: row reads", r"Clock\.refresh"),
         ("clock: produce ticks", r"Clock\.send"),
         ("clock: due", r"Clock\.due"),
         ("publish events", r"publish_events"),
         ("kafka fetch", r"aiokafka/consumer"),
         ("kafka producer", r"aiokafka/producer"),
         ("kafka other", r"aiokafka/"))


def parts_of(profile: Path) -> dict[str, float]:
    """Share (%) of the ledger's samples under each of PARTS, the rest as `other`."""
    found: Counter[str] = Counter()
    for line in profile.read_text().splitlines():
        stack, _, weight = line.rpartition(" ")
        if weight.isdigit():
            name = next((name for name, pattern in PARTS if re.search(pattern, stack)), "other")
            found[name] += int(weight)
    total = sum(found.values()) or 1
    return {name: round(100 * n / total, 1) for name, n in found.most_common()}


async def boundaries(db: Any) -> int:
    return int(await db.fetch_val("SELECT COUNT(*) FROM chat_events WHERE type = 'hold_captured'"))


async def window(db: Any, meter: CpuMeter) -> dict[str, Any]:
    before, started = await boundaries(db), time.monotonic()
    meter.start()
    await asyncio.sleep(WINDOW_S)
    meter.stop(1.0)
    decided, elapsed = await boundaries(db) - before, time.monotonic() - started
    per = max(decided, 1)
    return {"boundaries_per_s": round(decided / elapsed, 1),
            **{f"{name}_ms_per_boundary": round(seconds * 1000 / per, 3)
               for name, seconds in meter.seconds.items()},
            "loadavg_1m": round(os.getloadavg()[0], 2)}


async def main() -> dict[str, Any]:
    env = {**bench_env(DSN, PREFIX), "CHATLEDGER_SHOW_MINUTE_S": "1",
           "CHATLEDGER_HTTP_PORT": str(free_port())}
    settings = Settings(mysql_dsn=DSN, prefix=PREFIX, jwt_secret=env["CHATLEDGER_JWT_SECRET"])
    await migrate(DSN, recreate=True)
    db = database(DSN, 4)
    await db.connect()
    logs = Path(mkdtemp(prefix="chatledger-shows-whole-"))
    bench = ShowsBench(db, env, settings, logs, lambda pid: None)
    bench.process = spawn("ledger", env, logs / "ledger.log")
    meter = CpuMeter({"ledger": [bench.process.pid],
                      "broker": pids_of("tansu", settings.kafka_bootstrap),
                      "mariadbd": pids_of("mariadbd")})
    try:
        await bench.start_shows(SHOWS)
        await asyncio.sleep(SETTLE_S)
        out: dict[str, Any] = {"shows": SHOWS, "windows": [await window(db, meter)
                                                           for _ in range(WINDOWS)]}
        if os.environ.get("PYSPY") == "1":
            spy = Profiler(bench.process.pid, logs / "ledger.pyspy")
            await asyncio.sleep(WINDOW_S)
            spy.result()
            out["ledger_samples_under"] = parts_of(logs / "ledger.pyspy")
    finally:
        if bench.presence is not None:
            bench.presence.cancel()
        stop(bench.process)
        await db.disconnect()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
