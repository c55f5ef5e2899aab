"""Fan-out against fair peers: the same recorded events, the same viewers, the same
window, for the gateway, the minimal Python fan-out and the node.js `ws` server.

The recording is real: the wire bytes the ledger publishes for message events of this run (read
back from MySQL and encoded by the service's own codec), renumbered above each chat's latest seq so
a gateway accepts them as new. The gateway under test is a process of its own, with its own topic
prefix, frozen (SIGSTOP) while the recording is produced onto its events topic; the window starts
when it is let go (SIGCONT), so it fans out a backlog as the peers fan out theirs from memory.
Each server is also asked what an idle connection costs: RSS with N idle sockets minus without.
"""

import asyncio
import dataclasses
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymysql
from databases import Database

from chatledger.bus.kafka import start_producer
from chatledger.bus.topics import ensure_topics
from chatledger.domain.wire import encode_event
from chatledger.ledger.event_rows import EVENT_COLUMNS, row_to_event
from chatledger.platform.config import Settings
from chatledger.platform.db import _server_params
from tests.helpers.service import free_port, spawn, stop
from tools.bench.stats import CpuMeter, rss_bytes
from tools.bench.viewers import ViewerPool

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = Path(__file__).with_name("node")


async def record(db: Database, size: int, path: Path) -> list[tuple[str, bytes]]:
    """`size` public message events as the ledger publishes them: the last ones of this run,
    cycled if there are fewer, renumbered past each chat's end (as new events would be)."""
    rows = await db.fetch_all(
        f"SELECT {EVENT_COLUMNS} FROM chat_events WHERE type = 'message' AND is_public"
        " ORDER BY id DESC LIMIT :size", {"size": size})
    latest = {row[0]: int(row[1]) for row in await db.fetch_all(
        "SELECT stream, MAX(seq) FROM chat_events GROUP BY stream")}
    if not rows:
        raise RuntimeError("no message events to record for the fan-out")
    originals = [row_to_event(tuple(row[index] for index in range(len(row))))
                 for row in reversed(rows)]
    events = []
    for number in range(size):
        event = originals[number % len(originals)]
        latest[event.stream] += 1
        event = dataclasses.replace(event, seq=latest[event.stream])
        events.append((event.stream, encode_event(event)))
    with path.open("w") as out:
        for chat, value in events:
            out.write(json.dumps({"chat": chat, "value": value.decode()}) + "\n")
    return events


