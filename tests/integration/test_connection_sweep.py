"""A SIGKILLed gateway cannot delete its sockets' `connections` rows: a live gateway sweeps them
once the dead one's lease runs out, and leaves its own and the ledger's rows alone."""

import signal
import uuid

import aiohttp
from databases import Database

from chatledger.platform.config import Settings
from tests.helpers.people import People
from tests.helpers.service import Service, start_service, stop
from tests.helpers.wait import eventually
from tests.helpers.ws import ws_url


async def row_of(db: Database, connection: str) -> object:
    return await db.fetch_val("SELECT chat_uuid FROM connections WHERE connection_uuid = :c",
                              {"c": connection})


async def test_the_rows_of_a_killed_gateway_are_swept_by_a_live_one(
    service: Service, migrated: Settings, people: People, db: Database
) -> None:
    model = await people.model()
    viewer = await people.client(model)
    added = str(uuid.uuid4())  # the brief's AddNewConnection: a ledger row, not a socket's
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{service.url}/chat/connection/add", headers=viewer.headers,
                             json={"connection_id": added}) as response:
            assert response.status == 201
        with start_service(migrated, "gateway") as doomed:
            dead = await http.ws_connect(ws_url(doomed.url, viewer))
            dead_id = (await dead.receive_json())["connection_id"]
            await eventually(lambda: row_of(db, dead_id), what="the doomed socket's row")
            stop(doomed.process, signal.SIGKILL)
        live = await http.ws_connect(ws_url(service.url, model))
        live_id = (await live.receive_json())["connection_id"]
        await eventually(lambda: row_of(db, added), what="the ledger's row")
        await eventually(lambda: row_of(db, dead_id), until=lambda chat: chat is None,
                         timeout=60, what="the killed gateway's row swept")
        assert await row_of(db, live_id) == model.uuid
        assert await row_of(db, added) == model.uuid
        await live.close()
        await dead.close()
