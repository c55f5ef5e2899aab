"""A private tip (DESIGN §6) through the real service: what follows from it stays as private as
it, so a third viewer never learns who gave it, live or in history."""

from decimal import Decimal

import aiohttp
from databases import Database

from chatledger.domain.wire import ANONYMOUS_ACTOR as ANONYMOUS
from tests.helpers.cli import audit_ok, cli
from tests.helpers.people import People
from tests.helpers.service import Service
from tests.helpers.ws import connected
from tests.integration.test_refunds import applied, history, post, tip


async def test_a_third_viewer_never_sees_who_gave_a_private_tip_nor_its_refund(
    service: Service, people: People, db: Database
) -> None:
    model = await people.model()
    donor = await people.client(model, "Hidden", money="50")
    watcher = await people.client(model, "Watcher")
    await applied(db, await post(service, model, "/chat/goal/add",
                                 {"name": "Dance", "require_sum": 5}))
    async with aiohttp.ClientSession() as http, connected(http, service.url, watcher) as ws:
        donation = await tip(service, db, donor, "10",
                             message={"message": "psst", "is_public": False})
        ran = await cli("refund", donation, "--reason", "changed my mind")
        assert ran.code == 0, ran
        # A public event after both: once the watcher has it, it had every earlier one.
        await applied(db, await post(service, model, "/chat/message/add",
                                     {"message": "marker", "is_public": True}))
        seen = await ws.until(lambda got: "message" in {e["type"] for e in got}, "the marker")
    watched = await history(service, watcher)
    for source in (seen, watched):
        assert [e["type"] for e in source if e["type"] != "new_goal"] == ["end_goal", "message"]
        [ended] = [e for e in source if e["type"] == "end_goal"]
        assert ended["from"] == ANONYMOUS
        assert donor.uuid not in str(source) and "Hidden" not in str(source)
    mine = {e["type"]: e for e in await history(service, donor)}
    assert mine["donate_refunded"]["is_public"] is False  # the donor and the model see it
    assert mine["donate_refunded"]["from"]["uuid"] == donor.uuid
    for table in ("donor_totals", "donor_days", "current_sponsors"):
        count = await db.fetch_val(f"SELECT COUNT(*) FROM {table} WHERE model_uuid = :m",
                                   {"m": model.uuid})
        assert count == 0, table
    assert await people.balance(donor.uuid) == Decimal("50.00")
    await audit_ok()