async def produce_recording(settings: Settings, events: Sequence[tuple[str, bytes]]) -> None:
    await ensure_topics(settings)
    producer = await start_producer(settings)
    try:
        sends = [await producer.send(settings.events_topic, key=chat.encode(), value=value)
                 for chat, value in events]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def wait_listening(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Any HTTP answer on `url` (an error status included) means the server listens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer in {timeout}s")


@contextmanager
def peer(command: list[str], after_port: list[str],
         log_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    with log_path.open("ab") as out:
        process = subprocess.Popen([*command, str(port), *after_port],
                                   cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_listening(base + "/health", process)
        yield base, process
    finally:
        stop(process)


def python_peer(recording: Path, log_dir: Path) -> Any:
    return peer([sys.executable, "-m", "tools.bench.fanout"], [str(recording)],
                log_dir / "peer-python.log")


def node_peer(recording: Path, mode: str, log_dir: Path) -> Any:
    return peer(["node", str(NODE_DIR / "fanout.js")], [str(recording), mode],
                log_dir / f"peer-node-{mode}.log")


@contextmanager
def gateway(env: dict[str, str], log_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    process = spawn("gateway", {**env, "CHATLEDGER_HTTP_PORT": str(port)},
                    log_dir / f"gateway-fanout-{port}.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_listening(base + "/ws", process)  # 401 without a token: it listens
        yield base, process
    finally:
        stop(process)


def connection_rows(dsn: str) -> int:
    """Rows of `connections`: a gateway registers each socket there and deletes it on close."""
    params, name = _server_params(dsn)
    conn = pymysql.connect(**params, database=name)  # type: ignore[arg-type]
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM connections")
            row = cur.fetchone()
            return int(row[0]) if row else 0
    finally:
        conn.close()


def wait_unregistered(dsn: str, at_most: int, timeout_s: float = 120.0) -> None:
    """Until the gateway has unregistered the idle sockets (its DELETEs would otherwise run
    inside the fan-out window and be charged to its fan-out)."""
    deadline = time.monotonic() + timeout_s
    while connection_rows(dsn) > at_most:
        if time.monotonic() > deadline:
            raise TimeoutError(f"connections still above {at_most} rows after {timeout_s}s")
        time.sleep(0.2)


def idle_memory(pid: int, urls: Sequence[str], processes: int = 2) -> dict[str, Any]:
    """RSS of `pid` with len(urls) idle websockets minus without, and how long they took."""
    before = rss_bytes(pid)
    pool = ViewerPool(urls, processes)
    try:
        after = rss_bytes(pid)
    finally:
        pool.close()
    per = (after - before) / max(pool.connected, 1)
    return {"sockets": pool.connected, "failed": pool.failed, "connect_s": pool.connect_s,
            "rss_before_mib": round(before / 2**20, 1), "rss_after_mib": round(after / 2**20, 1),
            "kib_per_connection": round(per / 1024, 1)}


def fan_out(pid: int, urls: Sequence[str], seconds: float, expected: int,
            go: Callable[[], None], meter: Callable[..., CpuMeter],
            prepare: Callable[[], None] | None = None, processes: int = 2,
            spy: Callable[[], Any] | None = None) -> dict[str, Any]:
    """Deliveries/s to `urls` over one window that starts when `go()` lets the server loose
    (after `prepare()`, untimed, once the viewers are connected)."""
    pool = ViewerPool(urls, processes)
    try:
        if prepare is not None:
            prepare()
        cpu = meter(*pool.pids, server=[pid])
        profile = spy() if spy is not None else None
        cpu.start()
        started = time.monotonic()
        pool.start_measure(seconds)
        go()
        outcome = pool.collect()
        outcome["cpu_pct"] = cpu.stop(time.monotonic() - started)
        if profile is not None:
            outcome["profile"] = profile.result()
    finally:
        pool.close()
    for key in ("sent_ns", "total_ms", "viewer_leg_ms", "ledger_leg_ms", "first_ns", "last_ns"):
        outcome.pop(key)
    deliveries = outcome["deliveries"]
    outcome["ran_dry"] = deliveries >= 0.99 * expected
    # A server that delivered the whole recording before the window closed is timed over the
    # time it was busy, not over the window.
    span = outcome["active_s"] if outcome["ran_dry"] and outcome["active_s"] else seconds
    outcome["rate_per_s"] = round(deliveries / span, 1)
    outcome["server_cpu_us_per_delivery"] = (
        round(1e6 * cpu.seconds["server"] / deliveries, 2) if deliveries else None)
    outcome.update(viewers=pool.connected, connect_failed=pool.failed,
                   viewers_saturated=viewers_saturated(outcome["viewers_cpu_pct"], processes))
    return outcome


def viewers_saturated(viewers_cpu_pct: float, processes: int, share: float = 0.85) -> bool:
    """The viewer processes used nearly a core each: then they, not the server, may have set the
    rate, and a ratio between two servers says less than it seems."""
    return viewers_cpu_pct >= 100 * share * processes


def post(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10).read()


class FanOutBench:
    """Runs the three servers one after another against identical viewers and events."""

    def __init__(self, seconds: float, log_dir: Path, meter: Callable[..., CpuMeter],
                 idle_sockets: int, node_modes: Sequence[str], viewer_processes: int,
                 profiler: Callable[[int, str], Any] | None = None) -> None:
        self.seconds = seconds
        self.log_dir = log_dir
        self.meter = meter
        self.idle_sockets = idle_sockets
        self.node_modes = node_modes
        self.processes = viewer_processes
        self.profiler = profiler

    def spy(self, pid: int, name: str) -> Callable[[], Any] | None:
        """py-spy on a Python server under --profile (node is not Python: not profiled)."""
        if self.profiler is None or name.startswith("node"):
            return None
        profiler = self.profiler
        return lambda: profiler(pid, f"fanout_{name}")

    def peers(self, recording: Path, events: int, chats: Sequence[str],
              viewers: int) -> dict[str, dict[str, Any]]:
        urls = [f"/ws?chat={chats[i % len(chats)]}" for i in range(viewers)]
        idle = [f"/ws?chat={chats[i % len(chats)]}" for i in range(self.idle_sockets)]
        expected = events * viewers // len(chats)
        results = {}
        servers = [("python", lambda: python_peer(recording, self.log_dir))] + [
            (f"node_{mode}", lambda mode=mode: node_peer(recording, mode, self.log_dir))
            for mode in self.node_modes]
        for name, start in servers:
            try:
                with start() as (base, process):
                    ws = base.replace("http://", "ws://")
                    memory = idle_memory(process.pid, [ws + path for path in idle],
                                         self.processes)
                    outcome = fan_out(process.pid, [ws + path for path in urls], self.seconds,
                                      expected, lambda base=base: post(base + "/start"),
                                      self.meter, processes=self.processes,
                                      spy=self.spy(process.pid, name))
                results[name] = {**outcome, "idle": memory}
            except (OSError, RuntimeError, TimeoutError) as exc:  # a peer that cannot run
                results[name] = {"error": repr(exc)}
        return results

    def gateway(self, env: dict[str, str], settings: Settings,
                recording: Sequence[tuple[str, bytes]], tokens: Sequence[str],
                viewers_per_chat: float) -> dict[str, Any]:
        idle = [f"/ws?token={tokens[i % len(tokens)]}" for i in range(self.idle_sockets)]
        rows = connection_rows(settings.mysql_dsn)
        with gateway(env, self.log_dir) as (base, process):
            ws = base.replace("http://", "ws://")
            memory = idle_memory(process.pid, [ws + path for path in idle], self.processes)
            wait_unregistered(settings.mysql_dsn, rows)

            def prepare() -> None:
                # Frozen while the recording lands on its topic, so the window times the
                # fan-out of a backlog, not the producer.
                process.send_signal(signal.SIGSTOP)
                try:
                    asyncio.run(produce_recording(settings, recording))
                except BaseException:
                    process.send_signal(signal.SIGCONT)
                    raise

            outcome = fan_out(process.pid, [f"{ws}/ws?token={token}" for token in tokens],
                              self.seconds, int(len(recording) * viewers_per_chat),
                              lambda: process.send_signal(signal.SIGCONT), self.meter, prepare,
                              self.processes, self.spy(process.pid, "gateway"))
        return {**outcome, "idle": memory}
