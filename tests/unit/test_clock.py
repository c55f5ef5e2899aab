"""The clock's pass without MySQL or Redis: what it sends, bounded presence reads, ownership."""

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pymysql
from hypothesis import given
from hypothesis import strategies as st
from redis.exceptions import ConnectionError as RedisConnectionError

from chatledger.bus.kafka import BusUnavailable
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
        self.reads: list[list[str]] = []  # the chats whose rows each load read

    async def load(self, mine: Callable[[str], bool], skip: Collection[str] = ()
                   ) -> tuple[LedgerState, list[str], set[str]]:
        self.reads.append(sorted(set(self.state.shows.current).difference(skip)))
        owned = {chat for chat in self.state.shows.current if mine(chat)}
        return self.state, sorted(owned.difference(skip)), owned


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


class Acks:
    """A producer whose sends are acknowledged, or all fail (`down`)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.down = False

    async def send(self, topic: str, key: bytes, value: bytes) -> "asyncio.Future[None]":
        if self.down:
            raise clock_module.KafkaError("broker away")
        self.sent.append(key.decode())
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def test_chats_waiting_on_a_lagging_ledger_are_gone_through_again_only_to_resend() -> None:
    """Sent and not yet decided: the next passes leave the chat out (a thousand waiting chats
    were gone through every 50 ms while the ledger worked through a backlog), until RESEND_S
    has passed; a send that failed leaves it in, for the next pass to send."""
    clock = taught(["chat0", "chat1"])
    clock.full_read_s = 100.0  # its rows (still at minute 1) are not read again meanwhile
    clock.producer = producer = Acks()

    async def passes(*moments: float) -> list[list[str]]:
        listed = []
        for clock.moment in moments:  # type: ignore[attr-defined]
            ticks = await clock.due(NOW)
            listed.append(sorted(t.chat for t in ticks))
            with contextlib.suppress(BusUnavailable):
                await clock.send(ticks)
        return listed

    producer.down = True
    assert asyncio.run(passes(0.0, 0.05)) == [["chat0", "chat1"], ["chat0", "chat1"]]
    producer.down = False
    assert asyncio.run(passes(0.1, 0.15, 2.0)) == [["chat0", "chat1"], [], []]
    assert producer.sent == ["chat0", "chat1"]
    later = clock_module.RESEND_S + 0.1
    assert asyncio.run(passes(later)) == [["chat0", "chat1"]]
    assert producer.sent == ["chat0", "chat1"] * 2
    clock.book.learn(*decided("chat0", 2), [])  # chat0's minute 1 decided
    assert asyncio.run(passes(later + 0.05, 2 * later)) == [[], ["chat1"]]


def test_a_failing_pass_backs_off_instead_of_spinning() -> None:
    class Broken(Rows):
        async def load(self, mine: Callable[[str], bool], skip: Collection[str] = ()
                       ) -> tuple[LedgerState, list[str], set[str]]:
            raise pymysql.err.ProgrammingError(1146, "Table 'shows' doesn't exist")

    assert asyncio.run(Broken(running(["chat0"]), None).one_pass()) is False
    assert asyncio.run(Rows(LedgerState(), None).one_pass()) is True  # nothing due
    pauses = [clock_module.failed_pause(n) for n in range(1, 12)]
    assert pauses == sorted(pauses) and pauses[0] > clock_module.MIN_PAUSE_S
    assert pauses[-1] == clock_module.FAILED_PAUSE_MAX_S


def taught(chats: list[str], owned: Any = None) -> Rows:
    """A clock the ledger's batches teach (`listen`), its monotonic time set by hand."""
    clock = Rows(running(chats, NOW - timedelta(seconds=1)), None, owned)
    clock.full_read_s = clock_module.FULL_READ_S
    clock.moment = 0.0  # type: ignore[attr-defined]
    clock.monotonic = lambda: clock.moment  # type: ignore[attr-defined]
    return clock


