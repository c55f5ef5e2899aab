"""Query parameters that are not what they must be → 400 with the reason (DESIGN §4, §7, §9)."""

from typing import Any

import aiohttp
import pytest

from chatledger.api.response_models import BadParams
from tests.helpers.people import People, Someone
from tests.helpers.service import Service
from tests.helpers.wait import eventually
from tests.helpers.ws import ws_url

BAD_SINCE = ("abc", "-1", "1.5", "", "\uff11", "99999999999999999999")
SINCE_REASON = "since: must be a non-negative integer (a seq)"


async def get(service: Service, path: str, who: Someone) -> tuple[int, Any]:
    async with aiohttp.ClientSession(service.url) as http, \
            http.get(path, headers=who.headers) as response:
        return response.status, await response.json()


def bad_params(answer: tuple[int, Any], reason: str) -> None:
    status, body = answer
    assert status == 400, answer
    BadParams.model_validate(body, strict=True)
    assert body["errors"] == [reason]


@pytest.mark.parametrize("since", BAD_SINCE)
async def test_history_refuses_a_bad_since(service: Service, people: People, since: str) -> None:
    model = await people.model()
    bad_params(await get(service, f"/chat/event/history?since={since}", model), SINCE_REASON)


async def test_history_since_a_seq_is_what_came_after_it(
    service: Service, people: People
) -> None:
    model = await people.model()
    async with aiohttp.ClientSession(service.url) as http:
        for text in ("one", "two", "three"):
            async with http.post("/chat/message/add", headers=model.headers,
                                 json={"message": text, "is_public": True}) as response:
                assert response.status == 201

    async def seqs(query: str) -> list[int]:
        status, body = await get(service, f"/chat/event/history{query}", model)
        assert status == 200, body
        return [event["seq"] for event in body["events"]]

    every = await eventually(lambda: seqs(""), until=lambda s: len(s) == 3, what="3 messages")
    assert await seqs(f"?since={every[0]}") == every[1:]
    assert await seqs(f"?since={every[-1]}") == []
    assert await seqs("?since=0") == every


@pytest.mark.parametrize("since", BAD_SINCE)
async def test_the_websocket_refuses_a_bad_since_at_the_handshake(
    service: Service, people: People, since: str
) -> None:
    model = await people.model()
    url = f"{service.url}/ws?token={model.token}&since={since}"
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url)
        assert refused.value.status == 400
        async with http.get(url) as answer:  # what a browser's failed handshake asks to learn why
            bad_params((answer.status, await answer.json()), SINCE_REASON)
        ws = await http.ws_connect(ws_url(service.url, model, since=0))
        assert (await ws.receive_json())["type"] == "connected"
        await ws.close()


async def test_the_leaderboard_refuses_a_bogus_period(service: Service, people: People) -> None:
    model = await people.model()
    bad_params(await get(service, "/chat/leaderboard?period=bogus", model),
               "period: must be one of day, week, month, all")
