"""deposit -> donate -> both balances right in MySQL, goal and sponsor updated, events published."""

from decimal import Decimal

import aiohttp
from databases import Database

from chatledger.platform.config import Settings
from tests.helpers.kafka import events_of_chat
from tests.helpers.people import People
from tests.helpers.service import Service
from tests.helpers.wait import eventually


async def test_donation_moves_money_advances_goal_and_crowns_sponsor(
    service: Service, people: People, db: Database, settings: Settings
) -> None:
    model = await people.model("Mia")
    viewer = await people.client(model, "Bob", money="100.00")
    async with aiohttp.ClientSession(service.url) as http:
        goal = await http.post(
            "/chat/goal/add", json={"name": "Dance", "require_sum": 20}, headers=model.headers
        )
        assert goal.status == 201, await goal.text()
        await eventually(
            lambda: db.fetch_val(
                "SELECT COUNT(*) FROM goals WHERE model_uuid = :m", {"m": model.uuid}
            ),
            what="the goal to be projected",
        )
        tip = await http.post(
            "/chat/donat/add",
            headers=viewer.headers,
            json={"sum": 25.5, "messgae": {"message": "go!", "is_public": "true"}},
        )
        assert tip.status == 201, await tip.text()
        body = await tip.json()
        assert body["success"] == "ok" and body["id"]

    await eventually(
        lambda: people.balance(model.uuid),
        until=lambda b: b == Decimal("25.50"),
        what="the model to be credited",
    )
    assert await people.balance(viewer.uuid) == Decimal("74.50")
    row = await db.fetch_one(
        "SELECT sum, is_active FROM goals WHERE model_uuid = :m", {"m": model.uuid}
    )
    assert row is not None and row[0] == Decimal("25.50") and not row[1]
    sponsor = await db.fetch_val(
        "SELECT client_uuid FROM current_sponsors WHERE model_uuid = :m", {"m": model.uuid}
    )
    assert sponsor == viewer.uuid

    published = await events_of_chat(settings, model.uuid, count=4)
    assert [e["type"] for e in published] == ["new_goal", "donate", "end_goal", "change_sponsor"]
    assert [e["seq"] for e in published] == [1, 2, 3, 4]
    donate = published[1]
    assert donate["sum"] == "25.50" and donate["message"] == "go!"
    assert donate["from"] == {"uuid": viewer.uuid, "name": "Bob", "role": "client"}