def decided(chat: str, minute: int) -> tuple[LedgerState, list[Any]]:
    """What a batch that decided `chat`'s boundary leaves: its show at `minute`."""
    state = running([chat], NOW - timedelta(seconds=1))  # minute 1 ended at NOW
    show = state.shows.current_show(chat)
    assert show is not None
    show.minutes = minute
    tick = tick_of(chat, f"show:s0:minute:{minute - 1}", NOW)
    return state, [tick]


def test_a_boundary_decided_is_followed_by_the_next_without_a_read() -> None:
    clock = taught(["chat0"])
    assert [t.what for t in asyncio.run(clock.due(NOW))] == ["show:s0:minute:1"]
    clock.book.learn(*decided("chat0", 2), [])  # the batch decided minute 1
    clock.moment = 0.3  # type: ignore[attr-defined]  # before the next read
    assert asyncio.run(clock.due(NOW)) == []  # minute 1 is not sent again
    assert [t.what for t in asyncio.run(clock.due(NOW + timedelta(seconds=1)))] \
        == ["show:s0:minute:2"]
    assert clock.reads == [["chat0"]]


def test_between_full_reads_only_the_chats_not_known_are_read() -> None:
    clock = taught(["chat0"])
    asyncio.run(clock.due(NOW))
    clock.state.shows.add(Show("s9", "chat9", "c9", "Ann", Decimal(1), 1.0, NOW, RUNNING,
                               NOW - timedelta(seconds=1), 1))  # a show another ledger began
    clock.moment = clock.reload_s  # type: ignore[attr-defined]
    assert sorted(t.chat for t in asyncio.run(clock.due(NOW))) == ["chat0", "chat9"]
    clock.moment = clock_module.FULL_READ_S  # type: ignore[attr-defined]
    asyncio.run(clock.due(NOW))
    assert clock.reads == [["chat0"], ["chat9"], ["chat0", "chat9"]]


def test_what_a_batch_taught_during_a_read_is_not_undone_by_that_read() -> None:
    class Slow(Rows):
        async def load(self, mine: Callable[[str], bool], skip: Collection[str] = ()
                       ) -> tuple[LedgerState, list[str], set[str]]:
            read = await super().load(mine, skip)  # rows read before the batch committed
            self.book.learn(*decided("chat0", 2), [])
            return read

    clock = Slow(running(["chat0"], NOW - timedelta(seconds=1)), None)
    clock.monotonic = lambda: 0.0
    assert asyncio.run(clock.due(NOW)) == []  # minute 1 was decided: not sent
    assert [t.what for t in asyncio.run(clock.due(NOW + timedelta(seconds=1)))] \
        == ["show:s0:minute:2"]


def test_a_command_found_applied_already_has_its_chat_read_again() -> None:
    clock = taught(["chat0", "chat1"])
    asyncio.run(clock.due(NOW))
    state, ticks = decided("chat0", 2)
    clock.book.learn(state, [], ticks)  # decided elsewhere: nothing learnt, chat0 marked
    clock.moment = clock.reload_s  # type: ignore[attr-defined]
    asyncio.run(clock.due(NOW))
    assert clock.reads == [["chat0", "chat1"], ["chat0"]]


def test_a_chat_with_nothing_due_in_its_rows_is_forgotten() -> None:
    clock = taught(["chat0", "chat1"])
    asyncio.run(clock.due(NOW - timedelta(seconds=0.5)))
    del clock.state.shows.current["chat1"]  # its show ended (decided by another ledger)
    clock.moment = clock.reload_s  # type: ignore[attr-defined]
    assert [t.chat for t in asyncio.run(clock.due(NOW))] == ["chat0"]


@given(st.text(), st.text(), st.datetimes(timezones=st.just(UTC)))
def test_tick_ids_are_exactly_the_rfc_4122_uuid5_as_first_shipped(
        chat: str, what: str, due: datetime) -> None:
    """Every clock, old or new, must give an item the same id, or a boundary could apply
    twice across a deploy."""
    namespace = uuid.UUID("3d1f6c1e-6a0b-4c55-9a57-2b8f0f7e11c4")
    expected = uuid.uuid5(namespace, f"{chat}/{what}/{due.isoformat()}")
    assert tick_of(chat, what, due).command_id == str(expected)
