"""The clock's pass without MySQL or Redis: what it sends, bounded presence reads, ownership."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pymysql
from redis.exceptions import ConnectionError as RedisConnectionError

from chatledger.domain.show_book import RUNNING, Show
from chatledger.domain.state import LedgerState
from chatledger.ledger import clock as clock_module
from chatledger.ledger.clock import Clock, tick_of
from chatledger.platform.config import Settings

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def running(chats: list[str], started: datetime = NOW - timedelta(seconds=5)) -> LedgerState:
    """A show in each chat, in its first 1 s minute since `started`."""
    state = LedgerState()
    for n, chat in enumerate(chats):
        state.shows.add(Show(f"s{n}", chat, f"c{n}", "Bob", Decimal(1), 1.0, NOW,
                             RUNNING, started, 1))
    return state


class Rows(Clock):
    """A clock whose rows are `state`, as `load` would read them (ownership applied)."""

    def __init__(self, state: LedgerState, present: Any, owned: Any = None) -> None:
        super().__init__(Settings(), None, None, present,  # type: ignore[arg-type]
                         owned or clock_module.every_chat)
        self.state = state

    async def load(self, mine: Callable[[str], bool]) -> tuple[LedgerState, list[str]]:
        return self.state, sorted(chat for chat in self.state.shows.current if mine(chat))


def test_presence_is_asked_for_every_running_show_at_once_once_a_second() -> None:
    asked: list[list[str]] = []

    async def present(chats: list[str]) -> dict[str, set[str]]:
        asked.append(chats)
        return {chat: set() for chat in chats}

    chats = [f"chat{n}" for n in range(200)]
    clock = Rows(running(chats), present)
    moment = [0.0]
    clock.monotonic = lambda: moment[0]

    async def passes() -> None:
        for moment[0] in (0.0, 0.5, 1.1):
            await clock.due(NOW)

    asyncio.run(passes())
    assert asked == [sorted(chats), sorted(chats)]


def test_minutes_are_ticked_when_presence_cannot_be_read() -> None:
    async def present(chats: list[str]) -> dict[str, set[str]]:
        raise RedisConnectionError("Redis away")

    ticks = asyncio.run(Rows(running(["chat0", "chat1"]), present).due(NOW))
    assert sorted(t.what for t in ticks) == ["show:s0:minute:1", "show:s1:minute:1"]


def test_between_reads_it_wakes_at_the_next_due_time_it_knows() -> None:
    state = running(["chat0"], NOW - timedelta(seconds=1))  # its minute 1 ends at NOW
    clock = Rows(state, None)
    clock.monotonic = lambda: 0.0
    asyncio.run(clock.due(NOW - timedelta(seconds=0.3)))
    assert abs(clock.pause(NOW - timedelta(seconds=0.3)) - 0.3) < 1e-6
    ticks = asyncio.run(clock.due(NOW + timedelta(seconds=0.1)))
    assert [tick.what for tick in ticks] == ["show:s0:minute:1"]
    assert clock.pause(NOW + timedelta(seconds=0.1)) == clock.reload_s  # nothing else ahead


def test_only_the_chats_owned_are_ticked_and_none_while_nothing_is() -> None:
    state = running(["chat0", "chat1"])
    mine = Rows(state, None, lambda: (lambda chat: chat == "chat1"))
    assert [t.chat for t in asyncio.run(mine.due(NOW))] == ["chat1"]
    assert asyncio.run(Rows(state, None, lambda: None).due(NOW)) == []


def test_a_tick_is_sent_again_only_once_resend_s_passed() -> None:
    sent: list[str] = []

    class Producer:
        async def send(self, topic: str, key: bytes, value: bytes) -> "asyncio.Future[None]":
            sent.append(key.decode())
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done

    clock = Clock(Settings(), None, Producer(), None)  # type: ignore[arg-type]
    tick = tick_of("chat0", "show:s0:minute:1", NOW)
    moments = iter([100.0, 101.0, 100.0 + clock_module.RESEND_S + 0.1])
    clock.monotonic = lambda: next(moments)

    async def three_passes() -> None:
        for _ in range(3):
            await clock.send([tick])

    asyncio.run(three_passes())
    assert sent == ["chat0", "chat0"]


def test_a_failing_pass_backs_off_instead_of_spinning() -> None:
    class Broken(Rows):
        async def load(self, mine: Callable[[str], bool]) -> tuple[LedgerState, list[str]]:
            raise pymysql.err.ProgrammingError(1146, "Table 'shows' doesn't exist")

    assert asyncio.run(Broken(running(["chat0"]), None).one_pass()) is False
    assert asyncio.run(Rows(LedgerState(), None).one_pass()) is True  # nothing due
    pauses = [clock_module.failed_pause(n) for n in range(1, 12)]
    assert pauses == sorted(pauses) and pauses[0] > clock_module.MIN_PAUSE_S
    assert pauses[-1] == clock_module.FAILED_PAUSE_MAX_S
