"""`--profile`: py-spy samples a server process during a scenario; the top frames.

py-spy runs with --nonblocking (it never pauses the process, so the scenario's numbers stay
those of an unprofiled process, at the price of an occasional torn stack) and writes collapsed
stacks ("frame;frame;...;leaf count" per line). `top_frames` turns them into the two lists a
reader needs: where the CPU is spent (self, the leaf) and what it is spent under (total, any
frame of the stack).
"""

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def frame_name(frame: str) -> str:
    """`handler (/x/.venv/lib/python3.11/site-packages/aiohttp/web.py:45)` -> `handler
    (aiohttp/web.py)`: one name per function whatever line is running, paths made short."""
    name, _, where = frame.partition(" (")
    where = re.sub(r":\d+\)?$", "", where.rstrip(")"))
    for marker in ("site-packages/", "/lib/python3.", "/chatledger/", "/tools/"):
        at = where.rfind(marker)
        if at >= 0:
            where = where[at + len(marker):] if marker != "/chatledger/" else where[at + 1:]
            if marker == "/lib/python3.":
                where = where.split("/", 1)[-1]
            break
    return f"{name} ({where})" if where else name


def top_frames(lines: Iterable[str], count: int = 40) -> dict[str, Any]:
    """Share of samples per frame: as the leaf (self) and anywhere in the stack (total)."""
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    samples = 0
    for line in lines:
        stack, _, number = line.rstrip("\n").rpartition(" ")
        if not stack or not number.isdigit():
            continue
        weight = int(number)
        frames = [frame_name(frame) for frame in stack.split(";")]
        samples += weight
        own[frames[-1]] += weight
        for frame in set(frames):
            under[frame] += weight

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(frame, round(100 * n / samples, 1)) for frame, n in counter.most_common(count)]

    return {"samples": samples, "self": shares(own) if samples else [],
            "total": shares(under) if samples else []}


class Profiler:
    """py-spy on one pid (and its children) until `result()`, which stops it and reads it."""

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self.process = subprocess.Popen(
            [spy, "record", "--nonblocking", "--subprocesses", "-r", "100", "-f", "raw",
             "-p", str(pid), "-o", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def result(self) -> dict[str, Any]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # py-spy writes what it has, then exits
        _, err = self.process.communicate(timeout=60)
        if not self.out.exists():
            return {"error": err.decode(errors="replace").strip()[-300:]}
        with self.out.open() as lines:
            return top_frames(lines)


class NoProfiler:
    """Stands in for a Profiler when --profile is off."""

    def result(self) -> None:
        return None


def profiler(enabled: bool, pid: int, out: Path) -> Profiler | NoProfiler:
    return Profiler(pid, out) if enabled else NoProfiler()
