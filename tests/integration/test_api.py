"""Every command endpoint and every answer DESIGN §4 names, with the exact bodies."""

import asyncio
import time
import uuid
from decimal import Decimal
from typing import Any

import aiohttp
import jwt
import pytest
from databases import Database

from chatledger.api.response_models import Me
from chatledger.platform.config import Settings
from tests.helpers.marker import before, only_the_marker_followed
from tests.helpers.people import People, Someone
from tests.helpers.service import Service
from tests.helpers.wait import eventually

UNAUTHORIZED = {"success": "false", "message": "anauthorized"}


async def post(service: Service, path: str, who: Someone | None, body: object,
               headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    all_headers = {**(who.headers if who else {}), **(headers or {})}
    async with aiohttp.ClientSession(service.url) as http, \
            http.post(path, json=body, headers=all_headers) as response:
        return response.status, await response.json()


async def events_of_command(db: Database, command_id: object) -> list[str]:
    rows = await db.fetch_all("SELECT type FROM chat_events WHERE command_id = :c ORDER BY id",
                              {"c": command_id})
    return [row[0] for row in rows]


@pytest.mark.parametrize("path,body", [
    ("/chat/message/add", {"message": "hello", "is_public": "true"}),
    ("/chat/donat/add", {"sum": 1.5, "messgae": {"message": "", "is_public": "false"}}),
    ("/chat/donate/add", {"sum": "2", "message": {"message": "hi", "is_public": True}}),
    ("/chat/connection/add", {"connection_id": str(uuid.uuid4())}),
])
async def test_client_commands_are_accepted_and_applied(
    service: Service, people: People, db: Database, path: str, body: object
) -> None:
    model = await people.model()
    viewer = await people.client(model, money="10")
    status, answer = await post(service, path, viewer, body)
    assert status == 201, answer
    assert answer == {"success": "ok", "id": answer["id"]} and uuid.UUID(str(answer["id"]))
    applied = await eventually(lambda: db.fetch_val(
        "SELECT outcome FROM applied_commands WHERE command_id = :c", {"c": answer["id"]}),
        what="the command to be applied")
    assert applied == "applied"
    if path == "/chat/connection/add":
        written = await db.fetch_one(
            "SELECT type, entity_uuid, chat_uuid FROM connections WHERE connection_uuid = :c",
            {"c": body["connection_id"]},  # type: ignore[index]
        )
        assert written is not None
        assert tuple(written.values()) == ("client", viewer.uuid, model.uuid)


async def test_model_adds_goal_and_private_reply(service: Service, people: People,
                                                 db: Database) -> None:
    model = await people.model()
    viewer = await people.client(model)
    status, goal = await post(service, "/chat/goal/add", model, {"name": "Dance", "require_sum": 5})
    assert status == 201
    status, reply = await post(service, "/chat/message/add", model,
                               {"message": "psst", "is_public": True, "to": viewer.uuid})
    assert status == 201
    assert await eventually(lambda: events_of_command(db, reply["id"])) == ["message"]
    assert await events_of_command(db, goal["id"]) == ["new_goal"]
    row = await db.fetch_one("SELECT is_public, JSON_UNQUOTE(JSON_EXTRACT(payload, '$.to'))"
                             " FROM chat_events WHERE command_id = :c", {"c": reply["id"]})
    assert row is not None and not row[0] and row[1] == viewer.uuid


def forged(settings: Settings, **claims: object) -> str:
    base: dict[str, object] = {"exp": int(time.time()) + 60}
    return jwt.encode({**base, **claims}, settings.require_jwt_secret(), algorithm="HS256")


async def test_bad_tokens_get_401_and_write_nothing(
    service: Service, people: People, db: Database, settings: Settings
) -> None:
    model = await people.model()
    viewer = await people.client(model, money="10")
    then = await before(db, people, model.uuid, viewer)
    none_alg = jwt.encode({"sub": viewer.uuid, "role": "client", "chat": model.uuid,
                           "exp": int(time.time()) + 60}, None, algorithm="none")
    tokens = [
        "",
        "Bearer",
        "Bearer not-a-jwt",
        f"Bearer {none_alg}",
        "Bearer " + jwt.encode({"sub": viewer.uuid, "role": "client", "chat": model.uuid,
                                "exp": int(time.time()) + 60}, "wrong-secret-0123456789abcdef0123"),
        "Bearer " + forged(settings, sub=viewer.uuid, role="client", chat=model.uuid,
                           exp=int(time.time()) - 5),
        "Bearer " + forged(settings, sub=viewer.uuid, role="client"),             # no chat
        "Bearer " + forged(settings, sub=viewer.uuid, role="model"),              # role lie
        "Bearer " + forged(settings, sub=str(uuid.uuid4()), role="client", chat=model.uuid),
        "Bearer " + forged(settings, sub=viewer.uuid, role="client", chat=viewer.uuid),
        "Bearer " + forged(settings, sub=model.uuid, role="model", chat=str(uuid.uuid4())),
        f"Token {viewer.token}",
    ]
    async with aiohttp.ClientSession(service.url) as http:
        for header in tokens:
            async with http.post("/chat/donat/add", json={"sum": 1},
                                 headers={"Authorization": header}) as response:
                assert (response.status, await response.json()) == (401, UNAUTHORIZED), header
    await only_the_marker_followed(service.url, db, people, viewer, then)


@pytest.mark.parametrize("path,body,error", [
    ("/chat/message/add", {"message": "", "is_public": True}, "message"),
    ("/chat/message/add", {"message": " \t\n ", "is_public": True}, "whitespace"),
    ("/chat/message/add", {"message": "x" * 2001, "is_public": True}, "message"),
    ("/chat/message/add", {"message": "a\x00b", "is_public": True}, "control"),
    ("/chat/message/add", {"message": "hi", "is_public": "nope"}, "is_public"),
    ("/chat/message/add", [1, 2], "body"),
    ("/chat/donat/add", {"sum": 0}, "sum"),
    ("/chat/donat/add", {"sum": -3}, "sum"),
    ("/chat/donat/add", {"sum": "1.234"}, "decimal places"),
    ("/chat/donat/add", {"sum": "lots"}, "sum"),
    ("/chat/donat/add", {"sum": 10 ** 30}, "sum"),
    ("/chat/donat/add", {}, "sum"),
    ("/chat/connection/add", {"connection_id": "not-a-uuid"}, "connection_id"),
])
async def test_bad_params_get_400_with_a_reason(
    service: Service, people: People, db: Database, path: str, body: object, error: str
) -> None:
    model = await people.model()
    viewer = await people.client(model, money="10")
    then = await before(db, people, model.uuid, viewer)
    status, answer = await post(service, path, viewer, body)
    assert status == 400
    assert answer["success"] == "false" and answer["message"] == "bad params"
    assert any(error in reason for reason in answer["errors"]), answer  # type: ignore[attr-defined]
    await only_the_marker_followed(service.url, db, people, viewer, then)


async def test_malformed_json_and_nan_are_400(
    service: Service, people: People, db: Database
) -> None:
    model = await people.model()
    viewer = await people.client(model, money="10")
    then = await before(db, people, model.uuid, viewer)
    async with aiohttp.ClientSession(service.url) as http:
        for raw in (b"{", b'{"sum": NaN}', b'{"sum": Infinity}', b"\xff\xfe"):
            async with http.post("/chat/donat/add", data=raw, headers=viewer.headers) as r:
                assert r.status == 400 and (await r.json())["message"] == "bad params"
    await only_the_marker_followed(service.url, db, people, viewer, then)


async def test_oversized_body_is_413(service: Service, people: People, db: Database) -> None:
    model = await people.model()
    viewer = await people.client(model)
    then = await before(db, people, model.uuid, viewer)
    status, answer = await post(service, "/chat/message/add", viewer,
                                {"message": "x" * 70_000, "is_public": True})
    assert status == 413 and answer["success"] == "false"
    await only_the_marker_followed(service.url, db, people, viewer, then)


async def test_unaffordable_donation_is_402_and_moves_nothing(
    service: Service, people: People, db: Database
) -> None:
    model = await people.model()
    viewer = await people.client(model, money="5.00")
    then = await before(db, people, model.uuid, viewer, model)
    status, answer = await post(service, "/chat/donat/add", viewer, {"sum": "5.01"})
    assert (status, answer) == (402, {"success": "false", "message": "insufficient funds"})
    await only_the_marker_followed(service.url, db, people, viewer, then)
    assert then.balances[viewer.uuid] == Decimal("5.00")


async def test_role_rules(service: Service, people: People, db: Database) -> None:
    model = await people.model()
    viewer = await people.client(model, money="5")
    then = await before(db, people, model.uuid, viewer, model)
    status, _ = await post(service, "/chat/goal/add", viewer, {"name": "x", "require_sum": 1})
    assert status == 403
    status, _ = await post(service, "/chat/donat/add", model, {"sum": 1})
    assert status == 403
    status, answer = await post(service, "/chat/message/add", viewer,
                                {"message": "x", "is_public": False, "to": model.uuid})
    assert status == 400 and "to" in answer["errors"][0]  # type: ignore[index]
    await only_the_marker_followed(service.url, db, people, viewer, then)


async def test_idempotency_key_answers_the_same_and_applies_once(
    service: Service, people: People, db: Database
) -> None:
    model = await people.model()
    viewer = await people.client(model, money="10")
    key = {"Idempotency-Key": f"tip-{uuid.uuid4()}"}
    answers = [await post(service, "/chat/donat/add", viewer, {"sum": 3}, key) for _ in range(3)]
    assert all(answer == answers[0] for answer in answers) and answers[0][0] == 201
    await eventually(lambda: people.balance(model.uuid), until=lambda b: b == Decimal("3.00"))
    assert await events_of_command(db, answers[0][1]["id"]) == ["donate", "change_sponsor"]
    assert await people.balance(viewer.uuid) == Decimal("7.00")


async def test_me_is_the_caller_with_the_ledgers_balance(
    service: Service, people: People
) -> None:
    model = await people.model()
    viewer = await people.client(model, money="10")

    async def me(who: Someone) -> dict[str, Any]:
        async with aiohttp.ClientSession(service.url) as http, \
                http.get("/chat/me", headers=who.headers) as response:
            assert response.status == 200, await response.text()
            body: dict[str, Any] = await response.json()
            Me.model_validate(body, strict=True)
            return body

    assert await me(viewer) == {"success": True, "uuid": viewer.uuid, "name": "Bob",
                                "role": "client", "chat": model.uuid, "balance": "10.00",
                                "available": "10.00", "held": "0.00"}
    status, _ = await post(service, "/chat/donate/add", viewer, {"sum": "2.5"})
    assert status == 201
    await eventually(lambda: me(viewer), until=lambda body: body["balance"] == "7.50",
                     what="the tip reflected in the viewer's balance")
    assert (await me(model))["balance"] == "2.50"
    assert (await me(model))["chat"] == model.uuid
    async with aiohttp.ClientSession(service.url) as http, \
            http.get("/chat/me", headers={"Authorization": "Bearer nope"}) as response:
        assert (response.status, await response.json()) == (401, UNAUTHORIZED)


async def test_a_client_gone_before_its_body_arrived_is_not_mysql_unavailable(
    service: Service, people: People
) -> None:
    """A POST whose client closes the connection before sending all of its body: nobody is left
    to answer, and nothing failed on our side (it used to be logged as "MySQL unavailable" and
    counted as a 503)."""
    viewer = await people.client(await people.model())
    host, port = service.url.removeprefix("http://").split(":")
    before = len(service.log())
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(("POST /chat/message/add HTTP/1.1\r\n"
                  f"Host: {host}\r\nAuthorization: {viewer.headers['Authorization']}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                  '{"message": "hel').encode())
    await writer.drain()
    writer.close()
    await writer.wait_closed()

    async def answered() -> str | None:
        return next((row for row in service.log()[before:].splitlines()
                     if '"route":"/chat/message/add"' in row), None)

    line = await eventually(answered, what="the request's access line")
    assert '"status":499' in line, line
    assert "MySQL unavailable" not in service.log()[before:]
