"""What every asyncio task of a process waits on, logged when a graceful stop is overdue.

`Task.print_stack` shows one frame of a suspended task: the coroutine it started with (a
suspended coroutine's frame has no `f_back`). Here each task's whole await chain is followed
(coroutines, generators, async generators, and the async generator behind an
`asynccontextmanager`'s exit) down to the future it waits on, with the task's cancellation
count: a task that was cancelled and still runs (`cancelling 1` while parked in an ordinary
wait) has swallowed its cancellation.

Best effort by design: it reads frames that belong to the loop, so from another thread it asks
the loop to do it, and only reads them from that thread if the loop does not answer (a loop
stuck in a blocking call); the picture may then be torn, which beats none.
"""

import asyncio
import logging
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)
MAX_DEPTH = 64  # an await chain is short; this only guards against a cycle


_CHAIN = ("cr_await", "gi_yieldfrom", "ag_await")


def _next_awaited(awaitable: Any, frame: FrameType) -> Any:
    following = next((getattr(awaitable, name) for name in _CHAIN if hasattr(awaitable, name)),
                     None)
    if following is None or _frame_of(following) is not None:
        return following
    if any(hasattr(following, name) for name in _CHAIN):
        return following
    # An asynccontextmanager's __aexit__ awaits `gen.athrow(...)` or `anext(gen)`, objects that
    # do not name their generator: it is the context manager's `self.gen`.
    generator = getattr(frame.f_locals.get("self"), "gen", None)
    return generator if hasattr(generator, "ag_frame") else following


def _frame_of(awaitable: Any) -> FrameType | None:
    for attribute in ("cr_frame", "gi_frame", "ag_frame"):
        frame = getattr(awaitable, attribute, None)
        if frame is not None:
            return frame  # type: ignore[no-any-return]
    return None


def await_chain(task: "asyncio.Task[Any]") -> Iterator[str]:
    """One line per link, outermost first: `file:line in function`, then what it waits on."""
    awaitable: Any = task.get_coro()
    seen = 0
    while awaitable is not None and seen < MAX_DEPTH:
        seen += 1
        frame = _frame_of(awaitable)
        if frame is None:
            # The future the task is parked on says more than the iterator awaiting it.
            waiter = getattr(task, "_fut_waiter", None)
            yield f"waiting on {waiter if waiter is not None else awaitable!r}"
            return
        code = frame.f_code
        yield f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"
        following = _next_awaited(awaitable, frame)
        if following is awaitable:
            return
        awaitable = following


def describe_tasks(loop: asyncio.AbstractEventLoop) -> str:
    tasks = sorted(asyncio.all_tasks(loop), key=lambda task: task.get_name())
    parts = [f"{len(tasks)} task(s)"]
    for task in tasks:
        parts.append(f"- task {task.get_name()} (cancelling {task.cancelling()}):")
        parts.extend(f"    {line}" for line in await_chain(task))
    return "\n".join(parts)


def log_tasks(loop: asyncio.AbstractEventLoop, why: str, wait_s: float = 1.0) -> None:
    """Log every task of `loop` with its await chain at WARNING; callable from any thread."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop or loop.is_closed() or not loop.is_running():
        log.warning("%s: %s", why, describe_tasks(loop))
        return
    done = threading.Event()

    def in_loop() -> None:
        try:
            log.warning("%s: %s", why, describe_tasks(loop))
        finally:
            done.set()

    loop.call_soon_threadsafe(in_loop)
    if not done.wait(wait_s):
        log.warning("%s (the loop did not answer in %.1f s; read from another thread): %s",
                    why, wait_s, describe_tasks(loop))
