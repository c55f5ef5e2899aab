"""An anonymous tip (DESIGN §9): money moves and goals fill, nobody sees who, nobody is crowned."""

from decimal import Decimal

import aiohttp
from databases import Database

from tests.helpers.people import People
from tests.helpers.service import Service
from tests.helpers.wait import eventually
from tests.helpers.ws import connected

ANONYMOUS = {"uuid": None, "name": "anonymous", "role": "client"}


async def test_an_anonymous_tip_moves_money_and_hides_its_donor_everywhere(
    service: Service, people: People, db: Database
) -> None:
    model = await people.model()
    donor = await people.client(model, "Secret", money="20")
    watcher = await people.client(model, "Watcher")
    async with aiohttp.ClientSession() as http, connected(http, service.url, watcher) as ws:
        answer = await http.post(f"{service.url}/chat/goal/add", headers=model.headers,
                                 json={"name": "Dance", "require_sum": 5})
        assert answer.status == 201
        answer = await http.post(
            f"{service.url}/chat/donate/add", headers=donor.headers,
            json={"sum": "7", "anonymous": True, "message": {"message": "from nobody"}},
        )
        assert answer.status == 201, await answer.text()
        seen = await ws.until(lambda got: {"donate", "end_goal"} <= {e["type"] for e in got},
                              "the tip and the goal it reached")
        async with http.get(f"{service.url}/chat/event/history",
                            headers=model.headers) as response:
            history = (await response.json())["events"]

    for source in (seen, history):
        tip = [e for e in source if e["type"] in ("donate", "end_goal")]
        assert len(tip) == 2 and all(e["from"] == ANONYMOUS for e in tip), tip
        assert "change_sponsor" not in {e["type"] for e in source}
        assert donor.uuid not in str(source) and "Secret" not in str(source)
    assert await people.balance(donor.uuid) == Decimal("13.00")
    assert await people.balance(model.uuid) == Decimal("7.00")
    # The ledger still knows (refunds and the audit need it); it ranks nobody.
    actors = await db.fetch_all("SELECT DISTINCT actor_uuid FROM chat_events WHERE stream = :m"
                                " AND type IN ('donate', 'end_goal')", {"m": model.uuid})
    assert [row[0] for row in actors] == [donor.uuid]
    for table in ("donor_totals", "current_sponsors"):
        count = await db.fetch_val(f"SELECT COUNT(*) FROM {table} WHERE model_uuid = :m",
                                   {"m": model.uuid})
        assert count == 0, table
    goal = await eventually(lambda: db.fetch_one(
        "SELECT sum, is_active FROM goals WHERE model_uuid = :m", {"m": model.uuid}))
    assert (Decimal(goal[0]), bool(goal[1])) == (Decimal("7.00"), False)
