"""Every retry in chatledger is one of these two policies, built on tenacity.

tenacity is the well-kept standard for this in Python (asyncio-native, composable stop / wait /
retry rules), so no module writes its own loop: each says only which policy a step follows.

- `on_conflict`: MySQL said the transaction lost a race (deadlock, lock wait, duplicate key when
  another worker applied the same commands first). Run the whole transaction again, a few times,
  quickly; then give up loudly.
- `until_available`: a dependency is away (MySQL, the broker, Redis). A step that must never be
  skipped (a ledger batch, a publish) waits for it, however long, backing off to 5 s; starting
  up against a broker that is still starting waits until a deadline.

The first attempt runs without tenacity: building and running its machinery costs ~25 µs per
call, on the path of every ledger batch (twice), every publish and every mirror write, where a
first attempt nearly always succeeds. Once it fails, the policy takes over from that failure
(replayed as its attempt 1), so the retries, their waits and their log lines are as before.
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


async def _first_then(
    step: Callable[[], Awaitable[T]],
    retried: Callable[[BaseException], bool],
    policy: Callable[[float], tenacity.AsyncRetrying],
) -> T:
    """`step` once; if it fails with an error `retried` accepts, `policy(seconds the first
    attempt took)` runs with that failure as its first attempt."""
    started = time.monotonic()
    try:
        return await _awaited(step)
    except Exception as error:
        if not retried(error):
            raise
        first: Exception | None = error
    took = time.monotonic() - started

    async def replayed() -> T:
        nonlocal first
        if first is not None:
            error, first = first, None
            raise error
        return await step()

    return await policy(took)(_awaited, replayed)


async def on_conflict(
    step: Callable[[], Awaitable[T]],
    *,
    what: str,
    codes: frozenset[int] = LOCK_CONFLICTS,
    attempts: int = 8,
) -> T:
    def retried(error: BaseException) -> bool:
        return _mysql_code(error) in codes

    def policy(_took: float) -> tenacity.AsyncRetrying:
        return tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(retried),
            stop=tenacity.stop_after_attempt(attempts),
            wait=tenacity.wait_exponential_jitter(multiplier=0.005, max=0.5, jitter=0.01),
            before_sleep=_log_retry(what),
            reraise=True,
        )

    return await _first_then(step, retried, policy)


async def until_available(
    step: Callable[[], Awaitable[T]],
    *,
    what: str,
    errors: tuple[type[BaseException], ...] = UNAVAILABLE,
    deadline_s: float | None = None,
) -> T:
    """Wait for the dependency for ever, or until `deadline_s` when starting up."""
    def retried(error: BaseException) -> bool:
        return isinstance(error, errors)

    def policy(took: float) -> tenacity.AsyncRetrying:
        # The deadline counts from the first attempt, which ran before the policy's clock.
        stop = (tenacity.stop_never if deadline_s is None
                else tenacity.stop_after_delay(max(0.0, deadline_s - took)))
        return tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(retried),
            stop=stop,
            wait=tenacity.wait_exponential_jitter(multiplier=0.1, max=5.0, jitter=0.1),
            before_sleep=_log_retry(what),
            reraise=True,
        )

    return await _first_then(step, retried, policy)
