"""`GET /chat/leaderboard` (DESIGN §9) over real donations through the API and a real refund.

The ledger stamps donations with its own clock, so every donation here falls on the day the test
runs: the periods' boundaries are the pure `period_start` (tests/unit/test_leaderboard.py), and
here each period's board is checked against where that start falls relative to the donations'
day, plus the one query with a start after it (nothing) and on it (everything).
"""

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
from databases import Database

from chatledger.api.leaderboard import PERIODS, Period, period_start, top_donors
from chatledger.api.response_models import BadParams, Leaderboard, Unauthorized
from tests.helpers import marker
from tests.helpers.cli import cli
from tests.helpers.people import People, Someone
from tests.helpers.service import Service
from tests.helpers.wait import eventually

Entry = tuple[str, str]  # (name, total)


async def donate(http: aiohttp.ClientSession, url: str, donor: Someone, amount: str,
                 anonymous: bool = False) -> str:
    """A tip through the API; its command id."""
    async with http.post(f"{url}/chat/donate/add", headers=donor.headers,
                         json={"sum": amount, "anonymous": anonymous}) as answer:
        assert answer.status == 201, await answer.text()
        return str((await answer.json())["id"])


async def donation_event(db: Database, command_id: str) -> tuple[str, date]:
    """The donate event the ledger appended for a command: its id and its UTC day."""
    row = await eventually(
        lambda: db.fetch_one("SELECT event_id, created_at FROM chat_events"
                             " WHERE command_id = :c AND type = 'donate'", {"c": command_id}),
        what=f"the donation of command {command_id}",
    )
    assert row is not None
    return str(row[0]), row[1].date()


async def board(http: aiohttp.ClientSession, url: str, who: Someone,
                period: str | None = None) -> tuple[int, dict[str, Any]]:
    query = "" if period is None else f"?period={period}"
    async with http.get(f"{url}/chat/leaderboard{query}", headers=who.headers) as answer:
        return answer.status, await answer.json()


def entries(body: dict[str, Any]) -> list[Entry]:
    Leaderboard.model_validate(body, strict=True)  # the documented shape, nothing more
    return [(entry["name"], entry["total"]) for entry in body["entries"]]


async def boards(http: aiohttp.ClientSession, url: str, who: Someone) -> dict[str, list[Entry]]:
    answers = await asyncio.gather(*(board(http, url, who, period) for period in PERIODS))
    assert all(status == 200 for status, _ in answers), answers
    assert [body["period"] for _, body in answers] == list(PERIODS)
    return {period: entries(body) for period, (_, body) in zip(PERIODS, answers, strict=True)}


def expected_by_period(day: date, expected: list[Entry]) -> dict[str, list[Entry]]:
    """What each period shows of donations made on `day`, seen now (a run across UTC midnight
    leaves them out of the new day's board, as it should)."""
    now = datetime.now(UTC)

    def counts(period: Period) -> bool:
        start = period_start(period, now)
        return start is None or start <= day

    return {period: expected if counts(period) else [] for period in PERIODS}


async def chat_with(people: People, model_name: str, *donors: str) -> list[Someone]:
    """A model and viewers of its chat with 100.00 each."""
    model = await people.model(model_name)
    return [model, *[await people.client(model, name, money="100") for name in donors]]


