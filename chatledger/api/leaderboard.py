"""`GET /chat/leaderboard?period=day|week|month|all` (DESIGN §9): the token's chat's top donors.

The ledger keeps every donor's net total per UTC day in `donor_days` (donations less their
refunds, a refund counted on the day of the donation it takes back; anonymous tips never
counted) and all time in `donor_totals`. A period's board is ONE query: the sum of the days from
the period's start (a range of the primary key), or the all-time rows, the top ten of which are
then joined to the donors' names (aggregating before the join: 22 ms instead of 103 ms for a
month of 5,000 donors).

`Boards` keeps the last board of each (chat, period start) with the chat's version it was read
at, because the demo page (like any live client) refreshes the board on every tip: every viewer
of the room asks at once, at the same version.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal, get_args

from aiohttp import web
from databases import Database

from chatledger.api.command_routes import (
    MYSQL_UNAVAILABLE,
    Rejected,
    mysql_unavailable,
    principal_of,
)
from chatledger.domain.wire import money
from chatledger.readmodels.event_log import latest_seq
from chatledger.web import responses
from chatledger.web.keys import READS

Period = Literal["day", "week", "month", "all"]
PERIODS: Final[tuple[Period, ...]] = get_args(Period)
DEFAULT_PERIOD: Final[Period] = "all"
MAX_ENTRIES: Final = 10


class BadPeriod(ValueError):
    pass


def parse_period(text: str | None) -> Period:
    if text is None:
        return DEFAULT_PERIOD
    for period in PERIODS:
        if text == period:
            return period
    raise BadPeriod(f"period: must be one of {', '.join(PERIODS)}")


def period_start(period: Period, now: datetime) -> date | None:
    """The first UTC day a period's board counts (None: all time). Days, not instants, because
    the projection keeps one total per donor per UTC day: day = today, week = this week's
    Monday, month = the 1st of this month, all as seen in UTC whatever `now`'s zone."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (periods are UTC)")
    today = now.astimezone(UTC).date()
    if period == "day":
        return today
    if period == "week":
        return today - timedelta(days=today.weekday())
    if period == "month":
        return today.replace(day=1)
    return None


# Highest net total first; a tie is ordered by the donor's uuid (ascending), so the same data
# always gives the same board (the decider breaks a dethroning tie the same way).
_TOP = "ORDER BY net DESC, client_uuid LIMIT :limit"
_NAMED = (
    "SELECT top.client_uuid, c.name, top.net FROM ({}) top"
    " JOIN clients c ON c.uuid = top.client_uuid ORDER BY top.net DESC, top.client_uuid"
)
_ALL_TIME = _NAMED.format(
    "SELECT client_uuid, total AS net FROM donor_totals"
    f" WHERE model_uuid = :chat AND total > 0 {_TOP}"
)
_SINCE = _NAMED.format(
    "SELECT client_uuid, SUM(total) AS net FROM donor_days"
    f" WHERE model_uuid = :chat AND day >= :start GROUP BY client_uuid HAVING net > 0 {_TOP}"
)


async def top_donors(
    db: Database, chat: str, start: date | None, limit: int = MAX_ENTRIES
) -> list[dict[str, Any]]:
    """The chat's donors with a positive net total since `start` (None: all time), best first."""
    if start is None:
        rows = await db.fetch_all(_ALL_TIME, {"chat": chat, "limit": limit})
    else:
        rows = await db.fetch_all(_SINCE, {"chat": chat, "start": start, "limit": limit})
    return [
        {"uuid": row[0], "name": row[1], "total": money(Decimal(row[2]))} for row in rows
    ]


Entries = list[dict[str, Any]]
Start = date | None
MAX_BOARDS = 4096
MAX_AGE_S = 30.0


class Boards:
    """The last board of each (chat, period start), served while the chat's version has not
    moved past the one it was read at; concurrent requests share the one query in flight.

    A board changes only in a ledger transaction that also moves the chat's version
    (`streams.version`, written with the events and the projections), and a board loaded after
    reading version V reflects at least V: so a request that finds the chat still at V (or at an
    older version it read before a newer board was stored) gets exactly what a query would
    answer, for the price of one primary-key lookup. Everyone whose page refreshes on the same
    tip costs one board query per API process. A failed load is not kept. What changes a board
    without an event (`rebuild` repairing donor_days, a renamed client) shows within
    `max_age_s`: no board is served longer. At most `max_boards` boards, the oldest dropped
    first (a plain dict in insertion order, as `auth.VerifiedTokens`).
    """

    def __init__(
        self,
        version_of: Callable[[str], Awaitable[int]],
        load: Callable[[str, Start], Awaitable[Entries]],
        max_boards: int = MAX_BOARDS,
        max_age_s: float = MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._version_of = version_of
        self._load = load
        self.max_boards = max_boards
        self.max_age_s = max_age_s
        self._clock = clock
        self._boards: dict[tuple[str, Start], _Held] = {}

    async def board(self, chat: str, start: Start) -> Entries:
        version = await self._version_of(chat)
        key = (chat, start)
        held = self._boards.get(key)
        now = self._clock()
        if held is None or not held.serves(version, now - self.max_age_s):
            self._boards.pop(key, None)
            if len(self._boards) >= self.max_boards:
                del self._boards[next(iter(self._boards))]
            held = _Held(version, now, asyncio.ensure_future(self._load(chat, start)))
            held.task.add_done_callback(_retrieve)
            self._boards[key] = held
        # A request that goes away does not cancel the query others wait on.
        return await asyncio.shield(held.task)

    def close(self) -> None:
        for held in self._boards.values():
            held.task.cancel()
        self._boards.clear()

    def __len__(self) -> int:
        return len(self._boards)


@dataclass(frozen=True, slots=True)
class _Held:
    version: int  # the chat's version read before the load began
    loaded_at: float
    task: asyncio.Task[Entries]

    def serves(self, version: int, oldest: float) -> bool:
        return self.version >= version and self.loaded_at >= oldest and not self.failed

    @property
    def failed(self) -> bool:
        task = self.task
        return task.done() and (task.cancelled() or task.exception() is not None)


def _retrieve(task: asyncio.Task[Entries]) -> None:
    """Mark a failure as seen: every waiter gets it raised; nobody may be waiting any more."""
    if not task.cancelled():
        task.exception()


LEADERBOARDS = web.AppKey("leaderboards", Boards)


async def leaderboards_ctx(app: web.Application) -> AsyncIterator[None]:
    reads = app[READS]  # lag-tolerant (DESIGN §12): the replica when it is healthy
    boards = Boards(
        lambda chat: reads.read(lambda db: latest_seq(db, chat)),
        lambda chat, start: reads.read(lambda db: top_donors(db, chat, start)),
    )
    app[LEADERBOARDS] = boards
    yield
    boards.close()


async def get_leaderboard(request: web.Request) -> web.Response:
    try:
        principal = await principal_of(request)
        period = parse_period(request.query.get("period"))
        entries = await request.app[LEADERBOARDS].board(
            principal.chat, period_start(period, datetime.now(UTC))
        )
    except Rejected as rejection:
        return rejection.response
    except BadPeriod as exc:
        return responses.bad_params([str(exc)])
    except MYSQL_UNAVAILABLE as exc:
        return mysql_unavailable(exc)
    return responses.json_response({"success": True, "period": period, "entries": entries})
