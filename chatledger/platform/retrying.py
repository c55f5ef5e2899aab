"""Every retry in chatledger is one of these two policies, built on tenacity.

tenacity is the well-kept standard for this in Python (asyncio-native, composable stop / wait /
retry rules), so no module writes its own loop: each says only which policy a step follows.

- `on_conflict`: MySQL said the transaction lost a race (deadlock, lock wait, duplicate key when
  another worker applied the same commands first). Run the whole transaction again, a few times,
  quickly; then give up loudly.
- `until_available`: a dependency is away (MySQL, the broker, Redis). A step that must never be
  skipped (a ledger batch, a publish) waits for it, however long, backing off to 5 s; starting
  up against a broker that is still starting waits until a deadline.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pymysql
import tenacity
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)
T = TypeVar("T")

LOCK_CONFLICTS = frozenset({1205, 1213})  # lock wait timeout, deadlock
DUPLICATE_KEY = 1062
UNAVAILABLE: tuple[type[BaseException], ...] = (
    pymysql.err.OperationalError,
    pymysql.err.InterfaceError,
    KafkaError,
    OSError,
)


def _mysql_code(error: BaseException) -> object:
    if isinstance(error, pymysql.err.MySQLError) and error.args:
        return error.args[0]
    return None


async def _awaited(step: Callable[[], Awaitable[T]]) -> T:
    # tenacity awaits only what it recognises as a coroutine function; a lambda returning a
    # coroutine is not one, so every step goes through this one.
    try:
        return await step()
    except Exception as error:
        # aiomysql answers a cancellation mid-query with InterfaceError("Cancelled during
        # execution"): retried, the cancellation would be lost and a shutdown would wait for ever.
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError() from error
        raise


def _log_retry(what: str) -> Callable[[tenacity.RetryCallState], None]:
    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        pause = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s failed (attempt %d): %r; retrying in %.2f s",
                    what, state.attempt_number, error, pause)

    return before_sleep


async def _retried(policy: Callable[[float], tenacity.AsyncRetrying],
                   step: Callable[[], Awaitable[T]]) -> T:
    """The step under the policy, its first attempt run before the policy is made: tenacity's
    machinery costs ~20 µs a call, and a ledger batch went through three (at one command a
    batch, ~3% of its CPU). A first failure is handed to the policy (made for the seconds that
    attempt took) as its first attempt's outcome (raised again, not run again), so it decides,
    logs and waits as it always did."""
    started = time.monotonic()
    try:
        return await _awaited(step)
    except Exception as error:
        failed: list[Exception] = [error]
        spent = time.monotonic() - started

    async def again() -> T:
        if failed:
            raise failed.pop()
        return await step()

    return await policy(spent)(_awaited, again)


async def on_conflict(
    step: Callable[[], Awaitable[T]],
    *,
    what: str,
    codes: frozenset[int] = LOCK_CONFLICTS,
    attempts: int = 8,
) -> T:
    return await _retried(lambda _: tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(lambda error: _mysql_code(error) in codes),
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_exponential_jitter(multiplier=0.005, max=0.5, jitter=0.01),
        before_sleep=_log_retry(what),
        reraise=True,
    ), step)


async def until_available(
    step: Callable[[], Awaitable[T]],
    *,
    what: str,
    errors: tuple[type[BaseException], ...] = UNAVAILABLE,
    deadline_s: float | None = None,
) -> T:
    """Wait for the dependency for ever, or until `deadline_s` when starting up."""
    return await _retried(lambda spent: tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type(errors),
        stop=tenacity.stop_never if deadline_s is None
        else tenacity.stop_after_delay(deadline_s - spent),  # counted from the first attempt
        wait=tenacity.wait_exponential_jitter(multiplier=0.1, max=5.0, jitter=0.1),
        before_sleep=_log_retry(what),
        reraise=True,
    ), step)
