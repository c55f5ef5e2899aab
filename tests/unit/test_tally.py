"""A tally adds one loop iteration's increments to its counter when the iteration ends, and at
once outside a loop."""

import asyncio

from prometheus_client import CollectorRegistry, Counter

from chatledger.platform.tally import Tally


def counter() -> Counter:
    return Counter("tallied", "a test's counter", registry=CollectorRegistry())


def value(counted: Counter) -> float:
    return counted._value.get()  # type: ignore[attr-defined, no-any-return]


async def test_an_iterations_increments_are_added_when_it_ends() -> None:
    counted = counter()
    tally = Tally(counted)
    for _ in range(3):
        tally.add()
    assert value(counted) == 0
    await asyncio.sleep(0)  # the iteration has ended
    assert value(counted) == 3
    tally.add()
    await asyncio.sleep(0)
    assert value(counted) == 4


def test_outside_a_loop_an_increment_is_added_at_once() -> None:
    counted = counter()
    tally = Tally(counted)
    tally.add()
    tally.add()
    assert value(counted) == 2
