"""An operator's command prints its result and nothing else: no library's log lines."""

import orjson
from databases import Database

from tests.helpers.cli import Ran, cli
from tests.helpers.people import People
from tests.helpers.service import Service
from tests.integration.test_refunds import tip


def quiet(ran: Ran) -> str:
    assert ran.code == 0, ran
    assert ran.err == "" and '"logger"' not in ran.out, ran
    return ran.out


def only_the_result(ran: Ran) -> str:
    """One line: the JSON or the token the command exists to print."""
    out = quiet(ran)
    assert out.endswith("\n") and out.count("\n") == 1, ran
    return out.strip()


async def test_each_command_prints_only_its_result(
    service: Service, people: People, db: Database
) -> None:
    created = orjson.loads(only_the_result(
        await cli("accounts", "create", "--kind", "client", "--name", "Quiet")))
    viewer_uuid = created["uuid"]
    model = await people.model()
    assert orjson.loads(only_the_result(await cli("deposit", viewer_uuid, "10")))["outcome"] == \
        "applied"
    assert orjson.loads(only_the_result(await cli("payout", viewer_uuid, "1")))["balance"] == "9.00"
    assert only_the_result(await cli("token", viewer_uuid, "--chat", model.uuid)).count(".") == 2
    viewer = await people.client(model, "Ann", money="5")
    donation = await tip(service, db, viewer, "2")
    assert orjson.loads(only_the_result(await cli("refund", donation)))["outcome"] == "applied"
    assert quiet(await cli("audit")).startswith("audit OK:")
