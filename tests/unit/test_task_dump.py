"""The dump of every task's await chain that an overdue graceful stop logs."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest

from chatledger.platform.task_dump import describe_tasks, log_tasks


@contextlib.asynccontextmanager
async def holding(stuck: asyncio.Event) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await stuck.wait()  # an exit that never ends: what a stop waits on forever


async def parked(entered: asyncio.Event, stuck: asyncio.Event) -> None:
    async with holding(stuck):
        entered.set()
        await stuck.wait()


async def started(stuck: asyncio.Event) -> "asyncio.Task[None]":
    entered = asyncio.Event()
    task = asyncio.create_task(parked(entered, stuck), name="parked")
    await entered.wait()
    return task


async def test_each_task_is_shown_with_its_whole_await_chain_and_cancellation() -> None:
    stuck = asyncio.Event()
    task = await started(stuck)
    try:
        text = describe_tasks(asyncio.get_running_loop())
        assert "- task parked (cancelling 0):" in text
        assert " in parked\n" in text and "asyncio/locks.py" in text
        assert "waiting on <Future" in text
        task.cancel()
        await asyncio.sleep(0)  # the cancel reaches it: it now waits in its context's exit
        text = describe_tasks(asyncio.get_running_loop())
        assert "- task parked (cancelling 1):" in text
        assert " in __aexit__\n" in text and " in holding\n" in text  # through the generator
    finally:
        stuck.set()
        await asyncio.wait([task], timeout=5)


async def test_it_is_logged_at_warning_from_the_loop_or_another_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stuck = asyncio.Event()
    task = await started(stuck)
    loop = asyncio.get_running_loop()
    try:
        with caplog.at_level(logging.WARNING, logger="chatledger.platform.task_dump"):
            log_tasks(loop, "here")
            # The thread waits for the loop to log for it: the loop must keep running meanwhile.
            await asyncio.to_thread(log_tasks, loop, "from a thread", 5.0)
        messages = [record.getMessage() for record in caplog.records]
        assert [message.split(":")[0] for message in messages] == ["here", "from a thread"]
        assert all("- task parked (cancelling 0):" in message for message in messages)
    finally:
        stuck.set()
        await asyncio.wait([task], timeout=5)
