"""Percentiles and CPU accounting shared by the load generators and the orchestrator."""

import os
from collections.abc import Iterable, Sequence

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of an unsorted sample; None for an empty one."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (and its reaped children), from /proc; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[0] is the state (field 3); utime, stime, cutime, cstime are fields 14..17.
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


class CpuMeter:
    """CPU seconds used by named groups of pids between start() and stop()."""

    def __init__(self, groups: dict[str, Iterable[int]]) -> None:
        self.groups = {name: list(pids) for name, pids in groups.items()}
        self._start: dict[str, float] = {}
        self.seconds: dict[str, float] = {}  # CPU seconds per group, set by stop()

    def _now(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in self.groups.items()}

    def start(self) -> None:
        self._start = self._now()

    def stop(self, wall_s: float) -> dict[str, float]:
        """Percent of ONE core per group over `wall_s` (200 = both cores)."""
        end = self._now()
        self.seconds = {name: end[name] - self._start.get(name, 0.0) for name in self.groups}
        return {name: round(100 * used / wall_s, 1) for name, used in self.seconds.items()}


def pids_of(program: str, argument: str = "") -> list[int]:
    """Pids whose command name starts with `program` (the kernel cuts names at 15 characters)
    and whose command line holds `argument` (read-only lookup, for CPU accounting only)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as comm:
                    if not comm.read().strip().startswith(program):
                        continue
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    if argument.encode() in cmdline.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def _parents() -> dict[int, int]:
    """pid -> parent pid of every live process (field 4 of /proc/<pid>/stat)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    return parents


def descendants(pid: int) -> list[int]:
    """`pid` and every live process below it (the workers of `serve --workers N`)."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def rss_bytes(pid: int) -> int:
    """Resident set size of a live process (VmRSS), in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise ValueError(f"no VmRSS for {pid}")
