"""The three retry policies, on steps that fail a known number of times (no I/O)."""

import asyncio

import pymysql
import pytest

from chatledger.platform.retrying import DUPLICATE_KEY, on_conflict, until_available


class Flaky:
    """Fails with `error` the first `failures` calls, then answers how many calls it took."""

    def __init__(self, failures: int, error: BaseException) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    async def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.calls


DEADLOCK = pymysql.err.OperationalError(1213, "Deadlock found")


async def test_a_lost_race_is_run_again_until_it_wins() -> None:
    assert await on_conflict(Flaky(3, DEADLOCK), what="t") == 4
    step = Flaky(1, DEADLOCK)  # a plain callable returning a coroutine, as the callers pass
    assert await on_conflict(lambda: step(), what="t") == 2


async def test_a_race_lost_too_often_gives_up_with_the_last_error() -> None:
    step = Flaky(10, DEADLOCK)
    with pytest.raises(pymysql.err.OperationalError):
        await on_conflict(step, what="t", attempts=3)
    assert step.calls == 3


async def test_only_the_named_conflicts_are_retried() -> None:
    duplicate = pymysql.err.IntegrityError(DUPLICATE_KEY, "Duplicate entry")
    step = Flaky(1, duplicate)
    with pytest.raises(pymysql.err.IntegrityError):
        await on_conflict(step, what="t")
    assert step.calls == 1
    assert await on_conflict(Flaky(1, duplicate), what="t", codes=frozenset({DUPLICATE_KEY})) == 2


async def test_a_missing_dependency_is_waited_for_and_a_bug_is_not() -> None:
    assert await until_available(Flaky(2, ConnectionRefusedError()), what="t") == 3
    bug = Flaky(1, ValueError("a bug, not an outage"))
    with pytest.raises(ValueError):
        await until_available(bug, what="t")
    assert bug.calls == 1


async def test_a_deadline_ends_the_wait() -> None:
    step = Flaky(1_000, ConnectionRefusedError())
    with pytest.raises(ConnectionRefusedError):
        await until_available(step, what="t", deadline_s=0.3)
    assert 1 < step.calls < 1_000


async def test_a_cancellation_a_library_turned_into_an_error_is_not_retried() -> None:
    started = asyncio.Event()

    async def query() -> None:  # as aiomysql does when the task is cancelled mid-query
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise pymysql.err.InterfaceError("Cancelled during execution") from None

    task = asyncio.ensure_future(until_available(query, what="the seed"))
    await started.wait()
    task.cancel()
    await asyncio.wait({task}, timeout=5)  # (wait_for would cancel it again and wait for ever)
    try:
        assert task.done(), "the cancellation was retried away"
        assert task.cancelled()
    finally:
        task.cancel()


async def test_a_first_failure_is_retried_and_logged_as_the_policy_always_did(
    caplog: pytest.LogCaptureFixture,
) -> None:
    step = Flaky(1, ConnectionRefusedError())
    with caplog.at_level("WARNING", logger="chatledger.platform.retrying"):
        assert await until_available(step, what="the probe") == 2
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "the probe failed (attempt 1)"]


async def test_the_deadline_counts_the_first_attempt_too() -> None:
    calls = 0

    async def slow_then_refused() -> None:  # a dependency that takes its time to say no
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.4)
        raise ConnectionRefusedError()

    with pytest.raises(ConnectionRefusedError):
        await until_available(slow_then_refused, what="t", deadline_s=0.3)
    assert calls == 1


async def test_the_first_failure_is_the_policys_first_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first attempt runs before the policy is made; its failure still counts as the
    policy's attempt 1 (logged so, and not run a second time)."""
    step = Flaky(2, DEADLOCK)
    with caplog.at_level("WARNING", logger="chatledger.platform.retrying"):
        assert await on_conflict(step, what="the batch") == 3
    attempts = [r.getMessage().split("(attempt ")[1].split(")")[0] for r in caplog.records]
    assert attempts == ["1", "2"]
