"""Closed-loop HTTP load with Debian's `wrk` (C, epoll): cheap enough never to be the bottleneck.

Requests come from a file (one line each, see requests.lua) so POST bodies and tokens vary; the
result is wrk's own count and latency percentiles plus the CPU wrk itself used.
"""

import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).with_name("requests.lua")


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    token: str | None = None
    body: str | None = None

    def line(self) -> str:
        for part in (self.path, self.token or "", self.body or ""):
            if "\t" in part or "\n" in part:
                raise ValueError("a request field may not contain a tab or a newline")
        return "\t".join((self.method, self.path, self.token or "-", self.body or "-"))


def ensure_wrk() -> str:
    """The issue asks the bench tool to install wrk itself when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


def run_wrk(
    base_url: str,
    requests: Sequence[HttpRequest],
    *,
    duration_s: float,
    connections: int = 64,
    threads: int = 1,
) -> dict[str, float]:
    """Returns requests/s, ok/s (2xx/3xx), p50/p99 in ms and wrk's CPU in % of one core."""
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as listing:
        listing.write("\n".join(request.line() for request in requests) + "\n")
    try:
        before = _children_cpu()
        started = time.monotonic()
        process = subprocess.Popen(
            [ensure_wrk(), "-t", str(threads), "-c", str(connections),
             "-d", f"{duration_s:g}s", "--timeout", "5s", "-s", str(LUA), base_url],
            env={**os.environ, "BENCH_REQUESTS": listing.name},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out, err = process.communicate()
        wall = time.monotonic() - started
        wrk_cpu = _children_cpu() - before  # only wrk was reaped in between
    finally:
        os.unlink(listing.name)
    report = next((line for line in out.splitlines() if line.startswith("BENCH_JSON ")), None)
    if process.returncode != 0 or report is None:
        raise RuntimeError(f"wrk failed ({process.returncode}): {err.strip()} {out[-500:]}")
    raw = json.loads(report.removeprefix("BENCH_JSON "))
    seconds = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "requests_per_s": round(raw["requests"] / seconds, 1),
        "ok_per_s": round((raw["requests"] - raw["bad_status"]) / seconds, 1),
        "ok": raw["requests"] - raw["bad_status"],
        "bad_status": raw["bad_status"],
        "socket_errors": errors,
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "loadgen_cpu_pct": round(100 * wrk_cpu / wall, 1),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
