"""The clock's pass without MySQL or Redis: what it sends, bounded presence reads, ownership."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from chatledger.domain.show_book import RUNNING, Show
from chatledger.domain.state import LedgerState
from chatledger.ledger import clock as clock_module
from chatledger.ledger.clock import Clock, tick_of
from chatledger.platform.config import Settings

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def running(chats: list[str]) -> LedgerState:
    state = LedgerState()
    for n, chat in enumerate(chats):
        state.shows.add(Show(f"s{n}", chat, f"c{n}", "Bob", Decimal(1), 1.0, NOW,
                             RUNNING, NOW - timedelta(seconds=5), 1))
    return state


class Rows(Clock):
    """A clock whose rows are `state`, as `load` would read them (ownership applied)."""

    def __init__(self, state: LedgerState, present: Any, owned: Any = None) -> None:
        super().__init__(Settings(), None, None, present,  # type: ignore[arg-type]
                         owned or clock_module.every_chat)
        self.state = state

    async def load(self, mine: Callable[[str], bool]) -> tuple[LedgerState, list[str]]:
        return self.state, sorted(chat for chat in self.state.shows.current if mine(chat))


def test_presence_is_read_a_few_chats_at_a_time() -> None:
    flight, most = 0, 0

    async def present(chat: str) -> set[str]:
        nonlocal flight, most
        flight += 1
        most = max(most, flight)
        await asyncio.sleep(0)
        flight -= 1
        return set()

    chats = [f"chat{n}" for n in range(200)]
    asyncio.run(Rows(running(chats), present).due(NOW))
    assert 1 <= most <= clock_module.PRESENCE_READS


def test_minutes_are_ticked_when_presence_cannot_be_read() -> None:
    async def present(chat: str) -> set[str]:
        raise RedisConnectionError("Redis away")

    ticks = asyncio.run(Rows(running(["chat0", "chat1"]), present).due(NOW))
    assert sorted(t.what for t in ticks) == ["show:s0:minute:1", "show:s1:minute:1"]


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
