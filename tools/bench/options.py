"""`python -m tools.bench`'s options."""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Enough requests in flight to keep each HTTP server busy (Little's law): a POST waits ~20-40 ms
# for the broker's acknowledgement, so 64 connections left the api half idle at ~1,500-2,800
# POSTs/s, its CPU per request ~1.5-2x what it is when loaded like hello-world is.
CONNECTIONS = 256


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
    p.add_argument("--connections", type=int, default=CONNECTIONS,
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
