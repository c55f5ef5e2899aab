"""A coroutine run beside the code in a `with` block, and stopped when the block ends."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any


@contextlib.asynccontextmanager
async def running(
    coro: Coroutine[Any, Any, None],
    name: str,
    *,
    on_done: Callable[["asyncio.Task[None]"], None] | None = None,
) -> AsyncIterator["asyncio.Task[None]"]:
    task = asyncio.create_task(coro, name=name)
    if on_done is not None:
        task.add_done_callback(on_done)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
