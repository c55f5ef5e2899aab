"""With the broker gone, a POST answers 503 promptly instead of hanging, and 201 once it is back."""

import time
import uuid
from pathlib import Path

import aiohttp

from chatledger.platform.config import Settings
from tests.helpers.broker import private_broker, start_tansu
from tests.helpers.people import People
from tests.helpers.service import start_service
from tests.helpers.wait import eventually


async def test_broker_down_gives_503_within_the_command_timeout(
    migrated: Settings, people: People, tmp_path: Path
) -> None:
    model = await people.model()
    viewer = await people.client(model)
    body = {"message": "hello", "is_public": True}
    with private_broker(tmp_path) as (port, broker):
        env = {"CHATLEDGER_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
               "CHATLEDGER_COMMAND_TIMEOUT_S": "1.5",
               "CHATLEDGER_PREFIX": f"{migrated.prefix}down{uuid.uuid4().hex[:6]}."}
        with start_service(migrated, roles="api", extra_env=env) as service:
            async with aiohttp.ClientSession(
                service.url, timeout=aiohttp.ClientTimeout(total=15)
            ) as http:
                async def status() -> tuple[int, dict[str, str]]:
                    async with http.post("/chat/message/add", json=body,
                                         headers=viewer.headers) as response:
                        return response.status, await response.json()

                assert (await status())[0] == 201
                broker.kill()
                broker.wait()
                started = time.monotonic()
                code, answer = await status()
                waited = time.monotonic() - started
                assert (code, answer) == (503, {"success": "false", "message": "unavailable"})
                assert waited < 10, f"a POST hung for {waited:.1f}s with the broker down"
                revived = start_tansu(port, tmp_path / "tansu-again.log")
                try:
                    await eventually(status, until=lambda r: r[0] == 201, timeout=60,
                                     interval=0.5, what="201 after the broker came back")
                finally:
                    revived.kill()
                    revived.wait()
