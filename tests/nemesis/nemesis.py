"""Applies the fault schedule to the fleet and the private stack, and heals everything after.

The sleeps here are the schedule itself (how long a process stays dead, a server paused), not a
way to wait for a condition.
"""

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tests.helpers.private_stack import PrivateStack, pause, resume
from tests.nemesis.fleet import Fleet
from tests.nemesis.schedule import Fault


@dataclass
class Nemesis:
    fleet: Fleet
    stack: PrivateStack
    seed: int
    applied: list[str] = field(default_factory=list)
    broker_kills: list[float] = field(default_factory=list)  # time.monotonic() of each kill

    async def run(self, faults: list[Fault], stop: asyncio.Event) -> None:
        start = time.monotonic()
        for fault in faults:
            delay = start + fault.at_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if stop.is_set():
                return
            line = f"[seed {self.seed}] {fault} at {datetime.now(UTC):%H:%M:%S.%f}"
            print(f"nemesis: {line}", flush=True)
            self.applied.append(line)
            await self.apply(fault)

    async def apply(self, fault: Fault) -> None:
        if fault.kind == "kill":
            self.fleet.kill(fault.target)
            await asyncio.sleep(fault.hold_s)
            self.fleet.start(fault.target)
        elif fault.kind == "kill_broker":
            self.broker_kills.append(time.monotonic())
            self.stack.broker.stop()
            await asyncio.sleep(fault.hold_s)
            await asyncio.to_thread(self.stack.broker.start)
        else:
            process = self.stack.processes()[fault.target]
            pause(process)
            try:
                await asyncio.sleep(fault.hold_s)
            finally:
                resume(process)

    async def watch(self, stop: asyncio.Event) -> None:
        """Meanwhile: any process that exits on its own is a finding (and is started again)."""
        while not stop.is_set():
            self.fleet.sweep()
            await asyncio.sleep(0.5)

    async def heal(self) -> None:
        """Every server running and continued, every member started, all of them ready."""
        self.stack.resume_all()
        if self.stack.broker.process is None:
            await asyncio.to_thread(self.stack.broker.start)
        self.fleet.sweep()
        for name, member in self.fleet.members.items():
            if member.service is None or member.service.process.poll() is not None:
                self.fleet.start(name)
        for name in self.fleet.members:
            await asyncio.to_thread(self.fleet.wait_ready, name, 60)
