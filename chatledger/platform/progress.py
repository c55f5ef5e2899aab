"""How a long replay reports progress: a live bar on a terminal, plain lines otherwise."""

import sys
import time
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import (
    Progress as RichProgress,
)


class Progress(Protocol):
    """What a long replay reports to (rebuild)."""

    def start(self, total: int) -> None: ...
    def advance(self, events: int, position: int) -> None: ...
    def note(self, text: str) -> None: ...
    def close(self) -> None: ...


class NoProgress:
    def start(self, total: int) -> None:
        pass

    def advance(self, events: int, position: int) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


class TerminalProgress:
    """A rich bar over event ids, with events/s (ids, not counts: MAX(id) is free, COUNT is not)."""

    def __init__(self, label: str, stream: TextIO = sys.stdout) -> None:
        self.label = label
        self.bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} events/s"),
            TimeElapsedColumn(),
            console=Console(file=stream),
            transient=False,
        )
        self.task: TaskID | None = None
        self.events = 0
        self.started = time.perf_counter()

    def start(self, total: int) -> None:
        self.started = time.perf_counter()
        self.bar.start()
        self.task = self.bar.add_task(self.label, total=max(total, 1), rate="0")

    def advance(self, events: int, position: int) -> None:
        self.events += events
        rate = self.events / max(time.perf_counter() - self.started, 1e-9)
        if self.task is not None:
            self.bar.update(self.task, completed=position, rate=f"{rate:,.0f}")

    def note(self, text: str) -> None:
        self.bar.console.print(text)

    def close(self) -> None:
        self.bar.stop()


class LineProgress:
    """One line at most every `every_s` seconds: readable in logs and CI output."""

    def __init__(self, label: str, stream: TextIO = sys.stderr, every_s: float = 2.0) -> None:
        self.label = label
        self.stream = stream
        self.every_s = every_s
        self.total = 0
        self.events = 0
        self.started = self.last = time.perf_counter()

    def _line(self, text: str) -> None:
        self.stream.write(f"{self.label}: {text}\n")
        self.stream.flush()

    def start(self, total: int) -> None:
        self.total = total
        self.started = self.last = time.perf_counter()
        self._line(f"replaying chat_events up to id {total}")

    def advance(self, events: int, position: int) -> None:
        self.events += events
        now = time.perf_counter()
        if now - self.last >= self.every_s or position >= self.total:
            self.last = now
            rate = self.events / max(now - self.started, 1e-9)
            self._line(f"{self.events} events, id {position}/{self.total}, {rate:,.0f} events/s")

    def note(self, text: str) -> None:
        self._line(text)

    def close(self) -> None:
        pass


def progress_for(label: str, stream: TextIO = sys.stdout) -> TerminalProgress | LineProgress:
    return TerminalProgress(label, stream) if stream.isatty() else LineProgress(label)
