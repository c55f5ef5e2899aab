"""CPU per POST /chat/message/add of an `--roles api` process, beside hello-world POST.

`python -m tools.bench.post_cpu [CHECKOUT ...]` (BENCH_MYSQL_DSN: a database of its own, recreated;
CHATLEDGER_PREFIX: Redis keys and topics of its own): one api process per checkout (this one when
none is named, e.g. an unpacked `git archive` of the commit before a change), all on the same
database and topics, and the hello-world server. Each round loads each of them in turn with wrk
(`-c 256` as in `make bench`; the request mix: 2,000 lines over 1,000 viewers in 10 chats, the
bench's message body), the order rotated per round, and reports the server's CPU µs per accepted
request and its ratio to hello-world POST's in that round (`history_cpu`'s way, whose windows and
processes it shares). No ledger runs: the commands stay on the topic, which costs the api nothing
more.
"""

import asyncio
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from chatledger.platform.config import Settings
from chatledger.platform.db import database, migrate
from tests.helpers.service import stop
from tools.bench.history_cpu import Servers, alternate, rounds_parser, start
from tools.bench.ledger import bench_env
from tools.bench.population import populate
from tools.bench.wrk import HttpRequest

ROOT = Path(__file__).resolve().parents[2]
DSN = os.environ.get("BENCH_MYSQL_DSN", "mysql://root@127.0.0.1:3306/chatledger_bench_post")
MESSAGE = json.dumps({"message": "hello from the bench", "is_public": True})


async def prepare(settings: Settings) -> list[HttpRequest]:
    await migrate(DSN, recreate=True)
    db = database(DSN, 10)
    await db.connect()
    try:
        people = await populate(db, settings, 10, 1000, 10)
    finally:
        await db.disconnect()
    return [HttpRequest("POST", "/chat/message/add", viewer.token, MESSAGE)
            for viewer in people.mix(2000, None)]


def summarise(rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, mine in rows.items():
        summary[name] = {"us_per_ok_median": statistics.median(r["us_per_ok"] for r in mine),
                         "us_per_ok": [r["us_per_ok"] for r in mine]}
        if name != "hello":
            summary[name]["hello_cpu_ratio_median"] = round(statistics.median(
                row["us_per_ok"] / h["us_per_ok"]
                for h, row in zip(rows["hello"], mine, strict=True)), 3)
    return summary


def main() -> None:
    args = rounds_parser(__doc__).parse_args()
    prefix = os.environ.get("CHATLEDGER_PREFIX", f"pcpu{int(time.time())}.")
    env = bench_env(DSN, prefix)
    settings = Settings(mysql_dsn=DSN, prefix=prefix, jwt_secret=env["CHATLEDGER_JWT_SECRET"])
    requests = asyncio.run(prepare(settings))
    logs = Path(os.environ.get("BENCH_LOG_DIR", "/tmp"))
    servers: Servers = {}
    try:
        start(servers, [HttpRequest("POST", "/hello", None, MESSAGE)], args.checkouts, requests,
              env, logs / "pcpu")
        rows = alternate(servers, args.rounds, args.seconds)
        print(json.dumps({"summary": summarise(rows)}), flush=True)
    finally:
        for _, process, _ in servers.values():
            stop(process)


if __name__ == "__main__":
    main()
