"""The seeded fault schedule: the same seed gives the same faults, in the same order and spacing.

Faults are applied one after the other (a fault's own duration, e.g. a pause, delays the next),
so the run is a sequence a person can read back and replay with `NEMESIS_SEED`. Only the fault
plan is reproducible exactly; the load's interleaving with it depends on the machine's timing.
"""

import random
from dataclasses import dataclass

from tests.nemesis.fleet import COPIES, ROLES

# kind -> weight: process kills are the common case, the broker's restart the rarest (it loses
# every topic, the heaviest fault of all).
KINDS = {"kill": 6, "pause_mysql": 2, "pause_redis": 2, "kill_broker": 1}


@dataclass(frozen=True)
class Fault:
    at_s: float  # seconds from the start of the load
    kind: str  # kill | pause_mysql | pause_redis | kill_broker
    target: str  # a fleet member for kill, else the server
    hold_s: float  # pause length, or how long a killed process stays down

    def __str__(self) -> str:
        return f"t+{self.at_s:5.1f}s {self.kind} {self.target} ({self.hold_s:.1f}s)"


def plan(seed: int, duration_s: float) -> list[Fault]:
    rng = random.Random(seed)
    faults: list[Fault] = []
    at = rng.uniform(2.0, 5.0)
    while at < duration_s - 3.0:
        kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
        if kind == "kill":
            target = f"{rng.choice(ROLES)}-{rng.randrange(COPIES)}"
            hold = rng.uniform(0.0, 4.0)
        else:
            target = kind.removeprefix("pause_").removeprefix("kill_")
            hold = rng.uniform(1.0, 5.0) if kind.startswith("pause") else rng.uniform(0.5, 2.0)
        faults.append(Fault(round(at, 2), kind, target, round(hold, 2)))
        at += hold + rng.uniform(1.5, 6.0)
    return faults
