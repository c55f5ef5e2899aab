"""Inbound frame budget of one socket: clients only ever ping, so a flood is abuse (DESIGN §7)."""

from dataclasses import dataclass, field


@dataclass(slots=True)
class FrameBudget:
    """At most `per_second` frames in any one-second window (fixed windows: cheap, good enough)."""

    per_second: int
    _window: int = field(default=-1, init=False)
    _count: int = field(default=0, init=False)

    def allow(self, now: float) -> bool:
        window = int(now)
        if window != self._window:
            self._window, self._count = window, 0
        self._count += 1
        return self._count <= self.per_second
