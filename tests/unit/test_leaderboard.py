"""The leaderboard's periods (DESIGN §9): UTC days, weeks from Monday, months from the 1st."""

import asyncio
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatledger.api.leaderboard import (
    PERIODS,
    BadPeriod,
    Boards,
    Period,
    parse_period,
    period_start,
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("now", "period", "start"),
    [
        # Wednesday 2024-05-15, mid-day
        (utc(2024, 5, 15, 12, 30), "day", date(2024, 5, 15)),
        (utc(2024, 5, 15, 12, 30), "week", date(2024, 5, 13)),
        (utc(2024, 5, 15, 12, 30), "month", date(2024, 5, 1)),
        (utc(2024, 5, 15, 12, 30), "all", None),
        # the first instant of a Monday that is also the 1st: everything starts today
        (utc(2024, 4, 1, 0, 0, 0), "day", date(2024, 4, 1)),
        (utc(2024, 4, 1, 0, 0, 0), "week", date(2024, 4, 1)),
        (utc(2024, 4, 1, 0, 0, 0), "month", date(2024, 4, 1)),
        # the last instant of a Sunday: the week began six days ago
        (datetime(2024, 4, 7, 23, 59, 59, 999999, tzinfo=UTC), "day", date(2024, 4, 7)),
        (datetime(2024, 4, 7, 23, 59, 59, 999999, tzinfo=UTC), "week", date(2024, 4, 1)),
        # a week that began in the previous month (and year)
        (utc(2025, 1, 2, 8), "week", date(2024, 12, 30)),
        (utc(2025, 1, 2, 8), "month", date(2025, 1, 1)),
        # the last day of a leap February
        (utc(2024, 2, 29, 23, 0), "month", date(2024, 2, 1)),
        (utc(2024, 2, 29, 23, 0), "week", date(2024, 2, 26)),
    ],
)
def test_each_period_starts_where_the_contract_says(
    now: datetime, period: Period, start: date | None
) -> None:
    assert period_start(period, now) == start


def test_periods_are_utc_whatever_the_clock_zone() -> None:
    # 2024-04-01 01:30 in UTC+3 is still Sunday 2024-03-31 22:30 UTC: last week, last month.
    plus_three = datetime(2024, 4, 1, 1, 30, tzinfo=timezone(timedelta(hours=3)))
    assert period_start("day", plus_three) == date(2024, 3, 31)
    assert period_start("week", plus_three) == date(2024, 3, 25)
    assert period_start("month", plus_three) == date(2024, 3, 1)
    # Sunday 2024-03-31 22:30 in UTC-5 is already Monday 2024-04-01 03:30 UTC.
    minus_five = datetime(2024, 3, 31, 22, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert period_start("day", minus_five) == date(2024, 4, 1)
    assert period_start("week", minus_five) == date(2024, 4, 1)
    assert period_start("month", minus_five) == date(2024, 4, 1)


def test_a_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        period_start("day", datetime(2024, 5, 15, 12, 30))


@given(st.datetimes(timezones=st.just(UTC)))
def test_the_periods_nest_and_hold_today(now: datetime) -> None:
    today = now.date()
    day, week, month = (period_start(p, now) for p in ("day", "week", "month"))
    assert day == today
    assert week is not None and week.weekday() == 0 and 0 <= (today - week).days <= 6
    assert month is not None and month.day == 1 and (month.year, month.month) == (
        today.year,
        today.month,
    )
    assert period_start("all", now) is None


def test_the_period_parameter() -> None:
    assert parse_period(None) == "all"
    for period in PERIODS:
        assert parse_period(period) == period
    for bad in ("", "DAY", "year", "day ", "all\x00"):
        with pytest.raises(BadPeriod, match="period: must be one of day, week, month, all"):
            parse_period(bad)


class FakeChat:
    """A chat's version and the loads of its boards, counted; a load may be held open."""

    def __init__(self) -> None:
        self.version = 1
        self.loads: list[tuple[str, date | None, int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.loading = asyncio.Event()
        self.fail = False

    async def version_of(self, chat: str) -> int:
        return self.version

    async def load(self, chat: str, start: date | None) -> list[dict[str, Any]]:
        self.loads.append((chat, start, self.version))
        self.loading.set()
        await self.gate.wait()
        if self.fail:
            raise OSError("MySQL went away")
        return [{"uuid": chat, "name": "as of", "total": f"{self.version}.00"}]


async def test_requests_at_one_version_share_one_query() -> None:
    chat = FakeChat()
    boards = Boards(chat.version_of, chat.load)
    chat.gate.clear()
    herd = [asyncio.ensure_future(boards.board("m", None)) for _ in range(50)]
    await chat.loading.wait()
    chat.gate.set()
    answers = await asyncio.gather(*herd)
    assert len(chat.loads) == 1 and all(answer == answers[0] for answer in answers)
    assert await boards.board("m", None) == answers[0] and len(chat.loads) == 1


async def test_a_new_version_or_another_start_reads_again() -> None:
    chat = FakeChat()
    boards = Boards(chat.version_of, chat.load)
    first = await boards.board("m", None)
    assert await boards.board("m", date(2024, 5, 1)) != []  # another period: its own board
    chat.version = 2
    assert (await boards.board("m", None))[0]["total"] == "2.00" != first[0]["total"]
    assert chat.loads == [("m", None, 1), ("m", date(2024, 5, 1), 1), ("m", None, 2)]
    assert len(boards) == 2  # the version-1 board of all time was replaced


async def test_a_reader_of_an_older_version_gets_the_newer_board() -> None:
    chat = FakeChat()
    boards = Boards(chat.version_of, chat.load)
    chat.version = 5
    newer = await boards.board("m", None)
    chat.version = 4  # a request that read the version before the newer board was stored
    assert await boards.board("m", None) == newer and len(chat.loads) == 1


async def test_a_failed_query_is_not_kept() -> None:
    chat = FakeChat()
    boards = Boards(chat.version_of, chat.load)
    chat.fail = True
    with pytest.raises(OSError):
        await boards.board("m", None)
    chat.fail = False
    assert (await boards.board("m", None))[0]["total"] == "1.00" and len(chat.loads) == 2


async def test_a_request_that_goes_away_does_not_cancel_the_shared_query() -> None:
    chat = FakeChat()
    boards = Boards(chat.version_of, chat.load)
    chat.gate.clear()
    leaving = asyncio.ensure_future(boards.board("m", None))
    staying = asyncio.ensure_future(boards.board("m", None))
    await chat.loading.wait()
    leaving.cancel()
    chat.gate.set()
    assert (await staying)[0]["total"] == "1.00" and len(chat.loads) == 1


async def test_boards_are_bounded_the_oldest_dropped_first() -> None:
    chat = FakeChat()
    boards = Boards(chat.version_of, chat.load, max_boards=3)
    for name in ("a", "b", "c", "d"):
        await boards.board(name, None)
    assert len(boards) == 3
    await boards.board("a", None)  # dropped: read again
    await boards.board("d", None)  # kept
    assert [chat_ for chat_, _, _ in chat.loads] == ["a", "b", "c", "d", "a"]


async def test_no_board_is_served_longer_than_its_age_limit() -> None:
    chat = FakeChat()
    now = [100.0]
    boards = Boards(chat.version_of, chat.load, max_age_s=30, clock=lambda: now[0])
    await boards.board("m", None)
    now[0] += 30
    await boards.board("m", None)  # exactly at the limit: still served
    assert len(chat.loads) == 1
    now[0] += 0.5
    await boards.board("m", None)  # a rebuild or a rename shows without an event
    assert len(chat.loads) == 2