async def test_named_donors_rank_by_net_total_and_anonymous_tips_count_for_nobody(
    service: Service, people: People, db: Database
) -> None:
    model, ann, ben, cid, ghost = await chat_with(people, "Lena", "Ann", "Ben", "Cid", "Ghost")
    _, stranger = await chat_with(people, "Elsewhere", "Stranger")

    async with aiohttp.ClientSession() as http:
        url = service.url
        status, body = await board(http, url, model)
        assert (status, entries(body), body["period"]) == (200, [], "all")
        tips = [
            await donate(http, url, ann, "10"),
            await donate(http, url, ben, "25.50"),
            await donate(http, url, ann, "15.50"),  # Ann 25.50: a tie with Ben
            await donate(http, url, cid, "7"),
            await donate(http, url, cid, "30", anonymous=True),  # Cid's anonymous 30 ranks nobody
            await donate(http, url, ghost, "50", anonymous=True),  # only anonymous: no entry
            await donate(http, url, stranger, "99"),  # another chat's board
        ]
        days = {day for _, day in [await donation_event(db, tip) for tip in tips]}
        # A tie is ordered by uuid, ascending.
        tied = sorted([("Ann", ann.uuid), ("Ben", ben.uuid)], key=lambda named: named[1])
        expected = [(name, "25.50") for name, _ in tied] + [("Cid", "7.00")]
        assert len(days) == 1, "the donations spanned UTC midnight"
        (day,) = days
        assert await boards(http, url, model) == expected_by_period(day, expected)
        # A viewer reads the same board of the chat its token is for; the default is all time.
        status, body = await board(http, url, ghost)
        assert (status, entries(body), body["period"]) == (200, expected, "all")
        status, body = await board(http, url, stranger)
        assert entries(body) == [("Stranger", "99.00")]

    # The one query per period: a start after the donations' day counts none of them.
    named = [(entry["name"], entry["total"]) for entry in await top_donors(db, model.uuid, day)]
    assert named == expected
    assert await top_donors(db, model.uuid, day + timedelta(days=1)) == []


async def test_at_most_ten_entries_the_highest_first(
    service: Service, people: People, db: Database
) -> None:
    model = await people.model("Busy")
    donors = [await people.client(model, f"D{n:02}", money="50") for n in range(12)]
    async with aiohttp.ClientSession() as http:
        tips = [await donate(http, service.url, donor, f"{n + 1}")
                for n, donor in enumerate(donors)]
        for tip in tips:
            await donation_event(db, tip)
        status, body = await board(http, service.url, model, "all")
    assert status == 200
    assert entries(body) == [(f"D{n:02}", f"{n + 1}.00") for n in range(11, 1, -1)]


async def test_a_refund_is_subtracted_and_a_net_zero_leaves_the_board(
    service: Service, people: People, db: Database
) -> None:
    model, ann, ben = await chat_with(people, "Rita", "Ann", "Ben")
    async with aiohttp.ClientSession() as http:
        url = service.url
        first = await donate(http, url, ann, "20")
        second = await donate(http, url, ann, "5")
        only = await donate(http, url, ben, "12")
        (first_id, day), _, (only_id, _) = [
            await donation_event(db, tip) for tip in (first, second, only)
        ]
        assert (await boards(http, url, model))["all"] == [("Ann", "25.00"), ("Ben", "12.00")]

        for event_id in (first_id, only_id):
            ran = await cli("refund", event_id, "--reason", "chargeback")
            assert ran.code == 0, ran

        async def all_time() -> list[Entry]:
            return entries((await board(http, url, model, "all"))[1])

        # Ann keeps 5 of 25; Ben's net 0 leaves him out. The refunds are subtracted from the day
        # of the donations (the ledger's fold: tests/unit/test_decider_day_one.py).
        await eventually(all_time, until=lambda got: got == [("Ann", "5.00")],
                         what="the refunds on the board")
        assert await boards(http, url, model) == expected_by_period(day, [("Ann", "5.00")])


async def test_an_unknown_period_is_400_with_the_reason_and_nothing_changes(
    service: Service, people: People, db: Database
) -> None:
    model = await people.model("Strict")
    viewer = await people.client(model, "Vic", money="10")
    then = await marker.before(db, people, model.uuid, viewer, model)
    async with aiohttp.ClientSession() as http:
        for bad in ("year", "", "Day", "week%00", "all,day"):
            async with http.get(f"{service.url}/chat/leaderboard?period={bad}",
                                headers=viewer.headers) as answer:
                assert answer.status == 400, bad
                body = await answer.json()
            BadParams.model_validate(body, strict=True)
            assert body["errors"] == ["period: must be one of day, week, month, all"]
        async with http.get(f"{service.url}/chat/leaderboard") as answer:
            assert answer.status == 401
            Unauthorized.model_validate(await answer.json(), strict=True)
    await marker.only_the_marker_followed(service.url, db, people, viewer, then)
    assert await people.balance(viewer.uuid) == Decimal("10.00")
